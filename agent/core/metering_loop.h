// The real-time metering loop: platform sources -> Meter -> spool -> uplink.
//
// Sources report MeterEvents through sink() from their own threads; the loop's
// thread ("meter") records them into the Meter, polls it, and every
// `heartbeat` appends the emitted focus intervals to the spool as one batch
// (one durable transaction) and calls `on_batch` (the uplink's Notify). Stop()
// settles everything (Meter::Finish), stores the last batch and joins.
//
// Before every Poll the loop runs the D-Bus-free SuspendDetector (boot-time
// vs awake clock), so a suspend is always recorded before the meter settles
// past it; when a source already reported a resume (logind PrepareForSleep),
// the detector is rebased instead, so one suspend is not reported twice.
//
// Time: the injected Clock's Monotonic() must be the boot-time clock (the
// real SystemClock is CLOCK_BOOTTIME); `awake_clock` reads the clock that
// stops during suspend (ReadAwakeClock()); tests pass fakes of both.
//
// Window titles are dropped here unless `send_window_titles` (defence in
// depth: the focus source reads them only when enabled); a web site's page
// detail (path/title, carried as the title of a `web_domain` identity) is
// kept when `send_web_page_detail`.
//
// Thread-safe: sink() may be called from any thread; Start/Stop from the owner.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/meter/meter.h"
#include "agent/sources/event_sink.h"
#include "agent/sources/suspend_detector.h"
#include "agent/spool/spool.h"
#include "common/clock.h"

namespace reclaim::agent {

/// Options; every field documents its default.
struct MeteringLoopOptions {
  /// Meter options. heartbeat: batches are stored this often (default 60 s).
  /// settle_delay: set it to the idle threshold plus `idle_report_margin`
  /// (MakeMeterOptions does).
  MeterOptions meter;
  /// The loop wakes at least this often to poll the meter and look for a
  /// suspend (events wake it too). Default 5 s.
  std::chrono::milliseconds tick{5000};
  /// Send window titles. Default false.
  bool send_window_titles = false;
  /// Send the title field of identities with a web_domain (the page detail
  /// the administrator allowed with --web-detail). Default false.
  bool send_web_page_detail = false;
  /// Gaps between the two clocks below this are not suspends. Default 2 s.
  std::chrono::milliseconds min_suspend{2000};
  /// Intervals kept in memory while the spool refuses them (disk full);
  /// beyond it the oldest are dropped and counted. Default 100000.
  size_t max_unstored_intervals = 100000;
};

/// Meter options for an idle source with threshold `idle_threshold`: the
/// settle delay is the threshold plus `margin`. The idle source reports idle
/// when the threshold has passed since the last input, with the start at
/// that input; the X server's alarm and our thread need a few ms to deliver
/// it, so with a delay of exactly the threshold every idle event would arrive
/// just after the meter settled its time and be applied a few ms late. The
/// margin (default 1 s) makes idle that starts at the last input exact.
MeterOptions MakeMeterOptions(std::chrono::milliseconds idle_threshold,
                              std::chrono::milliseconds heartbeat,
                              std::chrono::milliseconds margin = std::chrono::milliseconds(1000));

struct MeteringLoopStats {
  std::uint64_t events = 0;          ///< Events received from sources.
  std::uint64_t late_events = 0;     ///< Meter::late_events().
  std::uint64_t intervals = 0;       ///< Intervals stored in the spool.
  std::uint64_t batches = 0;         ///< Batches stored.
  std::uint64_t spool_errors = 0;    ///< Failed appends (retried).
  std::uint64_t dropped_intervals = 0;  ///< Dropped beyond max_unstored_intervals.
  std::uint64_t suspends_detected = 0;  ///< By the clock-jump detector.
};

class MeteringLoop {
 public:
  /// `spool` and `clock` must outlive the loop. `on_batch` is called after
  /// each stored batch, from the loop's thread.
  MeteringLoop(MeteringLoopOptions options, Spool& spool, const Clock& clock,
               std::function<MonoTime()> awake_clock, std::function<void()> on_batch);
  ~MeteringLoop();
  MeteringLoop(const MeteringLoop&) = delete;
  MeteringLoop& operator=(const MeteringLoop&) = delete;

  /// The sink for the sources. Valid for the loop's lifetime.
  EventSink sink();
  /// Starts the "meter" thread. Call once.
  void Start();
  /// Finishes the meter at the current time, stores the last batch and joins.
  /// Stop the sources first so their last events are included.
  void Stop();
  /// Wakes the loop to poll and store now (tests; the next heartbeat is
  /// unchanged).
  void FlushNow();
  MeteringLoopStats stats() const;

 private:
  void Run();
  // Records queued events (rebasing the detector after a reported resume),
  // observes the suspend detector, polls. Loop thread only.
  void Step(bool finish);
  void Store(bool force);

  const MeteringLoopOptions options_;
  Spool& spool_;
  const Clock& clock_;
  const std::function<MonoTime()> awake_clock_;
  const std::function<void()> on_batch_;
  Meter meter_;                  // loop thread only
  SuspendDetector detector_;     // loop thread only
  std::vector<FocusInterval> unstored_;  // loop thread only
  MonoTime last_store_{0};       // loop thread only
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::deque<MeterEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool flush_ ABSL_GUARDED_BY(mu_) = false;
  MeteringLoopStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::agent
