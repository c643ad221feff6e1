// Direct mode with the real reclaim-agent-service binary as the personal
// relay process (relay_process_linux.cc, relay_connector.cc) against an
// in-process collector: data arrives through it; a relay killed mid-stream is
// logged, replaced after the backoff and nothing is lost; a relay dies with
// the agent (PR_SET_PDEATHSIG) even when the agent cannot clean up.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/local/local_uplink.h"
#include "agent/local/relay_connector.h"
#include "agent/local/relay_process.h"
#include "reclaim/v1/agent.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/usage_batches.h"
#include "tests/testing/test_collector.h"
#include "tests/testing/wait_for.h"

namespace reclaim::agent {
namespace {

using std::chrono::seconds;

// Children of this process running reclaim-agent-service.
std::vector<pid_t> RelayChildren() {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    if (close == std::string::npos || stat.find("(reclaim-agent-s") == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 &&
        ppid == getpid() && state != 'Z') {
      out.push_back(std::stoi(name));
    }
  }
  return out;
}

// True while `pid` exists and is not a zombie.
bool Alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] != 'Z';
}

SpoolBatch Batch() { return testing::GimpBatch(); }

class RelayProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"));
    ASSERT_TRUE(collector_->ok());
    auto s = Spool::Open({.path = dir_.File("spool.db"), .max_bytes = 1 << 20}, clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    spool_ = std::move(*s);
  }
  std::unique_ptr<Uplink> Start() {
    UplinkOptions o;
    o.backoff.initial = std::chrono::milliseconds(20);
    o.backoff.max = std::chrono::milliseconds(200);
    AgentIdentity id;
    id.device_id = "dev-relay";
    id.user.login_name = "jdoe";
    id.user.domain = "EXAMPLE";
    auto u = MakeLocalUplink(*spool_, id, o,
                             MakeRelayConnector(MakeProcessRelaySpawner(RECLAIM_AGENT_SERVICE_BIN),
                                                Options()));
    u->Start();
    return u;
  }
  RelayConnectorOptions Options() {
    RelayConnectorOptions r;
    r.collector = collector_->target();
    r.relay_args = {"--collector", collector_->target(), "--insecure-plaintext", "--log-level",
                    "warn"};
    return r;
  }

  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<testing::TestCollector> collector_;
  std::unique_ptr<Spool> spool_;
};

TEST_F(RelayProcessTest, KilledRelayIsReplacedAndNothingIsLost) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(spool_->Append(Batch()).ok());
  auto uplink = Start();
  ASSERT_TRUE(uplink->WaitForAck(3, std::chrono::seconds(30)));
  std::vector<pid_t> relays = RelayChildren();
  ASSERT_EQ(relays.size(), 1u);
  const pid_t first = relays[0];
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(testing::WaitFor(
      [&] { return uplink->stats().last_error.find("relay killed by signal 9") != std::string::npos; },
      seconds(30)))
      << uplink->stats().last_error;
  ASSERT_TRUE(testing::WaitFor([&] { return uplink->stats().connects == 2; }, seconds(30)));
  relays = RelayChildren();
  ASSERT_EQ(relays.size(), 1u);
  EXPECT_NE(relays[0], first);
  ASSERT_TRUE(spool_->Append(Batch()).ok());
  uplink->Notify();
  ASSERT_TRUE(uplink->WaitForAck(4, std::chrono::seconds(30)));
  EXPECT_EQ(spool_->pending_batches(), 0);
  uplink->Stop();
  // Stop() ends and reaps the relay.
  EXPECT_TRUE(RelayChildren().empty());
}

TEST_F(RelayProcessTest, RelayDiesWithTheAgent) {
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  const pid_t agent = fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    // The "agent": starts a relay and dies without any cleanup.
    close(pipefd[0]);
    auto spawner = MakeProcessRelaySpawner(RECLAIM_AGENT_SERVICE_BIN);
    std::unique_ptr<RelayProcess> relay;
    const IpcStatus started =
        spawner->Spawn({"relay", "--fd", "{fd}", "--collector", collector_->target(),
                        "--insecure-plaintext", "--log-level", "warn"},
                       &relay);
    const pid_t pid = started.ok() ? static_cast<pid_t>(relay->pid()) : 0;
    (void)!write(pipefd[1], &pid, sizeof(pid));
    pause();  // until killed
    _exit(0);
  }
  close(pipefd[1]);
  pid_t relay = 0;
  ASSERT_EQ(read(pipefd[0], &relay, sizeof(relay)), static_cast<ssize_t>(sizeof(relay)));
  close(pipefd[0]);
  ASSERT_GT(relay, 0);
  EXPECT_TRUE(Alive(relay));
  ASSERT_EQ(kill(agent, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(agent, &status, 0), agent);
  EXPECT_TRUE(testing::WaitFor([&] { return !Alive(relay); }, seconds(10)))
      << "relay " << relay << " outlived the agent";
}

TEST(FindAgentServiceTest, EnvironmentFirstAndAClearErrorOtherwise) {
  setenv("RECLAIM_AGENT_SERVICE", RECLAIM_AGENT_SERVICE_BIN, 1);
  std::string path;
  IpcStatus found = FindAgentService(&path);
  ASSERT_TRUE(found.ok()) << found.message;
  EXPECT_EQ(path, RECLAIM_AGENT_SERVICE_BIN);
  setenv("RECLAIM_AGENT_SERVICE", "/nonexistent/reclaim-agent-service", 1);
  found = FindAgentService(&path);
  EXPECT_EQ(found.code, kIpcNotFound);
  EXPECT_NE(found.message.find("/nonexistent/reclaim-agent-service"), std::string::npos);
  unsetenv("RECLAIM_AGENT_SERVICE");
  // Beside this test binary there is none: both places are named.
  found = FindAgentService(&path);
  EXPECT_EQ(found.code, kIpcNotFound);
  EXPECT_NE(found.message.find("RECLAIM_AGENT_SERVICE"), std::string::npos);
}

}  // namespace
}  // namespace reclaim::agent
