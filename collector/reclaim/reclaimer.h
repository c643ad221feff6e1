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
// Ask for permission (Policy::ask_permission; needs a CampaignStore):
//   - A real run with candidates launches ONE not-urgent campaign
//     "reclaim-run-<run id>" ("Do you still need <application>?", Yes/No,
//     sender ReclaimerOptions::campaign_sender) for the candidates' endpoint
//     users ("DOMAIN\login", as their agents report them), pushes it to their
//     connected agents (PromptRouter) and waits in awaiting_answers until
//     answers_due = start + answer_wait_hours (a "Yes" that arrives after
//     that but before the member's removal still keeps the member). The
//     launch is idempotent (the campaign is found by name,
//     CampaignStore::Launch keeps existing responses), so Tick completes it
//     after a crash (kill -9) between the run's creation and the launch;
//     answers_due then counts from the completed launch.
//   - At answers_due (Tick, on the injected Clock) each pending item looks at
//     its users' responses: an answer "Yes" (the campaign's first answer) on
//     any of the member's devices keeps the member (item dropped, audited
//     remove.dropped) and records an exclusion from this policy's removals
//     for one look-back window from the answer (LoadAnswers); every other
//     state -- answered "No", declined, postponed, displayed, delivered,
//     pending (never delivered), timed out, expired -- is audited
//     (permission.not_given, with the response state as the reason) and the
//     member is removed. Items settled before a crash are not settled again.
//   - The campaign's own answer wait is twice the policy's: the prompt stays
//     answerable for one more answer wait after the removals. A "Yes" that
//     arrives then (Tick finds it) restores the removed member through the
//     connector (AddMember), audited restore.intent / restore.result with the
//     campaign and response as the reason; the item becomes `restored`.
//   - A dry run of such a policy records who WOULD be asked (each candidate's
//     endpoint users) and asks nobody.
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
#include "collector/campaigns/campaign_store.h"
#include "collector/campaigns/prompt_router.h"
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

/// Options of the reclaimer; every field documents its default.
struct ReclaimerOptions {
  /// Sender name on ask-for-permission prompts. Default "IT Service Desk".
  std::string campaign_sender = "IT Service Desk";
};

class Reclaimer {
 public:
  /// `store`, `connectors` and `clock` (and `campaigns` / `router` when
  /// given) must outlive the reclaimer. Without `campaigns`, real runs of
  /// ask-for-permission policies fail with kFailedPrecondition; without
  /// `router`, prompts reach agents only when they (re)connect.
  Reclaimer(ReclamationStore& store, const ConnectorFactory& connectors, const Clock& clock,
            CampaignStore* campaigns = nullptr, PromptRouter* router = nullptr,
            ReclaimerOptions options = {});

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
  /// Appends an audit entry for an admin change made outside the reclaimer
  /// (campaign created/launched/expired, device revoked): `action` such as
  /// "campaign.launch", `subject` what it is about, `detail_json` a JSON
  /// object. Errors: the store's.
  [[nodiscard]] absl::StatusOr<AuditEntry> AuditAdminAction(const std::string& actor,
                                                            const std::string& action,
                                                            const std::string& subject,
                                                            const std::string& detail_json);

  // --- worker (scheduler thread) ---
  /// One scheduler step at `now`: fires enabled policies whose cron schedule
  /// is due (a real run; a dry run while the kill switch is on), completes
  /// unfinished campaign launches, settles awaiting_answers runs whose
  /// answers are due and moves them to removing, executes every run in state
  /// removing, then restores members removed by a run whose campaign has
  /// since received their "Yes". Errors are logged, not returned, except
  /// storage errors. Returns the next time a schedule is due (UTC ms; 0 =
  /// none).
  [[nodiscard]] absl::StatusOr<UtcMs> Tick(const std::atomic<bool>* stop = nullptr);

 private:
  absl::StatusOr<RunRecord> RecordRun(const std::string& policy, const std::string& actor,
                                      bool dry_run);
  absl::Status AdvanceAwaitingRuns();
  // Ask for permission (see the file comment).
  absl::Status LaunchCampaign(const RunRecord& run);
  absl::Status SettleAnswers(const RunRecord& run);
  // Drops `item` (not removed) after `yes`, recording the exclusion.
  absl::Status KeepAfterYes(const RunRecord& run, const Policy& p, const Campaign& c,
                            const RunItem& item, const Response& yes, const std::string& what);
  absl::Status RestoreLateYeses();
  // Restore of the removal audited at `audit_seq`. `reason` (a JSON object
  // text, may be empty) goes into both audit entries; with `item_index` >= 0
  // the result is recorded on that item of `run_id` (state restored) in the
  // same transaction.
  absl::StatusOr<AuditEntry> RestoreRemoval(std::int64_t audit_seq, const std::string& actor,
                                            const std::string& reason, std::int64_t run_id,
                                            std::int64_t item_index);
  AuditEntry Entry(const std::string& actor, const std::string& action, std::int64_t policy_id,
                   std::int64_t run_id, const std::string& subject,
                   const std::string& detail) const;

  ReclamationStore& store_;
  const ConnectorFactory& connectors_;
  const Clock& clock_;
  CampaignStore* const campaigns_;
  PromptRouter* const router_;
  const ReclaimerOptions options_;
  absl::Mutex mu_;  // serialises run creation (one unfinished real run per policy)
  std::function<void()> run_ready_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::collector
