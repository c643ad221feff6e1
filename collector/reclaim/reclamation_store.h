// The reclamation store: catalog, policies, directory-sync bookkeeping,
// campaign answers, runs and their items, the audit log and settings (the
// kill switch), plus the one query that joins the usage store's tables
// (usage evidence per endpoint user).
//
// An interface so that a PostgreSQL implementation can follow the SQLite one
// (sqlite_reclamation_store.h), which lives in the SAME database file as the
// usage store. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "collector/connectors/connector.h"
#include "collector/reclaim/audit.h"
#include "collector/reclaim/catalog.h"
#include "collector/reclaim/evaluation.h"
#include "common/clock.h"

namespace reclaim::collector {

/// A reclamation policy. Every field documents its default.
struct Policy {
  std::int64_t id = 0;
  /// Unique (case-insensitive) name, e.g. "visio-unused". Required.
  std::string name;
  /// The catalog application. Required.
  std::int64_t application_id = 0;
  std::string application_name;  ///< Filled on read.
  /// Name of the connector (a key of the collector's [connectors] config).
  std::string connector;
  /// The authorization group as the admin named it, and as the directory
  /// resolved it when the policy was created (immutable id).
  std::string group_ref;
  std::string group_object_id;
  std::string group_name;
  EvaluationRules rules;
  /// Ask members before removing them (campaign). Default false.
  bool ask_permission = false;
  /// How long a run waits for answers when ask_permission, hours (1-2160
  /// when asking). Default 72. The prompt stays answerable for as long again
  /// after the removals: a late "yes" restores the member (reclaimer.h).
  std::int64_t answer_wait_hours = 72;
  /// "user:<sAMAccountName|UPN|object id>" or "group:<group reference>".
  std::vector<std::string> exclusions;
  /// 5-field cron expression (UTC); empty = never scheduled. Default empty.
  std::string schedule;
  /// Disabled policies are never run for real (dry runs still work) and never
  /// scheduled. Default false.
  bool enabled = false;
  /// Scheduler bookkeeping: fire times up to here are handled, UTC ms.
  UtcMs schedule_cursor_utc_ms = 0;
  UtcMs created_utc_ms = 0;
  UtcMs updated_utc_ms = 0;
};

/// The state machine of a run (see run_state.h for the transitions).
enum class RunState {
  kDryRun,           ///< Evaluated and recorded; never acts (terminal).
  kAwaitingAnswers,  ///< Real run waiting for campaign answers until answers_due.
  kRemoving,         ///< Real run removing its pending items.
  kSucceeded,        ///< Every item was handled (terminal).
  kFailed,           ///< Stopped by an error (terminal; pending items untouched).
  kHalted,           ///< Stopped by the kill switch (terminal; pending items untouched).
};
const char* RunStateName(RunState s);
[[nodiscard]] absl::StatusOr<RunState> ParseRunState(const std::string& name);

/// Item state within a run.
enum class ItemState {
  kNone,     ///< Not a removal (kept, no data, over cap, or a dry run).
  kPending,  ///< To be removed.
  kIntent,   ///< remove.intent audited; the connector call may or may not have happened.
  kDone,     ///< remove.result audited (outcome says how).
  kFailed,   ///< The connector refused (outcome "error", detail says why).
  kDropped,  ///< Not removed after all (answered yes during the campaign).
  kRestored, ///< Removed, then re-added after a late "yes" (outcome "restored").
};
const char* ItemStateName(ItemState s);

/// One member's line in a run.
struct RunItem {
  std::int64_t run_id = 0;
  std::int64_t index = 0;  ///< Order of removal (candidates first).
  MemberDecision decision;
  ItemState state = ItemState::kNone;
  /// ChangeOutcome name ("removed", "already_removed", "needs_manual_action",
  /// "still_licensed_through") or "error"; empty before the call.
  std::string outcome;
  std::string detail;
  /// seq of the remove.result audit entry, 0 before.
  std::int64_t result_audit_seq = 0;
};

/// A run (dry or real) and its counters (computed from its items).
struct RunRecord {
  std::int64_t id = 0;
  std::int64_t policy_id = 0;
  std::string policy_name;
  bool dry_run = true;
  RunState state = RunState::kDryRun;
  std::string actor;
  std::string connector;
  std::string group_object_id;
  std::string group_name;
  UtcMs created_utc_ms = 0;
  UtcMs updated_utc_ms = 0;
  UtcMs finished_utc_ms = 0;  ///< 0 while not terminal.
  UtcMs answers_due_utc_ms = 0;
  /// The ask-for-permission campaign of this run (campaign store id); 0 =
  /// none (yet).
  std::int64_t campaign_id = 0;
  /// The policy asks for permission (filled on read from the policy).
  bool ask_permission = false;
  std::string error;
  std::int64_t cost_cents_per_seat_month = 0;
  std::string currency;
  // Counters (filled on read).
  std::int64_t members = 0;
  std::int64_t candidates = 0;      ///< Decision kCandidate.
  std::int64_t over_cap = 0;
  std::int64_t no_data = 0;
  std::int64_t pending = 0;         ///< Items pending or intent.
  std::int64_t removed = 0;         ///< Outcome removed or already_removed.
  std::int64_t manual = 0;          ///< needs_manual_action or still_licensed_through.
  std::int64_t failed = 0;
  /// Candidates (dry run) or removed (real run) times the seat cost, cents.
  std::int64_t monthly_saving_cents = 0;
};

/// Usage evidence of one endpoint user (a row of the usage store's users).
struct EndpointUserEvidence {
  std::int64_t user_id = 0;
  std::string domain;
  std::string login_name;
  std::string sid;
  std::string upn;
  /// Focus time on the application within the window, ms.
  std::int64_t focus_ms = 0;
  /// Latest end of focus on the application (any time), UTC ms; 0 = never.
  UtcMs last_use_utc_ms = 0;
  /// Agent instances of this user.
  std::int64_t devices = 0;
  /// When the user's devices reported: one span per agent instance
  /// (first..last seen) plus the span of days with any focus.
  std::vector<DaySpan> spans;
};

/// A directory member as the sync keeps it.
struct SyncedMember {
  GroupMember member;
  UtcMs first_seen_utc_ms = 0;
  UtcMs last_seen_utc_ms = 0;
};

class ReclamationStore {
 public:
  virtual ~ReclamationStore() = default;

  // --- catalog ---
  /// Errors: kAlreadyExists for a taken name; kInvalidArgument for an empty name.
  [[nodiscard]] virtual absl::StatusOr<Application> CreateApplication(const Application& app,
                                                                      UtcMs now) = 0;
  /// Adds a rule (a rule already present is fine). Errors: kNotFound.
  [[nodiscard]] virtual absl::Status AddApplicationRule(std::int64_t application_id,
                                                        const ApplicationRule& rule) = 0;
  /// Every application with its rules, by name.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Application>> ListApplications() = 0;
  /// By name (case-insensitive). Errors: kNotFound.
  [[nodiscard]] virtual absl::StatusOr<Application> GetApplication(const std::string& name) = 0;

  // --- policies ---
  /// Stores a validated policy. Errors: kAlreadyExists for a taken name.
  [[nodiscard]] virtual absl::StatusOr<Policy> CreatePolicy(const Policy& policy, UtcMs now) = 0;
  /// By name (case-insensitive) or decimal id. Errors: kNotFound.
  [[nodiscard]] virtual absl::StatusOr<Policy> GetPolicy(const std::string& name_or_id) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::vector<Policy>> ListPolicies() = 0;
  [[nodiscard]] virtual absl::Status SetPolicyEnabled(std::int64_t policy_id, bool enabled,
                                                      UtcMs now) = 0;
  [[nodiscard]] virtual absl::Status SetScheduleCursor(std::int64_t policy_id, UtcMs cursor) = 0;

  // --- directory sync ---
  /// Records the group's current members: new ones get first_seen = now,
  /// present ones keep theirs, missing ones are marked absent (and get a new
  /// first_seen if they come back). Returns the current members with their
  /// bookkeeping.
  [[nodiscard]] virtual absl::StatusOr<std::vector<SyncedMember>> SyncGroupMembers(
      const std::string& connector, const std::string& group_object_id,
      const std::vector<GroupMember>& members, UtcMs now) = 0;

  // --- evidence ---
  /// Every endpoint user with usage of `app` (rules applied now, over all
  /// stored identities) in the UTC days [first_day, last_day], last use, and
  /// device spans. Users without usage are included (focus 0).
  [[nodiscard]] virtual absl::StatusOr<std::vector<EndpointUserEvidence>> LoadEndpointEvidence(
      const Application& app, std::int64_t first_day, std::int64_t last_day) = 0;
  /// Campaign answers of a policy still in force at `now` (not expired):
  /// directory object id -> answer.
  [[nodiscard]] virtual absl::StatusOr<std::map<std::string, Answer>> LoadAnswers(
      std::int64_t policy_id, UtcMs now) = 0;
  /// Records a member's answer to the policy's campaign, in force until
  /// `expires_utc_ms` (0 = never expires). A "yes" keeps the member out of
  /// the policy's removals until then (evaluation rule 4).
  [[nodiscard]] virtual absl::Status RecordAnswer(std::int64_t policy_id,
                                                  const std::string& object_id, Answer answer,
                                                  UtcMs now, UtcMs expires_utc_ms) = 0;

  // --- runs ---
  /// Creates a run with its items in one transaction, and appends `audit`
  /// (run.start) in the same transaction. Returns the run id.
  [[nodiscard]] virtual absl::StatusOr<std::int64_t> CreateRun(const RunRecord& run,
                                                               const std::vector<RunItem>& items,
                                                               const AuditEntry& audit) = 0;
  /// Errors: kNotFound.
  [[nodiscard]] virtual absl::StatusOr<RunRecord> GetRun(std::int64_t run_id) = 0;
  /// Newest first; policy_id 0 = all; at most `limit`.
  [[nodiscard]] virtual absl::StatusOr<std::vector<RunRecord>> ListRuns(std::int64_t policy_id,
                                                                        int limit) = 0;
  /// Runs in `state`, oldest first.
  [[nodiscard]] virtual absl::StatusOr<std::vector<RunRecord>> ListRunsInState(RunState state) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::vector<RunItem>> ListRunItems(std::int64_t run_id) = 0;
  /// Moves the run to `state` (error text kept), appending `audit` in the
  /// same transaction when given. finished_utc_ms is set for terminal states.
  [[nodiscard]] virtual absl::Status SetRunState(std::int64_t run_id, RunState state,
                                                 const std::string& error, UtcMs now,
                                                 const std::optional<AuditEntry>& audit) = 0;
  /// Records the run's ask-for-permission campaign and when its answers are
  /// due (UTC ms), and appends `audit` in the same transaction. Errors:
  /// kNotFound.
  [[nodiscard]] virtual absl::Status SetRunCampaign(std::int64_t run_id, std::int64_t campaign_id,
                              UtcMs answers_due_utc_ms,
                                                    const AuditEntry& audit) = 0;
  /// Moves one item (state, outcome, detail) and appends `audit` in the same
  /// transaction: the intent record (kIntent) or the result (kDone/kFailed,
  /// whose result_audit_seq becomes the appended entry's seq). Returns the
  /// appended entry.
  [[nodiscard]] virtual absl::StatusOr<AuditEntry> RecordItem(std::int64_t run_id,
                                                              std::int64_t index, ItemState state,
                                                              const std::string& outcome,
                                                              const std::string& detail,
                                                              const AuditEntry& audit) = 0;

  // --- audit ---
  /// Appends one entry (seq, prev_hash and hash are assigned). Returns it.
  [[nodiscard]] virtual absl::StatusOr<AuditEntry> AppendAudit(const AuditEntry& entry) = 0;
  /// Entries with seq > after_seq, ascending, at most `limit` (0 = all).
  [[nodiscard]] virtual absl::StatusOr<std::vector<AuditEntry>> ListAudit(std::int64_t after_seq,
                                                                          int limit) = 0;
  /// Errors: kNotFound.
  [[nodiscard]] virtual absl::StatusOr<AuditEntry> GetAudit(std::int64_t seq) = 0;

  // --- settings ---
  [[nodiscard]] virtual absl::StatusOr<bool> KillSwitch() = 0;
  /// Sets the kill switch and appends `audit` in the same transaction.
  [[nodiscard]] virtual absl::Status SetKillSwitch(bool on, const AuditEntry& audit) = 0;
};

}  // namespace reclaim::collector
