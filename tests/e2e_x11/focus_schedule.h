// Shared pieces of the end-to-end metering tests (x11_metering_test,
// browser_e2e_test): the scripted user's record of expected focus time, the
// collector process, and the collector's report read back with reclaimctl.
//
// Owned by one test thread; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "tests/e2e_x11/child_process.h"

namespace reclaim::e2e {

/// Expected focus time per application key, measured on the steady clock
/// from each confirmed switch to the next.
class FocusSchedule {
 public:
  using Clock = std::chrono::steady_clock;
  /// Credits the current key up to now, then `app` from now ("" = nothing is
  /// metered: no window, idle, locked).
  void Switch(const std::string& app);
  /// Milliseconds per key.
  const std::map<std::string, std::int64_t>& expected() const { return expected_; }

 private:
  std::map<std::string, std::int64_t> expected_;
  std::string current_;
  Clock::time_point since_;
};

/// A reclaim-collector on loopback ports picked by the kernel, its database
/// and logs in `dir`, and a viewer admin token for reclaimctl.
struct TestCollector {
  Child process;
  int agent_port = 0;
  int admin_port = 0;
  /// Owner-only file with a viewer admin token.
  std::string admin_token_file;
};
::testing::AssertionResult StartTestCollector(const std::string& collector_bin,
                                              const std::string& dir, TestCollector* out);

/// `reclaimctl usage --output json` against `collector` (with its viewer
/// token) summed per application key; `rename` (when set) maps a key first
/// (e.g. every key of one browser to "browser").
::testing::AssertionResult ReadUsage(
    const std::string& reclaimctl_bin, const TestCollector& collector, const std::string& scratch,
    std::map<std::string, std::int64_t>* out,
    const std::function<std::string(const std::string&)>& rename = nullptr);

/// Milliseconds of a steady-clock duration.
inline std::int64_t ToMs(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// Allowed error per key: 1 s per minute of schedule, at least 1 s.
std::int64_t Tolerance(std::int64_t schedule_ms);

/// A readable table of expected and stored focus time.
std::string ScheduleReport(std::int64_t schedule_ms,
                           const std::map<std::string, std::int64_t>& expected,
                           const std::map<std::string, std::int64_t>& actual);

/// Occurrences of `needle` in the file `path`.
int CountInFile(const std::string& path, const std::string& needle);

}  // namespace reclaim::e2e
