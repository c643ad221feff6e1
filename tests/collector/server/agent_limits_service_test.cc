// Input limits of the agent stream service over a real loopback gRPC
// connection: unparseable messages, a flood of streams from one device, the
// per-device rate limit, over-long CommandResults, and the no-ack-after-a-
// failed-store rule with a fault-injecting store.
#include <gtest/gtest.h>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <thread>

#include "common/clock.h"

#include "absl/synchronization/notification.h"

#include "collector/server/agent_limits.h"
#include "reclaim/v1/admin.grpc.pb.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "tests/testing/failing_usage_store.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_collector.h"

namespace reclaim::collector {
namespace {

namespace v1 = ::reclaim::v1;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>;
using RawStream = grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;

constexpr std::int64_t kHour = 3'600'000;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

v1::AgentMessage Hello(const std::string& device = "dev-1",
                       const std::string& instance = "6f1c2d9e-0000-4000-8000-000000000001") {
  v1::AgentMessage m;
  v1::Hello* h = m.mutable_hello();
  h->set_device_id(device);
  h->set_agent_instance_id(instance);
  h->set_agent_version("0.1.0");
  h->set_os_family(v1::OS_FAMILY_LINUX);
  h->mutable_user()->set_login_name("jdoe");
  h->mutable_user()->set_domain("EXAMPLE");
  return m;
}

// `n` one-second intervals, 2 s apart, starting `offset_h` hours ago.
v1::AgentMessage Batch(std::uint64_t seq, int n, std::int64_t offset_h = 2) {
  v1::AgentMessage m;
  v1::UsageBatch* b = m.mutable_batch();
  b->set_seq(seq);
  const std::int64_t start = NowMs() - offset_h * kHour + static_cast<std::int64_t>(seq) * 600'000;
  for (int i = 0; i < n; ++i) {
    v1::FocusInterval* iv = b->add_intervals();
    iv->mutable_app()->set_exe_path("/usr/bin/gimp-2.10");
    iv->set_start_utc_ms(start + i * 2000);
    iv->set_active_duration_ms(1000);
  }
  return m;
}

grpc::ByteBuffer Bytes(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

// Reads until an ack >= seq arrives or the stream ends; returns the last ack.
std::uint64_t ReadAckThrough(Stream* s, std::uint64_t seq) {
  v1::CollectorMessage m;
  std::uint64_t last = 0;
  while (last < seq && s->Read(&m)) {
    if (m.has_ack()) last = m.ack().acked_through_seq();
  }
  return last;
}

// Reads to the end of the stream; returns the highest ack seen.
std::uint64_t DrainAcks(Stream* s) {
  v1::CollectorMessage m;
  std::uint64_t last = 0;
  while (s->Read(&m)) {
    if (m.has_ack()) last = std::max(last, m.ack().acked_through_seq());
  }
  return last;
}

class AgentLimitsServiceTest : public ::testing::Test {
 protected:
  void StartCollector(AgentServiceOptions options = {},
                      testing::TestCollector::StoreWrapper wrap = nullptr) {
    collector_.reset();
    collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"), options,
                                                          4 << 20, std::move(wrap));
    ASSERT_TRUE(collector_->ok());
    channel_ = grpc::CreateChannel(collector_->target(), grpc::InsecureChannelCredentials());
    stub_ = v1::AgentService::NewStub(channel_);
  }

  std::unique_ptr<RawStream> ConnectRaw(grpc::ClientContext* ctx) {
    return std::unique_ptr<RawStream>(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            channel_.get(),
            grpc::internal::RpcMethod("/reclaim.v1.AgentService/Connect",
                                      grpc::internal::RpcMethod::BIDI_STREAMING),
            ctx));
  }

  std::int64_t TotalFocusMs() {
    auto rows = collector_->store().QueryUsage({});
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::int64_t total = 0;
    for (const auto& r : *rows) total += r.focus_ms;
    return total;
  }

  std::uint64_t Refusals(const std::string& reason) {
    const auto r = collector_->agent_service().stats().refusals;
    auto it = r.find(reason);
    return it == r.end() ? 0 : it->second;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCollector> collector_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
};

TEST_F(AgentLimitsServiceTest, UnparseableMessageEndsTheStreamWithInvalidArgument) {
  StartCollector();
  {
    grpc::ClientContext ctx;
    auto s = ConnectRaw(&ctx);
    ASSERT_TRUE(s->Write(Bytes(Hello().SerializeAsString())));
    grpc::ByteBuffer reply;
    ASSERT_TRUE(s->Read(&reply));  // the first ack
    ASSERT_TRUE(s->Write(Bytes(Batch(1, 3).SerializeAsString())));
    // Field 2 (batch), length-delimited, claiming 100 bytes that never come.
    ASSERT_TRUE(s->Write(Bytes(std::string("\x12\x64\x08\x01", 4))));
    while (s->Read(&reply)) {
    }
    const grpc::Status st = s->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_NE(st.error_message().find("not a valid reclaim.v1.AgentMessage"), std::string::npos)
        << st.error_message();
  }
  // The batch before the garbage was stored; nothing else.
  EXPECT_EQ(TotalFocusMs(), 3000);
  {
    // Garbage as the very first message.
    grpc::ClientContext ctx;
    auto s = ConnectRaw(&ctx);
    ASSERT_TRUE(s->Write(Bytes("\xff\xff\xff\xff")));
    grpc::ByteBuffer reply;
    EXPECT_FALSE(s->Read(&reply));
    EXPECT_EQ(s->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(Refusals(kLimitUnparseable), 2u);
}

TEST_F(AgentLimitsServiceTest, FloodOfStreamsFromOneDeviceIsRefusedWhileOthersWork) {
  AgentServiceOptions o;
  o.agent_limits.max_streams_per_device = 3;
  StartCollector(o);
  // Three streams of dev-1 (three user sessions) are accepted.
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<Stream>> held;
  for (int i = 0; i < 3; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    held.push_back(stub_->Connect(ctxs.back().get()));
    ASSERT_TRUE(held.back()->Write(Hello("dev-1", "instance-" + std::to_string(i))));
    v1::CollectorMessage m;
    ASSERT_TRUE(held.back()->Read(&m));
    ASSERT_TRUE(m.has_ack());
  }
  // A flood of 50 more streams from dev-1: every one refused, none stored.
  constexpr int kFlood = 50;
  for (int i = 0; i < kFlood; ++i) {
    grpc::ClientContext ctx;
    auto s = stub_->Connect(&ctx);
    s->Write(Hello("dev-1", "flood-" + std::to_string(i)));
    s->Write(Batch(1, 5));
    v1::CollectorMessage m;
    EXPECT_FALSE(s->Read(&m));
    const grpc::Status st = s->Finish();
    ASSERT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    EXPECT_NE(st.error_message().find("max_streams_per_device"), std::string::npos)
        << st.error_message();
  }
  EXPECT_EQ(Refusals(kLimitTooManyStreams), static_cast<std::uint64_t>(kFlood));
  EXPECT_EQ(TotalFocusMs(), 0);
  // The counters are visible through the admin API (reclaimctl stats).
  {
    auto admin = v1::AdminService::NewStub(channel_);
    grpc::ClientContext ctx;
    collector_->AuthorizeAdmin(&ctx, AdminRole::kViewer);
    v1::AgentChannelStats stats;
    ASSERT_TRUE(admin->GetAgentChannelStats(&ctx, {}, &stats).ok());
    EXPECT_EQ(stats.refusals().at("too_many_streams"), static_cast<std::uint64_t>(kFlood));
    EXPECT_GE(stats.streams_active(), 3u);  // a refused stream ends just after its status
    EXPECT_EQ(stats.streams_opened(), static_cast<std::uint64_t>(3 + kFlood));
  }
  // The held streams still work, and so does another device.
  ASSERT_TRUE(held[0]->Write(Batch(1, 2)));
  EXPECT_EQ(ReadAckThrough(held[0].get(), 1), 1u);
  {
    grpc::ClientContext ctx;
    auto s = stub_->Connect(&ctx);
    ASSERT_TRUE(s->Write(Hello("dev-2")));
    ASSERT_TRUE(s->Write(Batch(1, 1)));
    EXPECT_EQ(ReadAckThrough(s.get(), 1), 1u);
    s->WritesDone();
    EXPECT_TRUE(s->Finish().ok());
  }
  // Closing one stream frees its slot.
  held[2]->WritesDone();
  EXPECT_TRUE(held[2]->Finish().ok());
  {
    grpc::ClientContext ctx;
    auto s = stub_->Connect(&ctx);
    ASSERT_TRUE(s->Write(Hello("dev-1", "instance-new")));
    ASSERT_TRUE(s->Write(Batch(1, 1)));
    EXPECT_EQ(ReadAckThrough(s.get(), 1), 1u);
    s->WritesDone();
    EXPECT_TRUE(s->Finish().ok());
  }
  for (int i = 0; i < 2; ++i) {
    held[i]->WritesDone();
    EXPECT_TRUE(held[i]->Finish().ok());
  }
  EXPECT_EQ(TotalFocusMs(), 4000);
}

TEST_F(AgentLimitsServiceTest, OverRateBatchIsRefusedUnstoredWithARetryTimeAndAcceptedThen) {
  // The buckets run on a manual clock (batches are still validated against
  // real time): refilling is a clock step, not a sleep.
  ManualClock bucket_clock;
  AgentServiceOptions o;
  o.agent_limits.intervals_per_s = 10;
  o.agent_limits.intervals_burst = 40;
  o.limits_clock = &bucket_clock;
  StartCollector(o);
  std::string retry_after_ms;
  {
    grpc::ClientContext ctx;
    auto s = stub_->Connect(&ctx);
    ASSERT_TRUE(s->Write(Hello()));
    ASSERT_TRUE(s->Write(Batch(1, 40)));
    ASSERT_TRUE(s->Write(Batch(2, 30)));
    EXPECT_EQ(DrainAcks(s.get()), 1u) << "no ack may cover the refused batch";
    const grpc::Status st = s->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(st.error_message().find("intervals_per_s"), std::string::npos)
        << st.error_message();
    // 30 tokens at 10/s: the agent is told to come back in 3 s, in the
    // trailing metadata and in the message.
    EXPECT_NE(st.error_message().find("retry in 3000 ms"), std::string::npos)
        << st.error_message();
    const auto& trailers = ctx.GetServerTrailingMetadata();
    auto it = trailers.find(kRetryAfterMsMetadata);
    ASSERT_NE(it, trailers.end());
    retry_after_ms = std::string(it->second.data(), it->second.size());
  }
  EXPECT_EQ(retry_after_ms, "3000");
  EXPECT_EQ(TotalFocusMs(), 40 * 1000);
  EXPECT_EQ(Refusals(kLimitRateIntervals), 1u);
  // Retrying early is refused again (and takes nothing from the bucket).
  const auto resend = [this] {
    grpc::ClientContext ctx;
    auto s = stub_->Connect(&ctx);
    EXPECT_TRUE(s->Write(Hello()));
    EXPECT_TRUE(s->Write(Batch(2, 30)));
    s->WritesDone();
    const std::uint64_t acked = DrainAcks(s.get());
    s->Finish();
    return acked;
  };
  bucket_clock.Advance(std::chrono::milliseconds(2500));
  EXPECT_EQ(resend(), 1u);
  EXPECT_EQ(Refusals(kLimitRateIntervals), 2u);
  // At the time the collector named, the batch is stored and acked.
  bucket_clock.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(resend(), 2u);
  EXPECT_EQ(TotalFocusMs(), 70 * 1000);
}

TEST_F(AgentLimitsServiceTest, OverlongCommandResultIsAckedNotAppliedAndCounted) {
  StartCollector();
  grpc::ClientContext ctx;
  auto s = stub_->Connect(&ctx);
  ASSERT_TRUE(s->Write(Hello()));
  v1::AgentMessage r;
  r.mutable_command_result()->set_command_id(std::string(300, 'c'));
  r.mutable_command_result()->set_outcome("answered:yes\nINFO forged line");
  ASSERT_TRUE(s->Write(r));
  v1::CollectorMessage m;
  bool result_acked = false;
  while (!result_acked && s->Read(&m)) {
    result_acked = m.has_command_result_ack() &&
                   m.command_result_ack().command_id() == r.command_result().command_id();
  }
  EXPECT_TRUE(result_acked);
  // The stream goes on carrying usage.
  ASSERT_TRUE(s->Write(Batch(1, 2)));
  EXPECT_EQ(ReadAckThrough(s.get(), 1), 1u);
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
  EXPECT_EQ(Refusals(kLimitCommandResultTooLong), 1u);
}

TEST_F(AgentLimitsServiceTest, OverlongIntervalStringsAndOversizeBatchesAreQuarantinedAndCounted) {
  AgentServiceOptions o;
  o.limits.max_intervals_per_batch = 3;
  StartCollector(o);
  grpc::ClientContext ctx;
  auto s = stub_->Connect(&ctx);
  ASSERT_TRUE(s->Write(Hello()));
  v1::AgentMessage b = Batch(1, 5);
  b.mutable_batch()->mutable_intervals(0)->mutable_app()->set_exe_name(std::string(2000, 'n'));
  ASSERT_TRUE(s->Write(b));
  EXPECT_EQ(ReadAckThrough(s.get(), 1), 1u);
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
  EXPECT_EQ(TotalFocusMs(), 2000);
  EXPECT_EQ(Refusals(kLimitStringTooLong), 1u);
  EXPECT_EQ(Refusals(kLimitBatchTooLarge), 2u);
}

// Regression test for the data loss found by adversarial testing: batch N
// fails to store. No ack may cover N (not even N+1's), N+1 must not be stored
// behind N's back (the next stream would resume after it), and once the
// store recovers both arrive. The failure is injected, not a full disk.
TEST_F(AgentLimitsServiceTest, NoAckCoversABatchThatFailedToStore) {
  testing::FailingUsageStore* failing = nullptr;
  StartCollector({}, [&failing](UsageStore& real) {
    auto f = std::make_unique<testing::FailingUsageStore>(real);
    failing = f.get();
    return f;
  });
  ASSERT_NE(failing, nullptr);
  constexpr std::uint64_t kN = 3;
  // The failing commit of N waits until N+1 is queued behind it (sent only
  // once N's commit started), so N+1 comes in a transaction of its own: the
  // case that lost data.
  IngestPipeline* pipeline = &collector_->pipeline();
  absl::Notification failing_commit_started;
  failing->FailIngestOf(kN, [pipeline, &failing_commit_started] {
    failing_commit_started.Notify();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (pipeline->queued() == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  });
  {
    grpc::ClientContext ctx;
    auto s = stub_->Connect(&ctx);
    ASSERT_TRUE(s->Write(Hello()));
    for (std::uint64_t seq = 1; seq < kN; ++seq) ASSERT_TRUE(s->Write(Batch(seq, 1)));
    EXPECT_EQ(ReadAckThrough(s.get(), kN - 1), kN - 1);
    ASSERT_TRUE(s->Write(Batch(kN, 1)));
    ASSERT_TRUE(failing_commit_started.WaitForNotificationWithTimeout(absl::Seconds(20)));
    ASSERT_TRUE(s->Write(Batch(kN + 1, 1)));
    EXPECT_LT(DrainAcks(s.get()), kN) << "an ack covered the failed batch";
    EXPECT_EQ(s->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_EQ(failing->failures(), 1);
  EXPECT_EQ(collector_->pipeline().stats().batches_failed_behind, 1u)
      << "stored " << collector_->pipeline().stats().batches_stored << " errors "
      << collector_->pipeline().stats().store_errors;
  EXPECT_EQ(TotalFocusMs(), static_cast<std::int64_t>(kN - 1) * 1000);
  // While the store still fails, a reconnect resumes right after N-1.
  {
    grpc::ClientContext ctx;
    auto s = stub_->Connect(&ctx);
    ASSERT_TRUE(s->Write(Hello()));
    v1::CollectorMessage m;
    ASSERT_TRUE(s->Read(&m));
    EXPECT_EQ(m.ack().acked_through_seq(), kN - 1) << m.ShortDebugString();
    ctx.TryCancel();
    s->Finish();
  }
  // The store recovers: the agent resends N and N+1, both arrive once.
  failing->Recover();
  {
    grpc::ClientContext ctx;
    auto s = stub_->Connect(&ctx);
    ASSERT_TRUE(s->Write(Hello()));
    ASSERT_TRUE(s->Write(Batch(kN, 1)));
    ASSERT_TRUE(s->Write(Batch(kN + 1, 1)));
    EXPECT_EQ(ReadAckThrough(s.get(), kN + 1), kN + 1);
    s->WritesDone();
    EXPECT_TRUE(s->Finish().ok());
  }
  EXPECT_EQ(TotalFocusMs(), static_cast<std::int64_t>(kN + 1) * 1000);
}

}  // namespace
}  // namespace reclaim::collector
