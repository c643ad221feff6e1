// Campaign housekeeping on the collector: applies the response state
// machine's due events (CampaignStore::Housekeep: answer wait over ->
// timed_out, postponement over -> pending again) and tells the agents:
// a re-opened prompt is pushed to the user's connected agents again, a
// timed-out one is withdrawn from them; prompts the per-user pacing held back
// (PromptRouter::TakeDueHolds) are pushed once they are due, and the thread
// wakes for that due time (PromptRouter::NextHoldDue) rather than the next
// interval when it comes first.
//
// Owns one thread ("campaigns"), started by Start() and joined by Stop();
// RunOnce() is the same pass for tests. Thread-safe.
#pragma once

#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/campaigns/campaign_store.h"
#include "collector/campaigns/prompt_router.h"
#include "common/clock.h"

namespace reclaim::collector {

/// Options; every field documents its default.
struct CampaignHousekeeperOptions {
  /// Time between passes. Default 30 s (time-outs and re-asks are due in
  /// hours, so they happen at most this late).
  std::chrono::milliseconds interval{30000};
};

class CampaignHousekeeper {
 public:
  /// `store`, `router` and `clock` must outlive the housekeeper.
  CampaignHousekeeper(CampaignStore& store, PromptRouter& router, const Clock& clock,
                      CampaignHousekeeperOptions options = {});
  ~CampaignHousekeeper();
  /// One pass at clock.WallUtcMs(). Returns how many responses changed.
  /// Errors: the store's.
  absl::StatusOr<int> RunOnce();
  void Start();
  void Stop();

 private:
  CampaignStore& store_;
  PromptRouter& router_;
  const Clock& clock_;
  const CampaignHousekeeperOptions options_;
  std::thread thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace reclaim::collector
