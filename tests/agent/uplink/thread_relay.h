// A RelaySpawner for tests: each "relay" is reclaim-agent-service's
// PersonalRelay (agent/service/relay.h) running in a thread on its end of a
// LocalChannelPair: the process the agent would start, minus the process.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "agent/local/relay_process.h"
#include "agent/service/relay.h"

namespace reclaim::testing {

using agent::IpcStatus;
using agent::LocalChannel;
using agent::LocalChannelPair;
using agent::PersonalRelay;
using agent::RelayOptions;
using agent::RelayProcess;
using agent::RelaySpawner;

class ThreadRelay final : public RelayProcess {
 public:
  ThreadRelay(const std::string& target, std::unique_ptr<LocalChannel> relay_end,
              std::unique_ptr<LocalChannel> agent_end)
      : agent_end_(std::move(agent_end)) {
    RelayOptions o;
    o.channel = std::move(relay_end);
    o.collector.target = target;
    o.collector.connect_timeout = std::chrono::seconds(5);
    relay_ = std::make_unique<PersonalRelay>(std::move(o));
    thread_ = std::thread([this] {
      relay_->Run();
      done_.Notify();
    });
  }
  ~ThreadRelay() override { Finish(std::chrono::milliseconds(0)); }
  std::unique_ptr<LocalChannel> TakeChannel() override { return std::move(agent_end_); }
  std::string Finish(std::chrono::milliseconds grace) override {
    if (!thread_.joinable()) return "exited with status 0";
    if (!done_.WaitForNotificationWithTimeout(absl::Milliseconds(grace.count()))) relay_->Stop();
    thread_.join();
    relay_.reset();  // closes its end of the channel, as the process's exit would
    return "exited with status 0";
  }
  long pid() const override { return 0; }

 private:
  std::unique_ptr<LocalChannel> agent_end_;
  std::unique_ptr<PersonalRelay> relay_;
  absl::Notification done_;
  std::thread thread_;
};

/// Starts a ThreadRelay to the collector at `target` (plaintext) per Spawn.
class ThreadRelaySpawner final : public RelaySpawner {
 public:
  explicit ThreadRelaySpawner(std::string target) : target_(std::move(target)) {}
  IpcStatus Spawn(const std::vector<std::string>&, std::unique_ptr<RelayProcess>* relay) override {
    std::unique_ptr<LocalChannel> agent_end, relay_end;
    if (IpcStatus s = LocalChannelPair(&agent_end, &relay_end); !s.ok()) return s;
    *relay = std::make_unique<ThreadRelay>(target_, std::move(relay_end), std::move(agent_end));
    return {};
  }
  std::string program() const override { return "relay thread"; }

 private:
  const std::string target_;
};

}  // namespace reclaim::testing
