// The spool cap end to end: with the collector down, an agent with a small
// --spool-max-bytes replays a whole day and must drop its oldest batches,
// counting exactly what it dropped; once the collector is back, a second run
// on the same spool delivers the rest. Stored focus time plus the reported
// dropped focus time must equal the scripted total exactly.
#include <chrono>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/integration/binaries.h"
#include "tests/integration/harness.h"
#include "tests/integration/process.h"
#include "tests/integration/script_gen.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::integration {
namespace {

using std::chrono::seconds;

TEST(SpoolCapTest, StoredPlusDroppedEqualsScriptedTotal) {
  const Binaries bin = TestBinaries();
  reclaim::testing::TempDir dir;

  // Identities with 1.5 KB exe paths make ~1.6 KB intervals: a four-hour day
  // is several times the smallest cap the agent accepts (64 KiB).
  ScriptSpec spec;
  spec.seed = 77;
  spec.duration_ms = 4LL * 3600 * 1000;
  spec.start_utc_ms = PastStartUtcMs();
  spec.max_gap_ms = 6 * 60 * 1000;
  for (int i = 0; i < 5; ++i) spec.apps.push_back(LongPathApp(i, 1500));
  const GeneratedScript script = GenerateScript(spec);
  const std::string script_path = dir.File("day.script");
  WriteFile(script_path, script.text);

  // Learn the collector's ports, then take it down for the first agent run.
  CollectorProcess collector(bin.collector, dir.path().string(), dir.File("collector.db"));
  ASSERT_TRUE(collector.Start());
  ASSERT_TRUE(collector.Stop());

  AgentArgs args;
  args.collector = collector.agent_target();
  args.spool = dir.File("spool.db");
  args.script = script_path;
  args.replay_speed = 0;
  args.drain_timeout_s = 1;
  args.spool_max_bytes = 64 * 1024;
  const RunResult first = RunToCompletion(bin.agent, args.Build(), dir.File("agent-1"));
  EXPECT_EQ(first.exit_code, 3) << first.err;
  EXPECT_NE(first.err.find("spool cap of 65536 bytes reached"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("stay in the spool for the next run"), std::string::npos) << first.err;
  ASSERT_TRUE(std::filesystem::exists(args.spool));

  ASSERT_TRUE(collector.Start());
  args.drain_timeout_s = 30;
  const RunResult second = RunToCompletion(bin.agent, args.Build(), dir.File("agent-2"));
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("script already replayed completely"), std::string::npos) << second.err;

  std::map<std::string, UsageRow> usage;
  ASSERT_TRUE(QueryUsage(bin, collector, dir.path().string(), &usage));
  std::vector<DeviceRow> devices;
  ASSERT_TRUE(QueryDevices(bin, collector, dir.path().string(), &devices));
  ASSERT_EQ(devices.size(), 1u);
  const DeviceRow& d = devices[0];
  EXPECT_GT(d.dropped_batches, 0u);
  EXPECT_GT(d.dropped_intervals, 0u);
  EXPECT_GT(d.dropped_focus_ms, 0u);
  EXPECT_EQ(d.corrupt_spools, 0u);
  EXPECT_EQ(d.quarantined_intervals, 0u);
  const std::int64_t stored = TotalFocusMs(usage);
  EXPECT_GT(stored, 0);
  EXPECT_EQ(stored + static_cast<std::int64_t>(d.dropped_focus_ms), script.total_focus_ms)
      << "stored " << stored << " ms + dropped " << d.dropped_focus_ms << " ms";
  // What was kept is the newest part: never more than the script per app.
  for (const auto& [app, row] : usage) {
    ASSERT_TRUE(script.expected.count(app)) << app;
    EXPECT_LE(row.focus_ms, script.expected.at(app).focus_ms) << app;
  }
  EXPECT_TRUE(collector.Stop());
  std::printf("scripted %lld ms; stored %lld ms; dropped %llu batches, %llu intervals, %llu ms\n",
              static_cast<long long>(script.total_focus_ms), static_cast<long long>(stored),
              static_cast<unsigned long long>(d.dropped_batches),
              static_cast<unsigned long long>(d.dropped_intervals),
              static_cast<unsigned long long>(d.dropped_focus_ms));
}

}  // namespace
}  // namespace reclaim::integration
