// ResolveWindow (agent/sources/window_identity.h) with injected windows and
// processes that Wine cannot produce: UWP apps hosted by
// ApplicationFrameHost.exe, elevated and protected processes. Built and run on
// Linux and, built with mingw-w64, under Wine.
#include "agent/sources/window_identity.h"

#include <map>
#include <vector>

#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

using Outcome = ResolvedWindow::Outcome;

struct FakeWindow {
  std::uint32_t pid = 0;
  std::string cls;
  std::string title;
  std::vector<WindowHandle> children;
};

struct FakeProcess {
  std::string path;
  std::string package;
  // Elevated: a standard user's process may open it only with
  // PROCESS_QUERY_LIMITED_INFORMATION. Protected: not even that.
  bool elevated = false;
  bool protected_process = false;
};

class FakeWindowSystem : public WindowSystem {
 public:
  std::map<WindowHandle, FakeWindow> windows;
  std::map<std::uint32_t, FakeProcess> processes;
  std::map<std::string, ProductVersion> versions;
  mutable std::vector<ProcessAccess> opened;

  std::uint32_t WindowProcessId(WindowHandle w) const override {
    auto it = windows.find(w);
    return it == windows.end() ? 0 : it->second.pid;
  }
  std::string WindowClass(WindowHandle w) const override {
    auto it = windows.find(w);
    return it == windows.end() ? "" : it->second.cls;
  }
  std::string WindowTitle(WindowHandle w) const override {
    auto it = windows.find(w);
    return it == windows.end() ? "" : it->second.title;
  }
  std::vector<WindowHandle> ChildWindows(WindowHandle w) const override {
    auto it = windows.find(w);
    return it == windows.end() ? std::vector<WindowHandle>{} : it->second.children;
  }
  std::optional<std::string> ProcessImagePath(std::uint32_t pid, ProcessAccess access) const override {
    opened.push_back(access);
    auto it = processes.find(pid);
    if (it == processes.end() || it->second.protected_process) return std::nullopt;
    if (it->second.elevated && access != ProcessAccess::kQueryLimitedInformation) return std::nullopt;
    return it->second.path;
  }
  std::string PackageFamilyName(std::uint32_t pid) const override {
    auto it = processes.find(pid);
    return it == processes.end() ? "" : it->second.package;
  }
  ProductVersion ReadProductVersion(const std::string& path) const override {
    auto it = versions.find(path);
    return it == versions.end() ? ProductVersion{} : it->second;
  }
};

constexpr char kFrameHost[] = R"(C:\Windows\System32\ApplicationFrameHost.exe)";
constexpr char kCalculator[] =
    R"(C:\Program Files\WindowsApps\Microsoft.WindowsCalculator_11.2210.0.0_x64__8wekyb3d8bbwe\CalculatorApp.exe)";

class WindowIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_.processes[10] = {R"(C:\Windows\System32\notepad.exe)", "", false, false};
    ws_.windows[0x100] = {10, "Notepad", "notes.txt - Notepad", {}};
    ws_.versions[R"(C:\Windows\System32\notepad.exe)"] = {"Microsoft® Windows® Operating System",
                                                          "10.0.19041.1"};
    // A UWP app: the frame belongs to ApplicationFrameHost (pid 20), its
    // title bar child to the host too, the CoreWindow child to the app (pid 30).
    ws_.processes[20] = {kFrameHost, "", false, false};
    ws_.processes[30] = {kCalculator, "Microsoft.WindowsCalculator_8wekyb3d8bbwe", false, false};
    ws_.versions[kCalculator] = {"Microsoft Calculator", "11.2210.0.0"};
    ws_.windows[0x200] = {20, "ApplicationFrameWindow", "Calculator", {0x201, 0x202}};
    ws_.windows[0x201] = {20, "ApplicationFrameTitleBarWindow", "", {}};
    ws_.windows[0x202] = {30, "Windows.UI.Core.CoreWindow", "Calculator", {}};
  }
  FakeWindowSystem ws_;
  WindowIdentityOptions options_;
};

TEST_F(WindowIdentityTest, NullForegroundIsNoFocus) {
  ResolvedWindow r = ResolveWindow(ws_, 0, options_);
  EXPECT_EQ(r.outcome, Outcome::kNoWindow);
  EXPECT_FALSE(r.app);
}

TEST_F(WindowIdentityTest, ClassicApplication) {
  ResolvedWindow r = ResolveWindow(ws_, 0x100, options_);
  ASSERT_EQ(r.outcome, Outcome::kApp);
  ASSERT_TRUE(r.app);
  EXPECT_EQ(r.pid, 10u);
  EXPECT_EQ(r.app->exe_path, R"(C:\Windows\System32\notepad.exe)");
  EXPECT_EQ(r.app->exe_name, "notepad.exe");
  EXPECT_EQ(r.app->window_class, "Notepad");
  EXPECT_EQ(r.app->product_name, "Microsoft® Windows® Operating System");
  EXPECT_EQ(r.app->product_version, "10.0.19041.1");
  EXPECT_EQ(r.app->package_id, "");
  EXPECT_EQ(r.app->window_title, "");  // titles only when enabled
  options_.read_window_titles = true;
  EXPECT_EQ(ResolveWindow(ws_, 0x100, options_).app->window_title, "notes.txt - Notepad");
}

TEST_F(WindowIdentityTest, UwpAppIsReportedInsteadOfApplicationFrameHost) {
  options_.read_window_titles = true;
  ResolvedWindow r = ResolveWindow(ws_, 0x200, options_);
  ASSERT_EQ(r.outcome, Outcome::kApp);
  ASSERT_TRUE(r.app);
  EXPECT_EQ(r.pid, 30u);
  EXPECT_EQ(r.app->exe_name, "CalculatorApp.exe");
  EXPECT_EQ(r.app->exe_path, kCalculator);
  EXPECT_EQ(r.app->package_id, "Microsoft.WindowsCalculator_8wekyb3d8bbwe");
  EXPECT_EQ(r.app->window_class, "Windows.UI.Core.CoreWindow");
  EXPECT_EQ(r.app->product_name, "Microsoft Calculator");
  EXPECT_EQ(r.app->window_title, "Calculator");  // the frame's caption
  EXPECT_NE(r.app->exe_name, "ApplicationFrameHost.exe");
}

TEST_F(WindowIdentityTest, FrameWithoutHostedAppYetIsNoFocusAndRetried) {
  ws_.windows[0x200].children = {0x201};  // the app's CoreWindow is not attached yet
  ResolvedWindow r = ResolveWindow(ws_, 0x200, options_);
  EXPECT_EQ(r.outcome, Outcome::kFrameWithoutApp);
  EXPECT_FALSE(r.app);
}

TEST_F(WindowIdentityTest, FrameHostNameIsCaseInsensitive) {
  ws_.processes[20].path = R"(c:\windows\system32\APPLICATIONFRAMEHOST.EXE)";
  ResolvedWindow r = ResolveWindow(ws_, 0x200, options_);
  ASSERT_TRUE(r.app);
  EXPECT_EQ(r.app->exe_name, "CalculatorApp.exe");
  EXPECT_TRUE(IsApplicationFrameHost("ApplicationFrameHost.exe"));
  EXPECT_FALSE(IsApplicationFrameHost("ApplicationFrameHost.exe.bak"));
}

TEST_F(WindowIdentityTest, ElevatedProcessIsReadWithLimitedAccess) {
  ws_.processes[40] = {R"(C:\Program Files\Admin Tool\admintool.exe)", "", true, false};
  ws_.windows[0x400] = {40, "AdminToolMain", "", {}};
  ResolvedWindow r = ResolveWindow(ws_, 0x400, options_);
  ASSERT_EQ(r.outcome, Outcome::kApp);
  EXPECT_EQ(r.app->exe_name, "admintool.exe");
  EXPECT_EQ(r.app->exe_path, R"(C:\Program Files\Admin Tool\admintool.exe)");
  for (ProcessAccess a : ws_.opened) EXPECT_EQ(a, ProcessAccess::kQueryLimitedInformation);
}

TEST_F(WindowIdentityTest, ProtectedProcessIsStillAnApplication) {
  ws_.processes[50] = {R"(C:\Windows\System32\secure.exe)", "", true, true};
  ws_.windows[0x500] = {50, "SecureClass", "", {}};
  ResolvedWindow r = ResolveWindow(ws_, 0x500, options_);
  ASSERT_EQ(r.outcome, Outcome::kApp);
  EXPECT_EQ(r.app->exe_name, "pid-denied");
  EXPECT_EQ(r.app->window_class, "SecureClass");
  EXPECT_EQ(r.app->exe_path, "");
}

TEST_F(WindowIdentityTest, VanishedWindowAndExcludedProcess) {
  EXPECT_EQ(ResolveWindow(ws_, 0x999, options_).outcome, Outcome::kGone);
  options_.excluded_pids = {10, 30};
  EXPECT_EQ(ResolveWindow(ws_, 0x100, options_).outcome, Outcome::kExcluded);
  // A hosted app of an excluded process is excluded too.
  EXPECT_EQ(ResolveWindow(ws_, 0x200, options_).outcome, Outcome::kExcluded);
}

TEST_F(WindowIdentityTest, InvalidUtf8IsSanitised) {
  ws_.processes[60] = {"C:\\bad\\\xff\xfe.exe", "", false, false};
  ws_.windows[0x600] = {60, "Bad\xc3", "", {}};
  ResolvedWindow r = ResolveWindow(ws_, 0x600, options_);
  ASSERT_TRUE(r.app);
  EXPECT_EQ(r.app->exe_name, "\xef\xbf\xbd\xef\xbf\xbd.exe");
  EXPECT_EQ(r.app->window_class, "Bad\xef\xbf\xbd");
}

TEST(PathBaseNameTest, BothSeparators) {
  EXPECT_EQ(PathBaseName(R"(C:\a\b.exe)"), "b.exe");
  EXPECT_EQ(PathBaseName("/usr/bin/x"), "x");
  EXPECT_EQ(PathBaseName("plain"), "plain");
}

}  // namespace
}  // namespace reclaim::agent
