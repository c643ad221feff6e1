#include "collector/campaigns/campaign_housekeeper.h"

#include <pthread.h>

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
      auto c = store_.GetCampaign(absl::StrCat(r.campaign_id));
      if (c.ok() && ShouldDeliver(r, now)) router_.Publish(r.user, ShowCommand(*c, r));
    } else if (IsFinal(r.state)) {
      router_.Publish(r.user, WithdrawCommand(r));
    }
  }
  if (!changed->empty()) spdlog::info("campaigns: {} response(s) timed out or re-opened",
                                      changed->size());
  return static_cast<int>(changed->size());
}

void CampaignHousekeeper::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "campaigns");
    while (true) {
      {
        absl::MutexLock l(&mu_);
        auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
        if (mu_.AwaitWithTimeout(absl::Condition(&stopping),
                                 absl::Milliseconds(options_.interval.count()))) {
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
