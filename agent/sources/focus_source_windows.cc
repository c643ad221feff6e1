// Windows FocusSource (focus_source.h): event driven, no polling.
//
// A thread ("focus-win32") installs an out-of-context WinEvent hook for
// EVENT_SYSTEM_FOREGROUND (and EVENT_SYSTEM_DESKTOPSWITCH: secure desktop,
// lock) and runs a message loop; Windows calls the hook on that thread for
// every foreground change in the session
// (https://learn.microsoft.com/windows/win32/winauto/event-constants).
// On each event it reads GetForegroundWindow() (the truth at that moment,
// whatever window the event names) and maps it with ResolveWindow
// (window_identity.h). A NULL foreground is "no focus" after `none_debounce`
// (stamped when it became NULL); an ApplicationFrameHost frame without its
// hosted app yet is looked at again every 100 ms, at most 20 times.
// The agent's own process is always excluded (its consent prompt).
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "agent/sources/focus_source.h"
#include "agent/sources/win32_window_system_windows.h"
#include "agent/sources/window_identity.h"

namespace reclaim::agent {
namespace {

constexpr UINT kFrameRetryMs = 100;
constexpr int kFrameRetries = 20;

class Win32FocusSource;
// The hook procedure has no user data: the source of the hook's thread.
thread_local Win32FocusSource* t_source = nullptr;

class Win32FocusSource final : public FocusSource {
 public:
  Win32FocusSource(FocusSourceOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {
    identity_options_.read_window_titles = options_.read_window_titles;
    identity_options_.excluded_pids = options_.excluded_pids;
    identity_options_.excluded_pids.push_back(static_cast<std::int64_t>(GetCurrentProcessId()));
  }
  ~Win32FocusSource() override { Stop(); }

  void Start(EventSink sink) override {
    std::lock_guard<std::mutex> l(lifecycle_mu_);
    if (thread_.joinable()) return;
    sink_ = std::move(sink);
    std::promise<void> ready;
    std::future<void> ready_f = ready.get_future();
    thread_ = std::thread([this, &ready] { Run(ready); });
    ready_f.wait();  // the hook is installed and the first foreground reported
  }

  void Stop() override {
    std::lock_guard<std::mutex> l(lifecycle_mu_);
    if (!thread_.joinable()) return;
    PostThreadMessageW(thread_id_.load(), WM_QUIT, 0, 0);
    thread_.join();
    if (has_app_) Emit(clock_.Monotonic(), std::nullopt);
    has_app_ = false;
  }

  FocusSourceStats stats() const override {
    std::lock_guard<std::mutex> l(stats_mu_);
    return stats_;
  }

 private:
  static void CALLBACK HookProc(HWINEVENTHOOK, DWORD, HWND, LONG, LONG, DWORD, DWORD) {
    if (t_source != nullptr) t_source->OnChange();
  }

  void Run(std::promise<void>& ready) {
    thread_id_ = GetCurrentThreadId();
    NameThread();
    MSG msg;
    PeekMessageW(&msg, nullptr, WM_USER, WM_USER, PM_NOREMOVE);  // creates the queue
    t_source = this;
    window_system_ = MakeWin32WindowSystem();
    HWINEVENTHOOK fg = SetWinEventHook(EVENT_SYSTEM_FOREGROUND, EVENT_SYSTEM_FOREGROUND, nullptr,
                                       &HookProc, 0, 0, WINEVENT_OUTOFCONTEXT);
    HWINEVENTHOOK desk = SetWinEventHook(EVENT_SYSTEM_DESKTOPSWITCH, EVENT_SYSTEM_DESKTOPSWITCH,
                                         nullptr, &HookProc, 0, 0, WINEVENT_OUTOFCONTEXT);
    if (fg != nullptr) {
      std::lock_guard<std::mutex> l(stats_mu_);
      ++stats_.connects;
    }
    OnChange();
    ready.set_value();
    while (GetMessageW(&msg, nullptr, 0, 0) > 0) {
      if (msg.message == WM_TIMER && msg.hwnd == nullptr) {
        OnTimer(static_cast<UINT_PTR>(msg.wParam));
        continue;
      }
      TranslateMessage(&msg);
      DispatchMessageW(&msg);
    }
    KillTimers();
    if (desk != nullptr) UnhookWinEvent(desk);
    if (fg != nullptr) UnhookWinEvent(fg);
    t_source = nullptr;
  }

  void NameThread() {
    using SetThreadDescriptionFn = HRESULT(WINAPI*)(HANDLE, PCWSTR);
    if (HMODULE k32 = GetModuleHandleW(L"kernel32.dll")) {
      if (auto fn = reinterpret_cast<SetThreadDescriptionFn>(
              reinterpret_cast<void*>(GetProcAddress(k32, "SetThreadDescription")))) {
        fn(GetCurrentThread(), L"focus-win32");
      }
    }
  }

  // The foreground may have changed: resolve it and report a change.
  void OnChange() {
    const MonoTime now = clock_.Monotonic();
    HWND fg = GetForegroundWindow();
    if (fg == nullptr) {
      if (!none_since_) {
        none_since_ = now;
        none_timer_ = SetTimer(nullptr, 0,
                               static_cast<UINT>(std::max<long long>(1, options_.none_debounce.count())),
                               nullptr);
      }
      return;
    }
    CancelNone();
    ResolvedWindow r = ResolveWindow(*window_system_, reinterpret_cast<WindowHandle>(fg),
                                     identity_options_);
    if (r.outcome == ResolvedWindow::Outcome::kFrameWithoutApp) {
      if (frame_timer_ == 0) {
        frame_retries_ = 0;
        frame_timer_ = SetTimer(nullptr, 0, kFrameRetryMs, nullptr);
      }
      Report(now, std::nullopt);
      return;
    }
    StopFrameTimer();
    Report(now, r.app);
  }

  void OnTimer(UINT_PTR id) {
    if (id == none_timer_ && none_since_) {
      const MonoTime at = *none_since_;
      CancelNone();
      if (GetForegroundWindow() == nullptr) {
        Report(at, std::nullopt);
      } else {
        OnChange();
      }
    } else if (id == frame_timer_) {
      if (++frame_retries_ >= kFrameRetries) StopFrameTimer();
      OnChange();
    }
  }

  void CancelNone() {
    if (none_timer_ != 0) KillTimer(nullptr, none_timer_);
    none_timer_ = 0;
    none_since_.reset();
  }
  void StopFrameTimer() {
    if (frame_timer_ != 0) KillTimer(nullptr, frame_timer_);
    frame_timer_ = 0;
  }
  void KillTimers() {
    CancelNone();
    StopFrameTimer();
  }

  // Emits a kFocus event when the application changed.
  void Report(MonoTime at, const std::optional<AppIdentity>& app) {
    if (reported_once_ && app == last_) return;
    reported_once_ = true;
    last_ = app;
    has_app_ = app.has_value();
    Emit(at, app);
  }

  void Emit(MonoTime at, const std::optional<AppIdentity>& app) {
    {
      std::lock_guard<std::mutex> l(stats_mu_);
      ++stats_.focus_events;
    }
    if (sink_) sink_(MeterEvent{MeterEvent::Kind::kFocus, at, app});
  }

  const FocusSourceOptions options_;
  const Clock& clock_;
  WindowIdentityOptions identity_options_;
  EventSink sink_;
  std::mutex lifecycle_mu_;
  std::thread thread_;
  std::atomic<DWORD> thread_id_{0};
  mutable std::mutex stats_mu_;
  FocusSourceStats stats_;
  // Owned by the source's thread (and by Stop() after the join).
  std::unique_ptr<WindowSystem> window_system_;
  std::optional<AppIdentity> last_;
  bool reported_once_ = false;
  bool has_app_ = false;
  std::optional<MonoTime> none_since_;
  UINT_PTR none_timer_ = 0;
  UINT_PTR frame_timer_ = 0;
  int frame_retries_ = 0;
};

}  // namespace

std::unique_ptr<FocusSource> MakeFocusSource(FocusSourceOptions options, const Clock& clock) {
  return std::make_unique<Win32FocusSource>(std::move(options), clock);
}

}  // namespace reclaim::agent
