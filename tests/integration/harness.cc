#include "tests/integration/harness.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "nlohmann/json.hpp"

namespace reclaim::integration {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
}

std::vector<std::string> FilesWithPrefix(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(e.path().string());
  }
  return out;
}

int CountOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

namespace {

// The last `n` bytes of a log, for failure messages.
std::string Tail(const std::string& path, size_t n = 2000) {
  const std::string s = ReadFile(path);
  return s.size() <= n ? s : s.substr(s.size() - n);
}

}  // namespace

CollectorProcess::CollectorProcess(std::string binary, std::string dir, std::string db_path,
                                   std::vector<std::string> security)
    : binary_(std::move(binary)), dir_(std::move(dir)), db_path_(std::move(db_path)),
      security_(std::move(security)) {}

std::string CollectorProcess::AdminTokenFile() {
  if (!admin_token_file_.empty()) return admin_token_file_;
  const std::string file = dir_ + "/viewer.token";
  const RunResult r = RunToCompletion(
      binary_,
      {"--db", db_path_, "--log-level", "warn", "admin-token", "create", "--name",
       "integration-viewer", "--role", "viewer", "--token-file", file},
      dir_ + "/admin-token-create", std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << "admin-token create: " << r.err;
  if (r.exit_code == 0) admin_token_file_ = file;
  return admin_token_file_;
}

::testing::AssertionResult CollectorProcess::Start(std::chrono::milliseconds bind_retry) {
  const std::string port_file = dir_ + "/collector.ports";
  const auto deadline = std::chrono::steady_clock::now() + bind_retry;
  for (int attempt = 1;; ++attempt) {
    std::error_code ec;
    std::filesystem::remove(port_file, ec);
    std::vector<std::string> args = {"--db",
                                     db_path_,
                                     "--listen",
                                     "127.0.0.1:" + std::to_string(agent_port_),
                                     "--admin-listen",
                                     "127.0.0.1:" + std::to_string(admin_port_),
                                     "--port-file",
                                     port_file};
    args.insert(args.end(), security_.begin(), security_.end());
    process_ = Process::Spawn(
        binary_, args,
        // Logging to stderr (flushed per line, unlike --log-file below warn)
        // keeps the last lines of a SIGKILLed collector.
        {.stdout_path = log_path(), .stderr_path = log_path()});
    if (!process_.started()) return ::testing::AssertionFailure() << process_.error();
    // The port file is written (renamed into place) once both ports listen.
    const bool up =
        WaitFor([&] { return std::filesystem::exists(port_file) || !process_.Running(); },
                std::chrono::seconds(20), std::chrono::milliseconds(10));
    if (up && process_.Running()) {
      int agent = 0, admin = 0;
      std::istringstream(ReadFile(port_file)) >> agent >> admin;
      if (agent <= 0 || admin <= 0) {
        return ::testing::AssertionFailure() << "bad port file: " << ReadFile(port_file);
      }
      if (agent_port_ != 0 && (agent != agent_port_ || admin != admin_port_)) {
        return ::testing::AssertionFailure()
               << "restart moved the ports to " << agent << " " << admin;
      }
      agent_port_ = agent;
      admin_port_ = admin;
      ++starts_;
      if (attempt > 1) ++bind_retries_;
      return ::testing::AssertionSuccess();
    }
    if (!up) {
      process_.KillAndReap();
      return ::testing::AssertionFailure() << "collector did not start in 20 s; log:\n"
                                           << Tail(log_path());
    }
    // It exited. A restart may find its old port still held briefly: retry.
    const bool retry = agent_port_ != 0 && process_.exit_code() == 1 &&
                       std::chrono::steady_clock::now() < deadline;
    if (!retry) {
      return ::testing::AssertionFailure() << "collector " << process_.Describe()
                                           << " at start (attempt " << attempt << "); log:\n"
                                           << Tail(log_path());
    }
    // A pause between bind attempts (a retry delay, not a wait for a condition).
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void CollectorProcess::Kill() { process_.KillAndReap(); }

::testing::AssertionResult CollectorProcess::Stop(std::chrono::milliseconds timeout) {
  if (!process_.Running()) {
    return ::testing::AssertionFailure() << "collector not running: " << process_.Describe();
  }
  process_.Signal(SIGTERM);
  if (!process_.Wait(timeout)) {
    process_.KillAndReap();
    return ::testing::AssertionFailure() << "collector did not stop on SIGTERM";
  }
  if (process_.exit_code() != 0) {
    return ::testing::AssertionFailure() << "collector stopped with " << process_.Describe();
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::string> AgentArgs::Build() const {
  std::vector<std::string> a = {"--collector",
                                collector,
                                "--spool",
                                spool,
                                "--script",
                                script,
                                "--replay-speed",
                                std::to_string(replay_speed),
                                "--heartbeat",
                                std::to_string(heartbeat_s),
                                "--drain-timeout",
                                std::to_string(drain_timeout_s),
                                "--backoff-initial-ms",
                                "50",
                                "--backoff-max-ms",
                                "500",
                                "--device-id",
                                device_id,
                                "--user-login",
                                "jdoe",
                                "--user-domain",
                                "EXAMPLE",
                                "--user-upn",
                                "jdoe@example.com"};
  a.insert(a.end(), security.begin(), security.end());
  if (exit_when_done) a.push_back("--exit-when-done");
  if (!log_file.empty()) a.insert(a.end(), {"--log-file", log_file});
  if (spool_max_bytes > 0)
    a.insert(a.end(), {"--spool-max-bytes", std::to_string(spool_max_bytes)});
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

namespace {

::testing::AssertionResult RunCtlJson(const Binaries& bin, const std::string& command,
                                      CollectorProcess& collector,
                                      const std::string& scratch_dir, nlohmann::json* out) {
  const std::string token_file = collector.AdminTokenFile();
  if (token_file.empty()) return ::testing::AssertionFailure() << "no admin token";
  std::vector<std::string> args = {command,      "--collector", collector.admin_target(),
                                   "--token-file", token_file,  "--output",
                                   "json",         "--timeout",   "20"};
  args.insert(args.end(), bin.ctl_flags.begin(), bin.ctl_flags.end());
  const RunResult r =
      RunToCompletion(bin.ctl, args, scratch_dir + "/reclaimctl-" + command, std::chrono::seconds(30));
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure()
           << "reclaimctl " << command << " exited " << r.exit_code << ": " << r.err;
  }
  *out = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded() || !out->is_array()) {
    return ::testing::AssertionFailure() << "reclaimctl " << command << " printed no JSON array:\n"
                                         << r.out;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

::testing::AssertionResult QueryUsage(const Binaries& bin, CollectorProcess& collector,
                                      const std::string& scratch_dir,
                                      std::map<std::string, UsageRow>* rows) {
  nlohmann::json j;
  if (auto r = RunCtlJson(bin, "usage", collector, scratch_dir, &j); !r) return r;
  rows->clear();
  for (const auto& row : j) {
    const std::string app = row.at("application").get<std::string>();
    if (rows->count(app)) {
      return ::testing::AssertionFailure() << "two usage rows for " << app << " (one user)";
    }
    (*rows)[app] = {row.at("focus_ms").get<std::int64_t>(), row.at("sessions").get<std::int64_t>()};
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult QueryDevices(const Binaries& bin, CollectorProcess& collector,
                                        const std::string& scratch_dir,
                                        std::vector<DeviceRow>* rows) {
  nlohmann::json j;
  if (auto r = RunCtlJson(bin, "devices", collector, scratch_dir, &j); !r) return r;
  rows->clear();
  for (const auto& row : j) {
    DeviceRow d;
    d.device_id = row.at("device_id").get<std::string>();
    d.agent_instance_id = row.at("agent_instance_id").get<std::string>();
    d.user = row.at("user").get<std::string>();
    d.acked_through_seq = row.at("acked_through_seq").get<std::uint64_t>();
    d.dropped_batches = row.at("dropped_batches").get<std::uint64_t>();
    d.dropped_intervals = row.at("dropped_intervals").get<std::uint64_t>();
    d.dropped_focus_ms = row.at("dropped_focus_ms").get<std::uint64_t>();
    d.corrupt_spools = row.at("corrupt_spools").get<std::uint64_t>();
    d.quarantined_intervals = row.at("quarantined_intervals").get<std::uint64_t>();
    rows->push_back(std::move(d));
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult UsageMatches(const std::map<std::string, UsageRow>& actual,
                                        const std::map<std::string, ExpectedUsage>& expected) {
  std::ostringstream diff;
  for (const auto& [app, want] : expected) {
    auto it = actual.find(app);
    const UsageRow got = it == actual.end() ? UsageRow{} : it->second;
    if (got.focus_ms != want.focus_ms || got.sessions != want.sessions) {
      diff << "  " << app << ": stored " << got.focus_ms << " ms / " << got.sessions
           << " sessions, scripted " << want.focus_ms << " ms / " << want.sessions
           << " sessions (focus diff " << got.focus_ms - want.focus_ms << " ms)\n";
    }
  }
  for (const auto& [app, got] : actual) {
    if (!expected.count(app)) {
      diff << "  " << app << ": stored " << got.focus_ms << " ms / " << got.sessions
           << " sessions, not in the script\n";
    }
  }
  if (diff.str().empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "usage differs from the script:\n" << diff.str();
}

std::int64_t TotalFocusMs(const std::map<std::string, UsageRow>& rows) {
  std::int64_t total = 0;
  for (const auto& [app, row] : rows) total += row.focus_ms;
  return total;
}

}  // namespace reclaim::integration
