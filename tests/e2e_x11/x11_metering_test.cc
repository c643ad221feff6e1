// End to end on a real X server: Xvfb + openbox + real applications, the real
// reclaim-agent (X11 focus and idle sources, logind through a fake login1 on a
// dbus-daemon we start) and a real reclaim-collector; a scripted user
// (xdotool) follows a schedule, and `reclaimctl usage --output json` must
// match it per application within 1 s per minute of schedule.
//
// The schedule covers: two executables sharing one window class (xterm and a
// copy of it), a window without _NET_WM_PID (xmessage), focus on the root
// window (no active window), idle that starts at the last input (threshold
// 3 s), a screen lock (logind Lock/LockedHint), a burst of 50 windows created
// and destroyed per second for 30 s, and the X server killed and restarted on
// the same display mid-session.
//
// Expected focus time is measured, not assumed: each segment runs from the
// moment _NET_ACTIVE_WINDOW confirmed the switch to the next confirmed switch
// (or the lock, the last input before idle, the X server's death).
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/e2e_x11/child_process.h"
#include "tests/e2e_x11/fake_logind.h"
#include "tests/e2e_x11/focus_schedule.h"
#include "tests/e2e_x11/x11_desktop.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kIdleThresholdS = 3;

class X11MeteringTest : public ::testing::Test {
 protected:
  std::string File(const std::string& name) const { return dir_.File(name); }

  // The scripted user: credits the current app up to now, then `app` from now.
  void Switch(const std::string& app) { schedule_.Switch(app); }
  // Keeps the user active (XTEST input every 700 ms) for `d`.
  void Busy(milliseconds d) { ASSERT_TRUE(desktop_.KeepActive(d)); }
  void Hold(std::uint32_t w, const std::string& app, milliseconds d) {
    ASSERT_TRUE(desktop_.Activate(w)) << app;
    Switch(app);
    Busy(d);
  }
  int AgentLogCount(const std::string& needle) { return CountInFile(File("agent.log"), needle); }
  std::uint32_t WindowOf(const Child& c) { return desktop_.WaitForWindowOf(c.pid()); }

  testing::TempDir dir_;
  X11Desktop desktop_{dir_.path().string()};
  FocusSchedule schedule_;
};

TEST_F(X11MeteringTest, ReportMatchesTheSchedule) {
  const auto test_start = Clock::now();
  for (const char* tool : {"xterm", "xmessage", "xdotool", "xprop", "dbus-daemon"}) {
    ASSERT_FALSE(FindProgram(tool).empty()) << tool << " is missing: run deploy/install-deps.sh";
  }
  // The test kills and restarts the X server on the same display (step 6):
  // take one that parallel tests' `Xvfb -displayfd` will not hand out.
  const int display = X11Desktop::PickRestartableDisplay();
  ASSERT_GE(display, 0) << "no free X display in 600-999";
  ASSERT_TRUE(desktop_.StartServer(display));
  ASSERT_TRUE(desktop_.StartWm());

  // logind: a fake login1 on a bus of our own.
  Child bus = Child::Spawn(FindProgram("dbus-daemon"),
                           {"--session", "--nofork", "--nopidfile",
                            "--address=unix:path=" + File("bus"), "--print-address=1"},
                           File("bus.address"), File("bus.log"));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(File("bus.address")).find('\n') != std::string::npos; },
                      seconds(10)));
  std::string bus_address = ReadFile(File("bus.address"));
  bus_address = bus_address.substr(0, bus_address.find('\n'));
  FakeLogind logind(bus_address);
  ASSERT_TRUE(logind.ok()) << logind.error();

  TestCollector collector;
  ASSERT_TRUE(StartTestCollector(RECLAIM_COLLECTOR_BIN, dir_.path().string(), &collector));
  const int agent_port = collector.agent_port;

  // Applications: xterm, a copy of the xterm executable (same WM_CLASS
  // "XTerm", another executable), xmessage (no _NET_WM_PID).
  const std::string xterm = FindProgram("xterm");
  const std::string xterm_b = File("xterm-b");
  std::filesystem::copy_file(xterm, xterm_b);
  chmod(xterm_b.c_str(), 0755);
  Child a = desktop_.StartApp(xterm, {}, "xterm-a");
  Child b = desktop_.StartApp(xterm_b, {}, "xterm-b");
  Child m = desktop_.StartApp(FindProgram("xmessage"), {"-name", "note", "Reclaim e2e"}, "xmessage");
  const std::uint32_t wa = WindowOf(a), wb = WindowOf(b);
  ASSERT_NE(wa, 0u);
  ASSERT_NE(wb, 0u);
  const auto wm = desktop_.WaitForWindow("Xmessage", seconds(10));
  ASSERT_TRUE(wm);
  ASSERT_TRUE(desktop_.FocusRoot());

  const std::string key_a = "exe:" + xterm + " [XTerm]";
  const std::string key_b = "exe:" + xterm_b + " [XTerm]";
  const std::string key_m = "exe:" + FindProgram("xmessage") + " [Xmessage]";
  const std::string key_burst = "exe:" + std::string(RECLAIM_X11_BURST_BIN) + " [Burst]";

  Child agent = Child::Spawn(
      RECLAIM_AGENT_BIN,
      {"--collector", "127.0.0.1:" + std::to_string(agent_port), "--spool", File("spool.db"),
       "--device-id", "e2e-x11", "--user-login", "e2e", "--idle-threshold",
       std::to_string(kIdleThresholdS), "--heartbeat", "5", "--display", desktop_.display(),
       "--logind-bus", bus_address, "--session-id", "32", "--backoff-initial-ms", "100",
       "--backoff-max-ms", "1000", "--drain-timeout", "30", "--log-file", File("agent.log"),
       "--insecure-plaintext"},
      File("agent.out"));
  ASSERT_TRUE(agent.started()) << agent.error();
  ASSERT_TRUE(WaitFor([&] {
    return AgentLogCount("watching _NET_ACTIVE_WINDOW") == 1 &&
           AgentLogCount("watching IDLETIME") == 1 && AgentLogCount("watching logind session") == 1;
  }, seconds(20))) << ReadFile(File("agent.log"));

  // 1. Two executables sharing the class XTerm; xmessage without _NET_WM_PID.
  Hold(wa, key_a, seconds(6));
  Hold(wb, key_b, seconds(6));
  Hold(*wm, key_m, seconds(5));
  // 2. No active window (focus on the root) while the user is active.
  ASSERT_TRUE(desktop_.FocusRoot());
  Switch("");
  Busy(seconds(4));
  // 3. Idle: input for 3 s, then none for 3 s + 4 s; idle starts at the last input.
  Hold(wa, key_a, seconds(3));
  ASSERT_TRUE(desktop_.Input());
  Switch("");  // the last input
  WaitFor([] { return false; }, seconds(kIdleThresholdS + 4));
  ASSERT_TRUE(desktop_.Input());
  Switch(key_a);
  Busy(seconds(3));
  // 4. Screen lock (logind Lock + LockedHint) while xmessage has the focus.
  Hold(*wm, key_m, seconds(3));
  logind.Signal(kSessionPath, "org.freedesktop.login1.Session", "Lock");
  logind.SetLockedHint(true, /*emit=*/true);
  Switch("");
  Busy(seconds(4));
  logind.SetLockedHint(false, /*emit=*/true);
  logind.Signal(kSessionPath, "org.freedesktop.login1.Session", "Unlock");
  Switch(key_m);
  Busy(seconds(3));
  // 5. A burst of 50 windows created and destroyed per second for 30 s, over
  // xterm A: the focus goes back and forth between them; together they have
  // the whole time.
  Hold(wa, "burst+a", milliseconds(500));
  Child burst = Child::Spawn(RECLAIM_X11_BURST_BIN, {"50", "30"}, File("burst.log"));
  ASSERT_TRUE(burst.started());
  while (burst.Running()) Busy(milliseconds(700));
  EXPECT_EQ(burst.exit_code(), 0) << ReadFile(File("burst.log"));
  EXPECT_NE(ReadFile(File("burst.log")).find("1500 windows"), std::string::npos);
  Hold(wb, key_b, seconds(3));
  // 6. The X server is killed mid-session and comes back on the same display.
  Hold(wa, key_a, seconds(4));
  desktop_.KillServer();
  Switch("");
  a.KillAndReap();
  b.KillAndReap();
  m.KillAndReap();
  WaitFor([] { return false; }, seconds(2));
  ASSERT_TRUE(desktop_.StartServer(display));
  ASSERT_TRUE(desktop_.StartWm());
  Child a2 = desktop_.StartApp(xterm, {}, "xterm-a2");
  const std::uint32_t wa2 = WindowOf(a2);
  ASSERT_NE(wa2, 0u);
  ASSERT_TRUE(WaitFor([&] { return AgentLogCount("watching _NET_ACTIVE_WINDOW") == 2; },
                      seconds(20)))
      << ReadFile(File("agent.log"));
  ASSERT_TRUE(desktop_.FocusRoot());
  Hold(wa2, key_a, seconds(5));
  Switch("");
  const auto schedule_end = Clock::now();

  // Stop the agent: it stores the last piece and waits for the acks.
  ASSERT_TRUE(agent.Signal(SIGTERM));
  ASSERT_TRUE(agent.Wait(seconds(40))) << ReadFile(File("agent.log"));
  EXPECT_EQ(agent.exit_code(), 0) << ReadFile(File("agent.log"));

  std::map<std::string, std::int64_t> actual;
  ASSERT_TRUE(ReadUsage(RECLAIMCTL_BIN, collector, File("usage.json"), &actual));
  std::map<std::string, std::int64_t> expected = schedule_.expected();
  const std::int64_t schedule_ms = ToMs(schedule_end - test_start);
  const std::int64_t tolerance = Tolerance(schedule_ms);
  const std::string report = ScheduleReport(schedule_ms, expected, actual);
  std::cout << report;

  EXPECT_NEAR(actual[key_b], expected[key_b], tolerance) << report;
  EXPECT_NEAR(actual[key_m], expected[key_m], tolerance) << report;
  // xterm A outside the burst, and xterm A + the burst windows during it.
  EXPECT_NEAR(actual[key_a] + actual[key_burst], expected[key_a] + expected["burst+a"],
              tolerance) << report;
  EXPECT_GE(actual[key_a], expected[key_a] - tolerance) << report;
  // Nothing else was metered (the root, the lock screen, idle time).
  for (const auto& [k, v] : actual) {
    EXPECT_TRUE(k == key_a || k == key_b || k == key_m || k == key_burst) << k << ": " << v;
  }
  // Bounded logging, even with 1500 vanishing windows and an X server loss.
  const std::string log = ReadFile(File("agent.log"));
  EXPECT_LT(std::count(log.begin(), log.end(), '\n'), 100) << log;
}

}  // namespace
}  // namespace reclaim::e2e
