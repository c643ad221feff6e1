// Delivery of campaign prompts to the agents' streams, kept free of gRPC:
// the agent service subscribes each registered stream under its user and
// turns PromptCommands into reclaim.v1.Command messages; whoever launches or
// settles a response publishes to the user's streams.
//
// Command ids: "prompt-<response id>", unique per collector database.
// Outcomes (agent.proto ConsentPrompt): "delivered", "displayed",
// "answered:<answer>", "declined", "postponed".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/campaigns/campaign.h"
#include "collector/campaigns/campaign_store.h"
#include "collector/campaigns/prompt_pacing.h"

namespace reclaim::collector {

/// A prompt to show, or one to take back.
struct PromptCommand {
  enum class Kind { kShow, kWithdraw };
  Kind kind = Kind::kShow;
  std::string command_id;
  /// For kShow: what to ask. For kWithdraw only campaign.id/response.id.
  Campaign campaign;
  Response response;
  /// For kWithdraw: "answered_elsewhere", "timed_out", "expired".
  std::string reason;
};

/// "prompt-<response_id>".
std::string PromptCommandId(std::int64_t response_id);
/// The response id in a prompt command id; nullopt when `command_id` is not
/// one.
std::optional<std::int64_t> ParsePromptCommandId(const std::string& command_id);
/// The event an agent's outcome string stands for, stamped with `device_id`
/// and `at`. Errors: kInvalidArgument for an unknown outcome.
absl::StatusOr<ResponseEvent> ParsePromptOutcome(const std::string& outcome,
                                                 const std::string& device_id, UtcMs at);
/// A show command for `r` of campaign `c`.
PromptCommand ShowCommand(const Campaign& c, const Response& r);
/// A withdraw command for `r`, with the reason derived from its final state.
PromptCommand WithdrawCommand(const Response& r);

/// Registry of live agent streams per user, and the per-user pacing of
/// show commands (prompt_pacing.h): every publisher of prompts (launches,
/// agents connecting, the housekeeper) goes through Paced/PublishDeliverable,
/// which remembers when held prompts become due; CampaignHousekeeper pushes
/// them then (TakeDueHolds). Thread-safe. Sinks are called outside the
/// router's lock, on the publisher's thread, and must not block; a sink may
/// still be called once just after its Unsubscribe returned.
class PromptRouter {
 public:
  using Sink = std::function<void(const PromptCommand&)>;

  explicit PromptRouter(PromptPacing pacing = {}) : pacing_(pacing) {}
  const PromptPacing& pacing() const { return pacing_; }

  /// The prompts of `user` that may go out at `now`: store.Deliverable minus
  /// what the pacing holds back; a hold is remembered for TakeDueHolds.
  /// Errors: the store's.
  absl::StatusOr<std::vector<DeliverablePrompt>> Paced(CampaignStore& store,
                                                       const std::string& user, UtcMs now);
  /// Paced(), then a show command per prompt to every stream of `user`;
  /// `only_campaign_id` != 0 limits the push to that campaign's prompt (a
  /// launch), 0 pushes all (a prompt the agent already has is a no-op
  /// there: agents keep prompts by command id). Returns the number of
  /// (prompt, stream) pairs reached. Errors: the store's.
  absl::StatusOr<int> PublishDeliverable(CampaignStore& store, const std::string& user,
                                         UtcMs now, std::int64_t only_campaign_id = 0);
  /// Users whose held prompts are due at `now`; they are forgotten here
  /// (PublishDeliverable remembers them again if still held).
  std::vector<std::string> TakeDueHolds(UtcMs now);
  /// The earliest time a held prompt becomes due; nullopt when none is held.
  std::optional<UtcMs> NextHoldDue() const;

  /// Registers a stream of `user` ("DOMAIN\login") on `device_id`. Returns a
  /// subscription id for Unsubscribe.
  std::int64_t Subscribe(const std::string& user, const std::string& device_id, Sink sink);
  void Unsubscribe(std::int64_t id);
  /// Sends `cmd` to every stream of `user` except those of `except_device`
  /// (empty = none excepted). Returns how many streams it reached.
  int Publish(const std::string& user, const PromptCommand& cmd,
              const std::string& except_device = "");
  /// Streams currently registered for `user`.
  int StreamsOf(const std::string& user) const;

 private:
  struct Subscription {
    std::string user;
    std::string device_id;
    Sink sink;
  };
  const PromptPacing pacing_;
  mutable absl::Mutex mu_;
  /// user -> when its held prompts may go out.
  std::map<std::string, UtcMs> holds_ ABSL_GUARDED_BY(mu_);
  std::int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::int64_t, Subscription> subs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::collector
