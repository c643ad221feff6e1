// The reclaimer: the collector's reclamation engine. It validates and stores
// catalog entries and policies, evaluates a policy (directory sync + usage
// evidence + the pure Evaluate), records dry runs, plans and executes real
// runs through a DirectoryConnector with an audit entry before and after each
// call, resumes interrupted runs, restores removed members, honours the global
// kill switch, and fires scheduled policies (Tick).
//
// Run state machine (RunState):
//   dry run:  [evaluate] -> dry_run (terminal, never acts)
//   real run: [evaluate] -> awaiting_answers (ask_permission)  --answers_due--> removing
//                        -> removing (no campaign)
//             removing -> succeeded (every pending item handled)
//                      -> failed    (directory-wide error: unreachable, auth)
//                      -> halted    (kill switch turned on mid-run)
//   Items: pending -> intent (remove.intent audited) -> done | failed;
//          pending -> dropped (answered yes while awaiting answers).
//   A run left in `removing` by a crash is resumed by ExecuteRun: an item in
//   `intent` is first checked against the directory (ListMembers); when the
//   user is no longer a direct member the removal is recorded as done
//   ("already_removed", verified) without calling RemoveMember again.
//
// Thread-safety: all methods are thread-safe; ExecuteRun and Tick are meant
// for one worker thread (the Scheduler), the rest for admin RPC threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/reclaim/connector_factory.h"
#include "collector/reclaim/reclamation_store.h"
#include "common/clock.h"

namespace reclaim::collector {

/// A policy's evaluation against the directory now.
struct PolicyEvaluation {
  Policy policy;
  Application application;
  AuthorizationGroup group;
  EvaluationResult result;
  std::int64_t first_day = 0;  ///< Window, UTC days.
  std::int64_t last_day = 0;
};

/// Matches one directory user to endpoint users (pure): by SID, by UPN, or by
/// sAMAccountName + domain, all case-insensitive. An endpoint domain matches
/// the directory's NetBIOS domain, the first label of a DNS domain
/// ("example.com" ~ "EXAMPLE"), or the UPN suffix of the directory user.
bool EndpointUserMatches(const DirectoryUser& dir, const EndpointUserEvidence& endpoint);

/// Evidence of one member from its matched endpoint users (pure).
MemberEvidence CombineEvidence(const SyncedMember& member,
                               const std::vector<const EndpointUserEvidence*>& matched,
                               std::int64_t first_day, std::int64_t last_day);

class Reclaimer {
 public:
  /// `store`, `connectors` and `clock` must outlive the reclaimer.
  Reclaimer(ReclamationStore& store, const ConnectorFactory& connectors, const Clock& clock);

  /// Called (from the calling thread) when a real run becomes ready to
  /// execute; the Scheduler wakes its thread with it.
  void SetRunReadyCallback(std::function<void()> cb);

  // --- catalog ---
  /// Creates an application with optional rules. Errors: kInvalidArgument
  /// (empty name, negative cost, bad rule), kAlreadyExists.
  [[nodiscard]] absl::StatusOr<Application> AddApplication(const Application& app,
                                                           const std::string& actor);
  /// Errors: kNotFound (application), kInvalidArgument (rule).
  [[nodiscard]] absl::StatusOr<Application> AddApplicationRule(const std::string& application,
                                                               const ApplicationRule& rule,
                                                               const std::string& actor);
  [[nodiscard]] absl::StatusOr<std::vector<Application>> ListApplications();

  // --- policies ---
  /// Validates and stores a policy. The group (and exclusion groups) are
  /// resolved through the connector now. Errors: kInvalidArgument for an
  /// unknown application, unknown connector, a group the directory does not
  /// know, a malformed cron expression, out-of-range numbers, a malformed
  /// exclusion; kUnavailable / kUnauthenticated when the directory cannot be
  /// asked; kAlreadyExists for a taken name.
  [[nodiscard]] absl::StatusOr<Policy> CreatePolicy(const Policy& spec, const std::string& actor);
  [[nodiscard]] absl::StatusOr<Policy> GetPolicy(const std::string& name_or_id);
  [[nodiscard]] absl::StatusOr<std::vector<Policy>> ListPolicies();
  [[nodiscard]] absl::StatusOr<Policy> SetPolicyEnabled(const std::string& name_or_id,
                                                        bool enabled, const std::string& actor);

  // --- evaluation and runs ---
  /// Syncs the group's members and evaluates the policy now; records nothing
  /// but the sync bookkeeping. Errors: the connector's (kUnavailable, ...).
  [[nodiscard]] absl::StatusOr<PolicyEvaluation> Evaluate(const std::string& policy);
  /// Evaluates and records a dry run (state dry_run). Allowed for disabled
  /// policies and with the kill switch on.
  [[nodiscard]] absl::StatusOr<RunRecord> DryRun(const std::string& policy,
                                                 const std::string& actor);
  /// Evaluates and records a real run (removing, or awaiting_answers when the
  /// policy asks for permission); the scheduler thread executes it. Errors:
  /// kFailedPrecondition when the kill switch is on, the policy is disabled,
  /// or another real run of the policy is unfinished; evaluation errors.
  [[nodiscard]] absl::StatusOr<RunRecord> StartRun(const std::string& policy,
                                                   const std::string& actor);
  /// Executes (or resumes) a run in state `removing` up to its end. Checks
  /// the kill switch before each removal; stops between items (leaving the
  /// run resumable) when `stop` becomes true. Returns the run afterwards.
  [[nodiscard]] absl::StatusOr<RunRecord> ExecuteRun(std::int64_t run_id,
                                                     const std::atomic<bool>* stop = nullptr);
  [[nodiscard]] absl::StatusOr<RunRecord> GetRun(std::int64_t run_id);
  [[nodiscard]] absl::StatusOr<std::vector<RunRecord>> ListRuns(const std::string& policy,
                                                                int limit);
  [[nodiscard]] absl::StatusOr<std::vector<RunItem>> ListRunItems(std::int64_t run_id);

  /// Re-adds the member removed by audit entry `audit_seq` (a remove.result
  /// whose outcome took the direct membership away), auditing restore.intent
  /// and restore.result. Errors: kNotFound; kInvalidArgument when the entry
  /// is not a removal; the connector's errors (audited as the result).
  [[nodiscard]] absl::StatusOr<AuditEntry> Restore(std::int64_t audit_seq,
                                                   const std::string& actor);

  // --- kill switch, audit ---
  [[nodiscard]] absl::StatusOr<bool> KillSwitch();
  [[nodiscard]] absl::Status SetKillSwitch(bool on, const std::string& actor);
  [[nodiscard]] absl::StatusOr<std::vector<AuditEntry>> ListAudit(std::int64_t after_seq,
                                                                  int limit);
  [[nodiscard]] absl::StatusOr<AuditVerification> VerifyAudit();

  // --- worker (scheduler thread) ---
  /// One scheduler step at `now`: fires enabled policies whose cron schedule
  /// is due (a real run; a dry run while the kill switch is on), moves
  /// awaiting_answers runs whose answers are due to removing, then executes
  /// every run in state removing. Errors are logged, not returned, except
  /// storage errors. Returns the next time a schedule is due (UTC ms; 0 =
  /// none).
  [[nodiscard]] absl::StatusOr<UtcMs> Tick(const std::atomic<bool>* stop = nullptr);

 private:
  absl::StatusOr<RunRecord> RecordRun(const std::string& policy, const std::string& actor,
                                      bool dry_run);
  absl::Status AdvanceAwaitingRuns();
  AuditEntry Entry(const std::string& actor, const std::string& action, std::int64_t policy_id,
                   std::int64_t run_id, const std::string& subject,
                   const std::string& detail) const;

  ReclamationStore& store_;
  const ConnectorFactory& connectors_;
  const Clock& clock_;
  absl::Mutex mu_;  // serialises run creation (one unfinished real run per policy)
  std::function<void()> run_ready_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::collector
