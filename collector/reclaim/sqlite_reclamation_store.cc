#include "collector/reclaim/sqlite_reclamation_store.h"

#include <iterator>
#include <algorithm>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/sqlite_migrations.h"
#include "common/status_macros.h"
#include "common/utc_day.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

constexpr char kComponent[] = "reclamation";

// kMigrations[v - 1] takes the reclamation tables from version v - 1 to v.
// Never edit a released step; append one and raise kSchemaVersion.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE rc_applications(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL COLLATE NOCASE UNIQUE,
  cost_cents_per_seat_month INTEGER NOT NULL DEFAULT 0,
  currency TEXT NOT NULL DEFAULT '',
  created_utc_ms INTEGER NOT NULL);
CREATE TABLE rc_application_rules(
  application_id INTEGER NOT NULL REFERENCES rc_applications(id),
  kind TEXT NOT NULL,
  pattern TEXT NOT NULL,
  PRIMARY KEY(application_id, kind, pattern)) WITHOUT ROWID;
CREATE TABLE rc_policies(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL COLLATE NOCASE UNIQUE,
  application_id INTEGER NOT NULL REFERENCES rc_applications(id),
  connector TEXT NOT NULL,
  group_ref TEXT NOT NULL,
  group_object_id TEXT NOT NULL,
  group_name TEXT NOT NULL,
  lookback_days INTEGER NOT NULL,
  threshold_ms INTEGER NOT NULL,
  grace_days INTEGER NOT NULL,
  min_coverage_permille INTEGER NOT NULL,
  max_removals_per_run INTEGER NOT NULL,
  ask_permission INTEGER NOT NULL,
  answer_wait_hours INTEGER NOT NULL,
  exclusions TEXT NOT NULL,
  schedule TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  schedule_cursor_utc_ms INTEGER NOT NULL,
  created_utc_ms INTEGER NOT NULL,
  updated_utc_ms INTEGER NOT NULL);
CREATE TABLE rc_directory_members(
  connector TEXT NOT NULL,
  group_object_id TEXT NOT NULL,
  object_id TEXT NOT NULL,
  sam_account_name TEXT NOT NULL,
  domain TEXT NOT NULL,
  upn TEXT NOT NULL,
  sid TEXT NOT NULL,
  dn TEXT NOT NULL,
  display_name TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  kind TEXT NOT NULL,
  via_group TEXT NOT NULL,
  also_via_group TEXT,
  present INTEGER NOT NULL,
  first_seen_utc_ms INTEGER NOT NULL,
  last_seen_utc_ms INTEGER NOT NULL,
  PRIMARY KEY(connector, group_object_id, object_id)) WITHOUT ROWID;
CREATE TABLE rc_answers(
  policy_id INTEGER NOT NULL REFERENCES rc_policies(id),
  object_id TEXT NOT NULL,
  answer TEXT NOT NULL,
  answered_utc_ms INTEGER NOT NULL,
  PRIMARY KEY(policy_id, object_id)) WITHOUT ROWID;
CREATE TABLE rc_runs(
  id INTEGER PRIMARY KEY,
  policy_id INTEGER NOT NULL REFERENCES rc_policies(id),
  dry_run INTEGER NOT NULL,
  state TEXT NOT NULL,
  actor TEXT NOT NULL,
  connector TEXT NOT NULL,
  group_object_id TEXT NOT NULL,
  group_name TEXT NOT NULL,
  created_utc_ms INTEGER NOT NULL,
  updated_utc_ms INTEGER NOT NULL,
  finished_utc_ms INTEGER NOT NULL,
  answers_due_utc_ms INTEGER NOT NULL,
  error TEXT NOT NULL,
  cost_cents_per_seat_month INTEGER NOT NULL,
  currency TEXT NOT NULL);
CREATE INDEX rc_runs_by_state ON rc_runs(state);
CREATE TABLE rc_run_items(
  run_id INTEGER NOT NULL REFERENCES rc_runs(id),
  idx INTEGER NOT NULL,
  object_id TEXT NOT NULL,
  sam_account_name TEXT NOT NULL,
  domain TEXT NOT NULL,
  upn TEXT NOT NULL,
  sid TEXT NOT NULL,
  dn TEXT NOT NULL,
  display_name TEXT NOT NULL,
  kind TEXT NOT NULL,
  via_group TEXT NOT NULL,
  first_seen_utc_ms INTEGER NOT NULL,
  excluded_by TEXT NOT NULL,
  focus_ms INTEGER NOT NULL,
  last_use_utc_ms INTEGER NOT NULL,
  devices INTEGER NOT NULL,
  coverage_permille INTEGER NOT NULL,
  answer TEXT NOT NULL,
  decision TEXT NOT NULL,
  reason TEXT NOT NULL,
  state TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  result_audit_seq INTEGER NOT NULL,
  PRIMARY KEY(run_id, idx)) WITHOUT ROWID;
CREATE TABLE rc_audit_log(
  seq INTEGER PRIMARY KEY,
  time_utc_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  policy_id INTEGER NOT NULL,
  run_id INTEGER NOT NULL,
  subject TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL);
CREATE TRIGGER rc_audit_log_no_update BEFORE UPDATE ON rc_audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER rc_audit_log_no_delete BEFORE DELETE ON rc_audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE rc_settings(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
)sql",
    // 2: ask for permission -- answers expire (a "yes" holds until the next
    // look-back window), a run knows its campaign, an item whom it asks.
    R"sql(
ALTER TABLE rc_answers ADD COLUMN expires_utc_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rc_runs ADD COLUMN campaign_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rc_run_items ADD COLUMN endpoint_users TEXT NOT NULL DEFAULT '';
)sql",
};
static_assert(std::size(kMigrations) == SqliteReclamationStore::kSchemaVersion);

const char* KindName(MembershipKind k) {
  switch (k) {
    case MembershipKind::kDirect: return "direct";
    case MembershipKind::kNested: return "nested";
    case MembershipKind::kPrimaryGroup: return "primary_group";
  }
  return "direct";
}
MembershipKind ParseKind(const std::string& s) {
  if (s == "nested") return MembershipKind::kNested;
  if (s == "primary_group") return MembershipKind::kPrimaryGroup;
  return MembershipKind::kDirect;
}
Answer ParseAnswer(const std::string& s) {
  if (s == "yes") return Answer::kYes;
  if (s == "no") return Answer::kNo;
  return Answer::kNone;
}
Decision ParseDecision(const std::string& s) {
  for (Decision d : {Decision::kCandidate, Decision::kOverCap, Decision::kUsed, Decision::kNoData,
                     Decision::kInGrace, Decision::kAnsweredYes, Decision::kExcluded,
                     Decision::kNotDirect}) {
    if (s == DecisionName(d)) return d;
  }
  return Decision::kNoData;
}
ItemState ParseItemState(const std::string& s) {
  for (ItemState i : {ItemState::kNone, ItemState::kPending, ItemState::kIntent, ItemState::kDone,
                      ItemState::kFailed, ItemState::kDropped, ItemState::kRestored}) {
    if (s == ItemStateName(i)) return i;
  }
  return ItemState::kNone;
}

bool IsTerminal(RunState s) {
  return s == RunState::kDryRun || s == RunState::kSucceeded || s == RunState::kFailed ||
         s == RunState::kHalted;
}

absl::Status Migrate(sqlite::Database& db, const std::string& path) {
  ASSIGN_OR_RETURN(std::int64_t usage_tables,
                   db.QueryInt("SELECT count(*) FROM sqlite_master WHERE type='table' AND "
                               "name IN ('users','identities','agents','daily_usage')"));
  if (usage_tables != 4) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " has no usage store tables: open the usage store on it first"));
  }
  static_assert(std::size(kMigrations) == SqliteReclamationStore::kSchemaVersion);
  return sqlite::MigrateComponent(db, kComponent, kMigrations, path, "reclamation store");
}

AuditEntry ReadAudit(const sqlite::Statement& st) {
  AuditEntry e;
  e.seq = st.ColumnInt(0);
  e.time_utc_ms = st.ColumnInt(1);
  e.actor = st.ColumnText(2);
  e.action = st.ColumnText(3);
  e.policy_id = st.ColumnInt(4);
  e.run_id = st.ColumnInt(5);
  e.subject = st.ColumnText(6);
  e.detail = st.ColumnText(7);
  e.prev_hash = st.ColumnText(8);
  e.hash = st.ColumnText(9);
  return e;
}
constexpr char kAuditColumns[] =
    "seq, time_utc_ms, actor, action, policy_id, run_id, subject, detail, prev_hash, hash";

constexpr char kPolicyColumns[] =
    "p.id, p.name, p.application_id, a.name, p.connector, p.group_ref, p.group_object_id, "
    "p.group_name, p.lookback_days, p.threshold_ms, p.grace_days, p.min_coverage_permille, "
    "p.max_removals_per_run, p.ask_permission, p.answer_wait_hours, p.exclusions, p.schedule, "
    "p.enabled, p.schedule_cursor_utc_ms, p.created_utc_ms, p.updated_utc_ms";

constexpr char kRunColumns[] =
    "r.id, r.policy_id, p.name, r.dry_run, r.state, r.actor, r.connector, r.group_object_id, "
    "r.group_name, r.created_utc_ms, r.updated_utc_ms, r.finished_utc_ms, "
    "r.answers_due_utc_ms, r.error, r.cost_cents_per_seat_month, r.currency, "
    "(SELECT count(*) FROM rc_run_items i WHERE i.run_id=r.id), "
    "(SELECT count(*) FROM rc_run_items i WHERE i.run_id=r.id AND i.decision='candidate'), "
    "(SELECT count(*) FROM rc_run_items i WHERE i.run_id=r.id AND i.decision='over_cap'), "
    "(SELECT count(*) FROM rc_run_items i WHERE i.run_id=r.id AND i.decision='no_data'), "
    "(SELECT count(*) FROM rc_run_items i WHERE i.run_id=r.id AND i.state IN "
    "('pending','intent')), "
    "(SELECT count(*) FROM rc_run_items i WHERE i.run_id=r.id AND i.outcome IN "
    "('removed','already_removed')), "
    "(SELECT count(*) FROM rc_run_items i WHERE i.run_id=r.id AND i.outcome IN "
    "('needs_manual_action','still_licensed_through')), "
    "(SELECT count(*) FROM rc_run_items i WHERE i.run_id=r.id AND i.state='failed'), "
    "r.campaign_id, p.ask_permission";

}  // namespace

const char* RunStateName(RunState s) {
  switch (s) {
    case RunState::kDryRun: return "dry_run";
    case RunState::kAwaitingAnswers: return "awaiting_answers";
    case RunState::kRemoving: return "removing";
    case RunState::kSucceeded: return "succeeded";
    case RunState::kFailed: return "failed";
    case RunState::kHalted: return "halted";
  }
  return "?";
}

absl::StatusOr<RunState> ParseRunState(const std::string& name) {
  for (RunState s : {RunState::kDryRun, RunState::kAwaitingAnswers, RunState::kRemoving,
                     RunState::kSucceeded, RunState::kFailed, RunState::kHalted}) {
    if (name == RunStateName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown run state '", name, "'"));
}

const char* ItemStateName(ItemState s) {
  switch (s) {
    case ItemState::kNone: return "none";
    case ItemState::kPending: return "pending";
    case ItemState::kIntent: return "intent";
    case ItemState::kDone: return "done";
    case ItemState::kFailed: return "failed";
    case ItemState::kDropped: return "dropped";
    case ItemState::kRestored: return "restored";
  }
  return "none";
}

absl::StatusOr<std::unique_ptr<SqliteReclamationStore>> SqliteReclamationStore::Open(
    const std::string& path, int busy_timeout_ms) {
  if (path.empty() || path == ":memory:") {
    return absl::InvalidArgumentError("the reclamation store needs a database file path");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db,
                   sqlite::Database::Open(path, /*create=*/false, busy_timeout_ms));
  RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON"));
  RETURN_IF_ERROR(Migrate(*db, path));
  return std::unique_ptr<SqliteReclamationStore>(new SqliteReclamationStore(std::move(db)));
}

// ---------------------------------------------------------------- catalog

absl::StatusOr<Application> SqliteReclamationStore::CreateApplication(const Application& app,
                                                                      UtcMs now) {
  if (app.name.empty()) return absl::InvalidArgumentError("application name is empty");
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("INSERT INTO rc_applications(name, cost_cents_per_seat_month, "
                                "currency, created_utc_ms) VALUES(?,?,?,?)"));
  absl::Status s = st.Bind(1, app.name).Bind(2, app.cost_cents_per_seat_month)
                       .Bind(3, app.currency).Bind(4, now).Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat("application '", app.name, "' already exists"));
  }
  RETURN_IF_ERROR(s);
  Application out = app;
  out.id = db_->LastInsertRowId();
  out.rules.clear();
  return out;
}

absl::Status SqliteReclamationStore::AddApplicationRule(std::int64_t application_id,
                                                        const ApplicationRule& rule) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("INSERT OR IGNORE INTO rc_application_rules(application_id, "
                                "kind, pattern) VALUES(?,?,?)"));
  absl::Status s = st.Bind(1, application_id).Bind(2, std::string_view(RuleKindName(rule.kind)))
                       .Bind(3, rule.pattern).Run();
  if (absl::IsAlreadyExists(s)) return absl::NotFoundError("no such application");
  return s;
}

absl::StatusOr<std::vector<Application>> SqliteReclamationStore::ListApplications() {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("SELECT a.id, a.name, a.cost_cents_per_seat_month, a.currency, "
                                "r.kind, r.pattern FROM rc_applications a LEFT JOIN "
                                "rc_application_rules r ON r.application_id=a.id "
                                "ORDER BY a.name COLLATE NOCASE, a.id, r.kind, r.pattern"));
  std::vector<Application> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (out.empty() || out.back().id != st.ColumnInt(0)) {
      Application a;
      a.id = st.ColumnInt(0);
      a.name = st.ColumnText(1);
      a.cost_cents_per_seat_month = st.ColumnInt(2);
      a.currency = st.ColumnText(3);
      out.push_back(std::move(a));
    }
    if (!st.ColumnIsNull(4)) {
      auto kind = ParseRuleKind(st.ColumnText(4));
      if (kind.ok()) out.back().rules.push_back({*kind, st.ColumnText(5)});
    }
  }
  return out;
}

absl::StatusOr<Application> SqliteReclamationStore::GetApplication(const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<Application> all, ListApplications());
  for (Application& a : all) {
    if (absl::EqualsIgnoreCase(a.name, name)) return std::move(a);
  }
  return absl::NotFoundError(absl::StrCat("no application named '", name,
                                          "' in the catalog (see `reclaimctl applications list`)"));
}

// ---------------------------------------------------------------- policies

absl::StatusOr<Policy> SqliteReclamationStore::CreatePolicy(const Policy& p, UtcMs now) {
  {
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(
        sqlite::Statement st,
        db_->Prepare("INSERT INTO rc_policies(name, application_id, connector, group_ref, "
                     "group_object_id, group_name, lookback_days, threshold_ms, grace_days, "
                     "min_coverage_permille, max_removals_per_run, ask_permission, "
                     "answer_wait_hours, exclusions, schedule, enabled, schedule_cursor_utc_ms, "
                     "created_utc_ms, updated_utc_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    st.Bind(1, p.name).Bind(2, p.application_id).Bind(3, p.connector).Bind(4, p.group_ref);
    st.Bind(5, p.group_object_id).Bind(6, p.group_name).Bind(7, p.rules.lookback_days);
    st.Bind(8, p.rules.threshold_ms).Bind(9, p.rules.grace_days);
    st.Bind(10, static_cast<std::int64_t>(p.rules.min_coverage * 1000 + 0.5));
    st.Bind(11, p.rules.max_removals_per_run).Bind(12, std::int64_t{p.ask_permission});
    st.Bind(13, p.answer_wait_hours).Bind(14, absl::StrJoin(p.exclusions, "\n"));
    st.Bind(15, p.schedule).Bind(16, std::int64_t{p.enabled}).Bind(17, now).Bind(18, now);
    st.Bind(19, now);
    absl::Status s = st.Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat("policy '", p.name, "' already exists"));
    }
    RETURN_IF_ERROR(s);
  }
  return GetPolicy(p.name);
}

absl::StatusOr<std::vector<Policy>> SqliteReclamationStore::QueryPoliciesLocked(
    const std::string& where, const std::string& arg) {
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kPolicyColumns,
                                             " FROM rc_policies p JOIN rc_applications a ON "
                                             "a.id=p.application_id ",
                                             where, " ORDER BY p.name COLLATE NOCASE")));
  if (!arg.empty()) st.Bind(1, arg);
  std::vector<Policy> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    Policy p;
    p.id = st.ColumnInt(0);
    p.name = st.ColumnText(1);
    p.application_id = st.ColumnInt(2);
    p.application_name = st.ColumnText(3);
    p.connector = st.ColumnText(4);
    p.group_ref = st.ColumnText(5);
    p.group_object_id = st.ColumnText(6);
    p.group_name = st.ColumnText(7);
    p.rules.lookback_days = st.ColumnInt(8);
    p.rules.threshold_ms = st.ColumnInt(9);
    p.rules.grace_days = st.ColumnInt(10);
    p.rules.min_coverage = static_cast<double>(st.ColumnInt(11)) / 1000.0;
    p.rules.max_removals_per_run = st.ColumnInt(12);
    p.ask_permission = st.ColumnInt(13) != 0;
    p.answer_wait_hours = st.ColumnInt(14);
    const std::string ex = st.ColumnText(15);
    if (!ex.empty()) p.exclusions = absl::StrSplit(ex, '\n');
    p.schedule = st.ColumnText(16);
    p.enabled = st.ColumnInt(17) != 0;
    p.schedule_cursor_utc_ms = st.ColumnInt(18);
    p.created_utc_ms = st.ColumnInt(19);
    p.updated_utc_ms = st.ColumnInt(20);
    out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<Policy> SqliteReclamationStore::GetPolicy(const std::string& name_or_id) {
  absl::MutexLock l(&mu_);
  std::int64_t id = 0;
  std::vector<Policy> found;
  if (absl::SimpleAtoi(name_or_id, &id)) {
    ASSIGN_OR_RETURN(found, QueryPoliciesLocked("WHERE p.id=CAST(?1 AS INTEGER)", name_or_id));
  }
  if (found.empty()) {
    ASSIGN_OR_RETURN(found, QueryPoliciesLocked("WHERE p.name=?1", name_or_id));
  }
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat("no policy named '", name_or_id, "'"));
  }
  return std::move(found.front());
}

absl::StatusOr<std::vector<Policy>> SqliteReclamationStore::ListPolicies() {
  absl::MutexLock l(&mu_);
  return QueryPoliciesLocked("", "");
}

absl::Status SqliteReclamationStore::SetPolicyEnabled(std::int64_t policy_id, bool enabled,
                                                      UtcMs now) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("UPDATE rc_policies SET enabled=?, updated_utc_ms=?, "
                                "schedule_cursor_utc_ms=CASE WHEN ?1 THEN ?2 ELSE "
                                "schedule_cursor_utc_ms END WHERE id=?3"));
  RETURN_IF_ERROR(st.Bind(1, std::int64_t{enabled}).Bind(2, now).Bind(3, policy_id).Run());
  if (db_->Changes() == 0) return absl::NotFoundError("no such policy");
  return absl::OkStatus();
}

absl::Status SqliteReclamationStore::SetScheduleCursor(std::int64_t policy_id, UtcMs cursor) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("UPDATE rc_policies SET schedule_cursor_utc_ms=? WHERE id=?"));
  return st.Bind(1, cursor).Bind(2, policy_id).Run();
}

// ---------------------------------------------------------------- directory sync

absl::StatusOr<std::vector<SyncedMember>> SqliteReclamationStore::SyncGroupMembers(
    const std::string& connector, const std::string& group_object_id,
    const std::vector<GroupMember>& members, UtcMs now) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  // Existing rows: object id -> (present, first_seen).
  absl::flat_hash_map<std::string, std::pair<bool, UtcMs>> known;
  {
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     db_->Prepare("SELECT object_id, present, first_seen_utc_ms FROM "
                                  "rc_directory_members WHERE connector=? AND group_object_id=?"));
    st.Bind(1, connector).Bind(2, group_object_id);
    while (true) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      known[st.ColumnText(0)] = {st.ColumnInt(1) != 0, st.ColumnInt(2)};
    }
  }
  ASSIGN_OR_RETURN(sqlite::Statement absent,
                   db_->Prepare("UPDATE rc_directory_members SET present=0 WHERE connector=? AND "
                                "group_object_id=?"));
  RETURN_IF_ERROR(absent.Bind(1, connector).Bind(2, group_object_id).Run());
  ASSIGN_OR_RETURN(
      sqlite::Statement up,
      db_->Prepare("INSERT INTO rc_directory_members(connector, group_object_id, object_id, "
                   "sam_account_name, domain, upn, sid, dn, display_name, enabled, kind, "
                   "via_group, also_via_group, present, first_seen_utc_ms, last_seen_utc_ms) "
                   "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?) ON CONFLICT DO UPDATE SET "
                   "sam_account_name=excluded.sam_account_name, domain=excluded.domain, "
                   "upn=excluded.upn, sid=excluded.sid, dn=excluded.dn, "
                   "display_name=excluded.display_name, enabled=excluded.enabled, "
                   "kind=excluded.kind, via_group=excluded.via_group, "
                   "also_via_group=excluded.also_via_group, present=1, "
                   "first_seen_utc_ms=excluded.first_seen_utc_ms, "
                   "last_seen_utc_ms=excluded.last_seen_utc_ms"));
  std::vector<SyncedMember> out;
  std::set<std::string> seen;
  for (const GroupMember& m : members) {
    if (m.user.object_id.empty() || !seen.insert(m.user.object_id).second) continue;
    SyncedMember s;
    s.member = m;
    s.last_seen_utc_ms = now;
    const auto it = known.find(m.user.object_id);
    // A member seen before and still present keeps first_seen; one who left
    // and came back starts a new grace period.
    s.first_seen_utc_ms = (it != known.end() && it->second.first) ? it->second.second : now;
    up.Bind(1, connector).Bind(2, group_object_id).Bind(3, m.user.object_id);
    up.Bind(4, m.user.sam_account_name).Bind(5, m.user.domain).Bind(6, m.user.upn);
    up.Bind(7, m.user.sid).Bind(8, m.user.dn).Bind(9, m.user.display_name);
    up.Bind(10, std::int64_t{m.user.enabled}).Bind(11, std::string_view(KindName(m.kind)));
    up.Bind(12, m.via_group);
    if (m.also_via_group) {
      up.Bind(13, *m.also_via_group);
    } else {
      up.BindNull(13);
    }
    up.Bind(14, s.first_seen_utc_ms).Bind(15, now);
    RETURN_IF_ERROR(up.Run());
    out.push_back(std::move(s));
  }
  RETURN_IF_ERROR(tx.Commit());
  return out;
}

// ---------------------------------------------------------------- evidence

absl::StatusOr<std::vector<EndpointUserEvidence>> SqliteReclamationStore::LoadEndpointEvidence(
    const Application& app, std::int64_t first_day, std::int64_t last_day) {
  absl::MutexLock l(&mu_);
  // A read transaction so the four reads see one snapshot.
  RETURN_IF_ERROR(db_->Exec("BEGIN"));
  struct Rollback {
    sqlite::Database* db;
    ~Rollback() { (void)db->Exec("ROLLBACK"); }
  } rollback{db_.get()};

  // 1. The application's identities, by applying the rules now.
  absl::flat_hash_map<std::int64_t, bool> identity_matches;
  {
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     db_->Prepare("SELECT id, exe_path, exe_name, window_class, package_id, "
                                  "product_name, web_domain FROM identities"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      AppIdentityRecord id;
      id.exe_path = st.ColumnText(1);
      id.exe_name = st.ColumnText(2);
      id.window_class = st.ColumnText(3);
      id.package_id = st.ColumnText(4);
      id.product_name = st.ColumnText(5);
      id.web_domain = st.ColumnText(6);
      if (ApplicationMatches(app, id)) identity_matches[st.ColumnInt(0)] = true;
    }
  }
  // 2. Users.
  std::vector<EndpointUserEvidence> out;
  absl::flat_hash_map<std::int64_t, size_t> by_id;
  {
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     db_->Prepare("SELECT id, domain, login_name, sid, upn FROM users ORDER BY id"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      EndpointUserEvidence e;
      e.user_id = st.ColumnInt(0);
      e.domain = st.ColumnText(1);
      e.login_name = st.ColumnText(2);
      e.sid = st.ColumnText(3);
      e.upn = st.ColumnText(4);
      by_id[e.user_id] = out.size();
      out.push_back(std::move(e));
    }
  }
  // 3. Devices: one span per agent instance.
  {
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     db_->Prepare("SELECT user_id, first_seen_utc_ms, last_seen_utc_ms FROM agents"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      const auto it = by_id.find(st.ColumnInt(0));
      if (it == by_id.end()) continue;
      EndpointUserEvidence& e = out[it->second];
      ++e.devices;
      e.spans.push_back({UtcDayOf(st.ColumnInt(1)), UtcDayOf(st.ColumnInt(2))});
    }
  }
  // 4. Usage: days with any focus (a span per user), and the application's
  //    focus in the window and last use.
  {
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     db_->Prepare("SELECT user_id, min(day), max(day) FROM daily_usage "
                                  "GROUP BY user_id"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      const auto it = by_id.find(st.ColumnInt(0));
      if (it != by_id.end()) out[it->second].spans.push_back({st.ColumnInt(1), st.ColumnInt(2)});
    }
  }
  if (!identity_matches.empty()) {
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     db_->Prepare("SELECT user_id, identity_id, "
                                  "sum(CASE WHEN day BETWEEN ?1 AND ?2 THEN focus_ms ELSE 0 END), "
                                  "max(last_seen_utc_ms) FROM daily_usage "
                                  "GROUP BY user_id, identity_id"));
    st.Bind(1, first_day).Bind(2, last_day);
    while (true) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (!identity_matches.contains(st.ColumnInt(1))) continue;
      const auto it = by_id.find(st.ColumnInt(0));
      if (it == by_id.end()) continue;
      EndpointUserEvidence& e = out[it->second];
      e.focus_ms += st.ColumnInt(2);
      e.last_use_utc_ms = std::max<UtcMs>(e.last_use_utc_ms, st.ColumnInt(3));
    }
  }
  return out;
}

absl::StatusOr<std::map<std::string, Answer>> SqliteReclamationStore::LoadAnswers(
    std::int64_t policy_id, UtcMs now) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("SELECT object_id, answer FROM rc_answers WHERE policy_id=? AND "
                                "(expires_utc_ms=0 OR expires_utc_ms>?)"));
  st.Bind(1, policy_id).Bind(2, now);
  std::map<std::string, Answer> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out[st.ColumnText(0)] = ParseAnswer(st.ColumnText(1));
  }
  return out;
}

absl::Status SqliteReclamationStore::RecordAnswer(std::int64_t policy_id,
                                                  const std::string& object_id, Answer answer,
                                                  UtcMs now, UtcMs expires_utc_ms) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("INSERT INTO rc_answers(policy_id, object_id, answer, "
                                "answered_utc_ms, expires_utc_ms) VALUES(?,?,?,?,?) ON CONFLICT "
                                "DO UPDATE SET answer=excluded.answer, "
                                "answered_utc_ms=excluded.answered_utc_ms, "
                                "expires_utc_ms=excluded.expires_utc_ms"));
  return st.Bind(1, policy_id).Bind(2, object_id).Bind(3, std::string_view(AnswerName(answer)))
      .Bind(4, now).Bind(5, expires_utc_ms).Run();
}

// ---------------------------------------------------------------- runs

absl::StatusOr<std::int64_t> SqliteReclamationStore::CreateRun(const RunRecord& run,
                                                               const std::vector<RunItem>& items,
                                                               const AuditEntry& audit) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(
      sqlite::Statement st,
      db_->Prepare("INSERT INTO rc_runs(policy_id, dry_run, state, actor, connector, "
                   "group_object_id, group_name, created_utc_ms, updated_utc_ms, finished_utc_ms, "
                   "answers_due_utc_ms, error, cost_cents_per_seat_month, currency) "
                   "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  st.Bind(1, run.policy_id).Bind(2, std::int64_t{run.dry_run});
  st.Bind(3, std::string_view(RunStateName(run.state))).Bind(4, run.actor).Bind(5, run.connector);
  st.Bind(6, run.group_object_id).Bind(7, run.group_name).Bind(8, run.created_utc_ms);
  st.Bind(9, run.created_utc_ms).Bind(10, IsTerminal(run.state) ? run.created_utc_ms : 0);
  st.Bind(11, run.answers_due_utc_ms).Bind(12, run.error).Bind(13, run.cost_cents_per_seat_month);
  st.Bind(14, run.currency);
  RETURN_IF_ERROR(st.Run());
  const std::int64_t run_id = db_->LastInsertRowId();
  ASSIGN_OR_RETURN(
      sqlite::Statement it,
      db_->Prepare("INSERT INTO rc_run_items(run_id, idx, object_id, sam_account_name, domain, "
                   "upn, sid, dn, display_name, kind, via_group, first_seen_utc_ms, excluded_by, "
                   "focus_ms, last_use_utc_ms, devices, coverage_permille, answer, decision, "
                   "reason, state, outcome, detail, result_audit_seq, endpoint_users) "
                   "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?)"));
  for (const RunItem& item : items) {
    const MemberEvidence& e = item.decision.evidence;
    const DirectoryUser& u = e.member.user;
    it.Bind(1, run_id).Bind(2, item.index).Bind(3, u.object_id).Bind(4, u.sam_account_name);
    it.Bind(5, u.domain).Bind(6, u.upn).Bind(7, u.sid).Bind(8, u.dn).Bind(9, u.display_name);
    it.Bind(10, std::string_view(KindName(e.member.kind))).Bind(11, e.member.via_group);
    it.Bind(12, e.first_seen_in_group_utc_ms).Bind(13, e.excluded_by).Bind(14, e.focus_ms);
    it.Bind(15, e.last_use_utc_ms).Bind(16, e.devices);
    it.Bind(17, static_cast<std::int64_t>(e.coverage * 1000 + 0.5));
    it.Bind(18, std::string_view(AnswerName(e.answer)));
    it.Bind(19, std::string_view(DecisionName(item.decision.decision)));
    it.Bind(20, item.decision.reason).Bind(21, std::string_view(ItemStateName(item.state)));
    it.Bind(22, item.outcome).Bind(23, item.detail);
    it.Bind(24, absl::StrJoin(e.endpoint_users, "\n"));
    RETURN_IF_ERROR(it.Run());
  }
  AuditEntry a = audit;
  a.run_id = run_id;
  RETURN_IF_ERROR(AppendAuditLocked(a).status());
  RETURN_IF_ERROR(tx.Commit());
  return run_id;
}

absl::StatusOr<std::vector<RunRecord>> SqliteReclamationStore::QueryRunsLocked(
    const std::string& where, std::int64_t arg, int limit) {
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kRunColumns,
                                             " FROM rc_runs r JOIN rc_policies p ON "
                                             "p.id=r.policy_id ",
                                             where, limit > 0 ? " LIMIT ?2" : "")));
  if (where.find("?1") != std::string::npos) st.Bind(1, arg);
  if (limit > 0) st.Bind(2, std::int64_t{limit});
  std::vector<RunRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    RunRecord r;
    r.id = st.ColumnInt(0);
    r.policy_id = st.ColumnInt(1);
    r.policy_name = st.ColumnText(2);
    r.dry_run = st.ColumnInt(3) != 0;
    r.state = ParseRunState(st.ColumnText(4)).value_or(RunState::kFailed);
    r.actor = st.ColumnText(5);
    r.connector = st.ColumnText(6);
    r.group_object_id = st.ColumnText(7);
    r.group_name = st.ColumnText(8);
    r.created_utc_ms = st.ColumnInt(9);
    r.updated_utc_ms = st.ColumnInt(10);
    r.finished_utc_ms = st.ColumnInt(11);
    r.answers_due_utc_ms = st.ColumnInt(12);
    r.error = st.ColumnText(13);
    r.cost_cents_per_seat_month = st.ColumnInt(14);
    r.currency = st.ColumnText(15);
    r.members = st.ColumnInt(16);
    r.candidates = st.ColumnInt(17);
    r.over_cap = st.ColumnInt(18);
    r.no_data = st.ColumnInt(19);
    r.pending = st.ColumnInt(20);
    r.removed = st.ColumnInt(21);
    r.manual = st.ColumnInt(22);
    r.failed = st.ColumnInt(23);
    r.campaign_id = st.ColumnInt(24);
    r.ask_permission = st.ColumnInt(25) != 0;
    r.monthly_saving_cents =
        (r.dry_run ? r.candidates : r.removed) * r.cost_cents_per_seat_month;
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<RunRecord> SqliteReclamationStore::GetRun(std::int64_t run_id) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(std::vector<RunRecord> runs, QueryRunsLocked("WHERE r.id=?1", run_id, 0));
  if (runs.empty()) return absl::NotFoundError(absl::StrCat("no run ", run_id));
  return std::move(runs.front());
}

absl::StatusOr<std::vector<RunRecord>> SqliteReclamationStore::ListRuns(std::int64_t policy_id,
                                                                        int limit) {
  absl::MutexLock l(&mu_);
  return QueryRunsLocked(policy_id ? "WHERE r.policy_id=?1 ORDER BY r.id DESC"
                                   : "ORDER BY r.id DESC",
                         policy_id, limit);
}

absl::StatusOr<std::vector<RunRecord>> SqliteReclamationStore::ListRunsInState(RunState state) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(std::vector<RunRecord> all, QueryRunsLocked("ORDER BY r.id", 0, 0));
  std::erase_if(all, [state](const RunRecord& r) { return r.state != state; });
  return all;
}

absl::StatusOr<std::vector<RunItem>> SqliteReclamationStore::ListRunItems(std::int64_t run_id) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(
      sqlite::Statement st,
      db_->Prepare("SELECT idx, object_id, sam_account_name, domain, upn, sid, dn, display_name, "
                   "kind, via_group, first_seen_utc_ms, excluded_by, focus_ms, last_use_utc_ms, "
                   "devices, coverage_permille, answer, decision, reason, state, outcome, detail, "
                   "result_audit_seq, endpoint_users FROM rc_run_items WHERE run_id=? "
                   "ORDER BY idx"));
  st.Bind(1, run_id);
  std::vector<RunItem> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    RunItem item;
    item.run_id = run_id;
    item.index = st.ColumnInt(0);
    MemberEvidence& e = item.decision.evidence;
    DirectoryUser& u = e.member.user;
    u.object_id = st.ColumnText(1);
    u.sam_account_name = st.ColumnText(2);
    u.domain = st.ColumnText(3);
    u.upn = st.ColumnText(4);
    u.sid = st.ColumnText(5);
    u.dn = st.ColumnText(6);
    u.display_name = st.ColumnText(7);
    e.member.kind = ParseKind(st.ColumnText(8));
    e.member.via_group = st.ColumnText(9);
    e.first_seen_in_group_utc_ms = st.ColumnInt(10);
    e.excluded_by = st.ColumnText(11);
    e.focus_ms = st.ColumnInt(12);
    e.last_use_utc_ms = st.ColumnInt(13);
    e.devices = st.ColumnInt(14);
    e.coverage = static_cast<double>(st.ColumnInt(15)) / 1000.0;
    e.answer = ParseAnswer(st.ColumnText(16));
    item.decision.decision = ParseDecision(st.ColumnText(17));
    item.decision.reason = st.ColumnText(18);
    item.state = ParseItemState(st.ColumnText(19));
    item.outcome = st.ColumnText(20);
    item.detail = st.ColumnText(21);
    item.result_audit_seq = st.ColumnInt(22);
    if (const std::string users = st.ColumnText(23); !users.empty()) {
      e.endpoint_users = absl::StrSplit(users, '\n');
    }
    out.push_back(std::move(item));
  }
  return out;
}

absl::Status SqliteReclamationStore::SetRunState(std::int64_t run_id, RunState state,
                                                 const std::string& error, UtcMs now,
                                                 const std::optional<AuditEntry>& audit) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("UPDATE rc_runs SET state=?, error=?, updated_utc_ms=?, "
                                "finished_utc_ms=? WHERE id=?"));
  RETURN_IF_ERROR(st.Bind(1, std::string_view(RunStateName(state))).Bind(2, error).Bind(3, now)
                      .Bind(4, IsTerminal(state) ? now : 0).Bind(5, run_id).Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat("no run ", run_id));
  if (audit) RETURN_IF_ERROR(AppendAuditLocked(*audit).status());
  return tx.Commit();
}

absl::Status SqliteReclamationStore::SetRunCampaign(std::int64_t run_id,
                                                    std::int64_t campaign_id,
                                                    UtcMs answers_due_utc_ms,
                                                    const AuditEntry& audit) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("UPDATE rc_runs SET campaign_id=?, answers_due_utc_ms=?, "
                                "updated_utc_ms=? WHERE id=?"));
  RETURN_IF_ERROR(st.Bind(1, campaign_id).Bind(2, answers_due_utc_ms).Bind(3, audit.time_utc_ms)
                      .Bind(4, run_id).Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat("no run ", run_id));
  RETURN_IF_ERROR(AppendAuditLocked(audit).status());
  return tx.Commit();
}

absl::StatusOr<AuditEntry> SqliteReclamationStore::RecordItem(std::int64_t run_id,
                                                              std::int64_t index, ItemState state,
                                                              const std::string& outcome,
                                                              const std::string& detail,
                                                              const AuditEntry& audit) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(AuditEntry appended, AppendAuditLocked(audit));
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("UPDATE rc_run_items SET state=?, outcome=?, detail=?, "
                                "result_audit_seq=CASE WHEN ?1 IN ('done','failed') THEN ?4 "
                                "ELSE result_audit_seq END WHERE run_id=?5 AND idx=?6"));
  RETURN_IF_ERROR(st.Bind(1, std::string_view(ItemStateName(state))).Bind(2, outcome)
                      .Bind(3, detail).Bind(4, appended.seq).Bind(5, run_id).Bind(6, index).Run());
  if (db_->Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("no item ", index, " in run ", run_id));
  }
  ASSIGN_OR_RETURN(sqlite::Statement touch,
                   db_->Prepare("UPDATE rc_runs SET updated_utc_ms=? WHERE id=?"));
  RETURN_IF_ERROR(touch.Bind(1, audit.time_utc_ms).Bind(2, run_id).Run());
  RETURN_IF_ERROR(tx.Commit());
  return appended;
}

// ---------------------------------------------------------------- audit

absl::StatusOr<AuditEntry> SqliteReclamationStore::AppendAuditLocked(const AuditEntry& entry) {
  AuditEntry e = entry;
  {
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     db_->Prepare("SELECT seq, hash FROM rc_audit_log ORDER BY seq DESC LIMIT 1"));
    ASSIGN_OR_RETURN(bool row, st.Step());
    e.seq = row ? st.ColumnInt(0) + 1 : 1;
    e.prev_hash = row ? st.ColumnText(1) : std::string(kGenesisHash);
  }
  e.hash = ComputeAuditHash(e);
  if (e.hash.empty()) return absl::InternalError("SHA-256 failed");
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("INSERT INTO rc_audit_log(", kAuditColumns,
                                             ") VALUES(?,?,?,?,?,?,?,?,?,?)")));
  st.Bind(1, e.seq).Bind(2, e.time_utc_ms).Bind(3, e.actor).Bind(4, e.action);
  st.Bind(5, e.policy_id).Bind(6, e.run_id).Bind(7, e.subject).Bind(8, e.detail);
  st.Bind(9, e.prev_hash).Bind(10, e.hash);
  RETURN_IF_ERROR(st.Run());
  return e;
}

absl::StatusOr<AuditEntry> SqliteReclamationStore::AppendAudit(const AuditEntry& entry) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(AuditEntry e, AppendAuditLocked(entry));
  RETURN_IF_ERROR(tx.Commit());
  return e;
}

absl::StatusOr<std::vector<AuditEntry>> SqliteReclamationStore::ListAudit(std::int64_t after_seq,
                                                                          int limit) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kAuditColumns,
                                             " FROM rc_audit_log WHERE seq>? ORDER BY seq",
                                             limit > 0 ? " LIMIT ?2" : "")));
  st.Bind(1, after_seq);
  if (limit > 0) st.Bind(2, std::int64_t{limit});
  std::vector<AuditEntry> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadAudit(st));
  }
  return out;
}

absl::StatusOr<AuditEntry> SqliteReclamationStore::GetAudit(std::int64_t seq) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kAuditColumns,
                                             " FROM rc_audit_log WHERE seq=?")));
  st.Bind(1, seq);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("no audit entry ", seq));
  return ReadAudit(st);
}

// ---------------------------------------------------------------- settings

absl::StatusOr<bool> SqliteReclamationStore::KillSwitch() {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("SELECT value FROM rc_settings WHERE key='kill_switch'"));
  ASSIGN_OR_RETURN(bool row, st.Step());
  return row && st.ColumnText(0) == "on";
}

absl::Status SqliteReclamationStore::SetKillSwitch(bool on, const AuditEntry& audit) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("INSERT INTO rc_settings(key, value) VALUES('kill_switch', ?) "
                                "ON CONFLICT DO UPDATE SET value=excluded.value"));
  RETURN_IF_ERROR(st.Bind(1, std::string_view(on ? "on" : "off")).Run());
  RETURN_IF_ERROR(AppendAuditLocked(audit).status());
  return tx.Commit();
}

}  // namespace reclaim::collector
