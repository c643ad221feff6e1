// agent/service/service_host_windows.cc under Wine's Service Control Manager
// (services.exe): service_host_test_service.exe is registered as a real
// own-process service (CreateServiceW, LocalSystem, demand start), started
// (StartServiceW), watched through QueryServiceStatusEx (START_PENDING ->
// RUNNING -> STOP_PENDING with moving checkpoints -> STOPPED), stopped with
// ControlService(SERVICE_CONTROL_STOP) and deleted; its exit code arrives as
// ERROR_SERVICE_SPECIFIC_ERROR + dwServiceSpecificExitCode. Run directly (not
// by the SCM) the same exe is a console process that a WM_CLOSE (taskkill
// without /F) stops.
// Not tested here: SERVICE_CONTROL_PRESHUTDOWN (only the system sends it at
// shutdown; ControlService cannot) and Ctrl+C / Ctrl+Break in the console
// fallback (Wine 8 cannot raise console control events here:
// process_platform_windows_test).
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "agent/platform/process_platform.h"
#include "gtest/gtest.h"
#include "tests/testing/wait_for.h"

namespace reclaim::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr wchar_t kServiceExe[] = L"service_host_test_service.exe";

std::string Narrow(const std::wstring& w) {
  std::string s;
  for (wchar_t c : w) s += static_cast<char>(c);  // ASCII paths and names only
  return s;
}

std::wstring ServiceExePath() {
  wchar_t self[MAX_PATH] = {};
  GetModuleFileNameW(nullptr, self, MAX_PATH);
  std::wstring path(self);
  return path.substr(0, path.find_last_of(L"\\/") + 1) + kServiceExe;
}

// A fresh folder under %TEMP% for one test's marker file.
class TempFolder {
 public:
  TempFolder() {
    wchar_t tmp[MAX_PATH] = {};
    GetTempPathW(MAX_PATH, tmp);
    static int n = 0;
    path_ = std::wstring(tmp) + L"reclaim-svc-" + std::to_wstring(GetCurrentProcessId()) + L"-" +
            std::to_wstring(++n);
    EXPECT_TRUE(CreateDirectoryW(path_.c_str(), nullptr)) << GetLastError();
  }
  ~TempFolder() {
    for (const wchar_t* f : {L"\\marker", L"\\marker.tmp"}) DeleteFileW((path_ + f).c_str());
    RemoveDirectoryW(path_.c_str());
  }
  std::wstring marker() const { return path_ + L"\\marker"; }

 private:
  std::wstring path_;
};

std::string ReadWhole(const std::wstring& path) {
  std::ifstream f(Narrow(path), std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The suite's one polling wait (the SCM and the marker file raise no event).
using testing::WaitFor;

SERVICE_STATUS_PROCESS Query(SC_HANDLE service) {
  SERVICE_STATUS_PROCESS status{};
  DWORD needed = 0;
  EXPECT_TRUE(QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO,
                                   reinterpret_cast<BYTE*>(&status), sizeof status, &needed))
      << GetLastError();
  return status;
}

// The service's status once `done` holds for it (30 s at most).
SERVICE_STATUS_PROCESS WaitForStatus(SC_HANDLE service,
                                     const std::function<bool(const SERVICE_STATUS_PROCESS&)>& done,
                                     const char* what) {
  SERVICE_STATUS_PROCESS status{};
  EXPECT_TRUE(WaitFor(
      [&] {
        status = Query(service);
        return done(status);
      },
      seconds(30)))
      << "waiting for " << what << "; state " << status.dwCurrentState;
  return status;
}

SERVICE_STATUS_PROCESS WaitForState(SC_HANDLE service, DWORD state, const char* what) {
  return WaitForStatus(
      service, [state](const SERVICE_STATUS_PROCESS& s) { return s.dwCurrentState == state; },
      what);
}

// One test service registered with the SCM; deleted (and stopped) at the end.
class InstalledService {
 public:
  InstalledService(const std::wstring& marker, int exit_code, const std::wstring& release_event) {
    scm_ = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_ALL_ACCESS);
    EXPECT_NE(scm_, nullptr) << "OpenSCManagerW: " << GetLastError();
    static int n = 0;
    name_ = L"ReclaimServiceHostTest" + std::to_wstring(GetCurrentProcessId()) + L"_" +
            std::to_wstring(++n);
    std::wstring command =
        L"\"" + ServiceExePath() + L"\" \"" + marker + L"\" " + std::to_wstring(exit_code);
    if (!release_event.empty()) command += L" " + release_event;
    if (scm_ == nullptr) return;
    // lpServiceStartName null: LocalSystem, as the installer registers it.
    service_ = CreateServiceW(scm_, name_.c_str(), L"Reclaim service host test", SERVICE_ALL_ACCESS,
                              SERVICE_WIN32_OWN_PROCESS, SERVICE_DEMAND_START, SERVICE_ERROR_NORMAL,
                              command.c_str(), nullptr, nullptr, nullptr, nullptr, nullptr);
    EXPECT_NE(service_, nullptr) << "CreateServiceW: " << GetLastError();
  }
  ~InstalledService() {
    if (service_ != nullptr) {
      SERVICE_STATUS status{};
      if (Query(service_).dwCurrentState != SERVICE_STOPPED) {
        ControlService(service_, SERVICE_CONTROL_STOP, &status);
      }
      EXPECT_TRUE(DeleteService(service_)) << GetLastError();
      CloseServiceHandle(service_);
    }
    if (scm_ != nullptr) CloseServiceHandle(scm_);
  }
  SC_HANDLE handle() const { return service_; }

 private:
  SC_HANDLE scm_ = nullptr;
  SC_HANDLE service_ = nullptr;
  std::wstring name_;
};

// The exit code of `process` once it ended (20 s at most); -1 otherwise.
long ProcessExitCode(HANDLE process) {
  if (WaitForSingleObject(process, 20000) != WAIT_OBJECT_0) return -1;
  DWORD code = 0;
  GetExitCodeProcess(process, &code);
  return static_cast<long>(code);
}

TEST(ServiceHostWindowsTest, ScmStartsRunsStopsAndGetsTheServiceSpecificExitCode) {
  TempFolder dir;
  const std::wstring release_name =
      L"ReclaimServiceHostTestRelease" + std::to_wstring(GetCurrentProcessId());
  HANDLE release = CreateEventW(nullptr, TRUE, FALSE, release_name.c_str());
  ASSERT_NE(release, nullptr);
  InstalledService svc(dir.marker(), 42, release_name);
  ASSERT_NE(svc.handle(), nullptr);

  ASSERT_TRUE(StartServiceW(svc.handle(), 0, nullptr)) << GetLastError();
  const SERVICE_STATUS_PROCESS running = WaitForState(svc.handle(), SERVICE_RUNNING, "RUNNING");
  ASSERT_EQ(running.dwCurrentState, static_cast<DWORD>(SERVICE_RUNNING));
  EXPECT_EQ(running.dwControlsAccepted,
            static_cast<DWORD>(SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_PRESHUTDOWN));
  EXPECT_EQ(running.dwCheckPoint, 0u);
  EXPECT_EQ(running.dwWaitHint, 0u);
  EXPECT_NE(running.dwProcessId, 0u);
  EXPECT_NE(running.dwProcessId, GetCurrentProcessId());
  HANDLE process =
      OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, running.dwProcessId);
  ASSERT_NE(process, nullptr) << GetLastError();
  EXPECT_TRUE(WaitFor([&] { return ReadWhole(dir.marker()) == "running\n"; }, seconds(10)))
      << ReadWhole(dir.marker());

  // A control it does not accept is refused by the SCM.
  SERVICE_STATUS control_status{};
  EXPECT_FALSE(ControlService(svc.handle(), SERVICE_CONTROL_PAUSE, &control_status));

  ASSERT_TRUE(ControlService(svc.handle(), SERVICE_CONTROL_STOP, &control_status))
      << GetLastError();
  // The body reported stopping twice and now waits for `release`.
  const SERVICE_STATUS_PROCESS stopping = WaitForStatus(
      svc.handle(),
      [](const SERVICE_STATUS_PROCESS& s) {
        return s.dwCurrentState == SERVICE_STOP_PENDING && s.dwCheckPoint >= 3;
      },
      "STOP_PENDING, checkpoint 3");
  EXPECT_EQ(stopping.dwCurrentState, static_cast<DWORD>(SERVICE_STOP_PENDING));
  EXPECT_EQ(stopping.dwCheckPoint, 3u);  // 1 from the stop request, +1 per ReportStopping
  EXPECT_EQ(stopping.dwWaitHint, 7000u);
  EXPECT_EQ(stopping.dwControlsAccepted, 0u);
  ASSERT_TRUE(SetEvent(release));

  const SERVICE_STATUS_PROCESS stopped = WaitForState(svc.handle(), SERVICE_STOPPED, "STOPPED");
  EXPECT_EQ(stopped.dwWin32ExitCode, static_cast<DWORD>(ERROR_SERVICE_SPECIFIC_ERROR));
  EXPECT_EQ(stopped.dwServiceSpecificExitCode, 42u);
  EXPECT_EQ(stopped.dwCheckPoint, 0u);
  EXPECT_EQ(ReadWhole(dir.marker()), "running\nstopped SERVICE_CONTROL_STOP\n");
  // RunAsService returned the body's code: the process's exit code.
  EXPECT_EQ(ProcessExitCode(process), 42);
  CloseHandle(process);
  CloseHandle(release);
}

TEST(ServiceHostWindowsTest, ExitCodeZeroIsNoError) {
  TempFolder dir;
  InstalledService svc(dir.marker(), 0, L"");
  ASSERT_NE(svc.handle(), nullptr);
  ASSERT_TRUE(StartServiceW(svc.handle(), 0, nullptr)) << GetLastError();
  WaitForState(svc.handle(), SERVICE_RUNNING, "RUNNING");
  SERVICE_STATUS control_status{};
  ASSERT_TRUE(ControlService(svc.handle(), SERVICE_CONTROL_STOP, &control_status))
      << GetLastError();
  const SERVICE_STATUS_PROCESS stopped = WaitForState(svc.handle(), SERVICE_STOPPED, "STOPPED");
  EXPECT_EQ(stopped.dwWin32ExitCode, static_cast<DWORD>(NO_ERROR));
  EXPECT_EQ(stopped.dwServiceSpecificExitCode, 0u);
  EXPECT_EQ(ReadWhole(dir.marker()), "running\nstopped SERVICE_CONTROL_STOP\n");
}

// The hidden stop-request window (kStopWindowClass) of process `pid`.
HWND StopWindowOf(DWORD pid) {
  HWND found = nullptr;
  const std::wstring cls(kStopWindowClass, kStopWindowClass + sizeof(kStopWindowClass) - 1);
  HWND w = nullptr;
  while ((w = FindWindowExW(nullptr, w, cls.c_str(), nullptr)) != nullptr) {
    DWORD owner = 0;
    GetWindowThreadProcessId(w, &owner);
    if (owner == pid) found = w;
  }
  return found;
}

TEST(ServiceHostWindowsTest, NotStartedByTheScmItRunsInTheForeground) {
  TempFolder dir;
  std::wstring command = L"\"" + ServiceExePath() + L"\" \"" + dir.marker() + L"\" 9";
  STARTUPINFOW si{};
  si.cb = sizeof si;
  PROCESS_INFORMATION pi{};
  ASSERT_TRUE(CreateProcessW(nullptr, command.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr,
                             &si, &pi))
      << GetLastError();
  CloseHandle(pi.hThread);
  // StartServiceCtrlDispatcherW failed with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT
  // and the body runs anyway.
  EXPECT_TRUE(WaitFor([&] { return ReadWhole(dir.marker()) == "running\n"; }, seconds(20)))
      << ReadWhole(dir.marker());
  HWND window = nullptr;
  EXPECT_TRUE(
      WaitFor([&] { return (window = StopWindowOf(pi.dwProcessId)) != nullptr; }, seconds(10)));
  if (window != nullptr) {
    ASSERT_TRUE(PostMessageW(window, WM_CLOSE, 0, 0)) << GetLastError();
  } else {
    TerminateProcess(pi.hProcess, 99);
  }
  EXPECT_EQ(ProcessExitCode(pi.hProcess), 9);
  EXPECT_EQ(ReadWhole(dir.marker()), "running\nstopped WM_CLOSE\n");
  CloseHandle(pi.hProcess);
}

}  // namespace
}  // namespace reclaim::agent
