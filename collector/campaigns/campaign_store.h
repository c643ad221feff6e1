// Storage of campaigns and their per-user responses. The interface lets the
// admin and agent services (and tests) work against a fake; the SQLite
// implementation is in sqlite_campaign_store.h. Implementations are
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/campaigns/campaign.h"

namespace reclaim::collector {

/// One stored event of a response's history.
struct ResponseEventRecord {
  std::int64_t response_id = 0;
  ResponseEvent event;
  /// The state after the event.
  ResponseState state_after = ResponseState::kPending;
};

/// A response that an agent of the user should show now, with its campaign.
struct DeliverablePrompt {
  Campaign campaign;
  Response response;
};

class CampaignStore {
 public:
  virtual ~CampaignStore() = default;

  /// Stores a new campaign (validated with ValidateCampaign). Errors:
  /// kInvalidArgument, kAlreadyExists for a taken name.
  virtual absl::StatusOr<Campaign> CreateCampaign(const Campaign& c, UtcMs now) = 0;
  /// By name or decimal id. kNotFound when absent.
  virtual absl::StatusOr<Campaign> GetCampaign(const std::string& name_or_id) = 0;
  virtual absl::StatusOr<std::vector<Campaign>> ListCampaigns() = 0;

  /// Launches the campaign for `users` ("DOMAIN\login"): a pending response
  /// per user that has none yet; a user who already has a response keeps it
  /// (launching twice asks once). Returns the responses of those users.
  virtual absl::StatusOr<std::vector<Response>> Launch(std::int64_t campaign_id,
                                                       const std::vector<std::string>& users,
                                                       UtcMs now) = 0;
  /// Every response of a campaign, ordered by user.
  virtual absl::StatusOr<std::vector<Response>> ListResponses(std::int64_t campaign_id) = 0;
  virtual absl::StatusOr<Response> GetResponse(std::int64_t response_id) = 0;
  /// A response's history, oldest first.
  virtual absl::StatusOr<std::vector<ResponseEventRecord>> ListEvents(
      std::int64_t response_id) = 0;

  /// Applies `event` (campaign.h ApplyEvent) in one transaction and records
  /// it. Errors: kNotFound, and ApplyEvent's (kFailedPrecondition for a
  /// response that is already final: the first answer wins).
  virtual absl::StatusOr<Response> Apply(std::int64_t response_id, const ResponseEvent& event) = 0;

  /// Applies every DueEvent at `now` (time-outs, ends of postponements) and
  /// returns the responses it changed.
  virtual absl::StatusOr<std::vector<Response>> Housekeep(UtcMs now) = 0;

  /// Ends a campaign: every open response becomes expired. Returns how many.
  virtual absl::StatusOr<int> Expire(std::int64_t campaign_id, UtcMs now) = 0;

  /// The prompts an agent of `user` should show now (ShouldDeliver).
  virtual absl::StatusOr<std::vector<DeliverablePrompt>> Deliverable(const std::string& user,
                                                                     UtcMs now) = 0;
  /// Every response of `user` (any state, any device) displayed at or after
  /// `since_utc_ms` (Response::displayed_utc_ms, the last display), with its
  /// campaign; for the per-user pacing (prompt_pacing.h).
  virtual absl::StatusOr<std::vector<DeliverablePrompt>> DisplayedSince(const std::string& user,
                                                                        UtcMs since_utc_ms) = 0;
};

}  // namespace reclaim::collector
