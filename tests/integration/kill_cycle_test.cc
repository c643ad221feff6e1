// The headline end-to-end test: a generated day is replayed by the real agent
// into the real collector over loopback while both are SIGKILLed and
// restarted again and again, at random moments, some in the middle of
// uploading a backlog. Afterwards the collector must hold exactly the focus
// time and sessions the script contains, per application: nothing lost
// (store-and-forward, acks after commit, the replay cursor in the spool
// transaction) and nothing counted twice (the (device, instance, seq) ledger).
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <regex>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/binaries.h"
#include "tests/integration/harness.h"
#include "tests/integration/process.h"
#include "tests/integration/script_gen.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::integration {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kCycles = 20;  // SIGKILLs of each program, at least

// Batches the agent found in its spool at each start ("(N batches pending)").
std::vector<int> PendingAtStarts(const std::string& agent_log) {
  static const std::regex re(R"(\((\d+) batches pending\))");
  std::vector<int> out;
  for (std::sregex_iterator it(agent_log.begin(), agent_log.end(), re), end; it != end; ++it) {
    out.push_back(std::stoi((*it)[1]));
  }
  return out;
}

TEST(KillCycleTest, ExactTotalsAfterRepeatedSigkillOfCollectorAndAgent) {
  const Binaries bin = TestBinaries();
  reclaim::testing::TempDir dir;
  const auto test_start = std::chrono::steady_clock::now();

  // A ten-hour day crossing a UTC midnight, every verb several times.
  ScriptSpec spec;
  spec.seed = 20261123;
  spec.duration_ms = 10LL * 3600 * 1000;
  spec.start_utc_ms = PastStartUtcMs();
  spec.max_gap_ms = 8 * 60 * 1000;
  const GeneratedScript script = GenerateScript(spec);
  for (const char* verb :
       {"focus", "nofocus", "idle", "active", "lock", "unlock", "suspend", "resume"}) {
    ASSERT_GE(script.verbs.count(verb) ? script.verbs.at(verb) : 0, 2) << verb;
  }
  ASSERT_GE(script.expected.size(), 6u);
  const std::string script_path = dir.File("day.script");
  WriteFile(script_path, script.text);

  CollectorProcess collector(bin.collector, dir.path().string(), dir.File("collector.db"));
  ASSERT_TRUE(collector.Start());

  // 10 h at 720x is 50 s of replay (12 batches a second, one per virtual
  // minute); every agent restart adds its downtime. The kill cycles are paced
  // to end within 70% of that, so the replay is still running when they end.
  constexpr double kSpeed = 720;
  const auto chaos_deadline =
      std::chrono::steady_clock::now() +
      milliseconds(static_cast<std::int64_t>(0.7 * spec.duration_ms / kSpeed));
  AgentArgs args;
  args.collector = collector.agent_target();
  args.spool = dir.File("spool.db");
  args.script = script_path;
  args.replay_speed = kSpeed;
  args.heartbeat_s = 60;
  args.drain_timeout_s = 60;
  const std::vector<std::string> agent_argv = args.Build();
  const std::string agent_log = dir.File("agent.log");
  // The agent logs to stderr, which is flushed per line (--log-file flushes
  // info lines only when its buffer fills, so a SIGKILL would eat them).
  const SpawnOptions agent_out{.stdout_path = agent_log, .stderr_path = agent_log};
  Process agent = Process::Spawn(bin.agent, agent_argv, agent_out);
  ASSERT_TRUE(agent.started()) << agent.error();

  // Connections the agent has made so far (one log line each).
  const auto connections = [&] { return CountOf(ReadFile(agent_log), "connected to collector"); };
  int collector_kills = 0, agent_kills = 0, kills_during_backlog = 0;
  std::chrono::steady_clock::duration reconnect_wait_total{0}, reconnect_wait_max{0};
  const auto kill_agent = [&] {
    ASSERT_TRUE(agent.Running()) << "the agent ended early (" << agent.Describe()
                                 << "): the replay was shorter than the kill cycles";
    agent.KillAndReap();
    ASSERT_EQ(agent.term_signal(), SIGKILL);
    ++agent_kills;
  };
  const auto restart_agent = [&] {
    agent = Process::Spawn(bin.agent, agent_argv, agent_out);
    ASSERT_TRUE(agent.started()) << agent.error();
  };
  const auto kill_collector = [&] {
    ASSERT_TRUE(collector.Running())
        << "the collector died on its own; see " << collector.log_path();
    collector.Kill();
    ++collector_kills;
  };
  std::mt19937_64 rng(42);
  const auto between = [&rng](int lo_ms, int hi_ms) {
    return milliseconds(lo_ms + static_cast<int>(rng() % static_cast<unsigned>(hi_ms - lo_ms + 1)));
  };

  // The schedule, shuffled: 22 collector kills and 20 agent kills in all.
  enum Action {
    kAgent,                     // agent killed, back at once or after a while
    kCollector,                 // collector killed, back at once
    kCollectorDownAgentKilled,  // collector down a while, agent killed meanwhile
    kBacklogThenKillAgent,      // collector down a while (a backlog builds); once
    kBacklogThenKillCollector,  // the agent is back uploading, one of them is killed
  };
  std::vector<Action> plan;
  plan.insert(plan.end(), 12, kAgent);
  plan.insert(plan.end(), 10, kCollector);
  plan.insert(plan.end(), 5, kCollectorDownAgentKilled);
  plan.insert(plan.end(), 3, kBacklogThenKillAgent);
  plan.insert(plan.end(), 2, kBacklogThenKillCollector);
  std::shuffle(plan.begin(), plan.end(), rng);

  // Pauses below are the chaos schedule (how long to let things run or stay
  // down), not waits for a condition; conditions are polled with WaitFor.
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto left = chaos_deadline - std::chrono::steady_clock::now();
    const auto share =
        std::chrono::duration_cast<milliseconds>(left / static_cast<int>(plan.size() - i));
    std::this_thread::sleep_for(std::max(milliseconds(0), std::min(between(50, 400), share)));
    switch (plan[i]) {
      case kAgent:
        ASSERT_NO_FATAL_FAILURE(kill_agent());
        if (rng() % 3 == 0) std::this_thread::sleep_for(between(50, 300));
        ASSERT_NO_FATAL_FAILURE(restart_agent());
        break;
      case kCollector:
        ASSERT_NO_FATAL_FAILURE(kill_collector());
        ASSERT_TRUE(collector.Start());
        break;
      case kCollectorDownAgentKilled:
        ASSERT_NO_FATAL_FAILURE(kill_collector());
        std::this_thread::sleep_for(between(50, 300));
        ASSERT_NO_FATAL_FAILURE(kill_agent());
        ASSERT_NO_FATAL_FAILURE(restart_agent());
        std::this_thread::sleep_for(between(50, 300));
        ASSERT_TRUE(collector.Start());
        break;
      case kBacklogThenKillAgent:
      case kBacklogThenKillCollector: {
        ASSERT_NO_FATAL_FAILURE(kill_collector());
        std::this_thread::sleep_for(between(500, 1000));
        const int before = connections();
        ASSERT_TRUE(collector.Start());
        // The agent reconnects and starts sending the backlog.
        const auto restarted = std::chrono::steady_clock::now();
        ASSERT_TRUE(WaitFor([&] { return connections() > before || !agent.Running(); }, seconds(15),
                            milliseconds(5)))
            << "the agent did not reconnect";
        const auto waited = std::chrono::steady_clock::now() - restarted;
        reconnect_wait_total += waited;
        reconnect_wait_max = std::max(reconnect_wait_max, waited);
        std::this_thread::sleep_for(between(0, 5));
        ++kills_during_backlog;
        if (plan[i] == kBacklogThenKillAgent) {
          ASSERT_NO_FATAL_FAILURE(kill_agent());
          ASSERT_NO_FATAL_FAILURE(restart_agent());
        } else {
          ASSERT_NO_FATAL_FAILURE(kill_collector());
          ASSERT_TRUE(collector.Start());
        }
        break;
      }
    }
  }
  const auto chaos_done = std::chrono::steady_clock::now();

  // Let the agent finish: the replay ends, everything is acknowledged, exit 0.
  ASSERT_TRUE(agent.Wait(seconds(90))) << "the agent did not finish";
  ASSERT_EQ(agent.exit_code(), 0) << agent.Describe() << "; log:\n" << ReadFile(agent_log);
  const auto agent_done = std::chrono::steady_clock::now();

  std::map<std::string, UsageRow> usage;
  ASSERT_TRUE(QueryUsage(bin, collector, dir.path().string(), &usage));
  EXPECT_TRUE(UsageMatches(usage, script.expected));
  EXPECT_EQ(TotalFocusMs(usage), script.total_focus_ms);

  std::vector<DeviceRow> devices;
  ASSERT_TRUE(QueryDevices(bin, collector, dir.path().string(), &devices));
  ASSERT_EQ(devices.size(), 1u) << "one agent instance (the spool survived every kill)";
  EXPECT_EQ(devices[0].device_id, "it-device-01");
  EXPECT_EQ(devices[0].dropped_batches, 0u);
  EXPECT_EQ(devices[0].dropped_intervals, 0u);
  EXPECT_EQ(devices[0].dropped_focus_ms, 0u);
  EXPECT_EQ(devices[0].corrupt_spools, 0u);
  EXPECT_EQ(devices[0].quarantined_intervals, 0u);
  EXPECT_TRUE(collector.Stop());

  // Evidence that the kills hit the interesting moments (timing-dependent,
  // so reported rather than asserted beyond the schedule itself).
  const std::vector<int> pending = PendingAtStarts(ReadFile(agent_log));
  int starts_with_backlog = 0;
  for (int n : pending) starts_with_backlog += n >= 5;
  EXPECT_EQ(kills_during_backlog, 5);
  EXPECT_GE(collector_kills, kCycles);
  EXPECT_GE(agent_kills, kCycles);

  const auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::printf(
      "script: %d events, %zu applications, %lld ms focus in %lld sessions\n"
      "kills: collector %d, agent %d, %d right after a reconnect with a backlog; collector "
      "restarts needing a bind retry: %d; agent starts with >= 5 batches pending: %d\n"
      "time: chaos %.1f s (waiting for reconnects %.1f s, longest %.2f s), drain %.1f s\n",
      script.events, script.expected.size(), static_cast<long long>(script.total_focus_ms),
      static_cast<long long>(script.total_sessions), collector_kills, agent_kills,
      kills_during_backlog, collector.bind_retries(), starts_with_backlog,
      secs(chaos_done - test_start), secs(reconnect_wait_total), secs(reconnect_wait_max),
      secs(agent_done - chaos_done));
}

}  // namespace
}  // namespace reclaim::integration
