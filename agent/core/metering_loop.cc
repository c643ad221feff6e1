#include "agent/core/metering_loop.h"

#include <algorithm>

#include "agent/platform/process_platform.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {

MeterOptions MakeMeterOptions(std::chrono::milliseconds idle_threshold,
                              std::chrono::milliseconds heartbeat,
                              std::chrono::milliseconds margin) {
  return {.heartbeat = heartbeat, .settle_delay = idle_threshold + margin};
}

MeteringLoop::MeteringLoop(MeteringLoopOptions options, BatchStore store, const Clock& clock,
                           std::function<MonoTime()> awake_clock, std::function<void()> on_batch)
    : options_(std::move(options)),
      store_(std::move(store)),
      clock_(clock),
      awake_clock_(std::move(awake_clock)),
      on_batch_(std::move(on_batch)),
      meter_(options_.meter),
      detector_(options_.min_suspend) {}

MeteringLoop::~MeteringLoop() { Stop(); }

EventSink MeteringLoop::sink() {
  return [this](const MeterEvent& e) {
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back(e);
      ++stats_.events;
    }
    wake_.notify_one();
  };
}

void MeteringLoop::Start() {
  last_store_ = clock_.Monotonic();
  detector_.Observe(clock_.Monotonic(), awake_clock_());
  thread_ = std::thread([this] {
    SetCurrentThreadName("meter");
    Run();
  });
}

void MeteringLoop::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void MeteringLoop::FlushNow() {
  {
    std::lock_guard<std::mutex> l(mu_);
    flush_ = true;
  }
  wake_.notify_one();
}

MeteringLoopStats MeteringLoop::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

void MeteringLoop::Run() {
  while (true) {
    bool stop = false, flush = false;
    {
      std::unique_lock<std::mutex> l(mu_);
      // Wake on an event, a flush request, stop, or the tick.
      wake_.wait_for(l, options_.tick, [this] { return !queue_.empty() || stop_ || flush_; });
      stop = stop_;
      flush = flush_;
      flush_ = false;
    }
    Step(stop);
    if (stop) {
      Store(/*force=*/true);
      return;
    }
    Store(flush);
  }
}

void MeteringLoop::Step(bool finish) {
  std::deque<MeterEvent> events;
  {
    std::lock_guard<std::mutex> l(mu_);
    events.swap(queue_);
  }
  bool resumed = false;
  for (MeterEvent& e : events) {
    if (e.kind == MeterEvent::Kind::kResume) resumed = true;
    if (e.app && !options_.send_window_titles &&
        !(options_.send_web_page_detail && !e.app->web_domain.empty())) {
      e.app->window_title.clear();
    }
    meter_.Record(e);
  }
  const MonoTime now = clock_.Monotonic();
  if (resumed) {
    detector_.Rebase();
    detector_.Observe(now, awake_clock_());
  } else {
    for (const MeterEvent& e : detector_.Observe(now, awake_clock_())) {
      meter_.Record(e);
      if (e.kind == MeterEvent::Kind::kSuspend) {
        spdlog::info("suspend of {} s detected (boot-time clock ran ahead)",
                     (now - e.at).count() / 1000.0);
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.suspends_detected;
      }
    }
  }
  const UtcMs wall = clock_.WallUtcMs();
  std::vector<FocusInterval> out = finish ? meter_.Finish(now, wall) : meter_.Poll(now, wall);
  for (FocusInterval& i : out) unstored_.push_back(std::move(i));
  std::lock_guard<std::mutex> l(mu_);
  stats_.recorded += events.size();
  stats_.late_events = meter_.late_events();
}

void MeteringLoop::Store(bool force) {
  const MonoTime now = clock_.Monotonic();
  if (!force && now - last_store_ < options_.meter.heartbeat) return;
  last_store_ = now;
  if (unstored_.empty()) return;
  if (unstored_.size() > options_.max_unstored_intervals) {
    const size_t drop = unstored_.size() - options_.max_unstored_intervals;
    unstored_.erase(unstored_.begin(), unstored_.begin() + static_cast<std::ptrdiff_t>(drop));
    spdlog::error("the spool refused usage for too long: dropped the {} oldest intervals", drop);
    std::lock_guard<std::mutex> l(mu_);
    stats_.dropped_intervals += drop;
  }
  // The collector accepts at most 10,000 intervals per batch.
  constexpr size_t kMaxPerBatch = 10000;
  while (!unstored_.empty()) {
    const size_t n = std::min(kMaxPerBatch, unstored_.size());
    std::vector<FocusInterval> part(unstored_.begin(),
                                    unstored_.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string error = store_(part);
    if (!error.empty()) {
      // Kept in memory and retried at the next heartbeat.
      spdlog::error("cannot store usage in the spool ({}); retrying at the next heartbeat", error);
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.spool_errors;
      return;
    }
    unstored_.erase(unstored_.begin(), unstored_.begin() + static_cast<std::ptrdiff_t>(n));
    {
      std::lock_guard<std::mutex> l(mu_);
      stats_.intervals += n;
      ++stats_.batches;
    }
    if (on_batch_) on_batch_();
  }
}

}  // namespace reclaim::agent
