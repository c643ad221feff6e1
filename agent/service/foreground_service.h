// Pieces the service hosts share (service_host_linux.cc,
// service_host_windows.cc): the latched stop request, and the context of a
// service that runs as a plain foreground process (Linux always; Windows
// when not started by the SCM). Standard C++ only (the Windows twin builds
// with mingw-w64).
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#include "agent/service/service_host.h"

namespace reclaim::agent {

/// A stop request, latched: the first request's reason is kept and every
/// Wait() returns it, however late it is called.
class ServiceStopLatch {
 public:
  /// Records a stop request with `reason` ("SIGTERM", "SERVICE_CONTROL_STOP",
  /// ...). Returns true for the first request, false (and keeps the first
  /// reason) afterwards. Any thread; never blocks for long.
  bool Request(const std::string& reason) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (reason_.has_value()) return false;
      reason_ = reason;
    }
    cv_.notify_all();
    return true;
  }

  /// Blocks until a stop was requested; returns its reason.
  std::string Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return reason_.has_value(); });
    return *reason_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::string> reason_;  // guarded by mu_
};

/// A service without a service manager to report to: ReportRunning and
/// ReportStopping do nothing; the host's watcher calls latch.Request().
class ForegroundServiceContext final : public ServiceContext {
 public:
  void ReportRunning() override {}
  std::string WaitForStopRequest() override { return latch.Wait(); }
  void ReportStopping(unsigned /*wait_hint_ms*/) override {}

  ServiceStopLatch latch;
};

}  // namespace reclaim::agent
