// Web-application focus time end to end on a real X server: Xvfb + openbox,
// a real headful browser (Debian's Chromium, or Firefox ESR) with the Reclaim
// extension (agent/browser/extension) loaded unpacked, reclaim-native-host
// registered by deploy/browser/install-native-host.sh, the real reclaim-agent
// and reclaim-collector. Pages are served on loopback under distinct host
// names (Chromium: --host-resolver-rules; Firefox: network.dns.localDomains).
//
// A scripted user (xdotool, real XTEST input) follows a schedule of tab
// switches, navigation to another site, a tab that shows no site (new tab
// page), switches between the browser and an xterm, and an idle period; the
// collector's report per site (web:<host>) and per application (xterm, the
// browser when the site is unknown) must match the schedule within 1 s per
// minute of schedule (at least 1 s).
//
// Expected focus time is measured, not assumed: each segment starts when the
// switch was confirmed on screen (_NET_ACTIVE_WINDOW names the window, or the
// browser window's title shows the page).
//
// Parallel-safe: its own display, port 0 everywhere, a temp dir for profiles,
// sockets and logs.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/e2e_x11/child_process.h"
#include "tests/e2e_x11/focus_schedule.h"
#include "tests/e2e_x11/x11_desktop.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kIdleThresholdS = 3;

enum class Browser { kChromium, kFirefox };

std::string Title(const std::string& host) { return "E2E " + host; }

class BrowserE2eTest : public ::testing::TestWithParam<Browser> {
 protected:
  std::string File(const std::string& name) const { return dir_.File(name); }

  void Switch(const std::string& app) { schedule_.Switch(app); }
  // Keeps the user active (XTEST input every 700 ms) for `d`.
  void Busy(milliseconds d) { ASSERT_TRUE(desktop_.KeepActive(d)); }
  void Xdotool(const std::vector<std::string>& args) {
    RunResult r = desktop_.Run(FindProgram("xdotool"), args);
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  std::string WindowName(std::uint32_t w) {
    RunResult r = desktop_.Run(FindProgram("xdotool"), {"getwindowname", std::to_string(w)});
    return r.out;
  }
  // Waits until the browser window's title satisfies `pred` (what the user sees).
  bool WaitForTitle(std::uint32_t w, const std::function<bool(const std::string&)>& pred) {
    return WaitFor([&] { return pred(WindowName(w)); }, seconds(15), milliseconds(20));
  }
  bool WaitForSite(std::uint32_t w, const std::string& host) {
    return WaitForTitle(w, [&](const std::string& t) {
      return t.find(Title(host)) != std::string::npos;
    });
  }
  // The pid of the native host that connected last (agent log:
  // "browser extension host PID connected"); 0 when none did.
  int LastHostPid() {
    const std::string log = ReadFile(File("agent.log"));
    const std::string needle = "browser extension host ";
    int pid = 0;
    for (size_t p = log.find(needle); p != std::string::npos; p = log.find(needle, p + 1)) {
      int v = 0;
      char word[16] = {};
      if (std::sscanf(log.c_str() + p + needle.size(), "%d %15s", &v, word) == 2 &&
          std::string(word) == "connected") {
        pid = v;
      }
    }
    return pid;
  }
  int LogCount(const std::string& file, const std::string& needle) {
    return CountInFile(File(file), needle);
  }
  std::uint32_t WindowWithName(const Child& c, const std::string& name) {
    return desktop_.WaitForWindowOf(c.pid(), name, seconds(60));
  }
  std::uint32_t WindowOf(const Child& c) { return desktop_.WaitForWindowOf(c.pid()); }

  // Starts the browser with the extension and tabs `urls`; returns its
  // executable (for its identity).
  Child StartBrowser(const std::vector<std::string>& urls, std::string* exe) {
    const std::string host = RECLAIM_NATIVE_HOST_BIN;
    const std::string install = std::string(RECLAIM_SOURCE_DIR) +
                                "/deploy/browser/install-native-host.sh";
    const std::string extension = std::string(RECLAIM_SOURCE_DIR) + "/agent/browser/extension";
    std::vector<std::string> args;
    if (GetParam() == Browser::kChromium) {
      // The binary itself: Debian's /usr/bin/chromium wrapper adds flags
      // (an empty --load-extension among them).
      *exe = "/usr/lib/chromium/chromium";
      const std::string profile = File("chromium-profile");
      // With --user-data-dir, Chromium reads host manifests from
      // <user-data-dir>/NativeMessagingHosts.
      RunResult r = RunToCompletion(
          install, {"--host-binary", host, "--chromium-dir", profile + "/NativeMessagingHosts"},
          File("install.log"));
      EXPECT_EQ(r.exit_code, 0) << r.out;
      args = {"--no-sandbox", "--user-data-dir=" + profile, "--no-first-run",
              "--no-default-browser-check", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--password-store=basic",
              "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
              "--window-size=1000,700", "--window-position=0,0",
              "--load-extension=" + extension,
              "--host-resolver-rules=MAP *.example.test 127.0.0.1"};
    } else {
      *exe = std::filesystem::canonical(FindProgram("firefox-esr")).string();
      // Firefox reads per-user host manifests from ~/.mozilla: a HOME of our own.
      const std::string home = File("firefox-home");
      const std::string profile = File("firefox-profile");
      std::filesystem::create_directories(profile + "/extensions");
      // An extension proxy file: the unpacked extension's directory.
      std::ofstream(profile + "/extensions/webfocus@reclaim.project") << extension;
      std::ofstream prefs(profile + "/user.js");
      for (const char* pref : {
               R"(user_pref("xpinstall.signatures.required", false);)",
               R"(user_pref("extensions.autoDisableScopes", 0);)",
               R"(user_pref("extensions.enabledScopes", 15);)",
               R"(user_pref("network.dns.localDomains", "a.example.test,b.example.test,c.example.test");)",
               R"(user_pref("dom.security.https_first", false);)",
               R"(user_pref("dom.security.https_first_schemeless", false);)",
               R"(user_pref("browser.shell.checkDefaultBrowser", false);)",
               R"(user_pref("datareporting.policy.dataSubmissionEnabled", false);)",
               R"(user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);)",
               R"(user_pref("browser.startup.homepage_override.mstone", "ignore");)",
               R"(user_pref("browser.aboutwelcome.enabled", false);)",
               R"(user_pref("app.update.disabledForTesting", true);)",
               R"(user_pref("browser.tabs.warnOnClose", false);)",
               R"(user_pref("browser.newtabpage.enabled", false);)"}) {
        prefs << pref << "\n";
      }
      prefs.close();
      const std::string old_home = getenv("HOME") ? getenv("HOME") : "";
      setenv("HOME", home.c_str(), 1);
      RunResult r = RunToCompletion(
          install, {"--user", "--host-binary", host}, File("install.log"));
      EXPECT_EQ(r.exit_code, 0) << r.out;
      args = {"--profile", profile, "--no-remote", "--new-instance", "-width", "1000",
              "-height", "700"};
      for (const std::string& u : urls) args.push_back(u);
      Child c = desktop_.StartApp(*exe, args, "firefox");
      setenv("HOME", old_home.c_str(), 1);
      return c;
    }
    for (const std::string& u : urls) args.push_back(u);
    return desktop_.StartApp(*exe, args, "chromium");
  }

  testing::TempDir dir_;
  X11Desktop desktop_{dir_.path().string()};
  FocusSchedule schedule_;
};

TEST_P(BrowserE2eTest, ReportPerSiteMatchesTheSchedule) {
  for (const char* tool : {"xterm", "xdotool"}) {
    ASSERT_FALSE(FindProgram(tool).empty()) << tool << " is missing: run deploy/install-deps.sh";
  }
  if (GetParam() == Browser::kChromium) {
    ASSERT_TRUE(std::filesystem::exists("/usr/lib/chromium/chromium"))
        << "chromium is missing: run deploy/install-deps.sh";
  } else {
    ASSERT_FALSE(FindProgram("firefox-esr").empty())
        << "firefox-esr is missing: run deploy/install-deps.sh";
  }
  ASSERT_TRUE(desktop_.StartServer());
  ASSERT_TRUE(desktop_.StartWm());

  // Web sites on loopback: one server, the page names the host it was asked for.
  httplib::Server web;
  web.Get(".*", [](const httplib::Request& req, httplib::Response& res) {
    std::string host = req.get_header_value("Host");
    host = host.substr(0, host.find(':'));
    res.set_content("<!doctype html><title>" + Title(host) + "</title><p>" + host,
                    "text/html");
  });
  const int web_port = web.bind_to_any_port("127.0.0.1");
  ASSERT_GT(web_port, 0);
  std::thread web_thread([&web] { web.listen_after_bind(); });
  struct Joiner {
    httplib::Server& s;
    std::thread& t;
    ~Joiner() {
      s.stop();
      t.join();
    }
  } joiner{web, web_thread};
  auto url = [&](const std::string& h) {
    return "http://" + h + ":" + std::to_string(web_port) + "/";
  };

  TestCollector collector;
  ASSERT_TRUE(StartTestCollector(RECLAIM_COLLECTOR_BIN, dir_.path().string(), &collector));

  // The browser (its native host finds the agent through this socket) and an xterm.
  const std::string socket = File("run/browser.sock");
  setenv("RECLAIM_BROWSER_SOCKET", socket.c_str(), 1);
  const std::string xterm = FindProgram("xterm");
  Child term = desktop_.StartApp(xterm, {}, "xterm");
  const std::uint32_t wt = WindowOf(term);
  ASSERT_NE(wt, 0u);
  std::string browser_exe;
  Child browser = StartBrowser({url("a.example.test"), url("b.example.test")}, &browser_exe);
  ASSERT_TRUE(browser.started()) << browser.error();
  // The window showing the first tab (site A).
  const std::uint32_t wb = WindowWithName(browser, Title("a.example.test"));
  ASSERT_NE(wb, 0u) << ReadFile(File(GetParam() == Browser::kChromium ? "chromium.log"
                                                                       : "firefox.log"));

  // The agent starts with the xterm in front (the browser's start-up is not
  // part of the schedule).
  ASSERT_TRUE(desktop_.Activate(wt));
  Child agent = Child::Spawn(
      RECLAIM_AGENT_BIN,
      {"--collector", "127.0.0.1:" + std::to_string(collector.agent_port), "--spool", File("spool.db"),
       "--device-id", "e2e-browser", "--user-login", "e2e", "--idle-threshold",
       std::to_string(kIdleThresholdS), "--heartbeat", "5", "--display", desktop_.display(),
       "--logind-bus", "none", "--browser-socket", socket, "--backoff-initial-ms", "100",
       "--backoff-max-ms", "1000", "--drain-timeout", "30", "--log-file", File("agent.log"),
       "--insecure-plaintext"},
      File("agent.out"));
  ASSERT_TRUE(agent.started()) << agent.error();
  ASSERT_TRUE(WaitFor([&] {
    return LogCount("agent.log", "watching _NET_ACTIVE_WINDOW") == 1 &&
           LogCount("agent.log", "watching IDLETIME") == 1;
  }, seconds(20))) << ReadFile(File("agent.log"));
  // The user may have been idle while the browser started: input now.
  ASSERT_TRUE(desktop_.Input());
  const auto test_start = Clock::now();
  const std::string key_term = "exe:" + xterm + " [XTerm]";
  Switch(key_term);
  // The extension's host (started by the browser, retrying) reaches the agent.
  ASSERT_TRUE(WaitFor([&] { return LogCount("agent.log", "browser extension host") >= 1; },
                      seconds(20)))
      << ReadFile(File("agent.log"));
  // No browser event for 32 s, longer than the idle timeout after which
  // Chromium stops an extension service worker and Firefox an event page
  // (30 s): the open native port keeps the extension alive, so the site is
  // known at once when the browser comes to the front, over the same
  // connection (checked at the end).
  Busy(seconds(32));

  // 1. The browser in front, on site A; a tab switch to site B (ctrl+PageDown; Firefox on Linux binds Alt+N, not Ctrl+N).
  ASSERT_TRUE(desktop_.Activate(wb));
  Switch("web:a.example.test");
  Busy(seconds(5));
  Xdotool({"key", "ctrl+Next"});
  ASSERT_TRUE(WaitForSite(wb, "b.example.test")) << WindowName(wb);
  Switch("web:b.example.test");
  Busy(seconds(5));
  // 2. Back and forth between the xterm and the browser (still on B). While
  // the xterm is in front, the native host dies: the extension reconnects
  // (one new connection, not two) and the agent knows the site again.
  ASSERT_TRUE(desktop_.Activate(wt));
  Switch(key_term);
  Busy(seconds(1));
  const int host_pid = LastHostPid();
  ASSERT_GT(host_pid, 0) << ReadFile(File("agent.log"));
  ASSERT_EQ(kill(host_pid, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] {
    return desktop_.Input() && LogCount("agent.log", "connected (browser process") == 2;
  }, seconds(15), milliseconds(500))) << ReadFile(File("agent.log"));
  Busy(seconds(3));
  EXPECT_EQ(LogCount("agent.log", "connected (browser process"), 2) << ReadFile(File("agent.log"));
  EXPECT_NE(LastHostPid(), host_pid);
  ASSERT_TRUE(desktop_.Activate(wb));
  Switch("web:b.example.test");
  Busy(seconds(4));
  // 3. Back to A (ctrl+PageUp), then idle on A: input for 3 s, then none for 3 s +
  // 4 s; idle starts at the last input.
  Xdotool({"key", "ctrl+Prior"});
  ASSERT_TRUE(WaitForSite(wb, "a.example.test")) << WindowName(wb);
  Switch("web:a.example.test");
  Busy(seconds(3));
  ASSERT_TRUE(desktop_.Input());
  Switch("");  // the last input
  WaitFor([] { return false; }, seconds(kIdleThresholdS + 4));
  ASSERT_TRUE(desktop_.Input());
  Switch("web:a.example.test");
  Busy(seconds(3));
  // 4. A new tab shows no web site: the browser itself.
  Xdotool({"key", "ctrl+t"});
  ASSERT_TRUE(WaitForTitle(wb, [](const std::string& t) {
    return !t.empty() && t.find("E2E ") == std::string::npos;
  })) << WindowName(wb);
  const std::string key_browser_prefix = "exe:" + browser_exe + " [";
  Switch("browser");
  Busy(seconds(4));
  // 5. Navigating that tab to site C (typed into the address bar).
  auto navigate = [&](std::uint32_t w, const std::string& host) {
    Xdotool({"key", "ctrl+l"});
    WaitFor([] { return false; }, milliseconds(300));
    Xdotool({"type", "--delay", "15", url(host)});
    Xdotool({"key", "Return"});
    return WaitForSite(w, host);
  };
  ASSERT_TRUE(navigate(wb, "c.example.test")) << WindowName(wb);
  Switch("web:c.example.test");
  Busy(seconds(5));
  // 6. A second browser window (ctrl+n): another X11 window of the same
  // browser process, so the extension's last focused window decides. It
  // shows no site, then site B; then the first window (site C) again.
  // The segment starts when the window manager activated the new window
  // (Chromium's extension may name it up to ~0.4 s earlier; Firefox's about
  // as much later).
  Xdotool({"key", "ctrl+n"});
  std::uint32_t w2 = 0;
  ASSERT_TRUE(WaitFor([&] {
    w2 = desktop_.ActiveWindow();
    return w2 != 0 && w2 != wb && w2 != wt;
  }, seconds(15), milliseconds(20)));
  Switch("browser");
  ASSERT_TRUE(WaitForTitle(w2, [](const std::string& t) { return !t.empty(); }));
  Busy(seconds(3));
  ASSERT_TRUE(navigate(w2, "b.example.test")) << WindowName(w2);
  Switch("web:b.example.test");
  Busy(seconds(4));
  ASSERT_TRUE(desktop_.Activate(wb));
  Switch("web:c.example.test");
  Busy(seconds(4));
  // 7. The xterm again, then the end.
  ASSERT_TRUE(desktop_.Activate(wt));
  Switch(key_term);
  Busy(seconds(3));
  Switch("");
  const auto schedule_end = Clock::now();

  ASSERT_TRUE(agent.Signal(SIGTERM));
  ASSERT_TRUE(agent.Wait(seconds(40))) << ReadFile(File("agent.log"));
  EXPECT_EQ(agent.exit_code(), 0) << ReadFile(File("agent.log"));

  std::map<std::string, std::int64_t> actual;
  ASSERT_TRUE(ReadUsage(RECLAIMCTL_BIN, collector, File("usage.json"), &actual,
                        [&](const std::string& app) {
                          return app.rfind(key_browser_prefix, 0) == 0 ? "browser" : app;
                        }));
  const std::map<std::string, std::int64_t>& expected = schedule_.expected();
  const std::int64_t schedule_ms = ToMs(schedule_end - test_start);
  const std::int64_t tolerance = Tolerance(schedule_ms);
  const std::string report = ScheduleReport(schedule_ms, expected, actual);
  std::cout << report;

  for (const std::string& k : {std::string("web:a.example.test"), std::string("web:b.example.test"),
                               std::string("web:c.example.test"), std::string("browser"),
                               key_term}) {
    ASSERT_EQ(expected.count(k), 1u) << k;
    EXPECT_GT(expected.at(k), 0) << k;
    EXPECT_NEAR(actual[k], expected.at(k), tolerance) << k << "\n" << report;
  }
  // Nothing else was metered (idle time, another identity).
  for (const auto& [k, v] : actual) {
    EXPECT_TRUE(expected.count(k) == 1 && !k.empty()) << k << ": " << v;
  }
  // One connection at a time, for the whole run: the first one and the one
  // after the host was killed (an idle background page or service worker
  // that was stopped and restarted would show more).
  EXPECT_EQ(LogCount("agent.log", "connected (browser process"), 2) << ReadFile(File("agent.log"));
  // Every message the host forwarded was valid.
  EXPECT_EQ(LogCount("agent.log", "closing the connection"), 0) << ReadFile(File("agent.log"));
}

INSTANTIATE_TEST_SUITE_P(Browsers, BrowserE2eTest,
                         ::testing::Values(Browser::kChromium, Browser::kFirefox),
                         [](const ::testing::TestParamInfo<Browser>& info) {
                           return info.param == Browser::kChromium ? "Chromium" : "Firefox";
                         });

}  // namespace
}  // namespace reclaim::e2e
