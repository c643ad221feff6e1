// The ingest pipeline: group commit, ordering, and isolation of a failing agent.
#include "collector/server/ingest_pipeline.h"

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"

namespace reclaim::collector {
namespace {

ValidatedBatch Batch(std::uint64_t seq) {
  ValidatedBatch b;
  b.seq = seq;
  return b;
}

// A store that records IngestMany calls and refuses any call containing the
// device "poison".
class RecordingStore : public UsageStore {
 public:
  absl::StatusOr<std::uint64_t> RegisterAgent(const AgentInfo&, UtcMs) override { return 0; }
  absl::StatusOr<std::vector<IngestResult>> Ingest(const AgentInfo& agent,
                                                   std::span<const ValidatedBatch> batches,
                                                   UtcMs now) override {
    AgentBatches w{&agent, batches};
    auto r = IngestMany(std::span(&w, 1), now);
    if (!r.ok()) return r.status();
    return (*r)[0];
  }
  absl::StatusOr<std::vector<std::vector<IngestResult>>> IngestMany(
      std::span<const AgentBatches> work, UtcMs) override {
    absl::MutexLock l(&mu);
    ++calls;
    for (const auto& w : work) {
      if (w.agent->device_id == "poison") return absl::InvalidArgumentError("poison batch");
    }
    std::vector<std::vector<IngestResult>> out;
    for (const auto& w : work) {
      out.emplace_back();
      for (const auto& b : w.batches) {
        const bool dup = !stored.insert({w.agent->device_id, b.seq}).second;
        out.back().push_back(dup ? IngestResult::kDuplicate : IngestResult::kStored);
      }
    }
    return out;
  }
  absl::Status RecordDropped(const AgentInfo&, const DropCounters&, UtcMs) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<UsageRow>> QueryUsage(const UsageFilter&) override {
    return std::vector<UsageRow>();
  }
  absl::StatusOr<std::vector<DeviceRow>> ListDevices() override {
    return std::vector<DeviceRow>();
  }
  absl::StatusOr<std::vector<QuarantineRow>> ListQuarantine(int) override {
    return std::vector<QuarantineRow>();
  }

  absl::Mutex mu;
  int calls = 0;
  std::set<std::pair<std::string, std::uint64_t>> stored;
};

TEST(IngestPipelineTest, OneFailingAgentDoesNotFailTheOthersInAGroupCommit) {
  RecordingStore store;
  ManualClock clock;
  // Hold the pipeline's thread so both agents' batches land in one group.
  absl::Notification release;
  IngestPipeline pipeline(store, clock);
  pipeline.SubmitTask([&](UsageStore&) { release.WaitForNotification(); });

  auto good = std::make_shared<AgentInfo>();
  good->device_id = "good";
  auto poison = std::make_shared<AgentInfo>();
  poison->device_id = "poison";
  absl::Mutex mu;
  std::vector<std::string> results;
  auto record = [&](std::string who) {
    return [&, who](absl::StatusOr<IngestResult> r) {
      absl::MutexLock l(&mu);
      results.push_back(who + (r.ok() ? (*r == IngestResult::kStored ? ":stored" : ":dup")
                                      : ":error"));
    };
  };
  pipeline.SubmitBatch(good, Batch(1), record("good1"));
  pipeline.SubmitBatch(poison, Batch(1), record("poison1"));
  pipeline.SubmitBatch(good, Batch(2), record("good2"));
  pipeline.SubmitBatch(good, Batch(2), record("good2again"));
  release.Notify();
  pipeline.Stop();
  EXPECT_EQ(results, (std::vector<std::string>{"good1:stored", "poison1:error", "good2:stored",
                                               "good2again:dup"}));
  EXPECT_EQ(pipeline.stats().store_errors, 1u);
  EXPECT_EQ(pipeline.stats().batches_stored, 2u);
  EXPECT_EQ(pipeline.stats().batches_duplicate, 1u);
}

TEST(IngestPipelineTest, QueuedBatchesAreStoredInOneCommitAndInOrder) {
  RecordingStore store;
  ManualClock clock;
  absl::Notification release;
  IngestPipeline pipeline(store, clock);
  pipeline.SubmitTask([&](UsageStore&) { release.WaitForNotification(); });
  auto agent = std::make_shared<AgentInfo>();
  agent->device_id = "a";
  std::vector<std::uint64_t> order;
  for (std::uint64_t seq = 1; seq <= 100; ++seq) {
    pipeline.SubmitBatch(agent, Batch(seq),
                         [&order, seq](absl::StatusOr<IngestResult>) { order.push_back(seq); });
  }
  release.Notify();
  pipeline.Stop();
  ASSERT_EQ(order.size(), 100u);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(store.calls, 1) << "100 queued batches of one agent make one group commit";
  EXPECT_EQ(pipeline.stats().commits, 1u);
}

}  // namespace
}  // namespace reclaim::collector
