// The ingest pipeline: the collector's single writer. gRPC reactors hand it
// validated batches and small store tasks; one owned thread ("ingest") takes
// everything queued, stores consecutive batches of all agents in one
// transaction (group commit, one fsync for many batches) and then calls each
// submitter back. Reactors never block on the store.
//
// Order: work items complete in submission order, so a stream's batches are
// stored, and acknowledged, in the order they arrived.
//
// No hole behind a failure: once a batch of a stream (one AgentInfo object,
// created per stream) failed to store, every later batch of that stream fails
// too (kUnavailable) without being stored. Acks are cumulative and a new
// stream resumes after the highest stored seq, so storing batch N+1 after N
// failed would make the agent delete N unsent.
//
// Thread-safe. The pipeline owns its thread; Stop() (or the destructor) drains
// the queue and joins it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/store/usage_store.h"
#include "common/clock.h"

namespace reclaim::collector {

/// Options; every field documents its default.
struct IngestPipelineOptions {
  /// Most batches stored in one transaction. Default 512.
  size_t max_batches_per_commit = 512;
};

/// Counters for monitoring and benchmarks.
struct IngestStats {
  std::uint64_t commits = 0;
  std::uint64_t batches_stored = 0;
  std::uint64_t batches_duplicate = 0;
  std::uint64_t intervals_stored = 0;
  std::uint64_t intervals_quarantined = 0;
  std::uint64_t store_errors = 0;
  /// Batches failed without a store attempt because an earlier batch of
  /// their stream failed.
  std::uint64_t batches_failed_behind = 0;
};

class IngestPipeline {
 public:
  /// Called on the ingest thread with the outcome for one batch. Must not block.
  using BatchDone = std::function<void(absl::StatusOr<IngestResult>)>;
  /// A store task, run on the ingest thread in submission order.
  using Task = std::function<void(UsageStore&)>;

  IngestPipeline(UsageStore& store, const Clock& clock, IngestPipelineOptions options = {});
  ~IngestPipeline();
  IngestPipeline(const IngestPipeline&) = delete;
  IngestPipeline& operator=(const IngestPipeline&) = delete;

  /// Queues one validated batch of `agent` (kept alive by the pointer).
  void SubmitBatch(std::shared_ptr<const AgentInfo> agent, ValidatedBatch batch, BatchDone done);
  /// Queues a task.
  void SubmitTask(Task task);
  /// Stores everything queued, then stops the thread. Idempotent.
  void Stop();

  IngestStats stats() const;
  /// Work items waiting.
  size_t queued() const;

 private:
  struct Item {
    std::shared_ptr<const AgentInfo> agent;
    ValidatedBatch batch;
    BatchDone done;
    Task task;  // set for tasks
  };
  void Run();
  void StoreBatches(std::vector<Item>& items);

  UsageStore& store_;
  const Clock& clock_;
  const IngestPipelineOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  // Streams with a failed batch (ingest thread only). An entry is dropped when
  // it holds the last reference: its stream is gone and nothing of it queued.
  std::vector<std::shared_ptr<const AgentInfo>> failed_streams_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  IngestStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace reclaim::collector
