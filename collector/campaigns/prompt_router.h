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

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/campaigns/campaign.h"

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

/// Registry of live agent streams per user. Thread-safe. Sinks are called
/// outside the router's lock, on the publisher's thread, and must not block;
/// a sink may still be called once just after its Unsubscribe returned.
class PromptRouter {
 public:
  using Sink = std::function<void(const PromptCommand&)>;

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
  mutable absl::Mutex mu_;
  std::int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::int64_t, Subscription> subs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::collector
