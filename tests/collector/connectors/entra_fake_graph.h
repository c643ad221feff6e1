// A fake Microsoft Graph + Microsoft identity platform on 127.0.0.1 (port 0)
// for the Entra connector's tests and benchmark, with cpp-httplib. It follows
// the documented behaviour the connector relies on:
// - POST /{tenant}/oauth2/v2.0/token (client credentials): a bearer token
//   with `expires_in`; a wrong secret is 401 invalid_client (AADSTS7000215).
//   ExpireTokens() makes every issued token invalid (Graph then answers 401
//   InvalidAuthenticationToken, as for an expired token).
// - GET /v1.0/users/{upn|id}, GET /v1.0/users?$filter=onPremisesSamAccountName eq '...'.
// - GET /v1.0/groups/{id}, GET /v1.0/groups?$filter=displayName eq '...'.
// - GET /v1.0/groups/{id}/members: pages of $top (default 100) with an
//   absolute @odata.nextLink carrying $skiptoken.
// - DELETE /v1.0/groups/{g}/members/{u}/$ref: 204; 404 Request_ResourceNotFound
//   for a non-member or a missing group. Any other DELETE is answered 400
//   and recorded (tests assert there is none).
// - POST /v1.0/groups/{g}/members/$ref {"@odata.id": ".../directoryObjects/{u}"}:
//   204; 400 "One or more added object references already exist" for a member.
// - Refused kinds are plain group properties (the connector must refuse them);
//   a change to such a group is answered 400 and recorded.
// - Throttling: `rate_per_second` > 0 limits Graph requests (GCRA, burst
//   1): a request too early gets 429 with a fractional Retry-After (the
//   exact wait). Scripted faults (429/503/504/403/400 with or without
//   Retry-After) answer the next matching requests.
// - "Sticky" members: still listed after their removal (replication delay).
// The fake reads time from a Clock, so tests drive throttling with the same
// ManualClock the connector's sleeper advances. Thread-safe.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "nlohmann/json.hpp"
#include "tests/testing/test_secrets.h"

namespace reclaim::testing {

/// The client secret the fake Graph accepts (a marked test secret).
inline const std::string kFakeGraphClientSecret =
    ::reclaim::testing::TestSecret("entra-client-secret");

/// One request as the fake received it.
struct GraphRequestLog {
  std::string method;
  std::string path;   ///< decoded path ("/v1.0/groups/g/members/u/$ref")
  std::string target; ///< as sent, with the query
  std::string body;
  std::int64_t mono_ms = 0;  ///< the fake's clock when it arrived
  int status = 0;
};

struct FakeGraphUser {
  std::string id, upn, display_name, sam, domain;
  bool enabled = true;
};

struct FakeGraphGroup {
  std::string id, display_name;
  std::vector<std::string> group_types;
  std::string membership_rule;
  bool mail_enabled = false, security_enabled = true, on_prem_sync = false, role_assignable = false;
  std::vector<std::string> members;  ///< user ids, in order
};

/// A scripted answer for the next request(s) matching method + path substring.
struct GraphFault {
  std::string method;         ///< "" = any
  std::string path_contains;  ///< "" = any Graph path
  int status = 429;
  std::optional<std::string> retry_after;
  std::string code = "TooManyRequests";
  std::string message = "Too many requests";
  int times = 1;
};

inline std::string FakeGuid(int n, int kind = 0) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012d", kind, n);
  return buf;
}

class FakeGraph {
 public:
  explicit FakeGraph(const Clock& clock) : clock_(clock) {
    auto h = [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); };
    server_.Get(".*", h);
    server_.Post(".*", h);
    server_.Delete(".*", h);
    server_.Patch(".*", h);
    // Headers and body go out in separate writes: without TCP_NODELAY each
    // response waits ~40 ms for the client's delayed ACK (Nagle).
    server_.set_tcp_nodelay(true);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // The socket is bound: connections queue until listen starts; wait for
    // it so stop() in the destructor cannot come first.
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeGraph() {
    server_.stop();
    thread_.join();
  }
  FakeGraph(const FakeGraph&) = delete;
  FakeGraph& operator=(const FakeGraph&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // --- setup (thread-safe) ---
  void AddUser(const FakeGraphUser& u) {
    std::lock_guard l(mu_);
    users_[u.id] = u;
  }
  void AddGroup(const FakeGraphGroup& g) {
    std::lock_guard l(mu_);
    groups_[g.id] = g;
  }
  void RemoveGroup(const std::string& id) {
    std::lock_guard l(mu_);
    groups_.erase(id);
  }
  void AddFault(const GraphFault& f) {
    std::lock_guard l(mu_);
    faults_.push_back(f);
  }
  /// Limits Graph requests to `per_second` (0 = unlimited), letting up to
  /// `burst` requests through back to back (GCRA, RFC-less "leaky bucket as
  /// a meter"): a request earlier than allowed gets 429 with the exact wait
  /// as a fractional Retry-After.
  void SetRate(double per_second, int burst = 1) {
    std::lock_guard l(mu_);
    rate_ = per_second;
    burst_ = burst;
    next_free_ms_ = 0;
  }
  void SetSticky(const std::string& user_id) {
    std::lock_guard l(mu_);
    sticky_.insert(user_id);
  }
  void ExpireTokens() {
    std::lock_guard l(mu_);
    tokens_.clear();
  }
  void SetTokenLifetime(int seconds) {
    std::lock_guard l(mu_);
    token_lifetime_s_ = seconds;
  }
  void SetSecret(const std::string& s) {
    std::lock_guard l(mu_);
    secret_ = s;
  }

  // --- inspection ---
  std::vector<GraphRequestLog> Requests() const {
    std::lock_guard l(mu_);
    return log_;
  }
  void ClearRequests() {
    std::lock_guard l(mu_);
    log_.clear();
  }
  std::vector<std::string> Members(const std::string& group) const {
    std::lock_guard l(mu_);
    auto it = groups_.find(group);
    return it == groups_.end() ? std::vector<std::string>{} : it->second.members;
  }
  int token_requests() const {
    std::lock_guard l(mu_);
    return token_requests_;
  }
  /// Form fields of the last token request (the secret included: tests only).
  std::map<std::string, std::string> last_token_form() const {
    std::lock_guard l(mu_);
    return last_token_form_;
  }

  static constexpr const char* kTenant = "11111111-2222-3333-4444-555555555555";

 private:
  using Json = nlohmann::json;

  static void Error(httplib::Response& res, int status, const std::string& code,
                    const std::string& message) {
    res.status = status;
    res.set_content(Json{{"error", {{"code", code}, {"message", message}}}}.dump(),
                    "application/json");
  }
  static void Ok(httplib::Response& res, const Json& j) {
    res.status = 200;
    res.set_content(j.dump(), "application/json");
  }
  static bool Has(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  }
  Json UserJson(const FakeGraphUser& u) const {
    return {{"@odata.type", "#microsoft.graph.user"},
            {"id", u.id},
            {"userPrincipalName", u.upn},
            {"displayName", u.display_name},
            {"accountEnabled", u.enabled},
            {"onPremisesSamAccountName", u.sam.empty() ? Json(nullptr) : Json(u.sam)},
            {"onPremisesDomainName", u.domain.empty() ? Json(nullptr) : Json(u.domain)},
            {"onPremisesSecurityIdentifier", nullptr}};
  }
  Json GroupJson(const FakeGraphGroup& g) const {
    return {{"id", g.id},
            {"displayName", g.display_name},
            {"groupTypes", g.group_types},
            {"membershipRule", g.membership_rule.empty() ? Json(nullptr) : Json(g.membership_rule)},
            {"mailEnabled", g.mail_enabled},
            {"securityEnabled", g.security_enabled},
            {"onPremisesSyncEnabled", g.on_prem_sync ? Json(true) : Json(nullptr)},
            {"isAssignableToRole", g.role_assignable}};
  }
  bool Refused(const FakeGraphGroup& g) const {
    return Has(g.group_types, "DynamicMembership") || g.on_prem_sync ||
           (g.mail_enabled && !Has(g.group_types, "Unified")) || g.role_assignable;
  }
  // "displayName eq 'X'" -> X
  static std::optional<std::string> EqValue(const std::string& filter, const std::string& field) {
    const std::string prefix = field + " eq '";
    if (filter.rfind(prefix, 0) != 0 || filter.back() != '\'') return std::nullopt;
    std::string v = filter.substr(prefix.size(), filter.size() - prefix.size() - 1);
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
      out.push_back(v[i]);
      if (v[i] == '\'' && i + 1 < v.size() && v[i + 1] == '\'') ++i;
    }
    return out;
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard l(mu_);
    const std::int64_t now = clock_.Monotonic().count();
    log_.push_back({req.method, req.path, req.target, req.body, now, 0});
    HandleLocked(req, res, now);
    log_.back().status = res.status;
  }

  void HandleLocked(const httplib::Request& req, httplib::Response& res, std::int64_t now) {
    const std::string& p = req.path;
    if (p == std::string("/") + kTenant + "/oauth2/v2.0/token" && req.method == "POST") {
      ++token_requests_;
      last_token_form_.clear();
      for (const auto& [k, v] : req.params) last_token_form_[k] = v;
      if (req.get_param_value("grant_type") != "client_credentials" ||
          req.get_param_value("scope").find("/.default") == std::string::npos) {
        Error(res, 400, "invalid_request", "bad request");
        return;
      }
      const bool assertion = req.has_param("client_assertion");
      if (!assertion && req.get_param_value("client_secret") != secret_) {
        res.status = 401;
        res.set_content(Json{{"error", "invalid_client"},
                             {"error_description",
                              "AADSTS7000215: Invalid client secret provided."}}.dump(),
                        "application/json");
        return;
      }
      const std::string token = "tok-" + std::to_string(++token_seq_);
      tokens_.insert(token);
      Ok(res, {{"token_type", "Bearer"}, {"expires_in", token_lifetime_s_}, {"access_token", token}});
      return;
    }
    if (p.rfind("/v1.0/", 0) != 0) {
      Error(res, 404, "NotFound", "no such endpoint");
      return;
    }
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) != 0 || !tokens_.contains(auth.substr(7))) {
      Error(res, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
      return;
    }
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if ((it->method.empty() || it->method == req.method) &&
          p.find(it->path_contains) != std::string::npos) {
        Error(res, it->status, it->code, it->message);
        if (it->retry_after) res.set_header("Retry-After", *it->retry_after);
        if (--it->times <= 0) faults_.erase(it);
        return;
      }
    }
    if (rate_ > 0) {
      const double interval = 1000.0 / rate_;
      const double tolerance = interval * (burst_ - 1);
      if (static_cast<double>(now) < next_free_ms_ - tolerance) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f",
                      (next_free_ms_ - tolerance - static_cast<double>(now)) / 1000.0);
        Error(res, 429, "TooManyRequests", "Too many requests");
        res.set_header("Retry-After", buf);
        return;
      }
      next_free_ms_ = std::max(next_free_ms_, static_cast<double>(now)) + interval;
    }
    std::vector<std::string> seg;
    for (size_t i = 6; i <= p.size();) {
      size_t j = p.find('/', i);
      if (j == std::string::npos) j = p.size();
      seg.push_back(p.substr(i, j - i));
      i = j + 1;
    }
    if (req.method == "GET") return HandleGet(req, res, seg);
    if (req.method == "DELETE" && seg.size() == 5 && seg[0] == "groups" && seg[2] == "members" &&
        seg[4] == "$ref") {
      auto g = groups_.find(seg[1]);
      if (g == groups_.end()) {
        Error(res, 404, "Request_ResourceNotFound", "Resource '" + seg[1] + "' does not exist.");
        return;
      }
      if (Refused(g->second)) {
        Error(res, 400, "Request_BadRequest", "Cannot update a group of this kind.");
        return;
      }
      auto& m = g->second.members;
      auto it = std::find(m.begin(), m.end(), seg[3]);
      if (it == m.end()) {
        Error(res, 404, "Request_ResourceNotFound",
              "One or more removed object references do not exist for the following modified "
              "properties: 'members'.");
        return;
      }
      m.erase(it);
      if (sticky_.contains(seg[3])) lagging_[seg[1]].insert(seg[3]);
      res.status = 204;
      return;
    }
    if (req.method == "POST" && seg.size() == 4 && seg[0] == "groups" && seg[2] == "members" &&
        seg[3] == "$ref") {
      auto g = groups_.find(seg[1]);
      if (g == groups_.end()) {
        Error(res, 404, "Request_ResourceNotFound", "Resource '" + seg[1] + "' does not exist.");
        return;
      }
      Json body = Json::parse(req.body, nullptr, false);
      const std::string ref = body.is_object() && body.contains("@odata.id") && body["@odata.id"].is_string()
                                  ? body["@odata.id"].get<std::string>()
                                  : "";
      const std::string prefix = url() + "/v1.0/directoryObjects/";
      if (ref.rfind(prefix, 0) != 0 || !users_.contains(ref.substr(prefix.size()))) {
        Error(res, 400, "Request_BadRequest", "Invalid object identifier '" + ref + "'.");
        return;
      }
      if (Refused(g->second)) {
        Error(res, 400, "Request_BadRequest", "Cannot update a group of this kind.");
        return;
      }
      const std::string uid = ref.substr(prefix.size());
      if (Has(g->second.members, uid)) {
        Error(res, 400, "Request_BadRequest",
              "One or more added object references already exist for the following modified "
              "properties: 'members'.");
        return;
      }
      g->second.members.push_back(uid);
      lagging_[seg[1]].erase(uid);
      res.status = 204;
      return;
    }
    Error(res, 400, "Request_BadRequest", "The fake does not allow " + req.method + " " + p);
  }

  void HandleGet(const httplib::Request& req, httplib::Response& res,
                 const std::vector<std::string>& seg) {
    if (seg.size() == 1 && (seg[0] == "users" || seg[0] == "groups")) {
      Json value = Json::array();
      const std::string filter = req.get_param_value("$filter");
      if (seg[0] == "users") {
        auto v = EqValue(filter, "onPremisesSamAccountName");
        if (!v || req.get_header_value("ConsistencyLevel") != "eventual") {
          Error(res, 400, "Request_UnsupportedQuery", "Unsupported query.");
          return;
        }
        for (const auto& [id, u] : users_) {
          if (u.sam == *v) value.push_back(UserJson(u));
        }
      } else {
        auto v = EqValue(filter, "displayName");
        if (!v) {
          Error(res, 400, "Request_UnsupportedQuery", "Unsupported query.");
          return;
        }
        for (const auto& [id, g] : groups_) {
          if (g.display_name == *v) value.push_back(GroupJson(g));
        }
      }
      Ok(res, {{"value", value}});
      return;
    }
    if (seg.size() == 2 && seg[0] == "users") {
      for (const auto& [id, u] : users_) {
        if (id == seg[1] || u.upn == seg[1]) return Ok(res, UserJson(u));
      }
      Error(res, 404, "Request_ResourceNotFound", "Resource '" + seg[1] + "' does not exist.");
      return;
    }
    auto g = seg.size() >= 2 && seg[0] == "groups" ? groups_.find(seg[1]) : groups_.end();
    if (g == groups_.end()) {
      Error(res, 404, "Request_ResourceNotFound", "Resource does not exist.");
      return;
    }
    if (seg.size() == 2) return Ok(res, GroupJson(g->second));
    if (seg.size() == 3 && seg[2] == "members") {
      const int top = req.has_param("$top") ? std::stoi(req.get_param_value("$top")) : 100;
      const size_t skip = req.has_param("$skiptoken") ? std::stoul(req.get_param_value("$skiptoken")) : 0;
      std::vector<std::string> all = g->second.members;
      for (const std::string& u : lagging_[g->first]) all.push_back(u);  // replication delay
      Json value = Json::array();
      for (size_t i = skip; i < all.size() && i < skip + static_cast<size_t>(top); ++i) {
        auto u = users_.find(all[i]);
        if (u != users_.end()) value.push_back(UserJson(u->second));
      }
      Json page = {{"value", value}};
      if (skip + static_cast<size_t>(top) < all.size()) {
        page["@odata.nextLink"] = url() + "/v1.0/groups/" + g->first + "/members?$select=" +
                                  httplib::detail::encode_query_param(req.get_param_value("$select")) +
                                  "&$top=" + std::to_string(top) +
                                  "&$skiptoken=" + std::to_string(skip + static_cast<size_t>(top));
      }
      Ok(res, page);
      return;
    }
    Error(res, 400, "Request_BadRequest", "Unsupported path.");
  }

  const Clock& clock_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::string, FakeGraphUser> users_;
  std::map<std::string, FakeGraphGroup> groups_;
  std::deque<GraphFault> faults_;
  std::set<std::string> sticky_;
  std::map<std::string, std::set<std::string>> lagging_;
  std::set<std::string> tokens_;
  std::vector<GraphRequestLog> log_;
  std::map<std::string, std::string> last_token_form_;
  std::string secret_ = kFakeGraphClientSecret;
  int token_lifetime_s_ = 3599;
  int token_seq_ = 0;
  int token_requests_ = 0;
  double rate_ = 0;
  int burst_ = 1;
  double next_free_ms_ = 0;
};

}  // namespace reclaim::testing
