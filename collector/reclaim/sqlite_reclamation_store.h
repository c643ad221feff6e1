// ReclamationStore on SQLite, in the same database file as the usage store
// (so evidence queries join users, agents, identities and daily_usage).
//
// Schema: tables prefixed "rc_" (see kMigrations in the .cc), versioned in
// `schema_migrations(component, version)` under component "reclamation" --
// PRAGMA user_version belongs to the usage store. The audit table refuses
// UPDATE and DELETE with triggers (append-only; the hash chain detects edits
// made around them).
//
// Concurrency: one read-write connection (WAL, busy timeout, foreign keys)
// under a mutex; writes are short transactions (BEGIN IMMEDIATE), so they
// interleave with the usage store's ingest writer on its own connection.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "collector/reclaim/reclamation_store.h"
#include "common/sqlite.h"

namespace reclaim::collector {

class SqliteReclamationStore final : public ReclamationStore {
 public:
  static constexpr int kSchemaVersion = 2;

  /// Opens the store in the usage store's database file `path` and migrates
  /// its tables. Preconditions: the usage store was opened on `path` first
  /// (its tables exist). Errors: kFailedPrecondition when the usage tables
  /// are missing or the reclamation schema is newer than this code;
  /// kDataLoss / kUnavailable as for the usage store.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SqliteReclamationStore>> Open(
      const std::string& path, int busy_timeout_ms = 5000);

  absl::StatusOr<Application> CreateApplication(const Application& app, UtcMs now) override;
  absl::Status AddApplicationRule(std::int64_t application_id,
                                  const ApplicationRule& rule) override;
  absl::StatusOr<std::vector<Application>> ListApplications() override;
  absl::StatusOr<Application> GetApplication(const std::string& name) override;

  absl::StatusOr<Policy> CreatePolicy(const Policy& policy, UtcMs now) override;
  absl::StatusOr<Policy> GetPolicy(const std::string& name_or_id) override;
  absl::StatusOr<std::vector<Policy>> ListPolicies() override;
  absl::Status SetPolicyEnabled(std::int64_t policy_id, bool enabled, UtcMs now) override;
  absl::Status SetScheduleCursor(std::int64_t policy_id, UtcMs cursor) override;

  absl::StatusOr<std::vector<SyncedMember>> SyncGroupMembers(
      const std::string& connector, const std::string& group_object_id,
      const std::vector<GroupMember>& members, UtcMs now) override;

  absl::StatusOr<std::vector<EndpointUserEvidence>> LoadEndpointEvidence(
      const Application& app, std::int64_t first_day, std::int64_t last_day) override;
  absl::StatusOr<std::map<std::string, Answer>> LoadAnswers(std::int64_t policy_id,
                                                            UtcMs now) override;
  absl::Status RecordAnswer(std::int64_t policy_id, const std::string& object_id, Answer answer,
                            UtcMs now, UtcMs expires_utc_ms) override;

  absl::StatusOr<std::int64_t> CreateRun(const RunRecord& run, const std::vector<RunItem>& items,
                                         const AuditEntry& audit) override;
  absl::StatusOr<RunRecord> GetRun(std::int64_t run_id) override;
  absl::StatusOr<std::vector<RunRecord>> ListRuns(std::int64_t policy_id, int limit) override;
  absl::StatusOr<std::vector<RunRecord>> ListRunsInState(RunState state) override;
  absl::StatusOr<std::vector<RunItem>> ListRunItems(std::int64_t run_id) override;
  absl::Status SetRunState(std::int64_t run_id, RunState state, const std::string& error,
                           UtcMs now, const std::optional<AuditEntry>& audit) override;
  absl::Status SetRunCampaign(std::int64_t run_id, std::int64_t campaign_id,
                              UtcMs answers_due_utc_ms,
                              const AuditEntry& audit) override;
  absl::StatusOr<AuditEntry> RecordItem(std::int64_t run_id, std::int64_t index, ItemState state,
                                        const std::string& outcome, const std::string& detail,
                                        const AuditEntry& audit) override;

  absl::StatusOr<AuditEntry> AppendAudit(const AuditEntry& entry) override;
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(std::int64_t after_seq, int limit) override;
  absl::StatusOr<AuditEntry> GetAudit(std::int64_t seq) override;

  absl::StatusOr<bool> KillSwitch() override;
  absl::Status SetKillSwitch(bool on, const AuditEntry& audit) override;

 private:
  explicit SqliteReclamationStore(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}

  absl::StatusOr<AuditEntry> AppendAuditLocked(const AuditEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<RunRecord>> QueryRunsLocked(const std::string& where,
                                                         std::int64_t arg, int limit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<Policy>> QueryPoliciesLocked(const std::string& where,
                                                          const std::string& arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::unique_ptr<sqlite::Database> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::collector
