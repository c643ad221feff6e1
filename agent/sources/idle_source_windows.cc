// Windows IdleSource (idle_source.h): GetLastInputInfo against GetTickCount,
// through the pure IdleTracker (idle_tracker.h: the 49.7-day wrap, the
// stamping at the last input). A thread ("idle-win32") sleeps exactly until
// the threshold would pass while the user is active, and re-checks every
// second while idle (Windows offers no notification of input short of a
// low-level input hook, which would see every keystroke: not for a meter).
// GetLastInputInfo covers the calling session only: the agent runs in the
// user's session, one per session.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "agent/sources/idle_source.h"
#include "agent/sources/idle_tracker.h"

namespace reclaim::agent {
namespace {

class Win32IdleSource final : public IdleSource {
 public:
  Win32IdleSource(IdleSourceOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}
  ~Win32IdleSource() override { Stop(); }

  void Start(EventSink sink) override {
    std::lock_guard<std::mutex> l(lifecycle_mu_);
    if (thread_.joinable()) return;
    sink_ = std::move(sink);
    {
      std::lock_guard<std::mutex> s(mu_);
      stop_ = false;
      stats_.connects++;
    }
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() override {
    std::lock_guard<std::mutex> l(lifecycle_mu_);
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> s(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  IdleSourceStats stats() const override {
    std::lock_guard<std::mutex> s(mu_);
    return stats_;
  }

 private:
  void Run() {
    IdleTracker tracker(IdleTrackerOptions{options_.threshold, std::chrono::milliseconds{1000}});
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      l.unlock();
      LASTINPUTINFO lii{};
      lii.cbSize = sizeof lii;
      std::chrono::milliseconds wait{1000};
      // Both ticks are read together, the monotonic time right after.
      if (GetLastInputInfo(&lii)) {
        const DWORD tick_now = GetTickCount();
        IdleTracker::Result r = tracker.Observe(clock_.Monotonic(), tick_now, lii.dwTime);
        if (r.event) {
          {
            std::lock_guard<std::mutex> s(mu_);
            (r.event->kind == MeterEvent::Kind::kIdle ? stats_.idle_events : stats_.active_events)++;
          }
          sink_(*r.event);
        }
        wait = r.next_check;
      }
      l.lock();
      cv_.wait_for(l, wait, [this] { return stop_; });
    }
  }

  const IdleSourceOptions options_;
  const Clock& clock_;
  EventSink sink_;
  std::mutex lifecycle_mu_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  IdleSourceStats stats_;
};

}  // namespace

std::unique_ptr<IdleSource> MakeIdleSource(IdleSourceOptions options, const Clock& clock) {
  return std::make_unique<Win32IdleSource>(std::move(options), clock);
}

}  // namespace reclaim::agent
