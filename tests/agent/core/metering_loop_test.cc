// The real-time metering loop with a manual clock, a fake awake clock, fake
// sources (events pushed into its sink) and a real spool in a temp dir.
#include "agent/core/metering_loop.h"

#include <atomic>
#include <map>
#include <thread>

#include "agent/core/spool_batch_store.h"
#include "gtest/gtest.h"
#include "reclaim/v1/agent.pb.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr MonoTime kT0 = MonoTime(1'000'000);
constexpr UtcMs kWall0 = 1'800'000'000'000;

AppIdentity App(const std::string& name, const std::string& title = "") {
  AppIdentity a;
  a.exe_path = "/usr/bin/" + name;
  a.exe_name = name;
  a.window_class = name;
  a.window_title = title;
  return a;
}
MeterEvent Focus(MonoTime at, std::optional<AppIdentity> app) {
  return {.kind = MeterEvent::Kind::kFocus, .at = at, .app = std::move(app)};
}
MeterEvent Ev(MeterEvent::Kind k, MonoTime at) { return {.kind = k, .at = at, .app = {}}; }

class MeteringLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Spool::Open({.path = dir_.File("spool.db")}, clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    spool_ = std::move(*s);
  }
  std::unique_ptr<MeteringLoop> MakeLoop(MeteringLoopOptions o) {
    return std::make_unique<MeteringLoop>(
        o, SpoolBatchStore(*spool_, clock_), clock_, [this] { return MonoTime(awake_.load()); },
        [this] { ++batches_; });
  }
  static MeteringLoopOptions Options(milliseconds threshold = seconds(60)) {
    MeteringLoopOptions o;
    o.meter = MakeMeterOptions(threshold, seconds(60));
    o.tick = milliseconds(20);
    return o;
  }
  // Moves the boot-time and awake clocks (and wall) forward together.
  void Awake(milliseconds d) {
    clock_.Advance(d);
    awake_ += d.count();
  }
  // Every stored interval, in order.
  std::vector<reclaim::v1::FocusInterval> Stored() {
    std::vector<reclaim::v1::FocusInterval> out;
    auto entries = spool_->ReadAfter(0, 1000);
    EXPECT_TRUE(entries.ok());
    for (const SpoolEntry& e : *entries) {
      reclaim::v1::UsageBatch b;
      EXPECT_TRUE(b.ParseFromString(e.payload));
      for (const auto& i : b.intervals()) out.push_back(i);
    }
    return out;
  }
  std::map<std::string, std::int64_t> FocusMsByApp() {
    std::map<std::string, std::int64_t> m;
    for (const auto& i : Stored()) m[i.app().exe_name()] += i.active_duration_ms();
    return m;
  }

  testing::TempDir dir_;
  ManualClock clock_{kT0, kWall0};
  std::atomic<std::int64_t> awake_{500'000};
  std::atomic<int> batches_{0};
  std::unique_ptr<Spool> spool_;
};

TEST_F(MeteringLoopTest, FocusChangesAndRetroactiveIdle) {
  auto loop = MakeLoop(Options(seconds(60)));
  loop->Start();
  EventSink sink = loop->sink();
  sink(Focus(kT0, App("xterm")));
  Awake(seconds(30));
  sink(Focus(kT0 + seconds(30), App("gimp")));
  Awake(seconds(100));
  // The idle source reports at last input + threshold: idle from +40 s.
  sink(Ev(MeterEvent::Kind::kIdle, kT0 + seconds(40)));
  Awake(seconds(20));
  sink(Ev(MeterEvent::Kind::kActive, kT0 + seconds(150)));
  Awake(seconds(5));
  loop->Stop();
  auto m = FocusMsByApp();
  EXPECT_EQ(m["xterm"], 30000);
  EXPECT_EQ(m["gimp"], 10000 + 5000);
  EXPECT_EQ(loop->stats().late_events, 0u);
  EXPECT_GE(batches_.load(), 1);
  // Stamps are UTC: the first span started at the wall time of kT0.
  auto stored = Stored();
  ASSERT_FALSE(stored.empty());
  EXPECT_EQ(stored.front().start_utc_ms(), kWall0);
}

TEST_F(MeteringLoopTest, SuspendFoundByClockJumpIsNeverFocusTime) {
  auto loop = MakeLoop(Options(seconds(5)));
  loop->Start();
  EventSink sink = loop->sink();
  sink(Focus(kT0, App("xterm")));
  Awake(seconds(10));
  // One hour asleep: only the boot-time clock moves.
  clock_.Set(clock_.Monotonic() + seconds(3600), clock_.WallUtcMs() + 3'600'000);
  // The loop notices within its tick (placing the suspend just before now).
  loop->FlushNow();
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (loop->stats().suspends_detected == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  Awake(seconds(5));
  loop->Stop();
  EXPECT_EQ(FocusMsByApp()["xterm"], 15000);
  EXPECT_EQ(loop->stats().suspends_detected, 1u);
  // Two sessions: the resume starts a new span.
  auto stored = Stored();
  int sessions = 0;
  for (const auto& i : stored) sessions += i.continuation() ? 0 : 1;
  EXPECT_EQ(sessions, 2);
}

TEST_F(MeteringLoopTest, LogindSuspendIsNotCountedTwice) {
  auto loop = MakeLoop(Options(seconds(5)));
  loop->Start();
  EventSink sink = loop->sink();
  sink(Focus(kT0, App("xterm")));
  Awake(seconds(10));
  const MonoTime suspend_at = clock_.Monotonic();
  sink(Ev(MeterEvent::Kind::kSuspend, suspend_at));
  clock_.Set(clock_.Monotonic() + seconds(600), clock_.WallUtcMs() + 600'000);
  sink(Ev(MeterEvent::Kind::kResume, clock_.Monotonic()));
  Awake(seconds(20));
  loop->Stop();
  EXPECT_EQ(FocusMsByApp()["xterm"], 30000);
}

TEST_F(MeteringLoopTest, LockedTimeIsNotFocusTime) {
  auto loop = MakeLoop(Options(seconds(5)));
  loop->Start();
  EventSink sink = loop->sink();
  sink(Focus(kT0, App("xterm")));
  Awake(seconds(10));
  sink(Ev(MeterEvent::Kind::kLock, kT0 + seconds(10)));
  Awake(seconds(50));
  sink(Ev(MeterEvent::Kind::kUnlock, kT0 + seconds(60)));
  Awake(seconds(7));
  loop->Stop();
  EXPECT_EQ(FocusMsByApp()["xterm"], 17000);
}

TEST_F(MeteringLoopTest, HeartbeatStoresRunningSpans) {
  MeteringLoopOptions o = Options(seconds(1));
  o.meter.heartbeat = seconds(60);
  auto loop = MakeLoop(o);
  loop->Start();
  loop->sink()(Focus(kT0, App("xterm")));
  Awake(seconds(125));
  loop->FlushNow();
  // The loop thread stores within its tick; poll with a deadline.
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (loop->stats().batches == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_GE(loop->stats().batches, 1u);
  std::int64_t stored = 0;
  for (const auto& i : Stored()) stored += i.active_duration_ms();
  EXPECT_GE(stored, 60000);  // at least one heartbeat piece before Stop
  loop->Stop();
  EXPECT_EQ(FocusMsByApp()["xterm"], 125000);
}

TEST_F(MeteringLoopTest, TitlesDroppedUnlessEnabled) {
  {
    auto loop = MakeLoop(Options(seconds(1)));
    loop->Start();
    loop->sink()(Focus(kT0, App("xterm", "secret.txt - vim")));
    Awake(seconds(3));
    loop->Stop();
  }
  for (const auto& i : Stored()) EXPECT_EQ(i.app().window_title(), "");
  MeteringLoopOptions o = Options(seconds(1));
  o.send_window_titles = true;
  auto loop = MakeLoop(o);
  loop->Start();
  loop->sink()(Focus(clock_.Monotonic(), App("xterm", "notes")));
  Awake(seconds(3));
  loop->Stop();
  EXPECT_EQ(Stored().back().app().window_title(), "notes");
}

// --web-detail: the page detail of a web site (in the title field of an
// identity with a web_domain) is kept; other applications' titles are not.
TEST_F(MeteringLoopTest, WebPageDetailKeptOnlyForWebSitesWhenEnabled) {
  AppIdentity site = App("chromium", "/accounts/42 Acme Corp");
  site.web_domain = "crm.example.test";
  MeteringLoopOptions o = Options(seconds(1));
  o.send_web_page_detail = true;
  auto loop = MakeLoop(o);
  loop->Start();
  loop->sink()(Focus(kT0, site));
  Awake(seconds(3));
  loop->sink()(Focus(clock_.Monotonic(), App("xterm", "secret.txt - vim")));
  Awake(seconds(3));
  loop->Stop();
  std::map<std::string, std::string> titles;
  for (const auto& i : Stored()) titles[i.app().exe_name()] = i.app().window_title();
  ASSERT_EQ(titles.size(), 2u);
  EXPECT_EQ(titles["chromium"], "/accounts/42 Acme Corp");
  EXPECT_EQ(titles["xterm"], "");
}

}  // namespace
}  // namespace reclaim::agent
