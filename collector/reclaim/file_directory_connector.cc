#include "collector/reclaim/file_directory_connector.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace reclaim::collector {
namespace {

using Json = nlohmann::json;

class FileDirectoryConnector final : public DirectoryConnector {
 public:
  FileDirectoryConnector(std::string path, int remove_delay_ms)
      : path_(std::move(path)), remove_delay_ms_(remove_delay_ms) {}

  std::string kind() const override { return "file"; }

  absl::StatusOr<AuthorizationGroup> GetGroup(const std::string& ref) override {
    auto doc = Load();
    if (!doc.ok()) return doc.status();
    const Json* g = FindGroup(*doc, ref, /*by_name=*/true);
    if (!g) return absl::NotFoundError(absl::StrCat("no group '", ref, "' in ", path_));
    return ToGroup(*g);
  }

  absl::StatusOr<std::vector<GroupMember>> ListMembers(const AuthorizationGroup& group) override {
    auto doc = Load();
    if (!doc.ok()) return doc.status();
    const Json* g = FindGroup(*doc, group.object_id, false);
    if (!g) return absl::NotFoundError(absl::StrCat("no group ", group.object_id));
    std::map<std::string, GroupMember> out;
    for (const auto& id : g->value("members", Json::array())) {
      GroupMember m;
      auto u = User(*doc, id.get<std::string>());
      if (!u.ok()) continue;
      m.user = *u;
      out[m.user.object_id] = m;
    }
    for (const auto& nid : g->value("nested", Json::array())) {
      const Json* ng = FindGroup(*doc, nid.get<std::string>(), false);
      if (!ng) continue;
      for (const auto& id : ng->value("members", Json::array())) {
        const std::string uid = id.get<std::string>();
        if (auto it = out.find(uid); it != out.end()) {
          if (it->second.kind == MembershipKind::kDirect) {
            it->second.also_via_group = ng->value("name", "");
          }
          continue;
        }
        auto u = User(*doc, uid);
        if (!u.ok()) continue;
        GroupMember m;
        m.user = *u;
        m.kind = MembershipKind::kNested;
        m.via_group = ng->value("name", "");
        out[uid] = m;
      }
    }
    for (const auto& id : g->value("primary", Json::array())) {
      const std::string uid = id.get<std::string>();
      if (out.contains(uid)) continue;
      auto u = User(*doc, uid);
      if (!u.ok()) continue;
      GroupMember m;
      m.user = *u;
      m.kind = MembershipKind::kPrimaryGroup;
      out[uid] = m;
    }
    std::vector<GroupMember> v;
    for (auto& [id, m] : out) v.push_back(std::move(m));
    return v;
  }

  absl::StatusOr<DirectoryUser> FindUser(const std::string& login,
                                         const std::string& domain) override {
    auto doc = Load();
    if (!doc.ok()) return doc.status();
    for (const auto& u : (*doc)["users"]) {
      if ((absl::EqualsIgnoreCase(u.value("sam_account_name", ""), login) &&
           (domain.empty() || absl::EqualsIgnoreCase(u.value("domain", ""), domain))) ||
          absl::EqualsIgnoreCase(u.value("upn", ""), login)) {
        return ToUser(u);
      }
    }
    return absl::NotFoundError(absl::StrCat("no user '", login, "'"));
  }

  absl::StatusOr<ChangeResult> RemoveMember(const AuthorizationGroup& group,
                                            const DirectoryUser& user) override {
    if (remove_delay_ms_ > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(remove_delay_ms_));
    }
    auto doc = Load();
    if (!doc.ok()) return doc.status();
    Json* g = FindGroup(*doc, group.object_id, false);
    if (!g) return absl::NotFoundError(absl::StrCat("no group ", group.object_id));
    if (!User(*doc, user.object_id).ok()) return absl::NotFoundError("no such user");
    ChangeResult r;
    r.request = absl::StrCat("file ", path_, ": delete member ", user.object_id, " of group ",
                             group.object_id);
    Json& members = (*g)["members"];
    auto it = std::find(members.begin(), members.end(), user.object_id);
    if (it == members.end()) {
      for (const auto& p : g->value("primary", Json::array())) {
        if (p == user.object_id) {
          r.outcome = ChangeOutcome::kNeedsManualAction;
          r.detail = "the group is the user's primary group";
          return r;
        }
      }
      r.outcome = ChangeOutcome::kAlreadyRemoved;
      return r;
    }
    members.erase(it);
    r.outcome = ChangeOutcome::kRemoved;
    for (const auto& nid : g->value("nested", Json::array())) {
      const Json* ng = FindGroup(*doc, nid.get<std::string>(), false);
      if (!ng) continue;
      for (const auto& id : ng->value("members", Json::array())) {
        if (id == user.object_id) {
          r.outcome = ChangeOutcome::kStillLicensedThrough;
          r.detail = absl::StrCat("still licensed through ", ng->value("name", ""));
        }
      }
    }
    if (absl::Status s = Save(*doc); !s.ok()) return s;
    return r;
  }

  absl::StatusOr<ChangeResult> AddMember(const AuthorizationGroup& group,
                                         const DirectoryUser& user) override {
    auto doc = Load();
    if (!doc.ok()) return doc.status();
    Json* g = FindGroup(*doc, group.object_id, false);
    if (!g) return absl::NotFoundError(absl::StrCat("no group ", group.object_id));
    if (!User(*doc, user.object_id).ok()) return absl::NotFoundError("no such user");
    ChangeResult r;
    r.request = absl::StrCat("file ", path_, ": add member ", user.object_id, " to group ",
                             group.object_id);
    Json& members = (*g)["members"];
    if (std::find(members.begin(), members.end(), user.object_id) != members.end()) {
      r.outcome = ChangeOutcome::kAlreadyMember;
      return r;
    }
    members.push_back(user.object_id);
    if (absl::Status s = Save(*doc); !s.ok()) return s;
    r.outcome = ChangeOutcome::kAdded;
    return r;
  }

 private:
  absl::StatusOr<Json> Load() const {
    std::ifstream f(path_);
    if (!f) return absl::UnavailableError(absl::StrCat("cannot read directory file ", path_));
    std::stringstream ss;
    ss << f.rdbuf();
    Json doc = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object() || !doc.contains("users") || !doc.contains("groups")) {
      return absl::UnavailableError(absl::StrCat("directory file ", path_,
                                                 " is not {\"users\":[...],\"groups\":[...]}"));
    }
    return doc;
  }

  absl::Status Save(const Json& doc) const {
    const std::string tmp = path_ + ".tmp";
    const std::string text = doc.dump(2);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || std::rename(tmp.c_str(), path_.c_str()) != 0) {
      return absl::UnavailableError(absl::StrCat("cannot write ", path_));
    }
    return absl::OkStatus();
  }

  static Json* FindGroup(Json& doc, const std::string& ref, bool by_name) {
    for (auto& g : doc["groups"]) {
      if (g.value("object_id", "") == ref ||
          (by_name && absl::EqualsIgnoreCase(g.value("name", ""), ref))) {
        return &g;
      }
    }
    return nullptr;
  }
  static const Json* FindGroup(const Json& doc, const std::string& ref, bool by_name) {
    return FindGroup(const_cast<Json&>(doc), ref, by_name);
  }

  static AuthorizationGroup ToGroup(const Json& g) {
    AuthorizationGroup out;
    out.object_id = g.value("object_id", "");
    out.display_name = g.value("name", "");
    out.dn = g.value("dn", "");
    out.direct_member_count = static_cast<std::int64_t>(g.value("members", Json::array()).size());
    return out;
  }

  static DirectoryUser ToUser(const Json& u) {
    DirectoryUser out;
    out.object_id = u.value("object_id", "");
    out.sam_account_name = u.value("sam_account_name", "");
    out.domain = u.value("domain", "");
    out.upn = u.value("upn", "");
    out.sid = u.value("sid", "");
    out.dn = u.value("dn", "");
    out.display_name = u.value("display_name", out.sam_account_name);
    return out;
  }

  static absl::StatusOr<DirectoryUser> User(const Json& doc, const std::string& id) {
    for (const auto& u : doc["users"]) {
      if (u.value("object_id", "") == id) return ToUser(u);
    }
    return absl::NotFoundError(absl::StrCat("no user ", id));
  }

  const std::string path_;
  const int remove_delay_ms_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DirectoryConnector>> MakeFileDirectoryConnector(
    const ConnectorConfig& config) {
  const auto path = config.settings.find("path");
  if (path == config.settings.end() || path->second.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("connector '", config.name, "' (kind file): 'path' is required"));
  }
  int delay = 0;
  if (auto d = config.settings.find("remove_delay_ms"); d != config.settings.end()) {
    if (!absl::SimpleAtoi(d->second, &delay) || delay < 0 || delay > 600000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "connector '", config.name, "': remove_delay_ms must be 0-600000, got '", d->second,
          "'"));
    }
  }
  return std::unique_ptr<DirectoryConnector>(new FileDirectoryConnector(path->second, delay));
}

}  // namespace reclaim::collector
