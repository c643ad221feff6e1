// The reclamation scheduler: one owned, named ("reclaim-sched") thread that
// calls Reclaimer::Tick -- firing cron schedules, advancing runs whose
// campaign answers are due, and executing (or, after a crash, resuming) real
// runs. It wakes at the next due schedule, when a run is started (Wake), and
// at least every `poll_interval`.
//
// Time: schedules are decided on the injected Clock's wall time inside
// Reclaimer::Tick; the thread only waits (absl::CondVar with a real-time
// timeout), so tests drive it with a ManualClock plus Wake(), or call
// Reclaimer::Tick directly.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "collector/reclaim/reclaimer.h"
#include "common/clock.h"

namespace reclaim::collector {

/// Options; every field documents its default.
struct SchedulerOptions {
  /// Longest wait between ticks (schedules are minute-granular). Default 30 s.
  std::chrono::milliseconds poll_interval{30000};
};

/// Owned by the collector's main; Start once, Stop (or destroy) to join.
class Scheduler {
 public:
  /// `reclaimer` and `clock` must outlive the scheduler. Registers Wake as
  /// the reclaimer's run-ready callback.
  Scheduler(Reclaimer& reclaimer, const Clock& clock, SchedulerOptions options = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Starts the thread (the first tick resumes interrupted runs).
  void Start();
  /// Asks the thread to stop between run items and joins it. A run cut short
  /// stays in state removing and is resumed by the next Start.
  void Stop();
  /// Makes the thread tick now.
  void Wake();
  /// Ticks completed so far (for tests).
  std::uint64_t ticks() const;

 private:
  void Loop();

  Reclaimer& reclaimer_;
  const Clock& clock_;
  const SchedulerOptions options_;
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t ticks_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace reclaim::collector
