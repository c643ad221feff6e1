// The bundled sample day (deploy/sample-day.script) replayed through the meter
// core gives the totals in sample_day_totals.txt. The same test source runs in
// the Linux build and, built with mingw-w64, under Wine: both meters give the
// same totals. sample_day_linux_test.cc checks the file against the agent's
// own ScriptedSource replay on Linux.
#include <string>

#include "gtest/gtest.h"
#include "tests/windows/script_replay_std.h"

namespace reclaim::agent::testing {
namespace {

TEST(SampleDayTotalsTest, MeterGivesTheExpectedTotals) {
  const std::string src = RECLAIM_SOURCE_DIR;
  std::string error;
  std::optional<StdScript> script =
      ParseScriptStd(ReadTestFile(src + "/deploy/sample-day.script"), &error);
  ASSERT_TRUE(script) << error;
  ASSERT_TRUE(script->start_utc_ms);
  EXPECT_EQ(*script->start_utc_ms, 1795420800000);  // 2026-11-23T08:00:00Z
  const std::string totals = FormatTotals(ReplayStd(*script, MeterOptions{}, *script->start_utc_ms));
  EXPECT_EQ(totals, ReadTestFile(src + "/tests/windows/sample_day_totals.txt"));
}

TEST(SampleDayTotalsTest, HeartbeatSplitsButKeepsTotals) {
  const std::string src = RECLAIM_SOURCE_DIR;
  std::string error;
  std::optional<StdScript> script =
      ParseScriptStd(ReadTestFile(src + "/deploy/sample-day.script"), &error);
  ASSERT_TRUE(script) << error;
  MeterOptions five_min;
  five_min.heartbeat = std::chrono::minutes(5);
  std::int64_t a = 0, b = 0;
  for (const auto& i : ReplayStd(*script, MeterOptions{}, 0)) a += i.active_duration_ms;
  for (const auto& i : ReplayStd(*script, five_min, 0)) b += i.active_duration_ms;
  EXPECT_EQ(a, b);
  // By hand: 08:00-17:30 is 570 min, minus idle 12 + 30 min, lock 45 min,
  // lock + suspend 16.5 min, nofocus 2.5 min and the last 10 min: 454 min.
  EXPECT_EQ(a, 454 * 60000LL);
}

}  // namespace
}  // namespace reclaim::agent::testing
