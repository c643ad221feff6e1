// agent/platform/process_platform_windows.cc under Wine (or Windows): the
// session user, MachineGuid, OS version, host name and thread names against
// what Win32 says directly; the stop requests (WM_ENDSESSION at logoff,
// WM_CLOSE, Ctrl+C) and a running metering loop stopped cleanly by one.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <atomic>
#include <future>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/metering_loop.h"
#include "agent/platform/process_platform.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Narrow(const std::wstring& w) {
  if (w.empty()) return {};
  const int n = WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr, 0,
                                    nullptr, nullptr);
  std::string s(static_cast<std::size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), s.data(), n, nullptr,
                      nullptr);
  return s;
}

// GoogleTest's MatchesRegex is its "simple" syntax on Windows: ECMAScript here.
bool Matches(const std::string& s, const char* re) { return std::regex_match(s, std::regex(re)); }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(ProcessPlatformWindowsTest, UserIsTheTokenUserWithSid) {
  const PlatformUser user = CurrentPlatformUser();
  wchar_t name[256] = {};
  DWORD len = 256;
  ASSERT_TRUE(GetUserNameW(name, &len));
  EXPECT_EQ(Lower(user.login_name), Lower(Narrow(name)));
  EXPECT_FALSE(user.domain.empty());
  EXPECT_TRUE(Matches(user.sid, "S-1-5(-[0-9]+)+")) << user.sid;
  EXPECT_FALSE(user.uid.has_value());
}

TEST(ProcessPlatformWindowsTest, DeviceIdIsTheMachineGuid) {
  EXPECT_EQ(DeviceIdSource(), "HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MachineGuid");
  wchar_t guid[128] = {};
  DWORD bytes = sizeof guid;
  ASSERT_EQ(RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Cryptography", L"MachineGuid",
                         RRF_RT_REG_SZ, nullptr, guid, &bytes),
            ERROR_SUCCESS);
  const std::string id = ReadDeviceId();
  EXPECT_EQ(id, Narrow(guid));
  // 8-4-4-4-12 hex digits, as Windows setup writes it.
  EXPECT_TRUE(Matches(id, "[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")) << id;
}

TEST(ProcessPlatformWindowsTest, OsVersionNamesWindowsAndTheBuild) {
  const std::string v = OsVersion();
  EXPECT_THAT(v, HasSubstr("Windows"));
  EXPECT_TRUE(Matches(v, ".* \\([0-9]+\\.[0-9]+ build [0-9]+(\\.[0-9]+)?\\)")) << v;
}

TEST(ProcessPlatformWindowsTest, HostNameIsTheComputerName) {
  wchar_t host[MAX_COMPUTERNAME_LENGTH + 1] = {};
  DWORD len = MAX_COMPUTERNAME_LENGTH + 1;
  ASSERT_TRUE(GetComputerNameW(host, &len));
  EXPECT_THAT(Lower(HostName()), StartsWith(Lower(Narrow(host))));
}

TEST(ProcessPlatformWindowsTest, StateDirectoryIsInLocalAppData) {
  const char* local = std::getenv("LOCALAPPDATA");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(Lower(DefaultStateDirectory()), Lower(std::string(local) + "\\Reclaim"));
}

TEST(ProcessPlatformWindowsTest, MachineStateIsInProgramData) {
  const char* program_data = std::getenv("ProgramData");
  ASSERT_NE(program_data, nullptr);
  EXPECT_EQ(Lower(DefaultMachineStateDirectory()), Lower(std::string(program_data) + "\\Reclaim"));
  EXPECT_EQ(Lower(DefaultMachineServiceConfigFile()),
            Lower(std::string(program_data) + "\\Reclaim\\agent-service.toml"));
}

TEST(ProcessPlatformWindowsTest, ThreadNameIsTheThreadDescription) {
  using GetFn = HRESULT(WINAPI*)(HANDLE, PWSTR*);
  auto get = reinterpret_cast<GetFn>(reinterpret_cast<void*>(
      GetProcAddress(GetModuleHandleW(L"kernel32.dll"), "GetThreadDescription")));
  ASSERT_NE(get, nullptr) << "GetThreadDescription missing (Windows 10 1607+, Wine 5+)";
  std::async(std::launch::async, [get] {
    SetCurrentThreadName("meter");
    PWSTR desc = nullptr;
    ASSERT_TRUE(SUCCEEDED(get(GetCurrentThread(), &desc)));
    EXPECT_EQ(Narrow(desc), "meter");
    LocalFree(desc);
  }).get();
}

HWND StopWindow() {
  const std::wstring cls(kStopWindowClass, kStopWindowClass + sizeof(kStopWindowClass) - 1);
  return FindWindowW(cls.c_str(), nullptr);
}

// The stored intervals of a loop (its thread writes).
struct Stored {
  std::mutex mu;
  std::vector<FocusInterval> intervals;
  BatchStore store() {
    return [this](const std::vector<FocusInterval>& b) -> std::string {
      std::lock_guard<std::mutex> l(mu);
      intervals.insert(intervals.end(), b.begin(), b.end());
      return {};
    };
  }
  std::int64_t TotalMs() {
    std::lock_guard<std::mutex> l(mu);
    std::int64_t t = 0;
    for (const FocusInterval& i : intervals) t += i.active_duration_ms;
    return t;
  }
};

// Logoff: WM_QUERYENDSESSION is allowed, WM_ENDSESSION is the stop request,
// and the message does not return (Windows would end the process) until the
// agent has stopped its metering loop and closed the watcher.
TEST(ProcessPlatformWindowsTest, LogoffStopsARunningMeteringLoopCleanly) {
  ManualClock clock(MonoTime(1'000'000), 1'800'000'000'000);
  Stored stored;
  MeteringLoopOptions o;
  o.tick = std::chrono::milliseconds(5);
  MeteringLoop loop(
      o, stored.store(), clock, [&clock] { return clock.Monotonic(); }, nullptr);
  loop.Start();
  AppIdentity app;
  app.exe_path = "C:\\Windows\\notepad.exe";
  app.exe_name = "notepad.exe";
  loop.sink()({.kind = MeterEvent::Kind::kFocus, .at = clock.Monotonic(), .app = app});
  clock.Advance(std::chrono::seconds(42));

  std::promise<std::string> request;
  auto watcher = WatchStopRequests([&request](const std::string& r) { request.set_value(r); });
  HWND hwnd = StopWindow();
  ASSERT_NE(hwnd, nullptr);
  EXPECT_TRUE(IsWindow(hwnd));
  EXPECT_FALSE(IsWindowVisible(hwnd));

  std::atomic<bool> session_ended{false};
  std::atomic<LRESULT> query_answer{0};
  std::thread session([&] {  // what Windows does at logoff
    query_answer = SendMessageW(hwnd, WM_QUERYENDSESSION, 0, ENDSESSION_LOGOFF);
    SendMessageW(hwnd, WM_ENDSESSION, TRUE, ENDSESSION_LOGOFF);
    session_ended = true;
  });
  std::future<std::string> got = request.get_future();
  ASSERT_EQ(got.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_THAT(got.get(), HasSubstr("logoff"));
  EXPECT_EQ(query_answer.load(), TRUE);  // never vetoes
  EXPECT_FALSE(session_ended.load());    // waits for the clean stop
  loop.Stop();
  EXPECT_EQ(stored.TotalMs(), 42000);
  watcher->Close();
  session.join();
  EXPECT_TRUE(session_ended.load());
  EXPECT_EQ(StopWindow(), nullptr);  // the window is gone with the watcher
}

// taskkill without /F posts WM_CLOSE. Console control events (Ctrl+C,
// Ctrl+Break, console closed) are not tested: Wine 8 cannot raise them here
// (GenerateConsoleCtrlEvent fails with ERROR_INVALID_ACCESS, and with
// ERROR_INVALID_HANDLE after AllocConsole).
TEST(ProcessPlatformWindowsTest, WmCloseIsAStopRequestReportedOnce) {
  std::atomic<int> calls{0};
  std::promise<std::string> request;
  auto watcher = WatchStopRequests([&](const std::string& r) {
    if (++calls == 1) request.set_value(r);
  });
  HWND hwnd = StopWindow();
  ASSERT_NE(hwnd, nullptr);
  ASSERT_TRUE(PostMessageW(hwnd, WM_CLOSE, 0, 0));
  std::future<std::string> got = request.get_future();
  ASSERT_EQ(got.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(got.get(), "WM_CLOSE");
  EXPECT_TRUE(IsWindow(hwnd));         // Close() destroys it, not WM_CLOSE
  SendMessageW(hwnd, WM_CLOSE, 0, 0);  // a second request: already stopping
  watcher->Close();
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace reclaim::agent
