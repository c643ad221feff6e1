// `reclaim-agent-service relay --fd 3` as reclaim-agent starts it in direct
// mode: the real binary on one end of a socketpair, a collector with device
// authentication on loopback.
#include <sys/stat.h>

#include <filesystem>

#include "common/secret_file.h"
#include "tests/agent/service/service_test_env.h"

namespace reclaim::testing {
namespace {

constexpr char kInstance[] = "6f1c2d9e-0000-4000-8000-0000000000b1";

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override { collector_ = std::make_unique<AuthCollector>(dir_); }

  // Starts a relay on a new socketpair; the test keeps `agent_fd_`.
  std::unique_ptr<ServiceProcess> StartRelay(std::vector<std::string> options,
                                             std::vector<std::string> env = {}) {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    reader_.reset();
    agent_.reset();
    agent_fd_ = fds[0];
    SetReadTimeout(agent_fd_, std::chrono::seconds(30));
    std::vector<std::string> args = {
        "relay", "--fd", "3", "--insecure-plaintext", "--collector", collector_->target()};
    args.insert(args.end(), options.begin(), options.end());
    auto p = std::make_unique<ServiceProcess>(dir_, args, fds[1], env);
    close(fds[1]);
    agent_ = ChannelOf(agent_fd_);
    reader_ = std::make_unique<agent::LocalFrameReader>(*agent_);
    return p;
  }
  void Send(const v1::AgentMessage& m) { ASSERT_TRUE(agent::WriteLocalFrame(*agent_, m).ok()); }
  void CloseAgent() {
    reader_.reset();
    agent_.reset();
    agent_fd_ = -1;
  }
  void TearDown() override {
    reader_.reset();
    agent_.reset();
  }
  std::string WriteSecret(const std::string& name, const std::string& value) {
    const std::string path = dir_.File(name);
    EXPECT_TRUE(WriteSecretFile(path, value).ok());
    return path;
  }

  TempDir dir_;
  std::unique_ptr<AuthCollector> collector_;
  int agent_fd_ = -1;  // owned by agent_
  std::unique_ptr<agent::LocalChannel> agent_;
  std::unique_ptr<agent::LocalFrameReader> reader_;
};

TEST_F(RelayTest, EnrollsWithASecretFileAndRelaysBatchesAckedEndToEnd) {
  const std::string secret = WriteSecret("enrollment.secret", AuthCollector::EnrollmentSecret());
  const std::string credential = dir_.File("device-credential");
  {
    auto relay = StartRelay({"--credential-file", credential, "--enrollment-secret-file", secret});
    Send(AgentHello("laptop-1", "jdoe", kInstance));
    for (std::uint64_t seq = 1; seq <= 3; ++seq) Send(AgentBatch(seq));
    ASSERT_TRUE(ReadUntilAcked(*reader_, 3)) << relay->Stderr();
    CloseAgent();  // the agent stops: the relay ends the stream and exits
    EXPECT_EQ(relay->Wait(), 0) << relay->Stderr();
  }
  EXPECT_EQ(collector_->StoredFocusMs(), 3000);
  struct stat st {};
  ASSERT_EQ(stat(credential.c_str(), &st), 0) << "the credential was not stored";
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The next relay uses the stored credential (no secret any more) and
  // resumes where the collector is.
  auto relay = StartRelay({"--credential-file", credential});
  Send(AgentHello("laptop-1", "jdoe", kInstance));
  v1::LocalServiceMessage first;
  ASSERT_TRUE(reader_->Read(&first).ok()) << relay->Stderr();
  ASSERT_TRUE(first.collector().has_ack()) << first.DebugString();
  EXPECT_EQ(first.collector().ack().acked_through_seq(), 3u);
  Send(AgentBatch(4));
  ASSERT_TRUE(ReadUntilAcked(*reader_, 4)) << relay->Stderr();
  CloseAgent();
  EXPECT_EQ(relay->Wait(), 0);
  EXPECT_EQ(collector_->StoredFocusMs(), 4000);
  EXPECT_EQ(relay->Stderr().find(AuthCollector::EnrollmentSecret()), std::string::npos);
}

TEST_F(RelayTest, EnrollsWithTheSecretFromTheEnvironment) {
  const std::string credential = dir_.File("device-credential");
  auto relay = StartRelay({"--credential-file", credential},
                          {"RECLAIM_ENROLLMENT_SECRET=" + AuthCollector::EnrollmentSecret()});
  Send(AgentHello("laptop-2", "jdoe", kInstance));
  Send(AgentBatch(1));
  ASSERT_TRUE(ReadUntilAcked(*reader_, 1)) << relay->Stderr();
  CloseAgent();
  EXPECT_EQ(relay->Wait(), 0);
  EXPECT_TRUE(std::filesystem::exists(credential));
}

TEST_F(RelayTest, CollectorDownEndsUnavailableAndAcksNothing) {
  const std::string credential = WriteSecret("device-credential", collector_->Enroll("laptop-1"));
  collector_->get().Stop();
  auto relay = StartRelay({"--credential-file", credential, "--connect-timeout-ms", "5000"});
  Send(AgentHello("laptop-1", "jdoe", kInstance));
  // The relay may already have ended the connection (EPIPE): as an agent
  // does, read the end frame, which is still there.
  (void)agent::WriteLocalFrame(*agent_, AgentBatch(1));
  int acks = 0;
  const auto end = ReadUntilEnd(*reader_, &acks);
  ASSERT_TRUE(end.has_value()) << relay->Stderr();
  EXPECT_EQ(end->code(), grpc::StatusCode::UNAVAILABLE) << end->message();
  EXPECT_NE(end->message().find(collector_->target()), std::string::npos) << end->message();
  EXPECT_EQ(acks, 0);
  EXPECT_EQ(relay->Wait(), 0);
}

TEST_F(RelayTest, RevokedCredentialMidStreamEndsUnauthenticated) {
  const std::string credential = WriteSecret("device-credential", collector_->Enroll("laptop-1"));
  auto relay = StartRelay({"--credential-file", credential});
  Send(AgentHello("laptop-1", "jdoe", kInstance));
  Send(AgentBatch(1));
  ASSERT_TRUE(ReadUntilAcked(*reader_, 1)) << relay->Stderr();
  EXPECT_EQ(collector_->Revoke("laptop-1"), 1u);
  const auto end = ReadUntilEnd(*reader_);
  ASSERT_TRUE(end.has_value()) << relay->Stderr();
  EXPECT_EQ(end->code(), grpc::StatusCode::UNAUTHENTICATED) << end->message();
  EXPECT_EQ(relay->Wait(), 0);
  // The connection is closed after the end frame.
  v1::LocalServiceMessage m;
  EXPECT_EQ(reader_->Read(&m).code(), absl::StatusCode::kOutOfRange);
}

TEST_F(RelayTest, AWorldReadableSecretFileIsRefusedWithAClearMessage) {
  const std::string secret = WriteSecret("enrollment.secret", AuthCollector::EnrollmentSecret());
  ASSERT_EQ(chmod(secret.c_str(), 0644), 0);
  const std::string credential = dir_.File("device-credential");
  auto relay = StartRelay({"--credential-file", credential, "--enrollment-secret-file", secret});
  const auto end = ReadUntilEnd(*reader_);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->code(), grpc::StatusCode::FAILED_PRECONDITION) << end->message();
  EXPECT_NE(end->message().find(secret), std::string::npos) << end->message();
  EXPECT_EQ(relay->Wait(), 2);
  EXPECT_NE(relay->Stderr().find(secret), std::string::npos) << relay->Stderr();
  EXPECT_EQ(relay->Stderr().find(AuthCollector::EnrollmentSecret()), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(credential));
  EXPECT_EQ(collector_->StoredFocusMs(), 0);
}

TEST_F(RelayTest, AWrongEnrollmentSecretEndsUnauthenticated) {
  const std::string secret = WriteSecret("enrollment.secret", TestSecret("not-the-secret"));
  const std::string credential = dir_.File("device-credential");
  auto relay = StartRelay({"--credential-file", credential, "--enrollment-secret-file", secret});
  Send(AgentHello("laptop-1", "jdoe", kInstance));
  const auto end = ReadUntilEnd(*reader_);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->code(), grpc::StatusCode::UNAUTHENTICATED) << end->message();
  EXPECT_EQ(relay->Wait(), 0);
  EXPECT_FALSE(std::filesystem::exists(credential));
}

// Over the collector's enrollment limits: RESOURCE_EXHAUSTED with the
// collector's retry-after hint (its trailing metadata) passed on to the agent
// in the end frame, so the agent waits as asked instead of its own backoff.
TEST_F(RelayTest, EnrollmentOverTheCollectorsLimitEndsWithItsRetryAfterHint) {
  collector_.reset();
  collector::EnrollmentLimitsOptions limits;
  limits.attempts_per_minute = 1;
  limits.attempts_burst = 1;
  collector_ = std::make_unique<AuthCollector>(dir_, limits);
  ASSERT_FALSE(collector_->Enroll("laptop-0").empty());  // this address's one attempt
  const std::string secret = WriteSecret("enrollment.secret", AuthCollector::EnrollmentSecret());
  const std::string credential = dir_.File("device-credential");
  auto relay = StartRelay({"--credential-file", credential, "--enrollment-secret-file", secret});
  Send(AgentHello("laptop-1", "jdoe", kInstance));
  const auto end = ReadUntilEnd(*reader_);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << end->message();
  // One attempt a minute: the next is due in (0, 60] s.
  EXPECT_GT(end->retry_after_ms(), 0);
  EXPECT_LE(end->retry_after_ms(), 60000);
  EXPECT_EQ(relay->Wait(), 0);
  EXPECT_FALSE(std::filesystem::exists(credential));
}

TEST_F(RelayTest, AFirstFrameThatIsNotAHelloEndsInvalidArgument) {
  const std::string credential = WriteSecret("device-credential", collector_->Enroll("laptop-1"));
  auto relay = StartRelay({"--credential-file", credential});
  Send(AgentBatch(1));
  const auto end = ReadUntilEnd(*reader_);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->code(), grpc::StatusCode::INVALID_ARGUMENT) << end->message();
  EXPECT_EQ(relay->Wait(), 0);
  EXPECT_EQ(collector_->StoredFocusMs(), 0);
}

TEST_F(RelayTest, SigtermEndsTheSessionUnavailable) {
  const std::string credential = WriteSecret("device-credential", collector_->Enroll("laptop-1"));
  auto relay = StartRelay({"--credential-file", credential});
  Send(AgentHello("laptop-1", "jdoe", kInstance));
  Send(AgentBatch(1));
  ASSERT_TRUE(ReadUntilAcked(*reader_, 1)) << relay->Stderr();
  ASSERT_EQ(kill(relay->pid(), SIGTERM), 0);
  const auto end = ReadUntilEnd(*reader_);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->code(), grpc::StatusCode::UNAVAILABLE) << end->message();
  EXPECT_EQ(relay->Wait(), 0);
}

// Before the Hello the relay is blocked reading the channel, which cannot be
// woken for reading alone: the end frame is written first, then the channel
// shut down.
TEST_F(RelayTest, SigtermBeforeTheHelloEndsTheSessionUnavailable) {
  auto relay = StartRelay({});
  // The stop signals are blocked (and then taken by its watcher) once main()
  // began; a SIGTERM before that would kill the process instead.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::ifstream status("/proc/" + std::to_string(relay->pid()) + "/status");
        std::string line;
        while (std::getline(status, line)) {
          if (line.rfind("SigBlk:", 0) == 0) return line.find_first_not_of("0\t ", 7) != line.npos;
        }
        return false;
      },
      std::chrono::seconds(10)));
  ASSERT_EQ(kill(relay->pid(), SIGTERM), 0);
  const auto end = ReadUntilEnd(*reader_);
  ASSERT_TRUE(end.has_value()) << relay->Stderr();
  EXPECT_EQ(end->code(), grpc::StatusCode::UNAVAILABLE) << end->message();
  EXPECT_NE(end->message().find("stopping"), std::string::npos) << end->message();
  EXPECT_EQ(relay->Wait(), 0) << relay->Stderr();
}

TEST_F(RelayTest, BadOptionsExitNonZeroWithAMessage) {
  {
    ServiceProcess p(dir_, {"relay", "--fd", "97", "--insecure-plaintext"});
    EXPECT_EQ(p.Wait(), 2);
    EXPECT_NE(p.Stderr().find("--fd 97 is not an open stream socket"), std::string::npos)
        << p.Stderr();
  }
  {
    // Neither TLS material nor --insecure-plaintext.
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ServiceProcess p(dir_, {"relay", "--fd", "3", "--collector", collector_->target()}, fds[1]);
    close(fds[1]);
    EXPECT_EQ(p.Wait(), 2);
    EXPECT_NE(p.Stderr().find("TLS"), std::string::npos) << p.Stderr();
    SetReadTimeout(fds[0], std::chrono::seconds(30));
    auto channel = ChannelOf(fds[0]);
    agent::LocalFrameReader reader(*channel);
    const auto end = ReadUntilEnd(reader);
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    ServiceProcess p(dir_, {"relay", "--fd", "3", "--no-such-option"});
    EXPECT_EQ(p.Wait(), 2);
  }
}

}  // namespace
}  // namespace reclaim::testing
