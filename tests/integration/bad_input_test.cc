// Bad input to the real programs: each case must end in a clear error (or a
// documented recovery), never a crash, and nothing already stored may be lost.
//
// Exit codes (agent/main.cc, collector/server/main.cc, collector/ctl/main.cc):
// agent 0 done / 1 runtime error / 2 bad flags, config or script / 3 not all
// acknowledged before --drain-timeout; collector 1 start-up error / 2 bad flags
// or config; reclaimctl 1 collector error or unreachable / 2 bad flags.
#include <chrono>
#include <filesystem>
#include <random>
#include <regex>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/binaries.h"
#include "tests/integration/harness.h"
#include "tests/integration/process.h"
#include "tests/integration/script_gen.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait_for.h"

namespace reclaim::integration {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

class BadInputTest : public ::testing::Test {
 protected:
  // A one-hour generated day in the test's dir.
  GeneratedScript WriteScript(std::uint64_t seed, const std::string& path) {
    ScriptSpec spec;
    spec.seed = seed;
    spec.duration_ms = 3600LL * 1000;
    spec.start_utc_ms = PastStartUtcMs();
    spec.max_gap_ms = 4 * 60 * 1000;
    GeneratedScript s = GenerateScript(spec);
    WriteFile(path, s.text);
    return s;
  }

  AgentArgs Agent(const std::string& collector) {
    AgentArgs a;
    a.collector = collector;
    a.spool = dir_.File("spool.db");
    a.script = dir_.File("day.script");
    return a;
  }

  // Runs the agent to completion (scratch files named after `tag`).
  RunResult RunAgent(const std::vector<std::string>& args, const std::string& tag) {
    return RunToCompletion(bin_.agent, args, dir_.File(tag), seconds(60));
  }

  // A collector started once and stopped: its ports are then free (nothing
  // listens) and it can be restarted on them.
  ::testing::AssertionResult StartAndStop(CollectorProcess& c) {
    if (auto r = c.Start(); !r) return r;
    return c.Stop();
  }

  const Binaries bin_ = TestBinaries();
  reclaim::testing::TempDir dir_;
};

// ---- Config files ----------------------------------------------------------

TEST_F(BadInputTest, AgentConfigWithBadValueIsExit2NamingTheOption) {
  WriteScript(1, dir_.File("day.script"));
  const struct {
    const char* toml;
    const char* option;
  } cases[] = {
      {"replay-speed = \"fast\"\n", "--replay-speed"},
      {"heartbeat = 0\n", "--heartbeat"},
      {"spool-max-bytes = -5\n", "--spool-max-bytes"},
      {"drain-timeout = \"soon\"\n", "--drain-timeout"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.toml);
    WriteFile(dir_.File("agent.toml"), c.toml);
    // Only flags the config does not set (flags win over the file); were
    // the file taken, the agent would replay in real time: 10 s tells.
    const RunResult r =
        RunToCompletion(bin_.agent,
                        {"--config", dir_.File("agent.toml"), "--script", dir_.File("day.script"),
                         "--spool", dir_.File("spool.db"), "--device-id", "d", "--exit-when-done"},
                        dir_.File("agent"), seconds(10));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.option));
    EXPECT_FALSE(std::filesystem::exists(dir_.File("spool.db"))) << "it went on running";
  }
  // A config file that does not exist is no silent default either.
  const RunResult r = RunAgent({"--config", dir_.File("missing.toml")}, "agent");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("missing.toml"));
}

TEST_F(BadInputTest, CollectorConfigWithBadValueIsExit2AndTheStoreIsKept) {
  // Some usage stored first, so that "nothing lost" means something.
  const GeneratedScript script = WriteScript(2, dir_.File("day.script"));
  CollectorProcess collector(bin_.collector, dir_.path().string(), dir_.File("collector.db"));
  ASSERT_TRUE(collector.Start());
  const RunResult agent = RunAgent(Agent(collector.agent_target()).Build(), "agent");
  ASSERT_EQ(agent.exit_code, 0) << agent.err;
  ASSERT_TRUE(collector.Stop());

  const struct {
    const char* toml;
    const char* option;
  } cases[] = {
      {"max-in-flight-batches = \"many\"\n", "--max-in-flight-batches"},
      {"max-message-bytes = 10\n", "--max-message-bytes"},
      {"max-future-skew = -1\n", "--max-future-skew"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.toml);
    WriteFile(dir_.File("collector.toml"), std::string("db = \"") + dir_.File("collector.db") +
                                               "\"\nlisten = \"127.0.0.1:0\"\n"
                                               "admin-listen = \"127.0.0.1:0\"\n" +
                                               c.toml);
    const RunResult r = RunToCompletion(bin_.collector, {"--config", dir_.File("collector.toml")},
                                        dir_.File("collector-bad"), seconds(20));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.option));
  }

  ASSERT_TRUE(collector.Start());
  std::map<std::string, UsageRow> usage;
  ASSERT_TRUE(QueryUsage(bin_, collector, dir_.path().string(), &usage));
  EXPECT_TRUE(UsageMatches(usage, script.expected));
  EXPECT_TRUE(collector.Stop());
}

// Malformed TOML (not a bad value): a syntax error with the offending line,
// and unknown keys refused (common/toml_config.h). Each case: exit 2 and the
// problem quoted on stderr; the program does not go on running.
TEST_F(BadInputTest, AgentConfigWithBrokenTomlIsExit2) {
  WriteScript(3, dir_.File("day.script"));
  const struct {
    const char* toml;
    const char* shown;  // what stderr must quote
  } cases[] = {
      {"collector = \"127.0.0.1:1\n", "collector = \"127.0.0.1:1"},  // unterminated string
      {"[agent\nheartbeat = 5\n", "[agent"},                         // unterminated table
      {"= = =\n", "= = ="},
      {"replay-speed = [1, 2\n", "replay-speed = [1, 2"},
      {"heartbeat = 5\nheartbeat = 6\n", "heartbeat"},  // duplicate key
      {"colector = \"127.0.0.1:1\"\n", "colector"},     // unknown key (typo)
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.toml);
    WriteFile(dir_.File("agent.toml"), c.toml);
    const RunResult r =
        RunAgent({"--config", dir_.File("agent.toml"), "--script", dir_.File("day.script"),
                  "--spool", dir_.File("spool.db"), "--device-id", "d", "--replay-speed", "0",
                  "--exit-when-done", "--drain-timeout", "0"},
                 "agent");
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.shown));
    EXPECT_FALSE(std::filesystem::exists(dir_.File("spool.db"))) << "it went on running";
  }
}

TEST_F(BadInputTest, CollectorConfigWithBrokenTomlIsExit2) {
  const struct {
    const char* toml;
    const char* shown;
  } cases[] = {
      {"[collector\n", "[collector"},
      {"max-in-flight-batches = [1\n", "max-in-flight-batches = [1"},
      {"= = =\n", "= = ="},
      {"listen = \"127.0.0.1:0\n", "listen = \"127.0.0.1:0"},
      {"max-inflight-batches = 4\n", "max-inflight-batches"},  // unknown key (typo)
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.toml);
    // The valid keys go first, so that a file taken as valid would start a
    // collector (it then runs until killed: 5 s is plenty to tell).
    WriteFile(dir_.File("collector.toml"), "db = \"" + dir_.File("collector.db") +
                                               "\"\nadmin-listen = \"127.0.0.1:0\"\n" + c.toml);
    const RunResult r = RunToCompletion(bin_.collector, {"--config", dir_.File("collector.toml")},
                                        dir_.File("collector-bad"), seconds(5));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.shown));
    EXPECT_FALSE(std::filesystem::exists(dir_.File("collector.db"))) << "it went on running";
  }
}

// ---- The spool -------------------------------------------------------------

TEST_F(BadInputTest, CorruptSpoolIsSetAsideCountedAndTheReplayStillDelivered) {
  const GeneratedScript script = WriteScript(4, dir_.File("day.script"));
  std::string garbage(32 * 1024, '\0');
  std::mt19937_64 rng(4);
  for (char& c : garbage) c = static_cast<char>(rng());
  WriteFile(dir_.File("spool.db"), garbage);

  CollectorProcess collector(bin_.collector, dir_.path().string(), dir_.File("collector.db"));
  ASSERT_TRUE(collector.Start());
  const RunResult r = RunAgent(Agent(collector.agent_target()).Build(), "agent");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("error: spool " + dir_.File("spool.db") + " is corrupt"));
  EXPECT_THAT(r.err, HasSubstr("moved it to " + dir_.File("spool.db.corrupt-")));

  // Set aside, never deleted or changed.
  const std::vector<std::string> aside = FilesWithPrefix(dir_.path().string(), "spool.db.corrupt-");
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_TRUE(ReadFile(aside[0]) == garbage) << "the corrupt spool was modified";

  std::vector<DeviceRow> devices;
  ASSERT_TRUE(QueryDevices(bin_, collector, dir_.path().string(), &devices));
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].corrupt_spools, 1u);
  EXPECT_EQ(devices[0].dropped_focus_ms, 0u);
  std::map<std::string, UsageRow> usage;
  ASSERT_TRUE(QueryUsage(bin_, collector, dir_.path().string(), &usage));
  EXPECT_TRUE(UsageMatches(usage, script.expected));
  EXPECT_TRUE(collector.Stop());
}

// ---- The network -----------------------------------------------------------

TEST_F(BadInputTest, UnreachableCollectorExits3AndTheSpoolDeliversLater) {
  const GeneratedScript script = WriteScript(5, dir_.File("day.script"));
  CollectorProcess collector(bin_.collector, dir_.path().string(), dir_.File("collector.db"));
  ASSERT_TRUE(StartAndStop(collector));  // nothing listens on its port now

  AgentArgs args = Agent(collector.agent_target());
  args.drain_timeout_s = 1;
  const RunResult first = RunAgent(args.Build(), "agent-1");
  EXPECT_EQ(first.exit_code, 3) << first.err;
  EXPECT_THAT(first.err, HasSubstr("collector " + collector.agent_target() + " unavailable"));
  EXPECT_THAT(first.err, HasSubstr("stay in the spool for the next run"));

  ASSERT_TRUE(collector.Start());
  args.drain_timeout_s = 30;
  const RunResult second = RunAgent(args.Build(), "agent-2");
  EXPECT_EQ(second.exit_code, 0) << second.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(second.err, m, std::regex(R"(\((\d+) batches pending\))")))
      << second.err;
  EXPECT_GT(std::stoi(m[1]), 0) << "the first run kept nothing in the spool";

  std::map<std::string, UsageRow> usage;
  ASSERT_TRUE(QueryUsage(bin_, collector, dir_.path().string(), &usage));
  EXPECT_TRUE(UsageMatches(usage, script.expected));
  EXPECT_EQ(TotalFocusMs(usage), script.total_focus_ms);
  EXPECT_TRUE(collector.Stop());
}

TEST_F(BadInputTest, ReclaimctlAgainstADeadAddressIsExit1CannotReach) {
  CollectorProcess collector(bin_.collector, dir_.path().string(), dir_.File("collector.db"));
  ASSERT_TRUE(StartAndStop(collector));
  for (const char* command : {"usage", "devices", "quarantine"}) {
    SCOPED_TRACE(command);
    const RunResult r = RunToCompletion(
        bin_.ctl,
        {command, "--collector", collector.admin_target(), "--timeout", "5", "--output", "json",
         "--insecure-plaintext"},
        dir_.File("ctl"), seconds(30));
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_THAT(r.err,
                HasSubstr("cannot reach the collector's admin API at " + collector.admin_target()));
    EXPECT_EQ(r.out, "");
  }
}

// ---- Scripts ---------------------------------------------------------------

TEST_F(BadInputTest, ScriptWithAnErrorIsExit2WithFileAndLine) {
  const struct {
    const char* text;
    int line;
    const char* what;
  } cases[] = {
      {"start 2026-11-23T08:00:00Z\n+00:00:00 focus class=A\n+00:10:00 focs class=B\n"
       "+00:20:00 end\n",
       3, "unknown verb"},
      {"# offsets go back\n+00:10:00 focus class=A\n\n+00:05:00 idle\n+00:20:00 end\n", 4, ""},
      {"+00:00:00 focus class=\"unterminated\n+00:20:00 end\n", 1, ""},
      {"+00:00:00 focus class=A\n+00:61:00 idle\n+02:00:00 end\n", 2, ""},
      {"+00:00:00 focus class=A\n+00:10:00 idle\n", 2, ""},  // no `end`
  };
  int i = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string path = dir_.File("bad-" + std::to_string(++i) + ".script");
    WriteFile(path, c.text);
    AgentArgs args = Agent("127.0.0.1:1");
    args.script = path;
    const RunResult r = RunAgent(args.Build(), "agent");
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(path + ":" + std::to_string(c.line) + ": "));
    EXPECT_THAT(r.err, HasSubstr(c.what));
    EXPECT_FALSE(std::filesystem::exists(dir_.File("spool.db"))) << "it went on running";
  }
}

// ---- The collector's store -------------------------------------------------

TEST_F(BadInputTest, CollectorWithGarbageDbExits1AndLeavesTheFileAlone) {
  std::string garbage(20000, '\0');
  std::mt19937_64 rng(9);
  for (char& c : garbage) c = static_cast<char>(rng());
  const std::string db = dir_.File("collector.db");
  WriteFile(db, garbage);
  // The rest of the configuration is valid (it is checked before the store).
  const RunResult r = RunToCompletion(
      bin_.collector,
      {"--db", db, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
       "--insecure-plaintext", "--allow-unenrolled-agents"},
      dir_.File("collector"), seconds(20));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot open the usage store " + db));
  EXPECT_THAT(r.err, HasSubstr("not a database"));
  EXPECT_TRUE(ReadFile(db) == garbage) << "the collector changed a file it could not open";
}

TEST_F(BadInputTest, CollectorWithUnusableDbPathExits1) {
  WriteFile(dir_.File("plain-file"), "x");
  std::filesystem::create_directory(dir_.File("a-directory"));
  for (const std::string& db : {dir_.File("plain-file") + "/collector.db", dir_.File("a-directory"),
                                dir_.File("missing/dir/collector.db")}) {
    SCOPED_TRACE(db);
    const RunResult r = RunToCompletion(
        bin_.collector,
        {"--db", db, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
         "--insecure-plaintext", "--allow-unenrolled-agents"},
        dir_.File("collector"), seconds(20));
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("cannot open the usage store " + db));
  }
}

// ---- One agent per spool --------------------------------------------------

TEST_F(BadInputTest, SecondAgentOnTheSameSpoolExits1NamingItWhileTheFirstGoesOn) {
  WriteScript(7, dir_.File("day.script"));
  CollectorProcess collector(bin_.collector, dir_.path().string(), dir_.File("collector.db"));
  ASSERT_TRUE(collector.Start());
  const AgentArgs args = Agent(collector.agent_target());
  AgentArgs slow = args;
  slow.replay_speed = 1;  // the hour of script in real time: it keeps running
  Process first = Process::Spawn(bin_.agent, slow.Build(),
                                 {.stdout_path = dir_.File("agent-1.out"),
                                  .stderr_path = dir_.File("agent-1.err")});
  ASSERT_TRUE(first.started()) << first.error();
  // It holds the lock once its pid is in <spool>.lock.
  const std::string lock = args.spool + ".lock";
  const std::string first_pid = std::to_string(first.pid());
  ASSERT_TRUE(reclaim::testing::WaitFor(
      [&] { return std::filesystem::exists(lock) && ReadFile(lock) == first_pid + "\n"; },
      seconds(30)))
      << first.Describe() << "\n" << ReadFile(dir_.File("agent-1.err"));

  const RunResult second = RunAgent(args.Build(), "agent-2");
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_THAT(second.err, HasSubstr("another reclaim-agent is using " + args.spool + " (pid " +
                                    first_pid + ")"));
  EXPECT_TRUE(first.Running()) << first.Describe() << "\n" << ReadFile(dir_.File("agent-1.err"));
  EXPECT_EQ(ReadFile(lock), first_pid + "\n") << "the refused agent changed the lock file";

  // However the first one ends (here SIGKILL), the lock goes with it.
  first.KillAndReap();
  const RunResult third = RunAgent(args.Build(), "agent-3");
  EXPECT_EQ(third.exit_code, 0) << third.err;
  EXPECT_THAT(third.err, ::testing::Not(HasSubstr("another reclaim-agent")));
  EXPECT_TRUE(collector.Stop());
}

}  // namespace
}  // namespace reclaim::integration
