// A fault-injecting UsageStore (after leveldb's fault-injection env): forwards
// every call to a real store, except that while armed, an Ingest/IngestMany
// call containing a chosen seq fails with kUnavailable and stores nothing,
// as a full disk or a lost database connection would. Deterministic: the
// failure depends on what is ingested, not on the machine's disk.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "collector/store/usage_store.h"

namespace reclaim::testing {

class FailingUsageStore final : public collector::UsageStore {
 public:
  /// `inner` must outlive this object.
  explicit FailingUsageStore(collector::UsageStore& inner) : inner_(inner) {}

  /// From now on, an ingest call containing a batch with `seq` fails. Before
  /// failing it runs `before_failure` (on the ingest thread) when given.
  void FailIngestOf(std::uint64_t seq, std::function<void()> before_failure = nullptr) {
    absl::MutexLock l(&mu_);
    fail_seq_ = seq;
    before_failure_ = std::move(before_failure);
  }
  /// Stops failing.
  void Recover() {
    absl::MutexLock l(&mu_);
    fail_seq_.reset();
  }
  /// Ingest calls failed so far.
  int failures() const {
    absl::MutexLock l(&mu_);
    return failures_;
  }

  absl::StatusOr<std::uint64_t> RegisterAgent(const collector::AgentInfo& agent,
                                              UtcMs now) override {
    return inner_.RegisterAgent(agent, now);
  }
  absl::StatusOr<std::vector<collector::IngestResult>> Ingest(
      const collector::AgentInfo& agent, std::span<const collector::ValidatedBatch> batches,
      UtcMs now) override {
    AgentBatches w{&agent, batches};
    if (absl::Status s = MaybeFail(std::span(&w, 1)); !s.ok()) return s;
    return inner_.Ingest(agent, batches, now);
  }
  absl::StatusOr<std::vector<std::vector<collector::IngestResult>>> IngestMany(
      std::span<const AgentBatches> work, UtcMs now) override {
    if (absl::Status s = MaybeFail(work); !s.ok()) return s;
    return inner_.IngestMany(work, now);
  }
  absl::Status RecordDropped(const collector::AgentInfo& agent,
                             const collector::DropCounters& counters, UtcMs now) override {
    return inner_.RecordDropped(agent, counters, now);
  }
  absl::StatusOr<std::vector<collector::UsageRow>> QueryUsage(
      const collector::UsageFilter& filter) override {
    return inner_.QueryUsage(filter);
  }
  absl::StatusOr<std::vector<collector::DeviceRow>> ListDevices() override {
    return inner_.ListDevices();
  }
  absl::StatusOr<std::vector<collector::QuarantineRow>> ListQuarantine(int limit) override {
    return inner_.ListQuarantine(limit);
  }
  absl::StatusOr<collector::StoreCounters> Counters() override { return inner_.Counters(); }

 private:
  absl::Status MaybeFail(std::span<const AgentBatches> work) {
    std::function<void()> before;
    {
      absl::MutexLock l(&mu_);
      if (!fail_seq_) return absl::OkStatus();
      bool hit = false;
      for (const AgentBatches& w : work) {
        for (const collector::ValidatedBatch& b : w.batches) hit = hit || b.seq == *fail_seq_;
      }
      if (!hit) return absl::OkStatus();
      ++failures_;
      before = before_failure_;
    }
    if (before) before();
    return absl::UnavailableError("injected store failure");
  }

  collector::UsageStore& inner_;
  mutable absl::Mutex mu_;
  std::optional<std::uint64_t> fail_seq_ ABSL_GUARDED_BY(mu_);
  std::function<void()> before_failure_ ABSL_GUARDED_BY(mu_);
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace reclaim::testing
