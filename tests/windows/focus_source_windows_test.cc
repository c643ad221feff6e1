// The Windows focus source under Wine (in its own Xvfb): Wine's notepad and a
// second application (reclaim_test_window.exe, with a version resource) are
// switched to the foreground in turn; the source reports the right executable
// for each switch, event driven. A window of the agent's own process is "no
// focus".
#include <algorithm>
#include <cwctype>
#include <string>

#include "agent/sources/focus_source.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "tests/windows/wine_test_util.h"

namespace reclaim::agent::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct Child {
  PROCESS_INFORMATION pi{};
  HWND window = nullptr;
  ~Child() {
    if (pi.hProcess != nullptr) {
      TerminateProcess(pi.hProcess, 0);
      WaitForSingleObject(pi.hProcess, 5000);
      CloseHandle(pi.hProcess);
      CloseHandle(pi.hThread);
    }
  }
};

bool Launch(std::wstring command_line, const wchar_t* window_class, Child* child) {
  STARTUPINFOW si{};
  si.cb = sizeof si;
  if (!CreateProcessW(nullptr, command_line.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr,
                      &si, &child->pi)) {
    return false;
  }
  child->window = WaitForProcessWindow(child->pi.dwProcessId, window_class, seconds(30));
  return child->window != nullptr;
}

std::wstring ExeDir() {
  wchar_t path[MAX_PATH];
  const DWORD n = GetModuleFileNameW(nullptr, path, MAX_PATH);
  std::wstring dir(path, n);
  return dir.substr(0, dir.find_last_of(L"\\/") + 1);
}

bool UnderWine() {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

// Brings `w` to the foreground (as a user's click would) and waits until it is.
//
// Wine 8.0 raises no WinEvent at all when the foreground window changes
// (measured: an EVENT_MIN..EVENT_MAX hook sees nothing on SetForegroundWindow
// to another process; Windows raises EVENT_SYSTEM_FOREGROUND, and newer Wine
// does too, from win32u's set_active_window). Under Wine the test therefore
// raises EVENT_SYSTEM_FOREGROUND itself once the switch is done, as Windows
// would: Wine delivers it to the source's out-of-context hook, and the
// source, as always, reads the real foreground window and its process.
void Activate(HWND w) {
  ShowWindow(w, SW_SHOWNORMAL);
  SetForegroundWindow(w);
  for (int i = 0; i < 500 && GetForegroundWindow() != w; ++i) {
    MSG msg;
    while (PeekMessageW(&msg, nullptr, 0, 0, PM_REMOVE)) DispatchMessageW(&msg);
    Sleep(10);  // another process's activation: nothing to wait on
  }
  ASSERT_EQ(GetForegroundWindow(), w) << "the window did not come to the foreground";
  if (UnderWine()) NotifyWinEvent(EVENT_SYSTEM_FOREGROUND, w, OBJID_WINDOW, CHILDID_SELF);
}

class FocusSourceWindowsTest : public ::testing::Test {
 protected:
  // Waits for a kFocus event for the executable `exe_name` (lower case) at or
  // after `since`. Earlier events (the report of the foreground window that
  // Start() makes, a previous switch) are skipped: they are not this switch's.
  std::optional<MeterEvent> WaitForExe(const std::string& exe_name,
                                       MonoTime since = MonoTime::min()) {
    return events_.WaitFor(
        [&](const MeterEvent& e) {
          return e.kind == MeterEvent::Kind::kFocus && e.app && e.at >= since &&
                 Lower(e.app->exe_name) == exe_name;
        },
        seconds(10));
  }
  SystemClock clock_;
  EventQueue events_;
};

TEST_F(FocusSourceWindowsTest, ReportsTheRightExecutableForEachSwitch) {
  Child notepad, other;
  ASSERT_TRUE(Launch(L"notepad.exe", L"Notepad", &notepad)) << "notepad did not show a window";
  ASSERT_TRUE(Launch(L"\"" + ExeDir() + L"reclaim_test_window.exe\"", L"ReclaimTestWindow", &other))
      << "reclaim_test_window.exe did not show a window";

  FocusSourceOptions options;
  options.read_window_titles = true;
  std::unique_ptr<FocusSource> source = MakeFocusSource(options, clock_);
  source->Start([this](const MeterEvent& e) { events_.Push(e); });

  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    const MonoTime before = clock_.Monotonic();
    ASSERT_NO_FATAL_FAILURE(Activate(notepad.window));
    std::optional<MeterEvent> e = WaitForExe("notepad.exe", before);
    ASSERT_TRUE(e) << "no focus event for notepad.exe after it came to the foreground";
    EXPECT_NE(Lower(e->app->exe_path).find("notepad.exe"), std::string::npos) << e->app->exe_path;
    EXPECT_EQ(e->app->window_class, "Notepad");

    const MonoTime other_before = clock_.Monotonic();
    ASSERT_NO_FATAL_FAILURE(Activate(other.window));
    e = WaitForExe("reclaim_test_window.exe", other_before);
    ASSERT_TRUE(e) << "no focus event for reclaim_test_window.exe";
    EXPECT_EQ(e->app->window_class, "ReclaimTestWindow");
    EXPECT_EQ(e->app->window_title, "Reclaim test window");
    EXPECT_EQ(e->app->product_name, "Reclaim Test Window");  // from the version resource
    EXPECT_EQ(e->app->product_version, "1.2.3.4");
    EXPECT_NE(e->app->exe_path.find(":\\"), std::string::npos) << e->app->exe_path;
  }
  const FocusSourceStats stats = source->stats();
  EXPECT_EQ(stats.connects, 1u);
  EXPECT_GE(stats.focus_events, 4u);

  // Stop reports "no focus" for the window that had it.
  source->Stop();
  EXPECT_TRUE(events_.WaitFor(
      [](const MeterEvent& e) { return e.kind == MeterEvent::Kind::kFocus && !e.app; }, seconds(1)));
}

TEST_F(FocusSourceWindowsTest, OwnWindowIsNoFocus) {
  Child notepad;
  ASSERT_TRUE(Launch(L"notepad.exe", L"Notepad", &notepad));
  std::unique_ptr<FocusSource> source = MakeFocusSource(FocusSourceOptions{}, clock_);
  source->Start([this](const MeterEvent& e) { events_.Push(e); });
  ASSERT_NO_FATAL_FAILURE(Activate(notepad.window));
  ASSERT_TRUE(WaitForExe("notepad.exe"));

  // A window of this process (the agent's own prompt, say).
  HWND own = CreateWindowExW(0, L"STATIC", L"own", WS_OVERLAPPEDWINDOW | WS_VISIBLE, 50, 50, 200, 100,
                             nullptr, nullptr, GetModuleHandleW(nullptr), nullptr);
  ASSERT_NE(own, nullptr);
  // This thread owns the window: keep its messages flowing while waiting.
  ASSERT_NO_FATAL_FAILURE(Activate(own));
  std::optional<MeterEvent> none;
  for (int i = 0; i < 100 && !none; ++i) {
    MSG msg;
    while (PeekMessageW(&msg, nullptr, 0, 0, PM_REMOVE)) DispatchMessageW(&msg);
    none = events_.WaitFor(
        [](const MeterEvent& e) { return e.kind == MeterEvent::Kind::kFocus && !e.app; },
        milliseconds(50));
  }
  EXPECT_TRUE(none) << "own window was not reported as no focus";
  source->Stop();
  DestroyWindow(own);
}

}  // namespace
}  // namespace reclaim::agent::testing
