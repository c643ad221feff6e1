// Helpers for the Windows tests that run under Wine: an event queue for a
// source's EventSink, and finding the top-level window of a process.
// Windows-only test header (includes <windows.h>).
#pragma once

#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "agent/meter/meter.h"

namespace reclaim::agent::testing {

/// Collects events from a source's sink; waits for one matching a predicate.
class EventQueue {
 public:
  void Push(const MeterEvent& e) {
    {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(e);
    }
    cv_.notify_all();
  }
  /// The first event (removing it and those before it) that matches `pred`
  /// within `timeout`; nullopt otherwise.
  std::optional<MeterEvent> WaitFor(const std::function<bool(const MeterEvent&)>& pred,
                                    std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    std::optional<MeterEvent> found;
    cv_.wait_for(l, timeout, [&] {
      while (!events_.empty()) {
        MeterEvent e = events_.front();
        events_.pop_front();
        if (pred(e)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<MeterEvent> events_;
};

/// The first visible top-level window of process `pid` (optionally of a window
/// class), waiting up to `timeout` for it to appear; nullptr otherwise.
inline HWND WaitForProcessWindow(DWORD pid, const wchar_t* cls, std::chrono::milliseconds timeout) {
  struct Search {
    DWORD pid;
    const wchar_t* cls;
    HWND found;
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    Search s{pid, cls, nullptr};
    EnumWindows(
        [](HWND w, LPARAM lp) -> BOOL {
          auto* s = reinterpret_cast<Search*>(lp);
          DWORD p = 0;
          GetWindowThreadProcessId(w, &p);
          if (p != s->pid || !IsWindowVisible(w) || GetWindow(w, GW_OWNER) != nullptr) return TRUE;
          if (s->cls != nullptr) {
            wchar_t c[256];
            if (GetClassNameW(w, c, 256) == 0 || lstrcmpiW(c, s->cls) != 0) return TRUE;
          }
          s->found = w;
          return FALSE;
        },
        reinterpret_cast<LPARAM>(&s));
    if (s.found != nullptr) return s.found;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling another process: no event to wait on
  }
  return nullptr;
}

}  // namespace reclaim::agent::testing
