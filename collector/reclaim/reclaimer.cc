#include "collector/reclaim/reclaimer.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/reclaim/cron.h"
#include "common/log_format.h"
#include "common/status_macros.h"
#include "common/utc_day.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

using Json = nlohmann::ordered_json;

// Our own names for ChangeOutcome (the connector library owns
// ChangeOutcomeName; these are the audit log's words and must not change).
const char* OutcomeText(ChangeOutcome o) {
  switch (o) {
    case ChangeOutcome::kRemoved: return "removed";
    case ChangeOutcome::kAlreadyRemoved: return "already_removed";
    case ChangeOutcome::kAdded: return "added";
    case ChangeOutcome::kAlreadyMember: return "already_member";
    case ChangeOutcome::kNeedsManualAction: return "needs_manual_action";
    case ChangeOutcome::kStillLicensedThrough: return "still_licensed_through";
  }
  return "unknown";
}

Json UserJson(const DirectoryUser& u) {
  Json j;
  j["object_id"] = u.object_id;
  j["sam_account_name"] = u.sam_account_name;
  j["domain"] = u.domain;
  j["upn"] = u.upn;
  j["sid"] = u.sid;
  j["dn"] = u.dn;
  j["display_name"] = u.display_name;
  return j;
}

DirectoryUser UserFromJson(const Json& j) {
  DirectoryUser u;
  u.object_id = j.value("object_id", "");
  u.sam_account_name = j.value("sam_account_name", "");
  u.domain = j.value("domain", "");
  u.upn = j.value("upn", "");
  u.sid = j.value("sid", "");
  u.dn = j.value("dn", "");
  u.display_name = j.value("display_name", "");
  return u;
}

Json GroupJson(const AuthorizationGroup& g) {
  Json j;
  j["object_id"] = g.object_id;
  j["display_name"] = g.display_name;
  j["dn"] = g.dn;
  return j;
}

Json EvidenceJson(const MemberDecision& d) {
  const MemberEvidence& e = d.evidence;
  Json j;
  j["decision"] = DecisionName(d.decision);
  j["reason"] = d.reason;
  j["focus_ms"] = e.focus_ms;
  j["last_use_utc"] = e.last_use_utc_ms ? FormatUtcMs(e.last_use_utc_ms) : "";
  j["coverage"] = e.coverage;
  j["devices"] = e.devices;
  j["answer"] = AnswerName(e.answer);
  j["first_seen_in_group_utc"] = FormatUtcMs(e.first_seen_in_group_utc_ms);
  return j;
}

bool IEq(const std::string& a, const std::string& b) {
  return !a.empty() && !b.empty() && absl::EqualsIgnoreCase(a, b);
}

// Directory-wide errors end a run: nothing after them could succeed.
bool IsDirectoryWide(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s) ||
         absl::IsDeadlineExceeded(s);
}

bool Terminal(RunState s) {
  return s == RunState::kDryRun || s == RunState::kSucceeded || s == RunState::kFailed ||
         s == RunState::kHalted;
}

std::string CampaignNameOf(std::int64_t run_id) { return absl::StrCat(kRunCampaignPrefix, run_id); }

// The first answer ("Yes") keeps the licence.
bool IsYes(const Campaign& c, const Response& r) {
  return r.state == ResponseState::kAnswered && !c.answers.empty() &&
         absl::EqualsIgnoreCase(r.answer, c.answers.front());
}

// A member's responses (one per endpoint user asked).
std::vector<const Response*> ResponsesOf(const RunItem& item,
                                         const std::map<std::string, Response>& by_user) {
  std::vector<const Response*> out;
  for (const std::string& u : item.decision.evidence.endpoint_users) {
    if (auto it = by_user.find(u); it != by_user.end()) out.push_back(&it->second);
  }
  return out;
}

// Why a member without a "Yes" is removed, in the response's words.
std::string NotGivenText(const std::vector<const Response*>& rs) {
  if (rs.empty()) return "not asked: no response recorded";
  std::vector<std::string> parts;
  for (const Response* r : rs) {
    std::string what;
    switch (r->state) {
      case ResponseState::kAnswered: what = absl::StrCat("answered ", r->answer); break;
      case ResponseState::kDeclined: what = "declined (closed the prompt)"; break;
      case ResponseState::kPostponed: what = "postponed, no answer"; break;
      case ResponseState::kDisplayed: what = "shown, no answer"; break;
      case ResponseState::kDelivered: what = "delivered, never shown"; break;
      case ResponseState::kPending: what = "never delivered"; break;
      case ResponseState::kTimedOut: what = "timed out"; break;
      case ResponseState::kExpired: what = "expired"; break;
    }
    parts.push_back(absl::StrCat(r->user, ": ", what));
  }
  return absl::StrCat("no yes to the campaign (", absl::StrJoin(parts, "; "), ")");
}

Json ResponseJson(const Campaign& c, const Response& r) {
  Json j;
  j["campaign"] = c.name;
  j["campaign_id"] = c.id;
  j["response_id"] = r.id;
  j["user"] = r.user;
  j["state"] = ResponseStateName(r.state);
  j["answer"] = r.answer;
  j["device_id"] = r.device_id;
  j["answered_utc"] = r.finished_utc_ms ? FormatUtcMs(r.finished_utc_ms) : "";
  return j;
}

}  // namespace

bool EndpointUserMatches(const DirectoryUser& dir, const EndpointUserEvidence& ep) {
  if (IEq(dir.sid, ep.sid)) return true;
  if (IEq(dir.upn, ep.upn)) return true;
  if (!IEq(dir.sam_account_name, ep.login_name)) return false;
  if (dir.domain.empty() && ep.domain.empty()) return true;
  if (IEq(dir.domain, ep.domain)) return true;
  const size_t dot = ep.domain.find('.');
  if (dot != std::string::npos && IEq(dir.domain, ep.domain.substr(0, dot))) return true;
  const size_t at = dir.upn.rfind('@');
  return at != std::string::npos && IEq(dir.upn.substr(at + 1), ep.domain);
}

MemberEvidence CombineEvidence(const SyncedMember& member,
                               const std::vector<const EndpointUserEvidence*>& matched,
                               std::int64_t first_day, std::int64_t last_day) {
  MemberEvidence e;
  e.member = member.member;
  e.first_seen_in_group_utc_ms = member.first_seen_utc_ms;
  std::vector<DaySpan> spans;
  for (const EndpointUserEvidence* ep : matched) {
    e.focus_ms += ep->focus_ms;
    e.last_use_utc_ms = std::max(e.last_use_utc_ms, ep->last_use_utc_ms);
    e.devices += ep->devices;
    spans.insert(spans.end(), ep->spans.begin(), ep->spans.end());
  }
  e.coverage = e.devices > 0 ? WindowCoverage(first_day, last_day, std::move(spans)) : 0.0;
  for (const EndpointUserEvidence* ep : matched) {
    std::string key = absl::StrCat(ep->domain, "\\", ep->login_name);
    if (std::find(e.endpoint_users.begin(), e.endpoint_users.end(), key) ==
        e.endpoint_users.end()) {
      e.endpoint_users.push_back(std::move(key));
    }
  }
  return e;
}

Reclaimer::Reclaimer(ReclamationStore& store, const ConnectorFactory& connectors,
                     const Clock& clock, CampaignStore* campaigns, PromptRouter* router,
                     ReclaimerOptions options)
    : store_(store),
      connectors_(connectors),
      clock_(clock),
      campaigns_(campaigns),
      router_(router),
      options_(std::move(options)) {}

void Reclaimer::SetRunReadyCallback(std::function<void()> cb) {
  absl::MutexLock l(&mu_);
  run_ready_ = std::move(cb);
}

absl::StatusOr<AuditEntry> Reclaimer::AuditAdminAction(const std::string& actor,
                                                       const std::string& action,
                                                       const std::string& subject,
                                                       const std::string& detail_json) {
  return store_.AppendAudit(Entry(actor, action, 0, 0, subject, detail_json));
}

AuditEntry Reclaimer::Entry(const std::string& actor, const std::string& action,
                            std::int64_t policy_id, std::int64_t run_id,
                            const std::string& subject, const std::string& detail) const {
  AuditEntry e;
  e.time_utc_ms = clock_.WallUtcMs();
  e.actor = actor;
  e.action = action;
  e.policy_id = policy_id;
  e.run_id = run_id;
  e.subject = subject;
  e.detail = detail;
  return e;
}

// ---------------------------------------------------------------- catalog

absl::StatusOr<Application> Reclaimer::AddApplication(const Application& app,
                                                      const std::string& actor) {
  if (app.name.empty() || app.name.size() > 200) {
    return absl::InvalidArgumentError("application name must be 1-200 bytes");
  }
  if (app.cost_cents_per_seat_month < 0) {
    return absl::InvalidArgumentError("license cost must not be negative");
  }
  for (const ApplicationRule& r : app.rules) RETURN_IF_ERROR(ValidateRule(r));
  ASSIGN_OR_RETURN(Application created, store_.CreateApplication(app, clock_.WallUtcMs()));
  for (const ApplicationRule& r : app.rules) {
    RETURN_IF_ERROR(store_.AddApplicationRule(created.id, r));
  }
  Json d;
  d["name"] = app.name;
  d["cost_cents_per_seat_month"] = app.cost_cents_per_seat_month;
  d["currency"] = app.currency;
  RETURN_IF_ERROR(store_.AppendAudit(Entry(actor, "application.create", 0, 0, "", d.dump()))
                      .status());
  return store_.GetApplication(app.name);
}

absl::StatusOr<Application> Reclaimer::AddApplicationRule(const std::string& application,
                                                          const ApplicationRule& rule,
                                                          const std::string& actor) {
  RETURN_IF_ERROR(ValidateRule(rule));
  ASSIGN_OR_RETURN(Application app, store_.GetApplication(application));
  RETURN_IF_ERROR(store_.AddApplicationRule(app.id, rule));
  Json d;
  d["application"] = app.name;
  d["kind"] = RuleKindName(rule.kind);
  d["pattern"] = rule.pattern;
  RETURN_IF_ERROR(store_.AppendAudit(Entry(actor, "application.rule.add", 0, 0, "", d.dump()))
                      .status());
  return store_.GetApplication(app.name);
}

absl::StatusOr<std::vector<Application>> Reclaimer::ListApplications() {
  return store_.ListApplications();
}

// ---------------------------------------------------------------- policies

absl::StatusOr<Policy> Reclaimer::CreatePolicy(const Policy& spec, const std::string& actor) {
  Policy p = spec;
  const auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("policy '", p.name, "': ", what));
  };
  if (p.name.empty() || p.name.size() > 200) return bad("name must be 1-200 bytes");
  if (absl::StrContains(p.name, "\n")) return bad("name must not contain a newline");
  if (p.rules.lookback_days < 1 || p.rules.lookback_days > 3650) {
    return bad("look-back window must be 1-3650 days");
  }
  if (p.rules.threshold_ms < 0) return bad("threshold must not be negative");
  if (p.rules.grace_days < 0 || p.rules.grace_days > 3650) return bad("grace must be 0-3650 days");
  if (!(p.rules.min_coverage >= 0 && p.rules.min_coverage <= 1)) {
    return bad("minimum coverage must be between 0 and 1");
  }
  if (p.rules.max_removals_per_run < 1 || p.rules.max_removals_per_run > 100000) {
    return bad("maximum removals per run must be 1-100000");
  }
  if (p.answer_wait_hours < 0 || p.answer_wait_hours > 24 * 90) {
    return bad("answer wait must be 0-2160 hours");
  }
  if (p.ask_permission && p.answer_wait_hours < 1) {
    return bad("asking for permission needs an answer wait of 1-2160 hours");
  }
  if (!p.schedule.empty()) {
    auto cron = CronSchedule::Parse(p.schedule);
    if (!cron.ok()) return bad(std::string(cron.status().message()));
  }
  for (const std::string& ex : p.exclusions) {
    if (!(absl::StartsWith(ex, "user:") || absl::StartsWith(ex, "group:")) || ex.find(':') + 1 == ex.size()) {
      return bad(absl::StrCat("exclusion '", ex, "' must be user:<name> or group:<group>"));
    }
  }
  auto app = store_.GetApplication(spec.application_name);
  if (!app.ok()) return bad(std::string(app.status().message()));
  p.application_id = app->id;
  if (!connectors_.Has(p.connector)) {
    return bad(std::string(connectors_.Create(p.connector).status().message()));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<DirectoryConnector> conn, connectors_.Create(p.connector));
  auto group = conn->GetGroup(p.group_ref);
  if (absl::IsNotFound(group.status())) {
    return bad(absl::StrCat("the directory (connector '", p.connector, "') has no group '",
                            p.group_ref, "'"));
  }
  if (!group.ok()) {
    return absl::Status(group.status().code(),
                        absl::StrCat("policy '", p.name, "': cannot look up group '", p.group_ref,
                                     "' through connector '", p.connector,
                                     "': ", group.status().message()));
  }
  p.group_object_id = group->object_id;
  p.group_name = group->display_name;
  for (const std::string& ex : p.exclusions) {
    if (!absl::StartsWith(ex, "group:")) continue;
    auto g = conn->GetGroup(ex.substr(6));
    if (absl::IsNotFound(g.status())) {
      return bad(absl::StrCat("exclusion group '", ex.substr(6), "' is not in the directory"));
    }
    if (!g.ok()) return g.status();
  }
  ASSIGN_OR_RETURN(Policy created, store_.CreatePolicy(p, clock_.WallUtcMs()));
  Json d;
  d["name"] = created.name;
  d["application"] = app->name;
  d["connector"] = created.connector;
  d["group"] = GroupJson(*group);
  d["lookback_days"] = created.rules.lookback_days;
  d["threshold_ms"] = created.rules.threshold_ms;
  d["grace_days"] = created.rules.grace_days;
  d["min_coverage"] = created.rules.min_coverage;
  d["max_removals_per_run"] = created.rules.max_removals_per_run;
  d["ask_permission"] = created.ask_permission;
  d["answer_wait_hours"] = created.answer_wait_hours;
  d["exclusions"] = created.exclusions;
  d["schedule"] = created.schedule;
  d["enabled"] = created.enabled;
  RETURN_IF_ERROR(
      store_.AppendAudit(Entry(actor, "policy.create", created.id, 0, "", d.dump())).status());
  spdlog::info("policy '{}' created by {} (group {}, application {})", created.name, actor,
               created.group_name, app->name);
  return created;
}

absl::StatusOr<Policy> Reclaimer::GetPolicy(const std::string& name_or_id) {
  return store_.GetPolicy(name_or_id);
}

absl::StatusOr<std::vector<Policy>> Reclaimer::ListPolicies() { return store_.ListPolicies(); }

absl::StatusOr<Policy> Reclaimer::SetPolicyEnabled(const std::string& name_or_id, bool enabled,
                                                   const std::string& actor) {
  ASSIGN_OR_RETURN(Policy p, store_.GetPolicy(name_or_id));
  RETURN_IF_ERROR(store_.SetPolicyEnabled(p.id, enabled, clock_.WallUtcMs()));
  RETURN_IF_ERROR(store_.AppendAudit(Entry(actor, enabled ? "policy.enable" : "policy.disable",
                                           p.id, 0, "", Json::object().dump()))
                      .status());
  return store_.GetPolicy(p.name);
}

// ---------------------------------------------------------------- evaluation

absl::StatusOr<PolicyEvaluation> Reclaimer::Evaluate(const std::string& policy) {
  PolicyEvaluation ev;
  ASSIGN_OR_RETURN(ev.policy, store_.GetPolicy(policy));
  const Policy& p = ev.policy;
  ASSIGN_OR_RETURN(ev.application, store_.GetApplication(p.application_name));
  ASSIGN_OR_RETURN(std::unique_ptr<DirectoryConnector> conn, connectors_.Create(p.connector));
  const auto dir_error = [&](const absl::Status& s, const std::string& what) {
    return absl::Status(s.code(), absl::StrCat("policy '", p.name, "': ", what, " through connector '",
                                               p.connector, "': ", s.message()));
  };
  auto group = conn->GetGroup(p.group_object_id);
  if (!group.ok()) return dir_error(group.status(), absl::StrCat("cannot read group ", p.group_name));
  ev.group = *group;
  auto members = conn->ListMembers(ev.group);
  if (!members.ok()) {
    return dir_error(members.status(), absl::StrCat("cannot list members of ", p.group_name));
  }
  // Exclusions: users by sAMAccountName, UPN or object id; groups by members.
  std::map<std::string, std::string> excluded_ids;  // object id -> "group:X"
  for (const std::string& ex : p.exclusions) {
    if (!absl::StartsWith(ex, "group:")) continue;
    auto g = conn->GetGroup(ex.substr(6));
    if (!g.ok()) return dir_error(g.status(), absl::StrCat("cannot read exclusion ", ex));
    auto gm = conn->ListMembers(*g);
    if (!gm.ok()) return dir_error(gm.status(), absl::StrCat("cannot list exclusion ", ex));
    for (const GroupMember& m : *gm) excluded_ids.emplace(m.user.object_id, ex);
  }
  const UtcMs now = clock_.WallUtcMs();
  ASSIGN_OR_RETURN(std::vector<SyncedMember> synced,
                   store_.SyncGroupMembers(p.connector, ev.group.object_id, *members, now));
  ev.last_day = UtcDayOf(now);
  ev.first_day = ev.last_day - p.rules.lookback_days + 1;
  ASSIGN_OR_RETURN(std::vector<EndpointUserEvidence> endpoints,
                   store_.LoadEndpointEvidence(ev.application, ev.first_day, ev.last_day));
  ASSIGN_OR_RETURN(auto answers, store_.LoadAnswers(p.id, now));
  std::vector<MemberEvidence> evidence;
  for (const SyncedMember& m : synced) {
    std::vector<const EndpointUserEvidence*> matched;
    for (const EndpointUserEvidence& ep : endpoints) {
      if (EndpointUserMatches(m.member.user, ep)) matched.push_back(&ep);
    }
    MemberEvidence e = CombineEvidence(m, matched, ev.first_day, ev.last_day);
    const DirectoryUser& u = m.member.user;
    for (const std::string& ex : p.exclusions) {
      if (!absl::StartsWith(ex, "user:")) continue;
      const std::string who = ex.substr(5);
      if (IEq(who, u.sam_account_name) || IEq(who, u.upn) || who == u.object_id ||
          IEq(who, u.domain + "\\" + u.sam_account_name)) {
        e.excluded_by = ex;
      }
    }
    if (e.excluded_by.empty()) {
      if (auto it = excluded_ids.find(u.object_id); it != excluded_ids.end()) {
        e.excluded_by = it->second;
      }
    }
    if (auto it = answers.find(u.object_id); it != answers.end()) e.answer = it->second;
    evidence.push_back(std::move(e));
  }
  ev.result = reclaim::collector::Evaluate(p.rules, evidence, now);
  return ev;
}

absl::StatusOr<RunRecord> Reclaimer::RecordRun(const std::string& policy,
                                               const std::string& actor, bool dry_run) {
  ASSIGN_OR_RETURN(Policy p, store_.GetPolicy(policy));
  absl::MutexLock l(&mu_);
  if (!dry_run) {
    ASSIGN_OR_RETURN(bool kill, store_.KillSwitch());
    if (kill) {
      return absl::FailedPreconditionError(
          "the global kill switch is on: real runs are stopped (dry runs still work; "
          "`reclaimctl kill-switch off` to resume)");
    }
    if (!p.enabled) {
      return absl::FailedPreconditionError(absl::StrCat(
          "policy '", p.name, "' is disabled: enable it for real runs (dry runs always work)"));
    }
    if (p.ask_permission && !campaigns_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "policy '", p.name, "' asks for permission, but this collector runs without a "
          "campaign store"));
    }
    ASSIGN_OR_RETURN(std::vector<RunRecord> runs, store_.ListRuns(p.id, 0));
    for (const RunRecord& r : runs) {
      if (!Terminal(r.state)) {
        return absl::FailedPreconditionError(absl::StrCat("run ", r.id, " of policy '", p.name,
                                                          "' is still ", RunStateName(r.state)));
      }
    }
  }
  ASSIGN_OR_RETURN(PolicyEvaluation ev, Evaluate(p.name));
  const UtcMs now = clock_.WallUtcMs();
  RunRecord run;
  run.policy_id = p.id;
  run.dry_run = dry_run;
  run.actor = actor;
  run.connector = p.connector;
  run.group_object_id = ev.group.object_id;
  run.group_name = ev.group.display_name;
  run.created_utc_ms = now;
  run.cost_cents_per_seat_month = ev.application.cost_cents_per_seat_month;
  run.currency = ev.application.currency;
  if (dry_run) {
    run.state = RunState::kDryRun;
  } else if (p.ask_permission && ev.result.candidates > 0) {
    run.state = RunState::kAwaitingAnswers;
    run.answers_due_utc_ms = now + p.answer_wait_hours * 3600 * 1000;
  } else {
    run.state = RunState::kRemoving;
  }
  std::vector<RunItem> items;
  for (const MemberDecision& d : ev.result.members) {
    RunItem item;
    item.index = static_cast<std::int64_t>(items.size());
    item.decision = d;
    item.state = (!dry_run && d.decision == Decision::kCandidate) ? ItemState::kPending
                                                                   : ItemState::kNone;
    items.push_back(std::move(item));
  }
  Json d;
  d["policy"] = p.name;
  d["dry_run"] = dry_run;
  d["group"] = GroupJson(ev.group);
  d["window"] = absl::StrCat(FormatUtcDay(ev.first_day), "..", FormatUtcDay(ev.last_day));
  d["members"] = ev.result.members.size();
  d["candidates"] = ev.result.candidates;
  d["over_cap"] = ev.result.over_cap;
  d["no_data"] = ev.result.no_data;
  d["state"] = RunStateName(run.state);
  if (p.ask_permission) {
    // Who is (or, in a dry run, would be) asked.
    Json asked = Json::array();
    for (const RunItem& item : items) {
      if (item.decision.decision != Decision::kCandidate) continue;
      for (const std::string& u : item.decision.evidence.endpoint_users) asked.push_back(u);
    }
    d["ask_permission"] = {{"answer_wait_hours", p.answer_wait_hours}, {"asked", asked},
                           {"asked_now", !dry_run}};
  }
  ASSIGN_OR_RETURN(std::int64_t id,
                   store_.CreateRun(run, items, Entry(actor, dry_run ? "run.dry" : "run.start",
                                                      p.id, 0, "", d.dump())));
  spdlog::info("{} run {} of policy '{}' by {}: {} members, {} candidates, {} no data",
               dry_run ? "dry" : "real", id, p.name, actor, ev.result.members.size(),
               ev.result.candidates, ev.result.no_data);
  ASSIGN_OR_RETURN(RunRecord created, store_.GetRun(id));
  if (created.state == RunState::kAwaitingAnswers) {
    // Tick retries a launch that fails here (the run waits meanwhile).
    if (absl::Status s = LaunchCampaign(created); !s.ok()) {
      spdlog::error("run {}: launching the permission campaign failed (retried): {}", id, s);
    }
  }
  if (!dry_run && run_ready_) run_ready_();
  return store_.GetRun(id);
}

absl::StatusOr<RunRecord> Reclaimer::DryRun(const std::string& policy, const std::string& actor) {
  return RecordRun(policy, actor, /*dry_run=*/true);
}

absl::StatusOr<RunRecord> Reclaimer::StartRun(const std::string& policy,
                                              const std::string& actor) {
  return RecordRun(policy, actor, /*dry_run=*/false);
}

absl::StatusOr<RunRecord> Reclaimer::GetRun(std::int64_t run_id) { return store_.GetRun(run_id); }

absl::StatusOr<std::vector<RunRecord>> Reclaimer::ListRuns(const std::string& policy, int limit) {
  std::int64_t policy_id = 0;
  if (!policy.empty()) {
    ASSIGN_OR_RETURN(Policy p, store_.GetPolicy(policy));
    policy_id = p.id;
  }
  return store_.ListRuns(policy_id, limit);
}

absl::StatusOr<std::vector<RunItem>> Reclaimer::ListRunItems(std::int64_t run_id) {
  RETURN_IF_ERROR(store_.GetRun(run_id).status());
  return store_.ListRunItems(run_id);
}

// ---------------------------------------------------------------- execution

absl::StatusOr<RunRecord> Reclaimer::ExecuteRun(std::int64_t run_id,
                                                const std::atomic<bool>* stop) {
  ASSIGN_OR_RETURN(RunRecord run, store_.GetRun(run_id));
  if (run.state != RunState::kRemoving) {
    return absl::FailedPreconditionError(
        absl::StrCat("run ", run_id, " is ", RunStateName(run.state), ", not removing"));
  }
  ASSIGN_OR_RETURN(Policy policy, store_.GetPolicy(absl::StrCat(run.policy_id)));
  const std::string& actor = run.actor;
  const auto finish = [&](RunState state, const std::string& error) -> absl::StatusOr<RunRecord> {
    Json d;
    d["state"] = RunStateName(state);
    if (!error.empty()) d["error"] = error;
    RETURN_IF_ERROR(store_.SetRunState(run_id, state, error, clock_.WallUtcMs(),
                                       Entry(actor, "run.finish", run.policy_id, run_id, "",
                                             d.dump())));
    spdlog::info("run {} of policy '{}' {}{}{}", run_id, policy.name, RunStateName(state),
                 error.empty() ? "" : ": ", error);
    return store_.GetRun(run_id);
  };
  auto conn = connectors_.Create(run.connector);
  if (!conn.ok()) return finish(RunState::kFailed, std::string(conn.status().message()));
  auto group = (*conn)->GetGroup(run.group_object_id);
  if (!group.ok()) {
    if (IsDirectoryWide(group.status())) {
      // Leave the run resumable: the directory may come back.
      return absl::Status(group.status().code(),
                          absl::StrCat("run ", run_id, ": cannot reach the directory through '",
                                       run.connector, "': ", group.status().message()));
    }
    return finish(RunState::kFailed, absl::StrCat("group ", run.group_name, ": ",
                                                  group.status().message()));
  }
  ASSIGN_OR_RETURN(std::vector<RunItem> items, store_.ListRunItems(run_id));
  // Ask for permission: a "Yes" that arrived after the answer wait but
  // before this member's removal still keeps the member.
  std::optional<Campaign> campaign;
  std::map<std::string, Response> yeses;
  if (run.campaign_id != 0 && campaigns_) {
    ASSIGN_OR_RETURN(campaign, campaigns_->GetCampaign(absl::StrCat(run.campaign_id)));
    ASSIGN_OR_RETURN(std::vector<Response> responses, campaigns_->ListResponses(campaign->id));
    for (Response& r : responses) {
      if (IsYes(*campaign, r)) yeses.emplace(r.user, std::move(r));
    }
  }
  // Resume: items whose intent was recorded before a crash are checked
  // against the directory before anything is repeated.
  std::optional<std::set<std::string>> direct_members;
  for (const RunItem& item : items) {
    if (item.state != ItemState::kIntent) continue;
    if (!direct_members) {
      auto members = (*conn)->ListMembers(*group);
      if (!members.ok()) {
        return absl::Status(members.status().code(),
                            absl::StrCat("run ", run_id, ": cannot verify interrupted removals: ",
                                         members.status().message()));
      }
      direct_members.emplace();
      for (const GroupMember& m : *members) {
        if (m.kind == MembershipKind::kDirect) direct_members->insert(m.user.object_id);
      }
    }
  }
  for (const RunItem& item : items) {
    if (item.state != ItemState::kPending && item.state != ItemState::kIntent) continue;
    if (stop && stop->load()) {
      spdlog::info("run {}: stopping between items (resumable)", run_id);
      return store_.GetRun(run_id);
    }
    ASSIGN_OR_RETURN(bool kill, store_.KillSwitch());
    if (kill) return finish(RunState::kHalted, "kill switch turned on during the run");
    const DirectoryUser& user = item.decision.evidence.member.user;
    Json base;
    base["policy"] = policy.name;
    base["connector"] = run.connector;
    base["group"] = GroupJson(*group);
    base["user"] = UserJson(user);
    if (item.state == ItemState::kIntent) {
      if (!direct_members->contains(user.object_id)) {
        Json d = base;
        d["outcome"] = "already_removed";
        d["detail"] = "resumed after an interruption: the directory shows no direct membership, "
                      "so the removal is not repeated";
        d["verified"] = true;
        RETURN_IF_ERROR(store_.RecordItem(run_id, item.index, ItemState::kDone, "already_removed",
                                          d["detail"], Entry(actor, "remove.result", run.policy_id,
                                                             run_id, user.object_id, d.dump()))
                            .status());
        continue;
      }
      spdlog::info("run {}: {} is still a direct member after an interruption; removing", run_id,
                   user.object_id);
    } else {
      if (const auto yes = ResponsesOf(item, yeses); campaign && !yes.empty()) {
        RETURN_IF_ERROR(KeepAfterYes(run, policy, *campaign, item, *yes.front(),
                                     "after the answer wait, before the removal: not removed"));
        continue;
      }
      Json d = base;
      d["evidence"] = EvidenceJson(item.decision);
      if (!item.detail.empty()) d["permission"] = item.detail;  // the campaign's answer
      d["request"] = absl::StrCat("remove direct member ", user.object_id, " from group ",
                                  group->object_id, " through connector '", run.connector, "' (",
                                  (*conn)->kind(), ")");
      RETURN_IF_ERROR(store_.RecordItem(run_id, item.index, ItemState::kIntent, "", "",
                                        Entry(actor, "remove.intent", run.policy_id, run_id,
                                              user.object_id, d.dump()))
                          .status());
    }
    auto result = (*conn)->RemoveMember(*group, user);
    Json d = base;
    if (result.ok()) {
      d["outcome"] = OutcomeText(result->outcome);
      d["detail"] = result->detail;
      d["request"] = result->request;
      RETURN_IF_ERROR(store_.RecordItem(run_id, item.index, ItemState::kDone,
                                        OutcomeText(result->outcome), result->detail,
                                        Entry(actor, "remove.result", run.policy_id, run_id,
                                              user.object_id, d.dump()))
                          .status());
      spdlog::info("run {}: {} ({}) {}", run_id, user.sam_account_name, user.object_id,
                   OutcomeText(result->outcome));
      continue;
    }
    d["outcome"] = "error";
    d["error_code"] = absl::StatusCodeToString(result.status().code());
    d["detail"] = std::string(result.status().message());
    RETURN_IF_ERROR(store_.RecordItem(run_id, item.index, ItemState::kFailed, "error",
                                      std::string(result.status().message()),
                                      Entry(actor, "remove.result", run.policy_id, run_id,
                                            user.object_id, d.dump()))
                        .status());
    spdlog::warn("run {}: removing {} failed: {}", run_id, user.object_id, result.status());
    if (IsDirectoryWide(result.status())) {
      return finish(RunState::kFailed,
                    absl::StrCat("directory error, remaining members untouched: ",
                                 result.status().message()));
    }
  }
  return finish(RunState::kSucceeded, "");
}

absl::Status Reclaimer::AdvanceAwaitingRuns() {
  ASSIGN_OR_RETURN(std::vector<RunRecord> runs, store_.ListRunsInState(RunState::kAwaitingAnswers));
  for (const RunRecord& run : runs) {
    if (run.campaign_id == 0) {
      // The launch did not complete (crash, store trouble): finish it.
      if (absl::Status s = LaunchCampaign(run); !s.ok()) {
        spdlog::error("run {}: launching the permission campaign failed (retried): {}", run.id,
                      s);
        continue;
      }
    }
    if (run.answers_due_utc_ms > clock_.WallUtcMs()) continue;
    ASSIGN_OR_RETURN(RunRecord fresh, store_.GetRun(run.id));
    if (fresh.campaign_id == 0) continue;  // never settle a run that asked nobody
    RETURN_IF_ERROR(SettleAnswers(fresh));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- ask for permission


absl::Status Reclaimer::LaunchCampaign(const RunRecord& run) {
  if (!campaigns_) {
    return absl::FailedPreconditionError("this collector runs without a campaign store");
  }
  ASSIGN_OR_RETURN(Policy p, store_.GetPolicy(absl::StrCat(run.policy_id)));
  ASSIGN_OR_RETURN(std::vector<RunItem> items, store_.ListRunItems(run.id));
  std::vector<std::string> users;
  for (const RunItem& item : items) {
    if (item.state != ItemState::kPending) continue;
    for (const std::string& u : item.decision.evidence.endpoint_users) {
      if (std::find(users.begin(), users.end(), u) == users.end()) users.push_back(u);
    }
  }
  const UtcMs now = clock_.WallUtcMs();
  const std::string name = CampaignNameOf(run.id);
  absl::StatusOr<Campaign> c = campaigns_->GetCampaign(name);
  if (absl::IsNotFound(c.status())) {
    Campaign spec;
    spec.name = name;
    spec.sender_name = options_.campaign_sender;
    spec.question = absl::StrCat("Do you still need ", p.application_name, "?");
    spec.answers = {"Yes", "No"};
    spec.priority = CampaignPriority::kNotUrgent;
    // Answerable for one more answer wait after the removals (late yes).
    spec.answer_wait_ms = 2 * p.answer_wait_hours * 3600 * 1000;
    spec.policy_id = p.id;
    spec.application = p.application_name;
    c = campaigns_->CreateCampaign(spec, now);
    if (absl::IsAlreadyExists(c.status())) c = campaigns_->GetCampaign(name);
  }
  if (!c.ok()) return c.status();
  ASSIGN_OR_RETURN(std::vector<Response> responses, campaigns_->Launch(c->id, users, now));
  int reached = 0;
  if (router_) {
    for (const Response& r : responses) {
      // Paced per user (prompt_pacing.h): a held prompt goes out later.
      auto n = router_->PublishDeliverable(*campaigns_, r.user, now, c->id);
      if (n.ok()) {
        reached += *n;
      } else {
        spdlog::warn("pushing the prompt of campaign {} to {} failed (sent when the agent "
                     "connects again): {}", c->id, r.user, n.status());
      }
    }
  }
  // A launch completed late (after a crash, or for a run of an older
  // version) still gives everyone the whole wait.
  const UtcMs due = std::max(run.answers_due_utc_ms, now + p.answer_wait_hours * 3600 * 1000);
  Json d;
  d["campaign"] = c->name;
  d["campaign_id"] = c->id;
  d["question"] = c->question;
  d["users"] = users;
  d["answers_due_utc"] = FormatUtcMs(due);
  d["answerable_until_utc"] = FormatUtcMs(c->created_utc_ms + c->answer_wait_ms);
  RETURN_IF_ERROR(store_.SetRunCampaign(
      run.id, c->id, due,
      Entry(run.actor, "campaign.launch", run.policy_id, run.id, "", d.dump())));
  spdlog::info("run {}: campaign '{}' asks {} user(s) \"{}\" ({} agent stream(s) reached now); "
               "answers due {}", run.id, c->name, users.size(), c->question, reached,
               FormatUtcMs(due));
  return absl::OkStatus();
}

absl::Status Reclaimer::KeepAfterYes(const RunRecord& run, const Policy& p, const Campaign& c,
                                     const RunItem& item, const Response& yes,
                                     const std::string& what) {
  const std::string& object_id = item.decision.evidence.member.user.object_id;
  const UtcMs until = yes.finished_utc_ms + p.rules.lookback_days * 86400000LL;
  RETURN_IF_ERROR(store_.RecordAnswer(p.id, object_id, Answer::kYes, clock_.WallUtcMs(), until));
  Json d = ResponseJson(c, yes);
  d["detail"] = absl::StrCat("answered ", yes.answer, " to campaign ", c.name, ": ", what,
                             "; excluded from this policy until ", FormatUtcMs(until));
  d["excluded_until_utc"] = FormatUtcMs(until);
  return store_
      .RecordItem(run.id, item.index, ItemState::kDropped, "kept", d["detail"],
                  Entry(run.actor, "remove.dropped", run.policy_id, run.id, object_id, d.dump()))
      .status();
}

absl::Status Reclaimer::SettleAnswers(const RunRecord& run) {
  ASSIGN_OR_RETURN(Policy p, store_.GetPolicy(absl::StrCat(run.policy_id)));
  ASSIGN_OR_RETURN(Campaign c, campaigns_->GetCampaign(absl::StrCat(run.campaign_id)));
  ASSIGN_OR_RETURN(std::vector<Response> responses, campaigns_->ListResponses(c.id));
  std::map<std::string, Response> by_user;
  for (Response& r : responses) by_user.emplace(r.user, std::move(r));
  ASSIGN_OR_RETURN(std::vector<RunItem> items, store_.ListRunItems(run.id));
  const UtcMs now = clock_.WallUtcMs();
  int kept = 0, to_remove = 0;
  for (const RunItem& item : items) {
    // A pending item with a detail was settled before a crash.
    if (item.state != ItemState::kPending || !item.detail.empty()) continue;
    const std::string& object_id = item.decision.evidence.member.user.object_id;
    const std::vector<const Response*> rs = ResponsesOf(item, by_user);
    const Response* yes = nullptr;
    for (const Response* r : rs) {
      if (IsYes(c, *r)) yes = r;
    }
    if (yes) {
      RETURN_IF_ERROR(KeepAfterYes(run, p, c, item, *yes, "not removed"));
      ++kept;
      continue;
    }
    for (const Response* r : rs) {
      if (r->state == ResponseState::kAnswered) {
        RETURN_IF_ERROR(store_.RecordAnswer(p.id, object_id, Answer::kNo, now, 0));
        break;
      }
    }
    Json d;
    d["detail"] = NotGivenText(rs);
    Json all = Json::array();
    for (const Response* r : rs) all.push_back(ResponseJson(c, *r));
    d["responses"] = all;
    RETURN_IF_ERROR(store_.RecordItem(run.id, item.index, ItemState::kPending, "", d["detail"],
                                      Entry(run.actor, "permission.not_given", run.policy_id,
                                            run.id, object_id, d.dump()))
                        .status());
    ++to_remove;
  }
  Json d;
  d["campaign"] = c.name;
  d["kept"] = kept;
  d["to_remove"] = to_remove;
  RETURN_IF_ERROR(store_.SetRunState(run.id, RunState::kRemoving, "", now,
                                     Entry(run.actor, "run.answers_due", run.policy_id, run.id,
                                           "", d.dump())));
  spdlog::info("run {}: answers due: {} said yes (kept), {} to remove", run.id, kept, to_remove);
  return absl::OkStatus();
}

absl::Status Reclaimer::RestoreLateYeses() {
  if (!campaigns_) return absl::OkStatus();
  const UtcMs now = clock_.WallUtcMs();
  ASSIGN_OR_RETURN(std::vector<RunRecord> runs, store_.ListRuns(0, 0));
  for (const RunRecord& run : runs) {
    if (run.dry_run || run.campaign_id == 0 || run.state == RunState::kAwaitingAnswers) continue;
    // The campaign is answerable until 2 x the wait after the start; a day's
    // slack covers answers that reached the store just before that.
    const UtcMs wait = run.answers_due_utc_ms - run.created_utc_ms;
    if (now > run.answers_due_utc_ms + wait + 86400000LL) continue;
    auto c = campaigns_->GetCampaign(absl::StrCat(run.campaign_id));
    if (!c.ok()) {
      spdlog::error("run {}: campaign {}: {}", run.id, run.campaign_id, c.status());
      continue;
    }
    ASSIGN_OR_RETURN(std::vector<Response> responses, campaigns_->ListResponses(c->id));
    std::map<std::string, Response> yeses;
    for (Response& r : responses) {
      if (IsYes(*c, r)) yeses.emplace(r.user, std::move(r));
    }
    if (yeses.empty()) continue;
    ASSIGN_OR_RETURN(Policy p, store_.GetPolicy(absl::StrCat(run.policy_id)));
    ASSIGN_OR_RETURN(std::vector<RunItem> items, store_.ListRunItems(run.id));
    for (const RunItem& item : items) {
      if (item.state != ItemState::kDone ||
          (item.outcome != "removed" && item.outcome != "already_removed" &&
           item.outcome != "still_licensed_through")) {
        continue;
      }
      const std::vector<const Response*> rs = ResponsesOf(item, yeses);
      if (rs.empty()) continue;
      const Response& yes = *rs.front();
      const std::string& object_id = item.decision.evidence.member.user.object_id;
      Json reason = ResponseJson(*c, yes);
      reason["reason"] = absl::StrCat("answered ", yes.answer, " to campaign ", c->name,
                                      " after the removal: restored automatically");
      auto restored = RestoreRemoval(item.result_audit_seq, absl::StrCat("campaign:", c->name),
                                     reason.dump(), run.id, item.index);
      if (!restored.ok()) {
        spdlog::error("run {}: restoring {} after a late yes failed (retried): {}", run.id,
                      object_id, restored.status());
        continue;
      }
      const UtcMs until = yes.finished_utc_ms + p.rules.lookback_days * 86400000LL;
      RETURN_IF_ERROR(store_.RecordAnswer(p.id, object_id, Answer::kYes, now, until));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<UtcMs> Reclaimer::Tick(const std::atomic<bool>* stop) {
  const UtcMs now = clock_.WallUtcMs();
  UtcMs next_due = 0;
  ASSIGN_OR_RETURN(std::vector<Policy> policies, store_.ListPolicies());
  for (const Policy& p : policies) {
    if (!p.enabled || p.schedule.empty()) continue;
    auto cron = CronSchedule::Parse(p.schedule);
    if (!cron.ok()) continue;  // validated at creation
    auto due = cron->NextAfter(p.schedule_cursor_utc_ms);
    if (!due.ok()) continue;
    if (*due > now) {
      next_due = next_due == 0 ? *due : std::min(next_due, *due);
      continue;
    }
    // Move the cursor first: a crash must not fire the same slot again.
    RETURN_IF_ERROR(store_.SetScheduleCursor(p.id, now));
    ASSIGN_OR_RETURN(bool kill, store_.KillSwitch());
    auto run = kill ? DryRun(p.name, "scheduler (kill switch on: dry run)")
                    : StartRun(p.name, "scheduler");
    if (!run.ok()) {
      spdlog::error("scheduled run of policy '{}' failed: {}", p.name, run.status());
    }
    if (auto n = cron->NextAfter(now); n.ok()) {
      next_due = next_due == 0 ? *n : std::min(next_due, *n);
    }
  }
  if (absl::Status s = AdvanceAwaitingRuns(); !s.ok()) {
    spdlog::error("advancing runs awaiting answers: {}", s);
  }
  ASSIGN_OR_RETURN(std::vector<RunRecord> removing, store_.ListRunsInState(RunState::kRemoving));
  for (const RunRecord& run : removing) {
    if (stop && stop->load()) break;
    auto r = ExecuteRun(run.id, stop);
    if (!r.ok()) spdlog::error("run {}: {}", run.id, r.status());
  }
  if (!(stop && stop->load())) {
    if (absl::Status st = RestoreLateYeses(); !st.ok()) {
      spdlog::error("restoring members who answered yes late: {}", st);
    }
  }
  return next_due;
}

// ---------------------------------------------------------------- restore

absl::StatusOr<AuditEntry> Reclaimer::Restore(std::int64_t audit_seq, const std::string& actor) {
  return RestoreRemoval(audit_seq, actor, "", 0, -1);
}

absl::StatusOr<AuditEntry> Reclaimer::RestoreRemoval(std::int64_t audit_seq,
                                                     const std::string& actor,
                                                     const std::string& reason,
                                                     std::int64_t run_id,
                                                     std::int64_t item_index) {
  ASSIGN_OR_RETURN(AuditEntry removal, store_.GetAudit(audit_seq));
  Json d = Json::parse(removal.detail, nullptr, /*allow_exceptions=*/false);
  const std::string outcome = d.is_object() ? d.value("outcome", "") : "";
  if (removal.action != "remove.result" ||
      (outcome != "removed" && outcome != "already_removed" &&
       outcome != "still_licensed_through")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audit entry ", audit_seq, " is not a removal (action ", removal.action,
        outcome.empty() ? "" : ", outcome " + outcome, "); restore takes a remove.result entry"));
  }
  const std::string connector_name = d.value("connector", "");
  const DirectoryUser user = UserFromJson(d["user"]);
  AuthorizationGroup group;
  group.object_id = d["group"].value("object_id", "");
  group.display_name = d["group"].value("display_name", "");
  group.dn = d["group"].value("dn", "");
  ASSIGN_OR_RETURN(std::unique_ptr<DirectoryConnector> conn, connectors_.Create(connector_name));
  auto fresh_group = conn->GetGroup(group.object_id);
  if (!fresh_group.ok()) return fresh_group.status();
  Json base;
  base["restores"] = audit_seq;
  base["connector"] = connector_name;
  base["group"] = GroupJson(*fresh_group);
  base["user"] = UserJson(user);
  if (!reason.empty()) base["reason"] = Json::parse(reason, nullptr, /*allow_exceptions=*/false);
  Json intent = base;
  intent["request"] = absl::StrCat("add direct member ", user.object_id, " to group ",
                                   group.object_id);
  RETURN_IF_ERROR(store_.AppendAudit(Entry(actor, "restore.intent", removal.policy_id,
                                           removal.run_id, user.object_id, intent.dump()))
                      .status());
  auto result = conn->AddMember(*fresh_group, user);
  Json r = base;
  if (result.ok()) {
    r["outcome"] = OutcomeText(result->outcome);
    r["detail"] = result->detail;
    r["request"] = result->request;
  } else {
    r["outcome"] = "error";
    r["error_code"] = absl::StatusCodeToString(result.status().code());
    r["detail"] = std::string(result.status().message());
  }
  const AuditEntry result_entry =
      Entry(actor, "restore.result", removal.policy_id, removal.run_id, user.object_id, r.dump());
  AuditEntry done;
  if (result.ok() && item_index >= 0) {
    // The item's new state and the audit entry in one transaction.
    ASSIGN_OR_RETURN(done, store_.RecordItem(run_id, item_index, ItemState::kRestored, "restored",
                                             r.value("detail", ""), result_entry));
  } else {
    ASSIGN_OR_RETURN(done, store_.AppendAudit(result_entry));
  }
  if (!result.ok()) return result.status();
  spdlog::info("restored {} to group {} (audit {}) by {}", user.object_id,
               fresh_group->display_name, audit_seq, actor);
  return done;
}

// ---------------------------------------------------------------- settings, audit

absl::StatusOr<bool> Reclaimer::KillSwitch() { return store_.KillSwitch(); }

absl::Status Reclaimer::SetKillSwitch(bool on, const std::string& actor) {
  spdlog::warn("kill switch turned {} by {}", on ? "ON" : "off", actor);
  return store_.SetKillSwitch(
      on, Entry(actor, on ? "kill_switch.on" : "kill_switch.off", 0, 0, "", Json::object().dump()));
}

absl::StatusOr<std::vector<AuditEntry>> Reclaimer::ListAudit(std::int64_t after_seq, int limit) {
  return store_.ListAudit(after_seq, limit);
}

absl::StatusOr<AuditVerification> Reclaimer::VerifyAudit() {
  ASSIGN_OR_RETURN(std::vector<AuditEntry> all, store_.ListAudit(0, 0));
  return VerifyAuditChain(all);
}

}  // namespace reclaim::collector
