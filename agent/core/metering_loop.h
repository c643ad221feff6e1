// The real-time metering loop: platform sources -> Meter -> spool -> uplink.
//
// Sources report MeterEvents through sink() from their own threads; the loop's
// thread ("meter") records them into the Meter, polls it, and every
// `heartbeat` hands the emitted focus intervals to its BatchStore as one batch
// (the agent's is SpoolBatchStore: one durable spool transaction,
// spool_batch_store.h) and calls `on_batch` (the uplink's Notify). Stop()
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
//
// Standard C++ (and spdlog) only, no abseil, protobuf or SQLite: the loop is
// also built with mingw-w64 and tested under Wine (tests/windows), so its
// lock is a std::mutex rather than absl::Mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/meter/meter.h"
#include "agent/sources/event_sink.h"
#include "agent/sources/suspend_detector.h"
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

/// Stores one batch of focus intervals durably (at most 10,000, the
/// collector's limit per batch). Returns an empty string on success, else
/// the error for the log: the loop keeps the intervals in memory and tries
/// again at the next heartbeat. Called from the loop's thread only.
using BatchStore = std::function<std::string(const std::vector<FocusInterval>& intervals)>;

struct MeteringLoopStats {
  std::uint64_t events = 0;             ///< Events received from sources.
  std::uint64_t recorded = 0;           ///< Of those, recorded into the meter so far.
  std::uint64_t late_events = 0;        ///< Meter::late_events().
  std::uint64_t intervals = 0;          ///< Intervals stored in the spool.
  std::uint64_t batches = 0;            ///< Batches stored.
  std::uint64_t spool_errors = 0;       ///< Failed appends (retried).
  std::uint64_t dropped_intervals = 0;  ///< Dropped beyond max_unstored_intervals.
  std::uint64_t suspends_detected = 0;  ///< By the clock-jump detector.
};

class MeteringLoop {
 public:
  /// `clock` must outlive the loop. `store` keeps the batches (the agent:
  /// SpoolBatchStore). `on_batch` is called after each stored batch, from
  /// the loop's thread.
  MeteringLoop(MeteringLoopOptions options, BatchStore store, const Clock& clock,
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
  const BatchStore store_;
  const Clock& clock_;
  const std::function<MonoTime()> awake_clock_;
  const std::function<void()> on_batch_;
  Meter meter_;                          // loop thread only
  SuspendDetector detector_;             // loop thread only
  std::vector<FocusInterval> unstored_;  // loop thread only
  MonoTime last_store_{0};               // loop thread only
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable wake_;  // queue_, stop_ or flush_ changed
  std::deque<MeterEvent> queue_;  // guarded by mu_
  bool stop_ = false;             // guarded by mu_
  bool flush_ = false;            // guarded by mu_
  MeteringLoopStats stats_;       // guarded by mu_
};

}  // namespace reclaim::agent
