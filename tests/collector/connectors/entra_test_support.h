// Shared pieces of the Entra connector tests: a sleeper that moves a
// ManualClock (and records each wait), the owner-only secret file, and
// options pointing at a FakeGraph.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <vector>

#include "collector/connectors/entra/entra_connector.h"
#include "common/clock.h"
#include "tests/collector/connectors/entra_fake_graph.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::testing {

/// Advances `clock` instead of sleeping; records the waits (ms).
class ClockSleeper final : public collector::entra::Sleeper {
 public:
  explicit ClockSleeper(ManualClock& clock) : clock_(clock) {}
  void Sleep(std::chrono::milliseconds d) override {
    std::lock_guard l(mu_);
    sleeps_.push_back(d.count());
    clock_.Advance(d);
  }
  std::vector<std::int64_t> sleeps() const {
    std::lock_guard l(mu_);
    return sleeps_;
  }
  void clear() {
    std::lock_guard l(mu_);
    sleeps_.clear();
  }

 private:
  ManualClock& clock_;
  mutable std::mutex mu_;
  std::vector<std::int64_t> sleeps_;
};

/// Writes `secret` to dir/name with mode `mode`; returns the path.
inline std::string WriteSecret(const TempDir& dir, const std::string& name,
                               const std::string& secret, mode_t mode = 0600) {
  const std::string path = dir.File(name);
  std::ofstream(path) << secret << "\n";
  ::chmod(path.c_str(), mode);
  return path;
}

inline collector::EntraConnectorOptions FakeGraphOptions(const FakeGraph& fake,
                                                         const std::string& secret_file) {
  collector::EntraConnectorOptions o;
  o.tenant_id = FakeGraph::kTenant;
  o.client_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
  o.client_secret_file = secret_file;
  o.authority_url = fake.url();
  o.graph_url = fake.url();
  o.allow_http = true;
  return o;
}

}  // namespace reclaim::testing
