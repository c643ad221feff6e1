#include "collector/campaigns/campaign_housekeeper.h"

#include <pthread.h>

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log_format.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {

CampaignHousekeeper::CampaignHousekeeper(CampaignStore& store, PromptRouter& router,
                                         const Clock& clock, CampaignHousekeeperOptions options)
    : store_(store), router_(router), clock_(clock), options_(options) {}

CampaignHousekeeper::~CampaignHousekeeper() { Stop(); }

absl::StatusOr<int> CampaignHousekeeper::RunOnce() {
  const UtcMs now = clock_.WallUtcMs();
  absl::StatusOr<std::vector<Response>> changed = store_.Housekeep(now);
  if (!changed.ok()) return changed.status();
  for (const Response& r : *changed) {
    if (r.state == ResponseState::kPending) {
      // A re-ask after "Remind me later" (the pacing never holds it).
      if (auto n = router_.PublishDeliverable(store_, r.user, now, r.campaign_id); !n.ok()) {
        spdlog::error("campaigns: pushing the re-opened prompt {} failed: {}", r.id, n.status());
      }
    } else if (IsFinal(r.state)) {
      router_.Publish(r.user, WithdrawCommand(r));
    }
  }
  if (!changed->empty()) spdlog::info("campaigns: {} response(s) timed out or re-opened",
                                      changed->size());
  // Prompts the per-user pacing held back whose time has come.
  for (const std::string& user : router_.TakeDueHolds(now)) {
    absl::StatusOr<int> n = router_.PublishDeliverable(store_, user, now);
    if (!n.ok()) {
      spdlog::error("campaigns: pushing held prompts of {} failed: {}", user, n.status());
    } else {
      spdlog::info("campaigns: held prompts of {} due: {} stream push(es)", user, *n);
    }
  }
  return static_cast<int>(changed->size());
}

void CampaignHousekeeper::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "campaigns");
    while (true) {
      {
        absl::MutexLock l(&mu_);
        auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
        // Wake for the next pass, or earlier when held prompts become due.
        std::int64_t wait_ms = options_.interval.count();
        if (std::optional<UtcMs> due = router_.NextHoldDue()) {
          wait_ms = std::clamp<std::int64_t>(*due - clock_.WallUtcMs(), 0, wait_ms);
        }
        if (mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(wait_ms))) {
          return;
        }
      }
      if (auto n = RunOnce(); !n.ok()) spdlog::error("campaign housekeeping: {}", n.status());
    }
  });
}

void CampaignHousekeeper::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace reclaim::collector
