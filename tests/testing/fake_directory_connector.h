// FakeDirectory + FakeDirectoryConnector: an in-memory directory that follows
// the DirectoryConnector contract (collector/connectors/connector.h) exactly:
// members addressed by object id; RemoveMember/AddMember idempotent
// (kAlreadyRemoved / kAlreadyMember); a user whose primary group is the group
// is listed as kPrimaryGroup and RemoveMember reports kNeedsManualAction
// without changing anything; a user who is also a member through a nested
// group is removed directly and reported kStillLicensedThrough <group>;
// errors (kUnavailable when "unreachable", kNotFound for unknown groups or
// users, injected failures) have no partial effects.
//
// The FakeDirectory is the shared state (thread-safe); each
// FakeDirectoryConnector is a cheap handle on it, as a ConnectorFactory
// builder returns a fresh connector per run.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "collector/connectors/connector.h"

namespace reclaim::testing {

using collector::AuthorizationGroup;
using collector::ChangeOutcome;
using collector::ChangeResult;
using collector::DirectoryUser;
using collector::GroupMember;
using collector::MembershipKind;

class FakeDirectory {
 public:
  struct Group {
    AuthorizationGroup info;
    std::set<std::string> direct_users;   // object ids
    std::set<std::string> nested_groups;  // object ids of groups in `member`
    std::set<std::string> primary_users;  // users whose primaryGroupID is this group
  };

  void AddUser(const DirectoryUser& u) {
    absl::MutexLock l(&mu_);
    users_[u.object_id] = u;
  }
  /// Adds a group; `name` is its display name and reference.
  void AddGroup(const std::string& object_id, const std::string& name) {
    absl::MutexLock l(&mu_);
    Group& g = groups_[object_id];
    g.info.object_id = object_id;
    g.info.display_name = name;
    g.info.dn = absl::StrCat("CN=", name, ",OU=Groups,DC=example,DC=com");
  }
  void AddDirect(const std::string& group, const std::string& user) {
    absl::MutexLock l(&mu_);
    groups_.at(group).direct_users.insert(user);
  }
  void RemoveDirect(const std::string& group, const std::string& user) {
    absl::MutexLock l(&mu_);
    groups_.at(group).direct_users.erase(user);
  }
  void AddNestedGroup(const std::string& group, const std::string& nested) {
    absl::MutexLock l(&mu_);
    groups_.at(group).nested_groups.insert(nested);
  }
  void SetPrimaryGroup(const std::string& group, const std::string& user) {
    absl::MutexLock l(&mu_);
    groups_.at(group).primary_users.insert(user);
  }
  bool IsDirectMember(const std::string& group, const std::string& user) const {
    absl::MutexLock l(&mu_);
    return groups_.at(group).direct_users.contains(user);
  }
  /// While set, every call fails with kUnavailable.
  void SetUnreachable(bool v) {
    absl::MutexLock l(&mu_);
    unreachable_ = v;
  }
  /// The next RemoveMember of `user` fails with `status` (once).
  void FailNextRemove(const std::string& user, absl::Status status) {
    absl::MutexLock l(&mu_);
    fail_remove_[user] = std::move(status);
  }
  /// Called inside RemoveMember after the change was applied (tests use it
  /// to flip the kill switch or count).
  void OnRemove(std::function<void(const std::string& user)> hook) {
    absl::MutexLock l(&mu_);
    on_remove_ = std::move(hook);
  }
  /// Every RemoveMember / AddMember call, "remove:<user>" / "add:<user>".
  std::vector<std::string> calls() const {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  int RemoveCalls(const std::string& user) const {
    absl::MutexLock l(&mu_);
    int n = 0;
    for (const auto& c : calls_) n += c == "remove:" + user;
    return n;
  }

  absl::StatusOr<AuthorizationGroup> GetGroup(const std::string& ref) const {
    absl::MutexLock l(&mu_);
    if (unreachable_) return absl::UnavailableError("fake directory unreachable");
    for (const auto& [id, g] : groups_) {
      if (id == ref || g.info.dn == ref || absl::EqualsIgnoreCase(g.info.display_name, ref)) {
        AuthorizationGroup out = g.info;
        out.direct_member_count = static_cast<std::int64_t>(g.direct_users.size());
        return out;
      }
    }
    return absl::NotFoundError(absl::StrCat("no group '", ref, "'"));
  }

  absl::StatusOr<std::vector<GroupMember>> ListMembers(const AuthorizationGroup& group) const {
    absl::MutexLock l(&mu_);
    if (unreachable_) return absl::UnavailableError("fake directory unreachable");
    const auto it = groups_.find(group.object_id);
    if (it == groups_.end()) return absl::NotFoundError("no such group");
    std::map<std::string, GroupMember> out;
    for (const std::string& u : it->second.direct_users) {
      GroupMember m;
      m.user = users_.at(u);
      m.kind = MembershipKind::kDirect;
      out[u] = m;
    }
    for (const std::string& ng : it->second.nested_groups) {
      const Group& nested = groups_.at(ng);
      for (const std::string& u : nested.direct_users) {
        if (auto f = out.find(u); f != out.end()) {
          if (f->second.kind == MembershipKind::kDirect) {
            f->second.also_via_group = nested.info.display_name;
          }
          continue;
        }
        GroupMember m;
        m.user = users_.at(u);
        m.kind = MembershipKind::kNested;
        m.via_group = nested.info.display_name;
        out[u] = m;
      }
    }
    for (const std::string& u : it->second.primary_users) {
      if (out.contains(u)) continue;
      GroupMember m;
      m.user = users_.at(u);
      m.kind = MembershipKind::kPrimaryGroup;
      out[u] = m;
    }
    std::vector<GroupMember> v;
    for (auto& [id, m] : out) v.push_back(std::move(m));
    return v;
  }

  absl::StatusOr<DirectoryUser> FindUser(const std::string& login,
                                         const std::string& domain) const {
    absl::MutexLock l(&mu_);
    if (unreachable_) return absl::UnavailableError("fake directory unreachable");
    for (const auto& [id, u] : users_) {
      if ((absl::EqualsIgnoreCase(u.sam_account_name, login) &&
           (domain.empty() || absl::EqualsIgnoreCase(u.domain, domain))) ||
          absl::EqualsIgnoreCase(u.upn, login)) {
        return u;
      }
    }
    return absl::NotFoundError(absl::StrCat("no user '", login, "'"));
  }

  absl::StatusOr<ChangeResult> RemoveMember(const AuthorizationGroup& group,
                                            const DirectoryUser& user) {
    std::function<void(const std::string&)> hook;
    ChangeResult r;
    {
      absl::MutexLock l(&mu_);
      calls_.push_back("remove:" + user.object_id);
      if (unreachable_) return absl::UnavailableError("fake directory unreachable");
      if (auto f = fail_remove_.find(user.object_id); f != fail_remove_.end()) {
        absl::Status s = f->second;
        fail_remove_.erase(f);
        return s;
      }
      const auto it = groups_.find(group.object_id);
      if (it == groups_.end()) return absl::NotFoundError("no such group");
      if (!users_.contains(user.object_id)) return absl::NotFoundError("no such user");
      Group& g = it->second;
      r.request = absl::StrCat("fake modify <GUID=", group.object_id, ">: delete member <GUID=",
                               user.object_id, ">");
      if (g.primary_users.contains(user.object_id) && !g.direct_users.contains(user.object_id)) {
        r.outcome = ChangeOutcome::kNeedsManualAction;
        r.detail = "the group is the user's primary group";
        return r;
      }
      if (!g.direct_users.erase(user.object_id)) {
        r.outcome = ChangeOutcome::kAlreadyRemoved;
      } else {
        r.outcome = ChangeOutcome::kRemoved;
        for (const std::string& ng : g.nested_groups) {
          if (groups_.at(ng).direct_users.contains(user.object_id)) {
            r.outcome = ChangeOutcome::kStillLicensedThrough;
            r.detail = absl::StrCat("still licensed through ", groups_.at(ng).info.display_name);
          }
        }
      }
      hook = on_remove_;
    }
    if (hook) hook(user.object_id);
    return r;
  }

  absl::StatusOr<ChangeResult> AddMember(const AuthorizationGroup& group,
                                         const DirectoryUser& user) {
    absl::MutexLock l(&mu_);
    calls_.push_back("add:" + user.object_id);
    if (unreachable_) return absl::UnavailableError("fake directory unreachable");
    const auto it = groups_.find(group.object_id);
    if (it == groups_.end()) return absl::NotFoundError("no such group");
    if (!users_.contains(user.object_id)) return absl::NotFoundError("no such user");
    ChangeResult r;
    r.request = absl::StrCat("fake modify <GUID=", group.object_id, ">: add member <GUID=",
                             user.object_id, ">");
    r.outcome = it->second.direct_users.insert(user.object_id).second
                    ? ChangeOutcome::kAdded
                    : ChangeOutcome::kAlreadyMember;
    return r;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, DirectoryUser> users_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Group> groups_ ABSL_GUARDED_BY(mu_);
  bool unreachable_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, absl::Status> fail_remove_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> on_remove_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

/// A DirectoryConnector handle on a FakeDirectory (kind "fake").
class FakeDirectoryConnector final : public collector::DirectoryConnector {
 public:
  explicit FakeDirectoryConnector(FakeDirectory& dir) : dir_(dir) {}
  std::string kind() const override { return "fake"; }
  absl::StatusOr<AuthorizationGroup> GetGroup(const std::string& ref) override {
    return dir_.GetGroup(ref);
  }
  absl::StatusOr<std::vector<GroupMember>> ListMembers(const AuthorizationGroup& group) override {
    return dir_.ListMembers(group);
  }
  absl::StatusOr<DirectoryUser> FindUser(const std::string& login,
                                         const std::string& domain) override {
    return dir_.FindUser(login, domain);
  }
  absl::StatusOr<ChangeResult> RemoveMember(const AuthorizationGroup& group,
                                            const DirectoryUser& user) override {
    return dir_.RemoveMember(group, user);
  }
  absl::StatusOr<ChangeResult> AddMember(const AuthorizationGroup& group,
                                         const DirectoryUser& user) override {
    return dir_.AddMember(group, user);
  }

 private:
  FakeDirectory& dir_;
};

}  // namespace reclaim::testing
