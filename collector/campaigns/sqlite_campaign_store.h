// CampaignStore on SQLite, in the collector's database file (the usage and
// reclamation stores' file) or any other. Tables are prefixed "cp_" and
// versioned in schema_migrations(component, version) under "campaigns".
//
// Concurrency: one read-write connection (WAL, busy timeout) under a mutex;
// each call is one short BEGIN IMMEDIATE transaction. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "collector/campaigns/campaign_store.h"
#include "common/sqlite.h"

namespace reclaim::collector {

class SqliteCampaignStore final : public CampaignStore {
 public:
  static constexpr int kSchemaVersion = 1;

  /// Opens (creating if needed) the database file `path` and migrates the
  /// campaign tables. Errors: kInvalidArgument for an empty path or
  /// ":memory:"; kFailedPrecondition when the schema is newer than this
  /// code; kDataLoss / kUnavailable from SQLite.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SqliteCampaignStore>> Open(
      const std::string& path, int busy_timeout_ms = 5000);

  absl::StatusOr<Campaign> CreateCampaign(const Campaign& c, UtcMs now) override;
  absl::StatusOr<Campaign> GetCampaign(const std::string& name_or_id) override;
  absl::StatusOr<std::vector<Campaign>> ListCampaigns() override;
  absl::StatusOr<std::vector<Response>> Launch(std::int64_t campaign_id,
                                               const std::vector<std::string>& users,
                                               UtcMs now) override;
  absl::StatusOr<std::vector<Response>> ListResponses(std::int64_t campaign_id) override;
  absl::StatusOr<Response> GetResponse(std::int64_t response_id) override;
  absl::StatusOr<std::vector<ResponseEventRecord>> ListEvents(std::int64_t response_id) override;
  absl::StatusOr<Response> Apply(std::int64_t response_id, const ResponseEvent& event) override;
  absl::StatusOr<std::vector<Response>> Housekeep(UtcMs now) override;
  absl::StatusOr<int> Expire(std::int64_t campaign_id, UtcMs now) override;
  absl::StatusOr<std::vector<DeliverablePrompt>> Deliverable(const std::string& user,
                                                             UtcMs now) override;
  absl::StatusOr<std::vector<DeliverablePrompt>> DisplayedSince(const std::string& user,
                                                                UtcMs since_utc_ms) override;

 private:
  explicit SqliteCampaignStore(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}

  absl::StatusOr<Campaign> GetCampaignById(std::int64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Response> GetResponseLocked(std::int64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<Response>> QueryResponses(const std::string& where,
                                                       std::int64_t arg,
                                                       const std::string& text_arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<DeliverablePrompt>> WithCampaigns(std::vector<Response> rs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Response> ApplyLocked(const Campaign& c, const Response& r,
                                       const ResponseEvent& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::unique_ptr<sqlite::Database> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::collector
