// Linux side of the cross-platform sample-day check: the agent's own
// ScriptedSource (ParseScript + ScriptReplay, abseil) replays
// deploy/sample-day.script to exactly the totals in sample_day_totals.txt,
// which the meter core built for Windows must also give
// (sample_day_totals_test.cc under Wine); and the std-only test reader
// parses the script to the same events.
#include <cstdlib>
#include <fstream>
#include <string>

#include "agent/sources/scripted_source.h"
#include "gtest/gtest.h"
#include "tests/windows/script_replay_std.h"

namespace reclaim::agent::testing {
namespace {

TEST(SampleDayLinuxTest, ScriptedSourceGivesTheExpectedTotals) {
  const std::string src = RECLAIM_SOURCE_DIR;
  absl::StatusOr<Script> script = LoadScript(src + "/deploy/sample-day.script");
  ASSERT_TRUE(script.ok()) << script.status();
  ScriptReplay replay(*script, MeterOptions{}, *script->start_utc_ms, MonoTime{0});
  std::vector<FocusInterval> out;
  // Uneven steps: the replay polls at the same heartbeat boundaries anyway.
  for (MonoTime t{0}; !replay.done(); t += std::chrono::milliseconds(97531)) {
    for (auto& i : replay.AdvanceTo(t)) out.push_back(std::move(i));
  }
  const std::string expected = ReadTestFile(src + "/tests/windows/sample_day_totals.txt");
  EXPECT_EQ(FormatTotals(out), expected);
  if (const char* dump = std::getenv("RECLAIM_WRITE_TOTALS")) {
    std::ofstream(dump, std::ios::binary) << FormatTotals(out);
  }
}

TEST(SampleDayLinuxTest, StdReaderParsesLikeScriptedSource) {
  const std::string src = RECLAIM_SOURCE_DIR;
  const std::string text = ReadTestFile(src + "/deploy/sample-day.script");
  absl::StatusOr<Script> script = ParseScript(text, "sample-day.script");
  ASSERT_TRUE(script.ok()) << script.status();
  std::string error;
  std::optional<StdScript> mine = ParseScriptStd(text, &error);
  ASSERT_TRUE(mine) << error;
  EXPECT_EQ(mine->start_utc_ms, script->start_utc_ms);
  EXPECT_EQ(mine->end, script->end);
  ASSERT_EQ(mine->events.size(), script->events.size());
  for (std::size_t i = 0; i < mine->events.size(); ++i) {
    EXPECT_EQ(mine->events[i].kind, script->events[i].kind) << i;
    EXPECT_EQ(mine->events[i].at, script->events[i].at) << i;
    EXPECT_EQ(mine->events[i].app, script->events[i].app) << i;
  }
}

}  // namespace
}  // namespace reclaim::agent::testing
