// LocalUplink against a fake reclaim-agent-service on a real UNIX socket
// (local.proto frames): Hello with the spool's instance, resume from the first
// ack, acks delete from the spool, a prompt is stored and reported delivered,
// the result's ack deletes it, a LocalStreamEnd's status is the collector's
// (UNAUTHENTICATED counted, RESOURCE_EXHAUSTED), a service that vanishes
// without an end, and a socket nobody listens on yet.
#include "agent/local/local_uplink.h"

#include <atomic>
#include <memory>

#include "agent/local/local_frames.h"
#include "gtest/gtest.h"
#include "reclaim/v1/agent.pb.h"
#include "reclaim/v1/local.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/usage_batches.h"
#include "tests/testing/wait_for.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;
using std::chrono::seconds;

// The service's side of one accepted connection.
class ServiceConn {
 public:
  explicit ServiceConn(std::unique_ptr<LocalChannel> channel)
      : channel_(std::move(channel)), reader_(*channel_) {}
  v1::AgentMessage Next() {
    v1::AgentMessage m;
    absl::Status s = reader_.Read(&m);
    EXPECT_TRUE(s.ok()) << s;
    return m;
  }
  // The next message that is not a dropped-data report.
  v1::AgentMessage NextNotDropped() {
    v1::AgentMessage m = Next();
    while (m.has_dropped()) m = Next();
    return m;
  }
  void Send(const v1::CollectorMessage& m) {
    v1::LocalServiceMessage f;
    *f.mutable_collector() = m;
    ASSERT_TRUE(WriteLocalFrame(*channel_, f).ok());
  }
  void Ack(std::uint64_t seq) {
    v1::CollectorMessage m;
    m.mutable_ack()->set_acked_through_seq(seq);
    Send(m);
  }
  void End(int code, const std::string& message, std::int64_t retry_after_ms = 0) {
    v1::LocalServiceMessage f;
    f.mutable_end()->set_code(code);
    f.mutable_end()->set_message(message);
    f.mutable_end()->set_retry_after_ms(retry_after_ms);
    ASSERT_TRUE(WriteLocalFrame(*channel_, f).ok());
  }
  // True when the agent closed its side (no more frames).
  bool PeerClosed() {
    v1::AgentMessage m;
    return absl::IsOutOfRange(reader_.Read(&m));
  }

 private:
  std::unique_ptr<LocalChannel> channel_;
  LocalFrameReader reader_;
};

class FakeService {
 public:
  explicit FakeService(std::string path) : path_(std::move(path)) {}
  void Listen() {
    const IpcStatus s = ListenLocal(path_, {}, &listener_);
    ASSERT_TRUE(s.ok()) << s.message;
  }
  // The next connection (blocks until one comes).
  std::unique_ptr<ServiceConn> Accept() {
    std::unique_ptr<ServerChannel> c;
    if (!listener_->Accept(&c).ok()) return nullptr;
    return std::make_unique<ServiceConn>(std::move(c));
  }

 private:
  const std::string path_;
  std::unique_ptr<LocalListener> listener_;
};

SpoolBatch Batch() { return testing::GimpBatch(); }

class LocalUplinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Spool::Open({.path = dir_.File("spool.db"), .max_bytes = 1 << 20}, clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    spool_ = std::move(*s);
  }
  std::unique_ptr<Uplink> Start() {
    UplinkOptions o;
    o.backoff.initial = std::chrono::milliseconds(10);
    o.backoff.max = std::chrono::milliseconds(50);
    o.on_prompts_changed = [this] { ++prompt_changes_; };
    AgentIdentity id;
    id.device_id = "dev-local";
    id.user.login_name = "jdoe";
    auto u = MakeLocalUplink(*spool_, id, o, MakeServiceSocketConnector(socket_path_));
    u->Start();
    return u;
  }

  testing::TempDir dir_;
  const std::string socket_path_ = dir_.File("agent.sock");
  SystemClock clock_;
  std::unique_ptr<Spool> spool_;
  std::atomic<int> prompt_changes_{0};
};

TEST_F(LocalUplinkTest, SpeaksTheEngineProtocolOverFrames) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(spool_->Append(Batch()).ok());
  FakeService service(socket_path_);
  service.Listen();
  auto uplink = Start();

  // Stream 1: Hello, resume after 1 (the collector has batch 1), batches 2..3.
  auto c1 = service.Accept();
  ASSERT_TRUE(c1);
  v1::AgentMessage hello = c1->Next();
  ASSERT_TRUE(hello.has_hello());
  EXPECT_EQ(hello.hello().device_id(), "dev-local");
  EXPECT_EQ(hello.hello().agent_instance_id(), spool_->instance_id());
  EXPECT_EQ(hello.hello().user().login_name(), "jdoe");
  c1->Ack(1);
  v1::AgentMessage b = c1->NextNotDropped();
  EXPECT_EQ(b.batch().seq(), 2u);
  EXPECT_EQ(b.batch().intervals_size(), 1);
  EXPECT_EQ(c1->NextNotDropped().batch().seq(), 3u);
  c1->Ack(3);
  ASSERT_TRUE(uplink->WaitForAck(3, std::chrono::seconds(20)));
  EXPECT_EQ(spool_->pending_batches(), 0);

  // A consent prompt: stored, the prompter told, "delivered" reported; the
  // result's ack deletes it.
  v1::CollectorMessage cmd;
  cmd.mutable_command()->set_command_id("prompt-7");
  cmd.mutable_command()->mutable_consent_prompt()->set_question("Still need Visio?");
  c1->Send(cmd);
  v1::AgentMessage result = c1->NextNotDropped();
  ASSERT_TRUE(result.has_command_result());
  EXPECT_EQ(result.command_result().command_id(), "prompt-7");
  EXPECT_EQ(result.command_result().outcome(), "delivered");
  EXPECT_EQ(spool_->OpenPrompts()->size(), 1u);
  EXPECT_TRUE(testing::WaitFor([&] { return prompt_changes_.load() == 1; }, seconds(20)));
  v1::CollectorMessage rack;
  rack.mutable_command_result_ack()->set_command_id("prompt-7");
  rack.mutable_command_result_ack()->set_outcome("delivered");
  c1->Send(rack);
  EXPECT_TRUE(testing::WaitFor([&] { return spool_->PendingResults()->empty(); }, seconds(20)));

  // The collector refuses the credential: counted, and the agent reconnects.
  c1->End(16, "device credential revoked");
  EXPECT_TRUE(c1->PeerClosed());
  c1.reset();
  auto c2 = service.Accept();
  ASSERT_TRUE(c2);
  EXPECT_EQ(uplink->stats().auth_failures, 1u);
  EXPECT_NE(uplink->stats().last_error.find("status 16: device credential revoked"),
            std::string::npos)
      << uplink->stats().last_error;
  ASSERT_TRUE(c2->Next().has_hello());
  // Over a collector limit, which asks for 700 ms of quiet (the backoff
  // alone would wait 10-50 ms); then the service vanishes without an end.
  c2->End(8, "intervals_per_s over the limit", 700);
  c2.reset();
  auto c3 = service.Accept();
  ASSERT_TRUE(c3);
  EXPECT_NE(uplink->stats().last_error.find("status 8"), std::string::npos);
  EXPECT_EQ(uplink->stats().last_retry_delay_ms, 700);
  ASSERT_TRUE(c3->Next().has_hello());
  c3.reset();
  auto c4 = service.Accept();
  ASSERT_TRUE(c4);
  EXPECT_NE(uplink->stats().last_error.find("reclaim-agent-service closed the connection"),
            std::string::npos)
      << uplink->stats().last_error;
  ASSERT_TRUE(c4->Next().has_hello());
  c4->Ack(3);
  ASSERT_TRUE(testing::WaitFor([&] { return uplink->stats().connected; }, seconds(20)));
  // New data is sent when notified; Stop() closes the connection.
  ASSERT_TRUE(spool_->Append(Batch()).ok());
  uplink->Notify();
  EXPECT_EQ(c4->NextNotDropped().batch().seq(), 4u);
  c4->Ack(4);
  ASSERT_TRUE(uplink->WaitForAck(4, std::chrono::seconds(20)));
  uplink->Stop();
  EXPECT_TRUE(c4->PeerClosed());
  EXPECT_EQ(uplink->stats().connects, 2u);
}

TEST_F(LocalUplinkTest, NoServiceYetIsRetriedAndKeepsTheData) {
  ASSERT_TRUE(spool_->Append(Batch()).ok());
  auto uplink = Start();
  ASSERT_TRUE(testing::WaitFor([&] { return uplink->stats().failures >= 2; }, seconds(20)));
  EXPECT_NE(uplink->stats().last_error.find(socket_path_), std::string::npos)
      << uplink->stats().last_error;
  EXPECT_EQ(spool_->pending_batches(), 1);
  FakeService service(socket_path_);
  service.Listen();
  auto c = service.Accept();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Next().has_hello());
  c->Ack(0);
  EXPECT_EQ(c->NextNotDropped().batch().seq(), 1u);
  c->Ack(1);
  ASSERT_TRUE(uplink->WaitForAck(1, std::chrono::seconds(20)));
  EXPECT_EQ(spool_->pending_batches(), 0);
  uplink->Stop();
}

}  // namespace
}  // namespace reclaim::agent
