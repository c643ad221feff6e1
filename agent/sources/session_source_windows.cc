// Windows SessionSource (session_source.h).
//
// A thread ("session-win32") owns a hidden top-level window (message-only
// windows get no broadcasts) registered with WTSRegisterSessionNotification
// (NOTIFY_FOR_THIS_SESSION) and runs its message loop:
//  - WM_WTSSESSION_CHANGE: WTS_SESSION_LOCK -> kLock, WTS_SESSION_UNLOCK ->
//    kUnlock; WTS_CONSOLE_DISCONNECT / WTS_REMOTE_DISCONNECT (nobody sees the
//    session) -> kLock, WTS_CONSOLE_CONNECT / WTS_REMOTE_CONNECT -> kUnlock;
//    WTS_SESSION_LOGOFF -> kLock
//    (https://learn.microsoft.com/windows/win32/termserv/wm-wtssession-change);
//  - WM_POWERBROADCAST: PBT_APMSUSPEND -> kSuspend; PBT_APMRESUMEAUTOMATIC and
//    PBT_APMRESUMESUSPEND (both arrive after one wake) -> one kResume
//    (https://learn.microsoft.com/windows/win32/power/wm-powerbroadcast);
//  - WM_ENDSESSION (wParam TRUE: logoff or shutdown) -> kLock: nothing after it
//    is credited.
// The window class is "ReclaimSessionSource" (tests post messages to it).
// session_id and bus_address of SessionSourceOptions do not apply on Windows.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h:
#include <wtsapi32.h>

#include <future>
#include <mutex>
#include <thread>

#include "agent/sources/session_source.h"

namespace reclaim::agent {
namespace {

constexpr wchar_t kClassName[] = L"ReclaimSessionSource";

class Win32SessionSource final : public SessionSource {
 public:
  Win32SessionSource(SessionSourceOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}
  ~Win32SessionSource() override { Stop(); }

  void Start(EventSink sink) override {
    std::lock_guard<std::mutex> l(lifecycle_mu_);
    if (thread_.joinable()) return;
    sink_ = std::move(sink);
    std::promise<void> ready;
    std::future<void> ready_f = ready.get_future();
    thread_ = std::thread([this, &ready] { Run(ready); });
    ready_f.wait();
  }

  void Stop() override {
    std::lock_guard<std::mutex> l(lifecycle_mu_);
    if (!thread_.joinable()) return;
    PostThreadMessageW(thread_id_, WM_QUIT, 0, 0);
    thread_.join();
  }

  SessionSourceStats stats() const override {
    std::lock_guard<std::mutex> l(stats_mu_);
    return stats_;
  }

 private:
  static LRESULT CALLBACK WndProc(HWND hwnd, UINT msg, WPARAM wp, LPARAM lp) {
    if (msg == WM_NCCREATE) {
      auto* cs = reinterpret_cast<CREATESTRUCTW*>(lp);
      SetWindowLongPtrW(hwnd, GWLP_USERDATA, reinterpret_cast<LONG_PTR>(cs->lpCreateParams));
    }
    auto* self = reinterpret_cast<Win32SessionSource*>(GetWindowLongPtrW(hwnd, GWLP_USERDATA));
    if (self != nullptr) {
      switch (msg) {
        case WM_WTSSESSION_CHANGE:
          self->OnSessionChange(wp);
          return 0;
        case WM_POWERBROADCAST:
          self->OnPower(wp);
          return TRUE;
        case WM_QUERYENDSESSION:
          return TRUE;
        case WM_ENDSESSION:
          if (wp) self->EmitLock(MeterEvent::Kind::kLock);
          return 0;
        default:
          break;
      }
    }
    return DefWindowProcW(hwnd, msg, wp, lp);
  }

  void OnSessionChange(WPARAM reason) {
    switch (reason) {
      case WTS_SESSION_LOCK:
      case WTS_SESSION_LOGOFF:
      case WTS_CONSOLE_DISCONNECT:
      case WTS_REMOTE_DISCONNECT:
        EmitLock(MeterEvent::Kind::kLock);
        break;
      case WTS_SESSION_UNLOCK:
      case WTS_CONSOLE_CONNECT:
      case WTS_REMOTE_CONNECT:
        EmitLock(MeterEvent::Kind::kUnlock);
        break;
      default:
        break;
    }
  }

  void OnPower(WPARAM event) {
    if (event == PBT_APMSUSPEND) {
      suspended_ = true;
      EmitSleep(MeterEvent::Kind::kSuspend);
    } else if ((event == PBT_APMRESUMEAUTOMATIC || event == PBT_APMRESUMESUSPEND) && suspended_) {
      suspended_ = false;
      EmitSleep(MeterEvent::Kind::kResume);
    }
  }

  void EmitLock(MeterEvent::Kind kind) {
    {
      std::lock_guard<std::mutex> l(stats_mu_);
      ++stats_.lock_events;
    }
    sink_(MeterEvent{kind, clock_.Monotonic(), std::nullopt});
  }
  void EmitSleep(MeterEvent::Kind kind) {
    {
      std::lock_guard<std::mutex> l(stats_mu_);
      ++stats_.sleep_events;
    }
    sink_(MeterEvent{kind, clock_.Monotonic(), std::nullopt});
  }

  void Run(std::promise<void>& ready) {
    thread_id_ = GetCurrentThreadId();
    MSG msg;
    PeekMessageW(&msg, nullptr, WM_USER, WM_USER, PM_NOREMOVE);
    HINSTANCE inst = GetModuleHandleW(nullptr);
    WNDCLASSEXW wc{};
    wc.cbSize = sizeof wc;
    wc.lpfnWndProc = &WndProc;
    wc.hInstance = inst;
    wc.lpszClassName = kClassName;
    RegisterClassExW(&wc);  // fails harmlessly when already registered
    HWND hwnd = CreateWindowExW(0, kClassName, L"Reclaim session", WS_OVERLAPPED, 0, 0, 0, 0,
                                nullptr, nullptr, inst, this);
    bool registered = false;
    if (hwnd != nullptr) {
      registered = WTSRegisterSessionNotification(hwnd, NOTIFY_FOR_THIS_SESSION) != FALSE;
      std::lock_guard<std::mutex> l(stats_mu_);
      if (registered) {
        ++stats_.connects;
        stats_.session_path = "WTS:" + std::to_string(SessionId());
      } else {
        ++stats_.failures;
      }
    } else {
      std::lock_guard<std::mutex> l(stats_mu_);
      ++stats_.failures;
    }
    ready.set_value();
    while (GetMessageW(&msg, nullptr, 0, 0) > 0) {
      TranslateMessage(&msg);
      DispatchMessageW(&msg);
    }
    if (hwnd != nullptr) {
      if (registered) WTSUnRegisterSessionNotification(hwnd);
      DestroyWindow(hwnd);
    }
  }

  static DWORD SessionId() {
    DWORD id = 0;
    ProcessIdToSessionId(GetCurrentProcessId(), &id);
    return id;
  }

  const SessionSourceOptions options_;
  const Clock& clock_;
  EventSink sink_;
  std::mutex lifecycle_mu_;
  std::thread thread_;
  DWORD thread_id_ = 0;
  mutable std::mutex stats_mu_;
  SessionSourceStats stats_;
  bool suspended_ = false;  // owned by the thread
};

}  // namespace

std::unique_ptr<SessionSource> MakeSessionSource(SessionSourceOptions options,
                                                 const Clock& clock) {
  return std::make_unique<Win32SessionSource>(std::move(options), clock);
}

}  // namespace reclaim::agent
