// The machine service (agent/service/machine_service.h) in-process, with
// peers the OS cannot give a test here: a Windows user (SID, domain) on a
// channel pair, and a connection whose user changes between connecting and
// its Hello. What the service writes into the Hello comes from the peer, the
// instance id is scoped by the SID ("u" + 12 hex digits of SHA-256(SID)),
// per-user limits key on the SID, a changed user is refused.
#include <condition_variable>
#include <deque>
#include <mutex>

#include "agent/service/machine_service.h"
#include "common/crypto.h"
#include "tests/agent/service/service_test_env.h"
#include "tests/testing/queued_listener.h"

namespace reclaim::testing {
namespace {

using agent::IpcStatus;
using agent::LocalChannel;
using agent::LocalPeer;
using agent::ServerChannel;

constexpr char kInstance[] = "6f1c2d9e-0000-4000-8000-0000000000c1";
constexpr char kSid[] = "S-1-5-21-1004336348-1177238915-682003330-1001";
constexpr char kOtherSid[] = "S-1-5-21-1004336348-1177238915-682003330-1002";

LocalPeer WindowsPeer(const std::string& sid) {
  LocalPeer p;
  p.key = sid;
  p.sid = sid;
  p.login_name = "jdoe";
  p.domain = "CORP";
  p.pid = 4242;
  return p;
}

// The service's end of a real channel pair, with the peers the test names.
class PeerChannel final : public ServerChannel {
 public:
  PeerChannel(std::unique_ptr<LocalChannel> inner, LocalPeer at_connect, LocalPeer attested)
      : inner_(std::move(inner)),
        at_connect_(std::move(at_connect)),
        attested_(std::move(attested)) {}
  IpcStatus Read(void* buffer, std::size_t size, std::size_t* read) override {
    return inner_->Read(buffer, size, read);
  }
  IpcStatus WriteAll(const void* data, std::size_t size,
                     std::chrono::milliseconds timeout) override {
    return inner_->WriteAll(data, size, timeout);
  }
  void Shutdown() override { inner_->Shutdown(); }
  void ShutdownWrite() override { inner_->ShutdownWrite(); }
  std::string Describe() const override { return inner_->Describe(); }
  std::string HandleForChild() override { return inner_->HandleForChild(); }
  IpcStatus PeerAtConnect(LocalPeer* peer) override {
    *peer = at_connect_;
    return {};
  }
  IpcStatus AttestPeer(LocalPeer* peer) override {
    *peer = attested_;
    return {};
  }

 private:
  std::unique_ptr<LocalChannel> inner_;
  const LocalPeer at_connect_, attested_;
};

// Hands the service the connections Connect() makes.
class PeerListener final : public QueuedListener {
 public:
  PeerListener() : QueuedListener("test listener") {}
  // A connection that connects as `at_connect` and is attested as
  // `attested`; returns the client's end.
  std::unique_ptr<LocalChannel> Connect(LocalPeer at_connect, LocalPeer attested) {
    std::unique_ptr<LocalChannel> client, server;
    const IpcStatus s = agent::LocalChannelPair(&client, &server);
    EXPECT_TRUE(s.ok()) << s.message;
    Push(std::make_unique<PeerChannel>(std::move(server), std::move(at_connect),
                                       std::move(attested)));
    return client;
  }
};

class MachineServicePeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = std::make_unique<AuthCollector>(dir_);
    agent::MachineServiceOptions o;
    o.device_id = "machine-1";
    o.hostname = "machine-1.example.com";
    o.user_domain = "MACHINE-1";
    o.collector.target = collector_->target();
    o.collector.connect_timeout = std::chrono::seconds(10);
    o.token = collector_->Enroll("machine-1");
    o.max_connections_per_uid = 1;
    auto listener = std::make_unique<PeerListener>();
    listener_ = listener.get();
    auto service = agent::MachineService::Start(std::move(o), std::move(listener));
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }
  void TearDown() override { service_.reset(); }

  TempDir dir_;
  std::unique_ptr<AuthCollector> collector_;
  PeerListener* listener_ = nullptr;  // owned by service_
  std::unique_ptr<agent::MachineService> service_;
};

TEST_F(MachineServicePeerTest, AWindowsUserIsStoredAsAttestedWithItsInstanceScopedByItsSid) {
  auto client = listener_->Connect(WindowsPeer(kSid), WindowsPeer(kSid));
  agent::LocalFrameReader reader(*client);
  ASSERT_TRUE(agent::WriteLocalFrame(*client, AgentHello("forged", "ceo", kInstance)).ok());
  ASSERT_TRUE(agent::WriteLocalFrame(*client, AgentBatch(1)).ok());
  ASSERT_TRUE(ReadUntilAcked(reader, 1));

  auto devices = collector_->get().store().ListDevices();
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 1u);
  const collector::AgentInfo& a = (*devices)[0].agent;
  EXPECT_EQ(a.device_id, "machine-1");
  EXPECT_EQ(a.hostname, "machine-1.example.com");
  EXPECT_EQ(a.user.login_name, "jdoe");
  EXPECT_EQ(a.user.domain, "CORP");
  EXPECT_EQ(a.user.sid, kSid);
  EXPECT_FALSE(a.user.uid.has_value());
  const std::string scope = "u" + Sha256Hex(kSid).substr(0, 12) + "-";
  EXPECT_EQ(a.agent_instance_id, scope + kInstance);
  EXPECT_EQ(collector_->StoredFocusMs(), 1000);

  // The same user again while connected: over its limit of 1, by SID.
  auto second = listener_->Connect(WindowsPeer(kSid), WindowsPeer(kSid));
  agent::LocalFrameReader second_reader(*second);
  const auto end = ReadUntilEnd(second_reader);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(end->message().find(kSid), std::string::npos) << end->message();
}

TEST_F(MachineServicePeerTest, AUserThatChangedBetweenConnectingAndTheHelloIsRefused) {
  auto client = listener_->Connect(WindowsPeer(kSid), WindowsPeer(kOtherSid));
  agent::LocalFrameReader reader(*client);
  ASSERT_TRUE(agent::WriteLocalFrame(*client, AgentHello("forged", "ceo", kInstance)).ok());
  const auto end = ReadUntilEnd(reader);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(end->message().find("user changed"), std::string::npos) << end->message();
  EXPECT_TRUE(collector_->Agents().empty());
}

// A session still waiting for its Hello when the service stops gets the end
// frame (its read is woken by the channel's shutdown, after the frame).
TEST_F(MachineServicePeerTest, StoppingEndsASessionWaitingForItsHelloUnavailable) {
  auto client = listener_->Connect(WindowsPeer(kSid), WindowsPeer(kSid));
  agent::LocalFrameReader reader(*client);
  ASSERT_TRUE(WaitFor([&] { return service_->stats().active == 1; }, std::chrono::seconds(10)));
  service_->Stop();
  const auto end = ReadUntilEnd(reader);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(end->message().find("stopping"), std::string::npos) << end->message();
  EXPECT_EQ(service_->stats().active, 0u);
}

}  // namespace
}  // namespace reclaim::testing
