#include "collector/campaigns/prompt_router.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace reclaim::collector {

namespace {
constexpr char kPrefix[] = "prompt-";
constexpr char kAnswered[] = "answered:";
}  // namespace

std::string PromptCommandId(std::int64_t response_id) {
  return absl::StrCat(kPrefix, response_id);
}

std::optional<std::int64_t> ParsePromptCommandId(const std::string& command_id) {
  if (!absl::StartsWith(command_id, kPrefix)) return std::nullopt;
  const char* begin = command_id.data() + sizeof(kPrefix) - 1;
  const char* end = command_id.data() + command_id.size();
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(begin, end, id);
  if (ec != std::errc() || p != end || begin == end || id <= 0) return std::nullopt;
  return id;
}

absl::StatusOr<ResponseEvent> ParsePromptOutcome(const std::string& outcome,
                                                 const std::string& device_id, UtcMs at) {
  ResponseEvent e{.kind = ResponseEventKind::kDelivered, .at_utc_ms = at,
                  .device_id = device_id, .answer = {}};
  if (outcome == "delivered") return e;
  if (outcome == "displayed") {
    e.kind = ResponseEventKind::kDisplayed;
  } else if (outcome == "declined") {
    e.kind = ResponseEventKind::kDeclined;
  } else if (outcome == "postponed") {
    e.kind = ResponseEventKind::kPostponed;
  } else if (absl::StartsWith(outcome, kAnswered)) {
    e.kind = ResponseEventKind::kAnswered;
    e.answer = outcome.substr(sizeof(kAnswered) - 1);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown prompt outcome '", outcome, "'"));
  }
  return e;
}

PromptCommand ShowCommand(const Campaign& c, const Response& r) {
  PromptCommand cmd;
  cmd.kind = PromptCommand::Kind::kShow;
  cmd.command_id = PromptCommandId(r.id);
  cmd.campaign = c;
  cmd.response = r;
  return cmd;
}

PromptCommand WithdrawCommand(const Response& r) {
  PromptCommand cmd;
  cmd.kind = PromptCommand::Kind::kWithdraw;
  cmd.command_id = PromptCommandId(r.id);
  cmd.response = r;
  cmd.campaign.id = r.campaign_id;
  switch (r.state) {
    case ResponseState::kTimedOut: cmd.reason = "timed_out"; break;
    case ResponseState::kExpired: cmd.reason = "expired"; break;
    default: cmd.reason = "answered_elsewhere"; break;
  }
  return cmd;
}

std::int64_t PromptRouter::Subscribe(const std::string& user, const std::string& device_id,
                                     Sink sink) {
  absl::MutexLock l(&mu_);
  const std::int64_t id = next_id_++;
  subs_[id] = Subscription{user, device_id, std::move(sink)};
  return id;
}

void PromptRouter::Unsubscribe(std::int64_t id) {
  absl::MutexLock l(&mu_);
  subs_.erase(id);
}

int PromptRouter::Publish(const std::string& user, const PromptCommand& cmd,
                          const std::string& except_device) {
  std::vector<Sink> sinks;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [id, s] : subs_) {
      if (s.user != user) continue;
      if (!except_device.empty() && s.device_id == except_device) continue;
      sinks.push_back(s.sink);
    }
  }
  for (const Sink& sink : sinks) sink(cmd);
  return static_cast<int>(sinks.size());
}

absl::StatusOr<std::vector<DeliverablePrompt>> PromptRouter::Paced(CampaignStore& store,
                                                                  const std::string& user,
                                                                  UtcMs now) {
  ASSIGN_OR_RETURN(std::vector<DeliverablePrompt> candidates, store.Deliverable(user, now));
  ASSIGN_OR_RETURN(std::vector<DeliverablePrompt> shown,
                   store.DisplayedSince(user, now - PacingWindowMs(pacing_)));
  PacedPrompts paced = PacePrompts(std::move(candidates), shown, pacing_, now);
  if (!paced.held.empty()) {
    absl::MutexLock l(&mu_);
    UtcMs& due = holds_[user];
    due = due == 0 ? paced.held_until_utc_ms : std::min(due, paced.held_until_utc_ms);
  }
  return std::move(paced.deliver);
}

absl::StatusOr<int> PromptRouter::PublishDeliverable(CampaignStore& store,
                                                     const std::string& user, UtcMs now,
                                                     std::int64_t only_campaign_id) {
  ASSIGN_OR_RETURN(std::vector<DeliverablePrompt> prompts, Paced(store, user, now));
  int reached = 0;
  for (const DeliverablePrompt& p : prompts) {
    if (only_campaign_id != 0 && p.campaign.id != only_campaign_id) continue;
    reached += Publish(user, ShowCommand(p.campaign, p.response));
  }
  return reached;
}

std::vector<std::string> PromptRouter::TakeDueHolds(UtcMs now) {
  absl::MutexLock l(&mu_);
  std::vector<std::string> due;
  for (auto it = holds_.begin(); it != holds_.end();) {
    if (it->second <= now) {
      due.push_back(it->first);
      it = holds_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

std::optional<UtcMs> PromptRouter::NextHoldDue() const {
  absl::MutexLock l(&mu_);
  std::optional<UtcMs> next;
  for (const auto& [user, at] : holds_) {
    if (!next || at < *next) next = at;
  }
  return next;
}

int PromptRouter::StreamsOf(const std::string& user) const {
  absl::MutexLock l(&mu_);
  int n = 0;
  for (const auto& [id, s] : subs_) n += s.user == user ? 1 : 0;
  return n;
}

}  // namespace reclaim::collector
