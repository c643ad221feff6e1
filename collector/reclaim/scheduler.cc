#include "collector/reclaim/scheduler.h"

#include <pthread.h>

#include <algorithm>

#include "common/log_format.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {

Scheduler::Scheduler(Reclaimer& reclaimer, const Clock& clock, SchedulerOptions options)
    : reclaimer_(reclaimer), clock_(clock), options_(options) {
  reclaimer_.SetRunReadyCallback([this] { Wake(); });
}

Scheduler::~Scheduler() {
  Stop();
  reclaimer_.SetRunReadyCallback(nullptr);
}

void Scheduler::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "reclaim-sched");
    Loop();
  });
}

void Scheduler::Stop() {
  stop_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Wake() {
  absl::MutexLock l(&mu_);
  wake_ = true;
  cv_.Signal();
}

std::uint64_t Scheduler::ticks() const {
  absl::MutexLock l(&mu_);
  return ticks_;
}

void Scheduler::Loop() {
  while (!stop_) {
    absl::StatusOr<UtcMs> next = reclaimer_.Tick(&stop_);
    if (!next.ok()) spdlog::error("reclamation scheduler: {}", next.status());
    std::chrono::milliseconds wait = options_.poll_interval;
    if (next.ok() && *next > 0) {
      wait = std::clamp(std::chrono::milliseconds(*next - clock_.WallUtcMs()),
                        std::chrono::milliseconds(0), options_.poll_interval);
    }
    absl::MutexLock l(&mu_);
    ++ticks_;
    if (stop_) break;
    const absl::Time deadline = absl::Now() + absl::Milliseconds(wait.count());
    while (!wake_ && !stop_) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    wake_ = false;
  }
}

}  // namespace reclaim::collector
