#include "tests/e2e_x11/focus_schedule.h"

#include <sstream>

#include "nlohmann/json.hpp"

namespace reclaim::e2e {

void FocusSchedule::Switch(const std::string& app) {
  const auto now = Clock::now();
  if (!current_.empty()) expected_[current_] += ToMs(now - since_);
  current_ = app;
  since_ = now;
}

::testing::AssertionResult StartTestCollector(const std::string& collector_bin,
                                              const std::string& dir, TestCollector* out) {
  const std::string ports = dir + "/ports";
  out->process = Child::Spawn(collector_bin,
                              {"--db", dir + "/collector.db", "--listen", "127.0.0.1:0",
                               "--admin-listen", "127.0.0.1:0", "--port-file", ports,
                               "--log-file", dir + "/collector.log",
                               // TLS and enrollment are tested by security_test.
                               "--insecure-plaintext", "--allow-unenrolled-agents"},
                              dir + "/collector.out");
  if (!out->process.started()) return ::testing::AssertionFailure() << out->process.error();
  if (!WaitFor([&] { return !ReadFile(ports).empty(); }, std::chrono::seconds(30))) {
    return ::testing::AssertionFailure() << "the collector wrote no ports\n"
                                         << ReadFile(dir + "/collector.log");
  }
  std::stringstream(ReadFile(ports)) >> out->agent_port >> out->admin_port;
  out->admin_token_file = dir + "/viewer.token";
  RunResult token = RunToCompletion(
      collector_bin,
      {"--db", dir + "/collector.db", "--log-level", "warn", "admin-token", "create", "--name",
       "e2e-viewer", "--role", "viewer", "--token-file", out->admin_token_file},
      dir + "/admin-token.out");
  if (token.exit_code != 0) {
    return ::testing::AssertionFailure() << "admin-token create: " << token.out;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ReadUsage(const std::string& reclaimctl_bin,
                                     const TestCollector& collector, const std::string& scratch,
                                     std::map<std::string, std::int64_t>* out,
                                     const std::function<std::string(const std::string&)>& rename) {
  RunResult usage = RunToCompletion(
      reclaimctl_bin,
      {"usage", "--collector", "127.0.0.1:" + std::to_string(collector.admin_port), "--token-file",
       collector.admin_token_file, "--output", "json",
       "--insecure-plaintext"},
      scratch);
  if (usage.exit_code != 0) return ::testing::AssertionFailure() << usage.out;
  const nlohmann::json rows = nlohmann::json::parse(usage.out, nullptr, false);
  if (!rows.is_array()) return ::testing::AssertionFailure() << "not a JSON array: " << usage.out;
  for (const auto& row : rows) {
    std::string app = row.at("application").get<std::string>();
    if (rename) app = rename(app);
    (*out)[app] += row.at("focus_ms").get<std::int64_t>();
  }
  return ::testing::AssertionSuccess();
}

std::int64_t Tolerance(std::int64_t schedule_ms) {
  return std::max<std::int64_t>(1000, schedule_ms / 60);
}

std::string ScheduleReport(std::int64_t schedule_ms,
                           const std::map<std::string, std::int64_t>& expected,
                           const std::map<std::string, std::int64_t>& actual) {
  std::stringstream report;
  report << "schedule " << schedule_ms << " ms, tolerance " << Tolerance(schedule_ms)
         << " ms per entry\n";
  for (const auto& [k, v] : expected) report << "  expected " << k << ": " << v << "\n";
  for (const auto& [k, v] : actual) report << "  stored   " << k << ": " << v << "\n";
  return report.str();
}

int CountInFile(const std::string& path, const std::string& needle) {
  const std::string text = ReadFile(path);
  int n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace reclaim::e2e
