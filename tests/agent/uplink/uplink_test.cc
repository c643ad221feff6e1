// The uplink as the Linux agent runs it in direct mode, against a real
// collector stack over loopback: the engine, LocalUplink over a channel pair and
// reclaim-agent-service's personal relay (PersonalRelay, run in a thread per
// stream instead of a process) with its gRPC stream to the collector. Acks
// delete from the spool, outages keep data, restarts count nothing twice,
// drop counters arrive exactly, an over-rate device keeps its data.
#include <gtest/gtest.h>

#include <thread>
#include <utility>

#include "absl/synchronization/notification.h"
#include "agent/local/local_uplink.h"
#include "agent/local/relay_connector.h"
#include "agent/service/relay.h"
#include "tests/agent/uplink/thread_relay.h"
#include "reclaim/v1/agent.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_collector.h"

namespace reclaim::agent {
namespace {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One batch of `n` one-second GIMP intervals.
SpoolBatch MakeBatch(int n) {
  reclaim::v1::UsageBatch b;
  const std::int64_t start = NowMs() - 3'600'000;
  for (int i = 0; i < n; ++i) {
    auto* iv = b.add_intervals();
    iv->mutable_app()->set_exe_path("/usr/bin/gimp-2.10");
    iv->set_start_utc_ms(start + i * 2000);
    iv->set_active_duration_ms(1000);
  }
  return {b.SerializeAsString(), n, n * 1000};
}

AgentIdentity Identity() {
  AgentIdentity id;
  id.device_id = "dev-uplink";
  id.agent_version = "0.1.0";
  id.hostname = "host1";
  id.user.login_name = "jdoe";
  id.user.domain = "EXAMPLE";
  return id;
}

// The engine over LocalUplink through relays to `target`, with fast backoff.
std::unique_ptr<Uplink> MakeTestUplink(Spool& spool, const std::string& target) {
  UplinkOptions o;
  o.backoff.initial = std::chrono::milliseconds(20);
  o.backoff.max = std::chrono::milliseconds(200);
  RelayConnectorOptions r;
  r.collector = target;
  return MakeLocalUplink(spool, Identity(), o,
                         MakeRelayConnector(std::make_unique<testing::ThreadRelaySpawner>(target), r));
}

class UplinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"));
    ASSERT_TRUE(collector_->ok());
    auto s = Spool::Open({.path = dir_.File("spool.db"), .max_bytes = 1 << 20}, clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    spool_ = std::move(*s);
  }

  std::int64_t CollectorFocusMs() {
    auto rows = collector_->store().QueryUsage({});
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::int64_t total = 0;
    for (const auto& r : *rows) total += r.focus_ms;
    return total;
  }

  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<testing::TestCollector> collector_;
  std::unique_ptr<Spool> spool_;
};

TEST_F(UplinkTest, AckedBatchesLeaveTheSpool) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(spool_->Append(MakeBatch(10)).ok());
  auto uplink = MakeTestUplink(*spool_, collector_->target());
  uplink->Start();
  ASSERT_TRUE(uplink->WaitForAck(5, std::chrono::seconds(20)));
  EXPECT_EQ(spool_->pending_batches(), 0);
  EXPECT_EQ(CollectorFocusMs(), 50 * 1000);
  // New data after connecting is sent when notified.
  ASSERT_TRUE(spool_->Append(MakeBatch(3)).ok());
  uplink->Notify();
  ASSERT_TRUE(uplink->WaitForAck(6, std::chrono::seconds(20)));
  EXPECT_EQ(CollectorFocusMs(), 53 * 1000);
  uplink->Stop();
  EXPECT_GE(uplink->stats().connects, 1u);
}

TEST_F(UplinkTest, CollectorDownKeepsEverythingAndDeliversLater) {
  collector_->Stop();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(spool_->Append(MakeBatch(5)).ok());
  auto uplink = MakeTestUplink(*spool_, collector_->target());
  uplink->Start();
  EXPECT_FALSE(uplink->WaitForAck(1, std::chrono::milliseconds(500)));
  EXPECT_EQ(spool_->pending_batches(), 4);
  EXPECT_GE(uplink->stats().failures, 1u);
  EXPECT_FALSE(uplink->stats().last_error.empty());
  collector_->Start();
  ASSERT_TRUE(collector_->ok());
  ASSERT_TRUE(uplink->WaitForAck(4, std::chrono::seconds(20)));
  EXPECT_EQ(spool_->pending_batches(), 0);
  EXPECT_EQ(CollectorFocusMs(), 20 * 1000);
  uplink->Stop();
}

TEST_F(UplinkTest, CollectorRestartsWhileUploadingCountNothingTwice) {
  auto uplink = MakeTestUplink(*spool_, collector_->target());
  uplink->Start();
  std::uint64_t last = 0;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 20; ++i) {
      auto seq = spool_->Append(MakeBatch(7));
      ASSERT_TRUE(seq.ok());
      last = *seq;
      uplink->Notify();
    }
    // Restart the collector while batches are in flight.
    collector_->Stop();
    collector_->Start();
    ASSERT_TRUE(collector_->ok());
  }
  ASSERT_TRUE(uplink->WaitForAck(last, std::chrono::seconds(60)));
  EXPECT_EQ(CollectorFocusMs(), 10 * 20 * 7 * 1000);
  uplink->Stop();
}

TEST_F(UplinkTest, DroppedCountsReachTheCollectorExactly) {
  collector_->Stop();
  // A small spool while the collector is away: the oldest batches go.
  auto s = Spool::Open({.path = dir_.File("small.db"), .max_bytes = 4096}, clock_);
  ASSERT_TRUE(s.ok());
  std::unique_ptr<Spool> small = std::move(*s);
  std::uint64_t last = 0;
  for (int i = 0; i < 100; ++i) {
    auto seq = small->Append(MakeBatch(4));
    ASSERT_TRUE(seq.ok()) << seq.status();
    last = *seq;
  }
  const SpoolDropCounters drops = small->drop_counters();
  ASSERT_GT(drops.dropped_batches, 0u);
  collector_->Start();
  auto uplink = MakeTestUplink(*small, collector_->target());
  uplink->Start();
  ASSERT_TRUE(uplink->WaitForAck(last, std::chrono::seconds(20)));
  uplink->Stop();
  auto devices = collector_->store().ListDevices();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 1u);
  const auto& d = devices->front().dropped;
  EXPECT_EQ(d.dropped_batches, drops.dropped_batches);
  EXPECT_EQ(d.dropped_intervals, drops.dropped_intervals);
  EXPECT_EQ(d.dropped_focus_ms, drops.dropped_focus_ms);
  // Stored + dropped = everything the meter produced.
  EXPECT_EQ(CollectorFocusMs() + static_cast<std::int64_t>(d.dropped_focus_ms), 100 * 4 * 1000);
}

// A device over the collector's rate limit: the collector refuses with
// RESOURCE_EXHAUSTED, the agent keeps the refused batches in its spool, backs
// off and retries, and everything arrives, once.
TEST_F(UplinkTest, OverRateDeviceKeepsItsDataAndDeliversItLater) {
  collector::AgentServiceOptions limited;
  limited.agent_limits.intervals_per_s = 100;
  limited.agent_limits.intervals_burst = 100;
  collector_->Stop();
  collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"), limited);
  ASSERT_TRUE(collector_->ok());
  constexpr int kBatches = 8;
  for (int i = 0; i < kBatches; ++i) ASSERT_TRUE(spool_->Append(MakeBatch(50)).ok());
  auto uplink = MakeTestUplink(*spool_, collector_->target());
  uplink->Start();
  // 400 intervals at 100/s with a burst of 100: at least one refusal, and
  // the refused batches still in the spool at that moment.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (uplink->stats().last_error.find("status 8") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_NE(uplink->stats().last_error.find("status 8"), std::string::npos)
      << uplink->stats().last_error;
  EXPECT_NE(uplink->stats().last_error.find("intervals_per_s"), std::string::npos);
  EXPECT_GT(spool_->pending_batches(), 0);
  ASSERT_TRUE(uplink->WaitForAck(kBatches, std::chrono::seconds(60)));
  EXPECT_EQ(spool_->pending_batches(), 0);
  EXPECT_EQ(CollectorFocusMs(), kBatches * 50 * 1000);
  EXPECT_GE(collector_->agent_service().stats().refusals.at("rate_limited_intervals"), 1u);
  uplink->Stop();
}

}  // namespace
}  // namespace reclaim::agent
