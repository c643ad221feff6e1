#include "collector/server/ingest_pipeline.h"

#include <pthread.h>

#include <algorithm>
#include <vector>

#include "common/log_format.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {

IngestPipeline::IngestPipeline(UsageStore& store, const Clock& clock,
                               IngestPipelineOptions options)
    : store_(store), clock_(clock), options_(options) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "ingest");
    Run();
  });
}

IngestPipeline::~IngestPipeline() { Stop(); }

void IngestPipeline::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void IngestPipeline::SubmitBatch(std::shared_ptr<const AgentInfo> agent, ValidatedBatch batch,
                                 BatchDone done) {
  absl::MutexLock l(&mu_);
  queue_.push_back(Item{std::move(agent), std::move(batch), std::move(done), nullptr});
}

void IngestPipeline::SubmitTask(Task task) {
  absl::MutexLock l(&mu_);
  queue_.push_back(Item{nullptr, {}, nullptr, std::move(task)});
}

IngestStats IngestPipeline::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

size_t IngestPipeline::queued() const {
  absl::MutexLock l(&mu_);
  return queue_.size();
}

void IngestPipeline::Run() {
  while (true) {
    std::vector<Item> items;
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(
          +[](IngestPipeline* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping and drained
      // Take a run of batches (group commit) or a single task.
      if (queue_.front().task) {
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } else {
        while (!queue_.empty() && !queue_.front().task &&
               items.size() < options_.max_batches_per_commit) {
          items.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    if (items.front().task) {
      items.front().task(store_);
    } else {
      StoreBatches(items);
    }
  }
}

void IngestPipeline::StoreBatches(std::vector<Item>& items) {
  // Batches behind a failed batch of their stream fail unstored (see the header).
  std::erase_if(failed_streams_, [](const auto& a) { return a.use_count() == 1; });
  std::vector<Item> behind;
  std::erase_if(items, [&](Item& item) {
    const bool failed = std::find(failed_streams_.begin(), failed_streams_.end(),
                                  item.agent) != failed_streams_.end();
    if (failed) behind.push_back(std::move(item));
    return failed;
  });
  if (!behind.empty()) {
    {
      absl::MutexLock l(&mu_);
      stats_.batches_failed_behind += behind.size();
    }
    for (Item& item : behind) {
      item.done(absl::UnavailableError(
          "an earlier batch of this stream failed to store; not stored"));
    }
  }
  if (items.empty()) return;
  // Group consecutive items of the same agent; order is preserved.
  std::vector<UsageStore::AgentBatches> work;
  std::vector<std::vector<ValidatedBatch>> groups;
  groups.reserve(items.size());
  std::vector<const AgentInfo*> agents;
  for (auto& item : items) {
    if (agents.empty() || agents.back() != item.agent.get()) {
      agents.push_back(item.agent.get());
      groups.emplace_back();
    }
    groups.back().push_back(std::move(item.batch));
  }
  for (size_t i = 0; i < groups.size(); ++i) work.push_back({agents[i], groups[i]});

  // Outcome per agent group: the results of its batches, or its error.
  std::vector<absl::StatusOr<std::vector<IngestResult>>> outcome;
  IngestStats delta;
  auto all = store_.IngestMany(work, clock_.WallUtcMs());
  if (all.ok()) {
    delta.commits = 1;
    for (auto& r : *all) outcome.emplace_back(std::move(r));
  } else if (work.size() == 1) {
    outcome.emplace_back(all.status());
  } else {
    // One agent's poison batch must not fail everybody's group commit: store
    // each agent's batches on their own, so only the culprit's stream fails.
    spdlog::warn("group commit of {} agents failed ({}); storing them one by one",
                 work.size(), all.status());
    for (size_t g = 0; g < work.size(); ++g) {
      auto one = store_.IngestMany(std::span(&work[g], 1), clock_.WallUtcMs());
      if (one.ok()) {
        ++delta.commits;
        outcome.emplace_back(std::move((*one)[0]));
      } else {
        outcome.emplace_back(one.status());
      }
    }
  }

  // Outcomes per item; the submitters are called back after the counters are
  // updated, so a caller that sees its batch done also sees it counted.
  std::vector<absl::StatusOr<IngestResult>> done;
  done.reserve(items.size());
  size_t k = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!outcome[g].ok()) {
      spdlog::error("storing {} batch(es) of agent {}/{} failed, not acknowledged: {}",
                    groups[g].size(), agents[g]->device_id, agents[g]->agent_instance_id,
                    outcome[g].status());
      ++delta.store_errors;
      failed_streams_.push_back(items[k].agent);
      for (size_t b = 0; b < groups[g].size(); ++b, ++k) done.emplace_back(outcome[g].status());
      continue;
    }
    for (size_t b = 0; b < groups[g].size(); ++b, ++k) {
      const IngestResult r = (*outcome[g])[b];
      if (r == IngestResult::kStored) {
        ++delta.batches_stored;
        delta.intervals_stored += groups[g][b].intervals.size();
        delta.intervals_quarantined += groups[g][b].quarantined.size();
      } else {
        ++delta.batches_duplicate;
      }
      done.emplace_back(r);
    }
  }
  {
    absl::MutexLock l(&mu_);
    stats_.commits += delta.commits;
    stats_.batches_stored += delta.batches_stored;
    stats_.batches_duplicate += delta.batches_duplicate;
    stats_.intervals_stored += delta.intervals_stored;
    stats_.intervals_quarantined += delta.intervals_quarantined;
    stats_.store_errors += delta.store_errors;
  }
  for (size_t i = 0; i < items.size(); ++i) items[i].done(std::move(done[i]));
}

}  // namespace reclaim::collector
