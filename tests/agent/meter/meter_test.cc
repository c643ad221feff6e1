// Unit tests for the pure meter (agent/meter/meter.h): virtual time only.
#include "agent/meter/meter.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using Kind = MeterEvent::Kind;

// 2026-11-23T00:00:00Z, ms.
constexpr UtcMs kMidnightUtc = 1795392000000;

// Time of day as MonoTime (the tests put mono 0 at midnight).
MonoTime Hms(int h, int m, int s = 0) { return hours(h) + minutes(m) + seconds(s); }

AppIdentity App(const std::string& name) {
  AppIdentity app;
  app.exe_path = "/usr/bin/" + name;
  app.exe_name = name;
  return app;
}

MeterEvent Ev(Kind kind, MonoTime at) { return MeterEvent{kind, at, std::nullopt}; }
MeterEvent Focus(MonoTime at, const std::string& name) {
  return MeterEvent{Kind::kFocus, at, App(name)};
}
MeterEvent NoFocus(MonoTime at) { return MeterEvent{Kind::kFocus, at, std::nullopt}; }

// An event and when it reaches the meter.
struct Arrival {
  MonoTime arrives;
  MeterEvent event;
};

// Drives `meter` on virtual time: polls every `step` from `from` while the
// poll time is < `to`, recording before each poll the events that arrived by
// then (in the given order), then Finish(to). Wall = kMidnightUtc + mono.
std::vector<FocusInterval> Drive(Meter& meter, const std::vector<Arrival>& arrivals, MonoTime from,
                                 MonoTime to, milliseconds step) {
  std::vector<FocusInterval> out;
  size_t next = 0;
  auto record_through = [&](MonoTime t) {
    while (next < arrivals.size() && arrivals[next].arrives <= t) {
      meter.Record(arrivals[next++].event);
    }
  };
  for (MonoTime now = from; now < to; now += step) {
    record_through(now);
    for (auto& i : meter.Poll(now, kMidnightUtc + now.count())) out.push_back(std::move(i));
  }
  record_through(to);
  for (auto& i : meter.Finish(to, kMidnightUtc + to.count())) out.push_back(std::move(i));
  return out;
}

// Total focus ms per exe_name.
std::map<std::string, std::int64_t> TotalsByApp(const std::vector<FocusInterval>& v) {
  std::map<std::string, std::int64_t> totals;
  for (const auto& i : v) totals[i.app.exe_name] += i.active_duration_ms;
  return totals;
}

std::int64_t Total(const std::vector<FocusInterval>& v) {
  std::int64_t t = 0;
  for (const auto& i : v) t += i.active_duration_ms;
  return t;
}

// Sessions per exe_name: pieces that do not continue a previous one.
std::map<std::string, int> SessionsByApp(const std::vector<FocusInterval>& v) {
  std::map<std::string, int> sessions;
  for (const auto& i : v) {
    if (!i.continuation) ++sessions[i.app.exe_name];
  }
  return sessions;
}

void ExpectAllPositive(const std::vector<FocusInterval>& v) {
  for (const auto& i : v) EXPECT_GT(i.active_duration_ms, 0);
}

constexpr std::int64_t Ms(milliseconds d) { return d.count(); }

// --- The idle-inside-focus example -------------------------------------------

TEST(MeterTest, IdleInsideFocusGivesTenMinutesForEveryArrivalOrder) {
  const std::vector<MeterEvent> events = {Focus(Hms(9, 55), "gimp"), NoFocus(Hms(10, 10)),
                                          Ev(Kind::kIdle, Hms(10, 0)),
                                          Ev(Kind::kActive, Hms(10, 5))};
  std::vector<int> order = {0, 1, 2, 3};
  std::vector<FocusInterval> first_out;
  int permutations = 0;
  do {
    SCOPED_TRACE(::testing::PrintToString(order));
    // Arrivals one minute apart from 10:10, in the permuted order: every event
    // arrives at or after its time, at most 18 min late.
    std::vector<Arrival> arrivals;
    for (int k = 0; k < 4; ++k) {
      arrivals.push_back({Hms(10, 10 + k), events[order[k]]});
    }
    MeterOptions options;
    options.settle_delay = minutes(30);
    Meter meter(options);
    const auto out = Drive(meter, arrivals, Hms(9, 50), Hms(11, 0), seconds(10));

    EXPECT_EQ(Total(out), Ms(minutes(10)));
    EXPECT_EQ(meter.late_events(), 0u);
    // Two sessions (heartbeat-split into pieces), contiguous from 9:55 and
    // 10:05; and since every order arrives before 9:55 is settled, the very
    // same pieces for every order.
    EXPECT_EQ(SessionsByApp(out), (std::map<std::string, int>{{"gimp", 2}}));
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.front().start_utc_ms, kMidnightUtc + Ms(Hms(9, 55)));
    EXPECT_EQ(out.back().start_utc_ms + out.back().active_duration_ms,
              kMidnightUtc + Ms(Hms(10, 10)));
    if (first_out.empty()) first_out = out;
    EXPECT_EQ(out, first_out);
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 24);
}

TEST(MeterTest, IdleInsideFocusAllRecordedBeforeFinishForEveryOrder) {
  const std::vector<MeterEvent> events = {Focus(Hms(9, 55), "gimp"), NoFocus(Hms(10, 10)),
                                          Ev(Kind::kIdle, Hms(10, 0)),
                                          Ev(Kind::kActive, Hms(10, 5))};
  std::vector<int> order = {0, 1, 2, 3};
  do {
    SCOPED_TRACE(::testing::PrintToString(order));
    Meter meter;
    for (int k : order) meter.Record(events[k]);
    const auto out = meter.Finish(Hms(10, 30), kMidnightUtc + Ms(Hms(10, 30)));
    EXPECT_EQ(Total(out), Ms(minutes(10)));
    EXPECT_EQ(SessionsByApp(out), (std::map<std::string, int>{{"gimp", 2}}));
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(MeterTest, IdleReportedLateWithinSettleDelayIsExact) {
  // The idle source learns at 10:05 that the user has been idle since 10:00.
  const std::vector<Arrival> arrivals = {
      {Hms(9, 55), Focus(Hms(9, 55), "gimp")},
      {Hms(10, 5), Ev(Kind::kIdle, Hms(10, 0))},
      {Hms(10, 5), Ev(Kind::kActive, Hms(10, 5))},
      {Hms(10, 10), NoFocus(Hms(10, 10))},
  };
  MeterOptions options;
  options.settle_delay = minutes(5);
  Meter meter(options);
  const auto out = Drive(meter, arrivals, Hms(9, 50), Hms(10, 30), seconds(10));
  EXPECT_EQ(Total(out), Ms(minutes(10)));
  EXPECT_EQ(meter.late_events(), 0u);
  EXPECT_EQ(SessionsByApp(out), (std::map<std::string, int>{{"gimp", 2}}));
  ExpectAllPositive(out);
}

TEST(MeterTest, IdleReportedLateWithoutSettleDelayIsClampedAndCounted) {
  // Same arrivals with settle_delay 0: by 10:05 the meter has settled through
  // the 10:04:50 poll, so the idle start is applied there.
  const std::vector<Arrival> arrivals = {
      {Hms(9, 55), Focus(Hms(9, 55), "gimp")},
      {Hms(10, 5), Ev(Kind::kIdle, Hms(10, 0))},
      {Hms(10, 5), Ev(Kind::kActive, Hms(10, 5))},
      {Hms(10, 10), NoFocus(Hms(10, 10))},
  };
  Meter meter;
  const auto out = Drive(meter, arrivals, Hms(9, 50), Hms(10, 30), seconds(10));
  EXPECT_EQ(meter.late_events(), 1u);
  EXPECT_EQ(Total(out), Ms(minutes(14) + seconds(50)));
  ExpectAllPositive(out);
}

// --- Wall-clock jumps --------------------------------------------------------

class WallJumpTest : public ::testing::TestWithParam<int> {};

TEST_P(WallJumpTest, ChangesStampsNeverDurations) {
  const milliseconds jump = minutes(GetParam());
  ManualClock clock(Hms(9, 0), kMidnightUtc + Ms(Hms(9, 0)));
  Meter meter;
  std::vector<FocusInterval> out;
  auto poll = [&] {
    for (auto& i : meter.Poll(clock.Monotonic(), clock.WallUtcMs())) out.push_back(i);
  };
  meter.Record(Focus(clock.Monotonic(), "writer"));
  while (clock.Monotonic() < Hms(9, 30)) {
    clock.Advance(seconds(10));
    if (clock.Monotonic() == Hms(9, 15)) clock.JumpWall(jump);
    poll();
  }
  for (auto& i : meter.Finish(clock.Monotonic(), clock.WallUtcMs())) out.push_back(i);

  EXPECT_EQ(Total(out), Ms(minutes(30)));
  ExpectAllPositive(out);
  EXPECT_EQ(SessionsByApp(out), (std::map<std::string, int>{{"writer", 1}}));
  // Pieces emitted before the jump carry the true time; after it, the stepped
  // wall clock's time (each piece is stamped from its mono age at emission).
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.front().start_utc_ms, kMidnightUtc + Ms(Hms(9, 0)));
  const FocusInterval& last = out.back();
  EXPECT_EQ(last.start_utc_ms + last.active_duration_ms, kMidnightUtc + Ms(Hms(9, 30)) + Ms(jump));
}

INSTANTIATE_TEST_SUITE_P(BackAndForth, WallJumpTest, ::testing::Values(-60, 60));

// --- Heartbeat ---------------------------------------------------------------

TEST(MeterTest, HeartbeatSplitsLongSpanIntoContinuations) {
  MeterOptions options;
  options.heartbeat = seconds(60);
  Meter meter(options);
  const std::vector<Arrival> arrivals = {{Hms(10, 0), Focus(Hms(10, 0), "calc")},
                                         {Hms(10, 10), NoFocus(Hms(10, 10))}};
  // Polls every 7 s: pieces are flushed at the first poll a heartbeat after
  // their start, so they last 60..67 s.
  const auto out = Drive(meter, arrivals, Hms(9, 59), Hms(10, 20), seconds(7));

  EXPECT_EQ(Total(out), Ms(minutes(10)));
  ASSERT_GE(out.size(), 9u);
  EXPECT_FALSE(out[0].continuation);
  for (size_t i = 0; i < out.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_GT(out[i].active_duration_ms, 0);
    EXPECT_LE(out[i].active_duration_ms, Ms(seconds(67)));
    if (i + 1 < out.size()) {
      EXPECT_GE(out[i].active_duration_ms, Ms(seconds(60)));
    }
    if (i > 0) {
      EXPECT_TRUE(out[i].continuation);
      // Pieces are contiguous.
      EXPECT_EQ(out[i].start_utc_ms, out[i - 1].start_utc_ms + out[i - 1].active_duration_ms);
    }
  }
  // A report counting sessions counts one, and the time once.
  EXPECT_EQ(SessionsByApp(out), (std::map<std::string, int>{{"calc", 1}}));
}

TEST(MeterTest, HeartbeatWithPollEverySecondGivesWholeMinutes) {
  MeterOptions options;
  options.heartbeat = seconds(60);
  Meter meter(options);
  const auto out =
      Drive(meter, {{Hms(10, 0), Focus(Hms(10, 0), "calc")}, {Hms(10, 10), NoFocus(Hms(10, 10))}},
            Hms(10, 0), Hms(10, 20), seconds(1));
  ASSERT_EQ(out.size(), 10u);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i], (FocusInterval{App("calc"), kMidnightUtc + Ms(Hms(10, static_cast<int>(i))),
                                     Ms(seconds(60)), i > 0}));
  }
}

TEST(MeterTest, RunningSpanIsNotEmittedBeforeHeartbeat) {
  Meter meter;  // heartbeat 60 s
  meter.Record(Focus(Hms(10, 0), "calc"));
  EXPECT_THAT(meter.Poll(Hms(10, 0, 59), 0), ::testing::IsEmpty());
  EXPECT_EQ(meter.emitted_through(), Hms(10, 0));
  const auto out = meter.Poll(Hms(10, 1), kMidnightUtc + Ms(Hms(10, 1)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].active_duration_ms, Ms(seconds(60)));
  EXPECT_EQ(meter.emitted_through(), Hms(10, 1));
}

// --- Lock, suspend, idle, focus ----------------------------------------------

// Records everything, then Finish at `end`.
std::vector<FocusInterval> FinishAll(const std::vector<MeterEvent>& events, MonoTime end) {
  Meter meter;
  for (const auto& e : events) meter.Record(e);
  return meter.Finish(end, kMidnightUtc + end.count());
}

TEST(MeterTest, LockStopsFocusTimeAndUnlockStartsNewSession) {
  const auto out = FinishAll({Focus(Hms(12, 0), "firefox"), Ev(Kind::kLock, Hms(12, 10)),
                              Ev(Kind::kUnlock, Hms(12, 40)), NoFocus(Hms(12, 50))},
                             Hms(13, 0));
  EXPECT_EQ(out, (std::vector<FocusInterval>{
                     {App("firefox"), kMidnightUtc + Ms(Hms(12, 0)), Ms(minutes(10)), false},
                     {App("firefox"), kMidnightUtc + Ms(Hms(12, 40)), Ms(minutes(10)), false}}));
}

TEST(MeterTest, SuspendStopsFocusTimeAndResumeStartsNewSession) {
  const auto out = FinishAll({Focus(Hms(12, 0), "firefox"), Ev(Kind::kSuspend, Hms(12, 10)),
                              Ev(Kind::kResume, Hms(14, 0)), NoFocus(Hms(14, 5))},
                             Hms(15, 0));
  EXPECT_EQ(out, (std::vector<FocusInterval>{
                     {App("firefox"), kMidnightUtc + Ms(Hms(12, 0)), Ms(minutes(10)), false},
                     {App("firefox"), kMidnightUtc + Ms(Hms(14, 0)), Ms(minutes(5)), false}}));
}

TEST(MeterTest, IdleOverlappingLockCountsOnlyWhenNeither) {
  // Idle 10:10-10:20 overlaps lock 10:15-10:25: inactive 10:10-10:25.
  const auto out = FinishAll(
      {Focus(Hms(10, 0), "term"), Ev(Kind::kIdle, Hms(10, 10)), Ev(Kind::kLock, Hms(10, 15)),
       Ev(Kind::kActive, Hms(10, 20)), Ev(Kind::kUnlock, Hms(10, 25)), NoFocus(Hms(10, 30))},
      Hms(11, 0));
  EXPECT_EQ(TotalsByApp(out), (std::map<std::string, std::int64_t>{{"term", Ms(minutes(15))}}));
  EXPECT_EQ(SessionsByApp(out), (std::map<std::string, int>{{"term", 2}}));

  // Lock inside idle: inactive 10:10-10:30.
  const auto out2 = FinishAll(
      {Focus(Hms(10, 0), "term"), Ev(Kind::kIdle, Hms(10, 10)), Ev(Kind::kLock, Hms(10, 15)),
       Ev(Kind::kUnlock, Hms(10, 20)), Ev(Kind::kActive, Hms(10, 30)), NoFocus(Hms(10, 40))},
      Hms(11, 0));
  EXPECT_EQ(TotalsByApp(out2), (std::map<std::string, std::int64_t>{{"term", Ms(minutes(20))}}));
}

TEST(MeterTest, SuspendWhileLockedAndIdle) {
  // Lock, then suspend, resume while still locked, unlock: one gap.
  const auto out =
      FinishAll({Focus(Hms(8, 0), "term"), Ev(Kind::kIdle, Hms(8, 5)), Ev(Kind::kLock, Hms(8, 10)),
                 Ev(Kind::kSuspend, Hms(8, 15)), Ev(Kind::kResume, Hms(9, 0)),
                 Ev(Kind::kUnlock, Hms(9, 1)), Ev(Kind::kActive, Hms(9, 1)), NoFocus(Hms(9, 11))},
                Hms(10, 0));
  EXPECT_EQ(out, (std::vector<FocusInterval>{
                     {App("term"), kMidnightUtc + Ms(Hms(8, 0)), Ms(minutes(5)), false},
                     {App("term"), kMidnightUtc + Ms(Hms(9, 1)), Ms(minutes(10)), false}}));
}

TEST(MeterTest, FocusChangesDuringIdleGoToNobody) {
  const auto out = FinishAll(
      {Focus(Hms(10, 0), "writer"), Ev(Kind::kIdle, Hms(10, 10)), Focus(Hms(10, 12), "gimp"),
       Focus(Hms(10, 14), "calc"), Ev(Kind::kActive, Hms(10, 20)), NoFocus(Hms(10, 30))},
      Hms(11, 0));
  EXPECT_EQ(out, (std::vector<FocusInterval>{
                     {App("writer"), kMidnightUtc + Ms(Hms(10, 0)), Ms(minutes(10)), false},
                     {App("calc"), kMidnightUtc + Ms(Hms(10, 20)), Ms(minutes(10)), false}}));
}

TEST(MeterTest, FocusChangeStartsNewSpanAndSameAppDoesNot) {
  const auto out = FinishAll({Focus(Hms(10, 0), "writer"), Focus(Hms(10, 5), "writer"),
                              Focus(Hms(10, 10), "calc"), Focus(Hms(10, 12), "writer")},
                             Hms(10, 20));
  EXPECT_EQ(out, (std::vector<FocusInterval>{
                     {App("writer"), kMidnightUtc + Ms(Hms(10, 0)), Ms(minutes(10)), false},
                     {App("calc"), kMidnightUtc + Ms(Hms(10, 10)), Ms(minutes(2)), false},
                     {App("writer"), kMidnightUtc + Ms(Hms(10, 12)), Ms(minutes(8)), false}}));
}

TEST(MeterTest, AppsDifferingInAnyFieldAreDifferentSpans) {
  AppIdentity mail = App("firefox");
  mail.web_domain = "mail.example.com";
  AppIdentity crm = App("firefox");
  crm.web_domain = "na1.lightning.force.com";
  Meter meter;
  meter.Record(MeterEvent{Kind::kFocus, Hms(9, 0), mail});
  meter.Record(MeterEvent{Kind::kFocus, Hms(9, 3), crm});
  const auto out = meter.Finish(Hms(9, 10), kMidnightUtc + Ms(Hms(9, 10)));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].app, mail);
  EXPECT_EQ(out[0].active_duration_ms, Ms(minutes(3)));
  EXPECT_EQ(out[1].app, crm);
  EXPECT_EQ(out[1].active_duration_ms, Ms(minutes(7)));
  EXPECT_FALSE(out[1].continuation);
}

TEST(MeterTest, NoFocusCreditsNobody) {
  const auto out =
      FinishAll({NoFocus(Hms(9, 0)), Ev(Kind::kActive, Hms(9, 1)), Focus(Hms(9, 5), "term"),
                 NoFocus(Hms(9, 6)), Focus(Hms(9, 20), "term")},
                Hms(9, 30));
  EXPECT_EQ(TotalsByApp(out), (std::map<std::string, std::int64_t>{{"term", Ms(minutes(11))}}));
  EXPECT_EQ(SessionsByApp(out), (std::map<std::string, int>{{"term", 2}}));
}

TEST(MeterTest, NothingBeforeFocusAndNothingWhileInactive) {
  Meter meter;
  EXPECT_THAT(meter.Poll(Hms(9, 0), 0), ::testing::IsEmpty());
  meter.Record(Ev(Kind::kIdle, Hms(9, 1)));
  meter.Record(Focus(Hms(9, 2), "term"));
  EXPECT_THAT(meter.Poll(Hms(10, 0), 0), ::testing::IsEmpty());
  EXPECT_THAT(meter.Finish(Hms(11, 0), 0), ::testing::IsEmpty());
  EXPECT_EQ(meter.emitted_through(), Hms(11, 0));
}

TEST(MeterTest, ZeroLengthFlickerEmitsNothing) {
  // Idle and active at the same instant split the session but emit no
  // zero-length piece; a focus flicker at one instant does not either.
  const auto out =
      FinishAll({Focus(Hms(9, 0), "term"), Ev(Kind::kIdle, Hms(9, 5)), Ev(Kind::kActive, Hms(9, 5)),
                 Focus(Hms(9, 7), "calc"), Focus(Hms(9, 7), "term")},
                Hms(9, 10));
  EXPECT_EQ(out, (std::vector<FocusInterval>{
                     {App("term"), kMidnightUtc + Ms(Hms(9, 0)), Ms(minutes(5)), false},
                     {App("term"), kMidnightUtc + Ms(Hms(9, 5)), Ms(minutes(2)), false},
                     {App("term"), kMidnightUtc + Ms(Hms(9, 7)), Ms(minutes(3)), false}}));
}

TEST(MeterTest, EqualTimesApplyInArrivalOrder) {
  // Both at 9:05: arrival order decides which app holds the focus.
  Meter meter;
  meter.Record(Focus(Hms(9, 0), "term"));
  meter.Record(Focus(Hms(9, 5), "calc"));
  meter.Record(Focus(Hms(9, 5), "gimp"));
  EXPECT_EQ(
      TotalsByApp(meter.Finish(Hms(9, 10), 0)),
      (std::map<std::string, std::int64_t>{{"gimp", Ms(minutes(5))}, {"term", Ms(minutes(5))}}));
}

// --- Late events ---------------------------------------------------------------

TEST(MeterTest, LateEventBeyondSettleDelayIsClampedAndCounted) {
  MeterOptions options;
  options.settle_delay = minutes(1);
  options.heartbeat = hours(1);
  Meter meter(options);
  meter.Record(Focus(Hms(9, 0), "term"));
  EXPECT_THAT(meter.Poll(Hms(9, 10), 0), ::testing::IsEmpty());  // settled through 9:09
  meter.Record(Ev(Kind::kIdle, Hms(9, 2)));                      // 8 min late
  EXPECT_EQ(meter.late_events(), 1u);
  const auto out = meter.Poll(Hms(9, 10, 1), kMidnightUtc + Ms(Hms(9, 10, 1)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0],
            (FocusInterval{App("term"), kMidnightUtc + Ms(Hms(9, 0)), Ms(minutes(9)), false}));
}

TEST(MeterTest, LateEventNeverRewritesEmittedTime) {
  Meter meter;  // settle_delay 0, heartbeat 60 s
  meter.Record(Focus(Hms(9, 0), "term"));
  const auto first = meter.Poll(Hms(9, 10), kMidnightUtc + Ms(Hms(9, 10)));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].active_duration_ms, Ms(minutes(10)));
  // Focus left at 9:05, reported after 9:10 was emitted: applied at 9:10.
  meter.Record(NoFocus(Hms(9, 5)));
  meter.Record(Focus(Hms(9, 4), "calc"));  // also late, applied after, at 9:10
  EXPECT_EQ(meter.late_events(), 2u);
  const auto rest = meter.Finish(Hms(9, 20), kMidnightUtc + Ms(Hms(9, 20)));
  ExpectAllPositive(rest);
  EXPECT_EQ(TotalsByApp(rest), (std::map<std::string, std::int64_t>{{"calc", Ms(minutes(10))}}));
  EXPECT_EQ(rest.front().start_utc_ms, kMidnightUtc + Ms(Hms(9, 10)));
}

TEST(MeterTest, EventsBeforeFirstPollAreNeverLate) {
  Meter meter;
  meter.Record(Focus(Hms(11, 0), "term"));
  meter.Record(Focus(Hms(1, 0), "calc"));  // recorded out of order: fine
  const auto out = meter.Finish(Hms(12, 0), 0);
  EXPECT_EQ(meter.late_events(), 0u);
  EXPECT_EQ(TotalsByApp(out),
            (std::map<std::string, std::int64_t>{{"calc", Ms(hours(10))}, {"term", Ms(hours(1))}}));
}

// --- Finish, StartAt, emitted_through -----------------------------------------

TEST(MeterTest, FinishIgnoresSettleDelayAndEmitsRunningSpan) {
  MeterOptions options;
  options.settle_delay = minutes(5);
  options.heartbeat = hours(1);
  Meter meter(options);
  meter.Record(Focus(Hms(9, 0), "term"));
  meter.Record(Ev(Kind::kIdle, Hms(9, 20)));
  meter.Record(Ev(Kind::kActive, Hms(9, 28)));
  EXPECT_THAT(meter.Poll(Hms(9, 24), 0), ::testing::IsEmpty());  // settled 9:19
  const auto out = meter.Finish(Hms(9, 30), kMidnightUtc + Ms(Hms(9, 30)));
  EXPECT_EQ(out, (std::vector<FocusInterval>{
                     {App("term"), kMidnightUtc + Ms(Hms(9, 0)), Ms(minutes(20)), false},
                     {App("term"), kMidnightUtc + Ms(Hms(9, 28)), Ms(minutes(2)), false}}));
  EXPECT_EQ(meter.emitted_through(), Hms(9, 30));
  // Used after Finish, the span continues.
  const auto more = meter.Finish(Hms(9, 31), kMidnightUtc + Ms(Hms(9, 31)));
  ASSERT_EQ(more.size(), 1u);
  EXPECT_TRUE(more[0].continuation);
  EXPECT_EQ(more[0].active_duration_ms, Ms(minutes(1)));
}

TEST(MeterTest, EmittedThroughFollowsRunningPieceOrSettledPoint) {
  Meter meter;
  EXPECT_EQ(meter.emitted_through(), MonoTime::min());
  meter.Record(Focus(Hms(9, 0), "term"));
  meter.Record(Ev(Kind::kLock, Hms(9, 0, 30)));
  meter.Record(Ev(Kind::kUnlock, Hms(9, 2)));
  (void)meter.Poll(Hms(9, 1), 0);
  EXPECT_EQ(meter.emitted_through(), Hms(9, 1));  // inactive: the settled point
  (void)meter.Poll(Hms(9, 2, 30), 0);
  EXPECT_EQ(meter.emitted_through(), Hms(9, 2));  // active: the running piece's start
}

TEST(MeterTest, StartAtSkipsEarlierTimeAndContinuesRunningSpan) {
  Meter meter;
  meter.StartAt(Hms(9, 30));
  EXPECT_EQ(meter.emitted_through(), Hms(9, 30));
  meter.Record(Focus(Hms(9, 0), "term"));
  meter.Record(Ev(Kind::kIdle, Hms(9, 10)));
  meter.Record(Ev(Kind::kActive, Hms(9, 20)));
  meter.Record(NoFocus(Hms(9, 40)));
  EXPECT_THAT(meter.Poll(Hms(9, 29), 0), ::testing::IsEmpty());
  EXPECT_EQ(meter.emitted_through(), Hms(9, 30));  // never before the floor
  const auto out = meter.Finish(Hms(10, 0), kMidnightUtc + Ms(Hms(10, 0)));
  EXPECT_EQ(out, (std::vector<FocusInterval>{
                     {App("term"), kMidnightUtc + Ms(Hms(9, 30)), Ms(minutes(10)), true}}));
}

TEST(MeterTest, StartAtExactSpanStartIsNotContinuation) {
  Meter meter;
  meter.Record(Focus(Hms(9, 0), "term"));
  meter.Record(Focus(Hms(9, 30), "calc"));
  meter.StartAt(Hms(9, 30));
  const auto out = meter.Finish(Hms(9, 45), kMidnightUtc + Ms(Hms(9, 45)));
  EXPECT_EQ(out, (std::vector<FocusInterval>{
                     {App("calc"), kMidnightUtc + Ms(Hms(9, 30)), Ms(minutes(15)), false}}));
}

TEST(MeterTest, StartAtAfterSpanEndedCreditsNothingOfIt) {
  Meter meter;
  meter.StartAt(Hms(9, 30));
  meter.Record(Focus(Hms(9, 0), "term"));
  meter.Record(NoFocus(Hms(9, 30)));
  EXPECT_THAT(meter.Finish(Hms(10, 0), 0), ::testing::IsEmpty());
}

// --- Crash and resume ----------------------------------------------------------

// A random day: events at random times with random delays within settle_delay,
// irregular polls, and wall-clock jumps.
struct RandomDay {
  MeterOptions options;
  std::vector<Arrival> arrivals;  // by arrival time
  std::vector<MonoTime> polls;    // increasing
  std::vector<UtcMs> walls;       // wall time at each poll
  MonoTime end;
  UtcMs end_wall;
};

RandomDay MakeRandomDay(std::uint32_t seed) {
  std::mt19937 rng(seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  RandomDay day;
  const milliseconds delays[] = {milliseconds(0), seconds(30), minutes(5)};
  day.options.settle_delay = delays[uniform(0, 2)];
  const milliseconds heartbeats[] = {seconds(1), seconds(60), seconds(90), minutes(10)};
  day.options.heartbeat = heartbeats[uniform(0, 3)];
  const std::string apps[] = {"term", "calc", "gimp"};

  MonoTime t = seconds(uniform(0, 100));
  const int n = static_cast<int>(uniform(1, 60));
  for (int i = 0; i < n; ++i) {
    // Gaps of 0 make equal times; small gaps make sub-heartbeat spans.
    t += milliseconds(uniform(0, 3) == 0 ? 0 : uniform(1, Ms(minutes(12))));
    MeterEvent e;
    e.at = t;
    e.kind = static_cast<Kind>(uniform(0, 6));
    if (e.kind == Kind::kFocus && uniform(0, 4) > 0) e.app = App(apps[uniform(0, 2)]);
    // Biased to active states so that there is focus time to split.
    if (uniform(0, 2) == 0 && e.kind != Kind::kFocus) {
      e.kind = std::array{Kind::kActive, Kind::kUnlock, Kind::kResume}[uniform(0, 2)];
    }
    const MonoTime arrives = t + milliseconds(uniform(0, Ms(day.options.settle_delay)));
    day.arrivals.push_back({arrives, e});
  }
  std::stable_sort(day.arrivals.begin(), day.arrivals.end(),
                   [](const Arrival& a, const Arrival& b) { return a.arrives < b.arrives; });
  day.end = day.arrivals.back().arrives + milliseconds(uniform(0, Ms(minutes(20))));

  UtcMs wall_offset = kMidnightUtc;
  for (MonoTime p = MonoTime{0}; p < day.end; p += milliseconds(uniform(1, Ms(seconds(150))))) {
    if (uniform(0, 40) == 0) wall_offset += uniform(-Ms(hours(2)), Ms(hours(2)));
    day.polls.push_back(p);
    day.walls.push_back(wall_offset + p.count());
  }
  day.end_wall = wall_offset + day.end.count();
  return day;
}

// Runs the day, crashing after each poll index in `crashes` (increasing): the
// crashed meter's unsaved state is lost, a fresh meter starts at the saved
// cursor and re-records every event that had arrived.
std::vector<FocusInterval> RunWithCrashes(const RandomDay& day, const std::vector<size_t>& crashes,
                                          std::uint64_t* late_events) {
  std::vector<FocusInterval> saved;
  auto meter = std::make_unique<Meter>(day.options);
  size_t next = 0;  // next arrival to record
  size_t next_crash = 0;
  *late_events = 0;
  for (size_t i = 0; i < day.polls.size(); ++i) {
    while (next < day.arrivals.size() && day.arrivals[next].arrives <= day.polls[i]) {
      meter->Record(day.arrivals[next++].event);
    }
    for (auto& f : meter->Poll(day.polls[i], day.walls[i])) saved.push_back(f);
    while (next_crash < crashes.size() && crashes[next_crash] == i) {
      ++next_crash;
      const MonoTime cursor = meter->emitted_through();  // saved with the intervals
      *late_events += meter->late_events();
      meter = std::make_unique<Meter>(day.options);
      meter->StartAt(cursor);
      for (size_t k = 0; k < next; ++k) meter->Record(day.arrivals[k].event);
    }
  }
  while (next < day.arrivals.size()) meter->Record(day.arrivals[next++].event);
  for (auto& f : meter->Finish(day.end, day.end_wall)) saved.push_back(f);
  *late_events += meter->late_events();
  return saved;
}

TEST(MeterTest, ResumeFromEmittedThroughReproducesStraightRun) {
  int runs_with_focus = 0;
  int runs_with_continuations = 0;
  for (std::uint32_t seed = 1; seed <= 400; ++seed) {
    SCOPED_TRACE(seed);
    const RandomDay day = MakeRandomDay(seed);
    std::uint64_t late = 0;
    const auto straight = RunWithCrashes(day, {}, &late);
    ASSERT_EQ(late, 0u);  // arrivals within settle_delay are never late
    ExpectAllPositive(straight);
    if (!straight.empty()) ++runs_with_focus;
    if (std::any_of(straight.begin(), straight.end(),
                    [](const FocusInterval& f) { return f.continuation; })) {
      ++runs_with_continuations;
    }

    std::mt19937 rng(seed * 7919u);
    for (int trial = 0; trial < 8; ++trial) {
      // One to three crashes at random polls (possibly the same one twice).
      std::vector<size_t> crashes;
      const int n = std::uniform_int_distribution<int>(1, 3)(rng);
      for (int c = 0; c < n; ++c) {
        crashes.push_back(std::uniform_int_distribution<size_t>(0, day.polls.size() - 1)(rng));
      }
      std::sort(crashes.begin(), crashes.end());
      SCOPED_TRACE(::testing::PrintToString(crashes));
      const auto resumed = RunWithCrashes(day, crashes, &late);
      ASSERT_EQ(late, 0u);
      ASSERT_EQ(resumed, straight);
      EXPECT_EQ(TotalsByApp(resumed), TotalsByApp(straight));
      EXPECT_EQ(SessionsByApp(resumed), SessionsByApp(straight));
    }
  }
  // The generator must exercise what the property is about.
  EXPECT_GT(runs_with_focus, 300);
  EXPECT_GT(runs_with_continuations, 200);
}

TEST(MeterTest, StraightRunMatchesIndependentlyComputedTotals) {
  // Cross-checks the meter against a direct model of the definition:
  // replay the settled state changes in time order and integrate.
  for (std::uint32_t seed = 1; seed <= 400; ++seed) {
    SCOPED_TRACE(seed);
    const RandomDay day = MakeRandomDay(seed);
    std::vector<MeterEvent> by_time;
    for (const auto& a : day.arrivals) by_time.push_back(a.event);
    std::stable_sort(by_time.begin(), by_time.end(),
                     [](const MeterEvent& a, const MeterEvent& b) { return a.at < b.at; });
    // Arrival order breaks ties, as the meter does.
    std::map<std::string, std::int64_t> expected;
    std::optional<AppIdentity> focus;
    bool idle = false, locked = false, suspended = false;
    MonoTime last{0};
    auto credit = [&](MonoTime until) {
      if (focus && !idle && !locked && !suspended && until > last) {
        expected[focus->exe_name] += (until - last).count();
      }
      last = until;
    };
    for (const auto& e : by_time) {
      credit(e.at);
      switch (e.kind) {
        case Kind::kFocus:
          focus = e.app;
          break;
        case Kind::kIdle:
          idle = true;
          break;
        case Kind::kActive:
          idle = false;
          break;
        case Kind::kLock:
          locked = true;
          break;
        case Kind::kUnlock:
          locked = false;
          break;
        case Kind::kSuspend:
          suspended = true;
          break;
        case Kind::kResume:
          suspended = false;
          break;
      }
    }
    credit(day.end);
    std::uint64_t late = 0;
    EXPECT_EQ(TotalsByApp(RunWithCrashes(day, {}, &late)), expected);
  }
}

}  // namespace
}  // namespace reclaim::agent
