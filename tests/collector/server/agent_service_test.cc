// The agent stream service over a real loopback gRPC connection.
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>


#include "reclaim/v1/agent.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_collector.h"

namespace reclaim::collector {
namespace {

namespace v1 = ::reclaim::v1;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>;

constexpr std::int64_t kHour = 3'600'000;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

v1::AgentMessage Hello(const std::string& device = "dev-1") {
  v1::AgentMessage m;
  v1::Hello* h = m.mutable_hello();
  h->set_device_id(device);
  h->set_agent_instance_id("6f1c2d9e-0000-4000-8000-000000000001");
  h->set_agent_version("0.1.0");
  h->set_os_family(v1::OS_FAMILY_LINUX);
  h->mutable_user()->set_login_name("jdoe");
  h->mutable_user()->set_domain("EXAMPLE");
  return m;
}

v1::AgentMessage Batch(std::uint64_t seq, std::vector<std::int64_t> durations_ms) {
  v1::AgentMessage m;
  v1::UsageBatch* b = m.mutable_batch();
  b->set_seq(seq);
  std::int64_t start = NowMs() - 2 * kHour;
  for (std::int64_t d : durations_ms) {
    v1::FocusInterval* i = b->add_intervals();
    i->mutable_app()->set_exe_path("/usr/bin/gimp-2.10");
    i->mutable_app()->set_exe_name("gimp-2.10");
    i->set_start_utc_ms(start);
    i->set_active_duration_ms(d);
    start += 60'000;
  }
  return m;
}

class AgentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"));
    ASSERT_TRUE(collector_->ok());
    channel_ = grpc::CreateChannel(collector_->target(), grpc::InsecureChannelCredentials());
    stub_ = v1::AgentService::NewStub(channel_);
  }

  std::int64_t TotalFocusMs() {
    auto rows = collector_->store().QueryUsage({});
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::int64_t total = 0;
    for (const auto& r : *rows) total += r.focus_ms;
    return total;
  }

  // Reads until an ack >= seq arrives; returns the last ack seen.
  static std::uint64_t ReadAckThrough(Stream* s, std::uint64_t seq) {
    v1::CollectorMessage m;
    std::uint64_t last = 0;
    while (last < seq && s->Read(&m)) {
      if (m.has_ack()) last = m.ack().acked_through_seq();
    }
    return last;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCollector> collector_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
};

TEST_F(AgentServiceTest, HelloIsAnsweredWithWhereToResumeAndBatchesAreAcked) {
  grpc::ClientContext ctx;
  auto s = stub_->Connect(&ctx);
  ASSERT_TRUE(s->Write(Hello()));
  v1::CollectorMessage m;
  ASSERT_TRUE(s->Read(&m));
  ASSERT_TRUE(m.has_ack());
  EXPECT_EQ(m.ack().acked_through_seq(), 0u);
  ASSERT_TRUE(s->Write(Batch(1, {1000, 2000})));
  ASSERT_TRUE(s->Write(Batch(2, {3000})));
  EXPECT_EQ(ReadAckThrough(s.get(), 2), 2u);
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
  EXPECT_EQ(TotalFocusMs(), 6000);

  // A new stream learns that seq 2 is stored; a resent batch counts once.
  grpc::ClientContext ctx2;
  auto s2 = stub_->Connect(&ctx2);
  ASSERT_TRUE(s2->Write(Hello()));
  ASSERT_TRUE(s2->Read(&m));
  EXPECT_EQ(m.ack().acked_through_seq(), 2u);
  ASSERT_TRUE(s2->Write(Batch(2, {3000})));
  ASSERT_TRUE(s2->Write(Batch(3, {4000})));
  EXPECT_EQ(ReadAckThrough(s2.get(), 3), 3u);
  s2->WritesDone();
  EXPECT_TRUE(s2->Finish().ok());
  EXPECT_EQ(TotalFocusMs(), 10000);
}

TEST_F(AgentServiceTest, FirstMessageMustBeHello) {
  grpc::ClientContext ctx;
  auto s = stub_->Connect(&ctx);
  ASSERT_TRUE(s->Write(Batch(1, {1000})));
  v1::CollectorMessage m;
  EXPECT_FALSE(s->Read(&m));
  const grpc::Status st = s->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("Hello"), std::string::npos) << st.error_message();
  EXPECT_EQ(TotalFocusMs(), 0);
}

TEST_F(AgentServiceTest, InvalidHelloIsRefusedWithTheField) {
  grpc::ClientContext ctx;
  auto s = stub_->Connect(&ctx);
  ASSERT_TRUE(s->Write(Hello(/*device=*/"")));
  v1::CollectorMessage m;
  EXPECT_FALSE(s->Read(&m));
  const grpc::Status st = s->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("device_id"), std::string::npos) << st.error_message();
}

TEST_F(AgentServiceTest, BadIntervalIsQuarantinedAndTheBatchStillAcked) {
  grpc::ClientContext ctx;
  auto s = stub_->Connect(&ctx);
  ASSERT_TRUE(s->Write(Hello()));
  v1::AgentMessage b = Batch(1, {1000, -5, 2000});
  b.mutable_batch()->mutable_intervals(2)->mutable_app()->set_exe_name("bad\xFF");
  ASSERT_TRUE(s->Write(b));
  EXPECT_EQ(ReadAckThrough(s.get(), 1), 1u);
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
  EXPECT_EQ(TotalFocusMs(), 1000);
  auto q = collector_->store().ListQuarantine(10);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 2u);
  std::set<std::string> reasons = {(*q)[0].record.reason, (*q)[1].record.reason};
  EXPECT_EQ(reasons, (std::set<std::string>{"duration_out_of_range", "invalid_utf8"}));
}

TEST_F(AgentServiceTest, SeqMustIncreaseWithinAStream) {
  grpc::ClientContext ctx;
  auto s = stub_->Connect(&ctx);
  ASSERT_TRUE(s->Write(Hello()));
  ASSERT_TRUE(s->Write(Batch(5, {1000})));
  EXPECT_EQ(ReadAckThrough(s.get(), 5), 5u);
  ASSERT_TRUE(s->Write(Batch(4, {1000})));
  v1::CollectorMessage m;
  while (s->Read(&m)) {
  }
  EXPECT_EQ(s->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(TotalFocusMs(), 1000);
}

TEST_F(AgentServiceTest, OversizeMessageIsResourceExhausted) {
  collector_->Stop();
  collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"),
                                                        AgentServiceOptions{}, 64 * 1024);
  ASSERT_TRUE(collector_->ok());
  channel_ = grpc::CreateChannel(collector_->target(), grpc::InsecureChannelCredentials());
  stub_ = v1::AgentService::NewStub(channel_);
  grpc::ClientContext ctx;
  auto s = stub_->Connect(&ctx);
  ASSERT_TRUE(s->Write(Hello()));
  v1::AgentMessage big = Batch(1, {1000});
  big.mutable_batch()->mutable_intervals(0)->mutable_app()->set_window_title(
      std::string(200 * 1024, 'x'));
  s->Write(big);
  v1::CollectorMessage m;
  while (s->Read(&m)) {
  }
  EXPECT_EQ(s->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(TotalFocusMs(), 0);
}

TEST_F(AgentServiceTest, ManyConcurrentStreamsNeedNoThreadEach) {
  // 200 idle agent streams at once, then each sends one batch.
  constexpr int kAgents = 200;
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < kAgents; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    streams.push_back(stub_->Connect(ctxs.back().get()));
    ASSERT_TRUE(streams.back()->Write(Hello("dev-" + std::to_string(i))));
  }
  for (auto& s : streams) ASSERT_TRUE(s->Write(Batch(1, {1000})));
  for (auto& s : streams) {
    EXPECT_EQ(ReadAckThrough(s.get(), 1), 1u);
    s->WritesDone();
    EXPECT_TRUE(s->Finish().ok());
  }
  EXPECT_EQ(TotalFocusMs(), kAgents * 1000);
}

}  // namespace
}  // namespace reclaim::collector
