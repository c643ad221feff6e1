// service_host.h for Windows: a Win32 own-process service under the Service
// Control Manager, or a foreground console process when not started by it.
// Win32 and standard C++ only (builds with MSVC and mingw-w64; tested under
// Wine, whose services.exe implements the SCM: tests/windows/
// service_host_windows_test.cc).
//
// Sources of external behaviour:
//  - StartServiceCtrlDispatcherW: call it at once from the main thread; it
//    returns when every service of the process is SERVICE_STOPPED; it fails
//    with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT when the program runs as a
//    console application rather than as a service
//    (https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-startservicectrldispatcherw).
//  - RegisterServiceCtrlHandlerExW: ServiceMain registers its handler first,
//    before any SetServiceStatus
//    (https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-registerservicectrlhandlerexw).
//  - HandlerEx: SERVICE_CONTROL_STOP and SERVICE_CONTROL_PRESHUTDOWN (sent
//    before shutdown to services that accept it, instead of
//    SERVICE_CONTROL_SHUTDOWN) mean stop; return NO_ERROR for them and for
//    SERVICE_CONTROL_INTERROGATE, ERROR_CALL_NOT_IMPLEMENTED otherwise
//    (https://learn.microsoft.com/windows/win32/api/winsvc/nc-winsvc-lphandler_function_ex).
//  - SetServiceStatus / SERVICE_STATUS: START_PENDING first, dwCheckPoint
//    incremented during a pending start or stop with dwWaitHint the time to
//    the next report, zero when not pending; a service-specific exit code goes
//    in dwServiceSpecificExitCode with dwWin32ExitCode
//    ERROR_SERVICE_SPECIFIC_ERROR
//    (https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-setservicestatus,
//    https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_status).
//  - SERVICE_FAILURE_ACTIONS_FLAG: with fFailureActionsOnNonCrashFailures
//    (`sc failureflag NAME 1`) a SERVICE_STOPPED whose dwWin32ExitCode is not
//    0 runs the recovery actions (`sc failure`), as a crash does
//    (https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actions_flag).
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <cstdio>
#include <mutex>

#include "agent/platform/process_platform.h"
#include "agent/service/foreground_service.h"
#include "agent/service/service_host.h"
#include "agent/sources/win32_strings_windows.h"

namespace reclaim::agent {
namespace {

// How long the SCM is told to wait for the first ReportRunning().
constexpr DWORD kStartWaitHintMs = 30000;
// The wait hint reported when a stop is requested, until the body's first
// ReportStopping().
constexpr DWORD kStopRequestedWaitHintMs = 10000;
constexpr DWORD kAcceptedWhileRunning = SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_PRESHUTDOWN;

// The service's status as the SCM is told it; the body's thread and the
// dispatcher's (HandlerEx) both report.
class ScmServiceContext final : public ServiceContext {
 public:
  // START_PENDING with its first checkpoint (controls are accepted once
  // running: a stop while starting would have no one to wait for it).
  void Attach(SERVICE_STATUS_HANDLE handle) {
    std::lock_guard<std::mutex> l(mu_);
    handle_ = handle;
    status_.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    SetLocked(SERVICE_START_PENDING, 0, 1, kStartWaitHintMs);
  }

  void ReportRunning() override {
    std::lock_guard<std::mutex> l(mu_);
    if (status_.dwCurrentState != SERVICE_START_PENDING) return;
    SetLocked(SERVICE_RUNNING, kAcceptedWhileRunning, 0, 0);
  }

  std::string WaitForStopRequest() override { return latch_.Wait(); }

  void ReportStopping(unsigned wait_hint_ms) override {
    std::lock_guard<std::mutex> l(mu_);
    if (status_.dwCurrentState == SERVICE_STOPPED) return;
    const DWORD next =
        status_.dwCurrentState == SERVICE_STOP_PENDING ? status_.dwCheckPoint + 1 : 1;
    SetLocked(SERVICE_STOP_PENDING, 0, next, wait_hint_ms);
  }

  // From HandlerEx on the dispatcher's thread.
  void RequestStop(const char* reason) {
    if (!latch_.Request(reason)) return;
    std::lock_guard<std::mutex> l(mu_);
    if (status_.dwCurrentState != SERVICE_RUNNING) return;
    SetLocked(SERVICE_STOP_PENDING, 0, 1, kStopRequestedWaitHintMs);
  }

  void ReportStopped(int exit_code) {
    std::lock_guard<std::mutex> l(mu_);
    status_.dwWin32ExitCode = exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
    status_.dwServiceSpecificExitCode = static_cast<DWORD>(exit_code);
    SetLocked(SERVICE_STOPPED, 0, 0, 0);
  }

 private:
  void SetLocked(DWORD state, DWORD accepted, DWORD checkpoint, DWORD wait_hint_ms) {
    status_.dwCurrentState = state;
    status_.dwControlsAccepted = accepted;
    status_.dwCheckPoint = checkpoint;
    status_.dwWaitHint = wait_hint_ms;
    if (!SetServiceStatus(handle_, &status_)) {
      std::fprintf(stderr, "SetServiceStatus(%lu) failed: error %lu\n",
                   static_cast<unsigned long>(state), static_cast<unsigned long>(GetLastError()));
    }
  }

  std::mutex mu_;
  SERVICE_STATUS_HANDLE handle_ = nullptr;  // guarded by mu_
  SERVICE_STATUS status_{};                 // guarded by mu_
  ServiceStopLatch latch_;
};

// What ServiceMain (which has no context parameter) needs; lives in
// RunAsService's frame, which outlives every ServiceMain and HandlerEx call
// (StartServiceCtrlDispatcherW returns only after SERVICE_STOPPED).
struct Dispatch {
  std::wstring name;
  const std::function<int(ServiceContext&)>* body = nullptr;
  ScmServiceContext context;
  int exit_code = 1;
};
Dispatch* g_dispatch = nullptr;

DWORD WINAPI HandlerEx(DWORD control, DWORD /*event_type*/, LPVOID /*event_data*/, LPVOID context) {
  auto* scm = static_cast<ScmServiceContext*>(context);
  switch (control) {
    case SERVICE_CONTROL_STOP:
      scm->RequestStop("SERVICE_CONTROL_STOP");
      return NO_ERROR;
    case SERVICE_CONTROL_PRESHUTDOWN:
      scm->RequestStop("SERVICE_CONTROL_PRESHUTDOWN");
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI ServiceMain(DWORD /*argc*/, LPWSTR* /*argv*/) {
  Dispatch& d = *g_dispatch;
  SERVICE_STATUS_HANDLE handle =
      RegisterServiceCtrlHandlerExW(d.name.c_str(), &HandlerEx, &d.context);
  if (handle == nullptr) {  // no status can be reported without it
    std::fprintf(stderr, "RegisterServiceCtrlHandlerExW failed: error %lu\n",
                 static_cast<unsigned long>(GetLastError()));
    d.exit_code = 1;
    return;
  }
  d.context.Attach(handle);
  d.exit_code = (*d.body)(d.context);
  d.context.ReportStopped(d.exit_code);
}

// Not started by the SCM: a foreground process; Ctrl+C, Ctrl+Break, the
// console closed, logoff and WM_CLOSE are stop requests (WatchStopRequests).
int RunInConsole(const std::function<int(ServiceContext&)>& body) {
  ForegroundServiceContext context;
  auto watcher =
      WatchStopRequests([&context](const std::string& reason) { context.latch.Request(reason); });
  const int exit_code = body(context);
  watcher->Close();  // lets a waiting console close / logoff proceed
  return exit_code;
}

}  // namespace

int RunAsService(const std::string& service_name, const std::function<int(ServiceContext&)>& body) {
  Dispatch dispatch;
  dispatch.name = WideFromUtf8(service_name);
  dispatch.body = &body;
  g_dispatch = &dispatch;
  SERVICE_TABLE_ENTRYW table[] = {{dispatch.name.data(), &ServiceMain}, {nullptr, nullptr}};
  const BOOL dispatched = StartServiceCtrlDispatcherW(table);
  const DWORD error = dispatched ? NO_ERROR : GetLastError();
  g_dispatch = nullptr;
  if (dispatched) return dispatch.exit_code;
  if (error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) return RunInConsole(body);
  std::fprintf(stderr, "%s: StartServiceCtrlDispatcherW failed: error %lu\n", service_name.c_str(),
               static_cast<unsigned long>(error));
  return 1;
}

}  // namespace reclaim::agent
