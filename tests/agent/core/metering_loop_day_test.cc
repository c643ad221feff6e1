// The real-time metering loop (agent/core/metering_loop.h) without a spool:
// standard C++ only, so the same test runs in the Linux build and, built with
// mingw-w64, under Wine (tests/windows). The bundled sample day pushed into
// the running loop's sink, in real time order on a manual clock, gives the
// totals of the meter-only replay (tests/windows/sample_day_totals.txt, which
// sample_day_linux_test checks against the agent's ScriptedSource replay);
// a store that fails keeps the intervals until it works again.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/metering_loop.h"
#include "gtest/gtest.h"
#include "tests/testing/wait_for.h"
#include "tests/windows/script_replay_std.h"

namespace reclaim::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr MonoTime kT0 = MonoTime(5'000'000);

std::string Key(const AppIdentity& a) {
  return a.exe_path + "|" + a.exe_name + "|" + a.window_class + "|" + a.package_id + "|" +
         a.product_name + "|" + a.product_version + "|" + a.web_domain + "|" + a.window_title;
}

std::map<std::string, std::int64_t> MsByApp(const std::vector<FocusInterval>& intervals) {
  std::map<std::string, std::int64_t> m;
  for (const FocusInterval& i : intervals) m[Key(i.app)] += i.active_duration_ms;
  return m;
}

// What the loop stored, batch by batch (the loop's thread writes, the test reads).
class RecordingStore {
 public:
  BatchStore store() {
    return [this](const std::vector<FocusInterval>& batch) -> std::string {
      std::lock_guard<std::mutex> l(mu_);
      if (failing_) return "disk full (test)";
      for (const FocusInterval& i : batch) intervals_.push_back(i);
      ++batches_;
      return {};
    };
  }
  void SetFailing(bool f) {
    std::lock_guard<std::mutex> l(mu_);
    failing_ = f;
  }
  std::vector<FocusInterval> intervals() const {
    std::lock_guard<std::mutex> l(mu_);
    return intervals_;
  }

 private:
  mutable std::mutex mu_;
  bool failing_ = false;
  std::vector<FocusInterval> intervals_;
  int batches_ = 0;
};

// Waits (bounded) until `done`, for the loop's thread to get there.
bool WaitUntil(const std::function<bool()>& done) {
  return reclaim::testing::WaitFor(done, seconds(20), milliseconds(1));
}

TEST(MeteringLoopDayTest, SampleDayThroughTheRunningLoopGivesTheMeterTotals) {
  const std::string src = RECLAIM_SOURCE_DIR;
  std::string error;
  std::optional<testing::StdScript> script =
      testing::ParseScriptStd(testing::ReadTestFile(src + "/deploy/sample-day.script"), &error);
  ASSERT_TRUE(script) << error;
  ASSERT_TRUE(script->start_utc_ms);
  const UtcMs wall0 = *script->start_utc_ms;

  ManualClock clock(kT0, wall0);
  RecordingStore store;
  MeteringLoopOptions o;
  o.meter.heartbeat = seconds(60);
  o.meter.settle_delay = seconds(1);  // events are pushed when the clock reaches them
  o.tick = milliseconds(2);
  o.send_window_titles = true;  // the totals file keys on the title too
  // The awake clock follows the boot-time clock: the script's own suspend
  // and resume events stand for the session source's.
  MeteringLoop loop(
      o, store.store(), clock, [&clock] { return clock.Monotonic(); }, nullptr);
  loop.Start();
  EventSink sink = loop.sink();
  int n = 0;
  for (MeterEvent e : script->events) {
    e.at = kT0 + e.at;  // script offsets -> the loop's monotonic clock
    if (e.at > clock.Monotonic()) clock.Set(e.at, wall0 + (e.at - kT0).count());
    sink(e);
    if (++n % 10 == 0) {
      // The loop's thread takes the events and stores while the day goes on.
      loop.FlushNow();
      const std::uint64_t sent = static_cast<std::uint64_t>(n);
      ASSERT_TRUE(WaitUntil([&] { return loop.stats().recorded == sent; })) << "event " << n;
    }
  }
  clock.Set(kT0 + script->end, wall0 + script->end.count());
  loop.Stop();

  const std::vector<FocusInterval> expected = testing::ReplayStd(*script, MeterOptions{}, wall0);
  const std::vector<FocusInterval> got = store.intervals();
  EXPECT_EQ(MsByApp(got), MsByApp(expected));
  std::int64_t total = 0;
  for (const FocusInterval& i : got) total += i.active_duration_ms;
  // The last line of the totals file: "total <ms> <pieces>".
  const std::string totals = testing::ReadTestFile(src + "/tests/windows/sample_day_totals.txt");
  const std::size_t at = totals.rfind("total ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(total, std::stoll(totals.substr(at + 6)));
  EXPECT_EQ(total, 454 * 60000LL);
  const MeteringLoopStats st = loop.stats();
  EXPECT_EQ(st.late_events, 0u);
  EXPECT_EQ(st.events, script->events.size());
  EXPECT_EQ(st.recorded, st.events);
  EXPECT_EQ(st.intervals, got.size());
  EXPECT_GE(st.batches, 2u);
  // Stamped in UTC from the script's start.
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().start_utc_ms, wall0);
}

TEST(MeteringLoopDayTest, FailingStoreKeepsIntervalsUntilItWorksAgain) {
  ManualClock clock(kT0, 1'800'000'000'000);
  RecordingStore store;
  store.SetFailing(true);
  MeteringLoopOptions o;
  o.meter.heartbeat = seconds(60);
  o.tick = milliseconds(2);
  MeteringLoop loop(
      o, store.store(), clock, [&clock] { return clock.Monotonic(); }, nullptr);
  loop.Start();
  AppIdentity app;
  app.exe_name = "EXCEL.EXE";
  app.exe_path = "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE";
  loop.sink()({.kind = MeterEvent::Kind::kFocus, .at = kT0, .app = app});
  clock.Advance(seconds(90));
  loop.FlushNow();
  ASSERT_TRUE(WaitUntil([&loop] { return loop.stats().spool_errors >= 1; }));
  EXPECT_TRUE(store.intervals().empty());
  store.SetFailing(false);
  clock.Advance(seconds(30));
  loop.Stop();  // the last store works: nothing was lost
  std::int64_t total = 0;
  for (const FocusInterval& i : store.intervals()) total += i.active_duration_ms;
  EXPECT_EQ(total, 120000);
  EXPECT_GE(loop.stats().spool_errors, 1u);
  EXPECT_EQ(loop.stats().dropped_intervals, 0u);
}

}  // namespace
}  // namespace reclaim::agent
