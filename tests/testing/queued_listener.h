// A LocalListener (agent/local/local_channel.h) that hands out the server
// channels a test queued, for servers (the machine service, the browser
// bridge) tested with peers the OS cannot produce here: another user, a
// Windows SID, a peer that changes between connect and attestation.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "agent/local/local_channel.h"

namespace reclaim::testing {

class QueuedListener : public agent::LocalListener {
 public:
  /// `address` is what address() reports (for the server's logs).
  explicit QueuedListener(std::string address) : address_(std::move(address)) {}

  /// Queues one connection; a blocked Accept() returns it.
  void Push(std::unique_ptr<agent::ServerChannel> channel) {
    std::lock_guard<std::mutex> l(mu_);
    pending_.push_back(std::move(channel));
    cv_.notify_all();
  }

  agent::IpcStatus Accept(std::unique_ptr<agent::ServerChannel>* channel) override {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return interrupted_ || !pending_.empty(); });
    if (interrupted_) return {agent::kIpcUnavailable, "interrupted"};
    *channel = std::move(pending_.front());
    pending_.pop_front();
    return {};
  }
  void Interrupt() override {
    std::lock_guard<std::mutex> l(mu_);
    interrupted_ = true;
    cv_.notify_all();
  }
  std::string address() const override { return address_; }

 private:
  const std::string address_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<agent::ServerChannel>> pending_;
  bool interrupted_ = false;
};

}  // namespace reclaim::testing
