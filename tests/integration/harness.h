// Shared pieces of the integration tests: polling with a deadline, small file
// helpers, a restartable reclaim-collector process that keeps its agent port,
// agent command lines, and reclaimctl queries parsed from `--output json`.
//
// The binaries' paths come from the test (tests/integration/binaries.h), so
// this library does not depend on how they were built. Everything a test
// creates lives in its own temp dir; ports are picked by the kernel (port 0)
// on a collector's first start. Not thread-safe: one test thread drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/process.h"
#include "tests/integration/script_gen.h"
#include "tests/testing/wait_for.h"

namespace reclaim::integration {

/// Paths of the three programs under test.
struct Binaries {
  std::string agent;
  std::string collector;
  std::string ctl;
  /// Transport flags of every reclaimctl call made through this harness.
  /// Default: plaintext (the harness's collectors listen without TLS unless
  /// a test says otherwise).
  std::vector<std::string> ctl_flags = {"--insecure-plaintext"};
};

/// Polls a condition until it holds or a timeout passes: tests/testing/wait_for.h.
using ::reclaim::testing::WaitFor;

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);
/// Files in `dir` whose name starts with `prefix`.
std::vector<std::string> FilesWithPrefix(const std::string& dir, const std::string& prefix);
/// Occurrences of `needle` in `haystack`.
int CountOf(const std::string& haystack, const std::string& needle);

/// A reclaim-collector child with its database, port file and log in `dir`.
/// The first Start() listens on port 0 (agents and admin); later starts reuse
/// the same two ports, since the agent's target is fixed.
class CollectorProcess {
 public:
  /// `security` are the collector's transport and device-identity flags;
  /// the default (plaintext, unenrolled agents accepted) suits tests of
  /// everything but security (tests/integration/security_test.cc).
  CollectorProcess(std::string binary, std::string dir, std::string db_path,
                   std::vector<std::string> security = {"--insecure-plaintext",
                                                        "--allow-unenrolled-agents"});

  /// Starts the collector and waits until its port file says it listens.
  /// When a restart cannot bind its old ports (exit 1), it is retried for up
  /// to `bind_retry`. Fails with the log's tail when it does not come up.
  ::testing::AssertionResult Start(std::chrono::milliseconds bind_retry = std::chrono::seconds(5));
  /// SIGKILL and reap.
  void Kill();
  /// SIGTERM; expects a clean exit (code 0) within `timeout`.
  ::testing::AssertionResult Stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  bool Running() { return process_.Running(); }

  int agent_port() const { return agent_port_; }
  int admin_port() const { return admin_port_; }
  std::string agent_target() const { return "127.0.0.1:" + std::to_string(agent_port_); }
  std::string admin_target() const { return "127.0.0.1:" + std::to_string(admin_port_); }
  int starts() const { return starts_; }
  /// Restarts that needed more than one attempt to bind.
  int bind_retries() const { return bind_retries_; }
  std::string log_path() const { return dir_ + "/collector.log"; }
  /// An owner-only file with a viewer admin token for reclaimctl, created
  /// (`reclaim-collector admin-token create`) on first use; empty (with a
  /// test failure) when that fails.
  std::string AdminTokenFile();

 private:
  std::string binary_, dir_, db_path_;
  std::vector<std::string> security_;
  Process process_;
  int agent_port_ = 0, admin_port_ = 0;
  int starts_ = 0, bind_retries_ = 0;
  std::string admin_token_file_;
};

/// An agent command line; every field documents its default.
struct AgentArgs {
  std::string collector;             ///< host:port. Required.
  std::string spool;                 ///< Spool file. Required.
  std::string script;                ///< Script file. Required.
  std::string log_file;              ///< Default: none (stderr).
  double replay_speed = 0;           ///< Default 0 (as fast as possible).
  int heartbeat_s = 60;              ///< Default 60.
  int drain_timeout_s = 30;          ///< Default 30.
  bool exit_when_done = true;        ///< Default true.
  std::int64_t spool_max_bytes = 0;  ///< 0 = the agent's default.
  std::string device_id = "it-device-01";
  /// Transport and device-credential flags. Default: plaintext.
  std::vector<std::string> security = {"--insecure-plaintext"};
  std::vector<std::string> extra;  ///< Appended as is.
  std::vector<std::string> Build() const;
};

/// One application's row of `reclaimctl usage --output json`.
struct UsageRow {
  std::int64_t focus_ms = 0;
  std::int64_t sessions = 0;
};

/// One row of `reclaimctl devices --output json`.
struct DeviceRow {
  std::string device_id, agent_instance_id, user;
  std::uint64_t acked_through_seq = 0;
  std::uint64_t dropped_batches = 0, dropped_intervals = 0, dropped_focus_ms = 0;
  std::uint64_t corrupt_spools = 0, quarantined_intervals = 0;
};

/// `reclaimctl usage --output json` against `collector` (with its viewer
/// token), per application (display key). Scratch files go to `scratch_dir`.
::testing::AssertionResult QueryUsage(const Binaries& bin, CollectorProcess& collector,
                                      const std::string& scratch_dir,
                                      std::map<std::string, UsageRow>* rows);
/// `reclaimctl devices --output json`.
::testing::AssertionResult QueryDevices(const Binaries& bin, CollectorProcess& collector,
                                        const std::string& scratch_dir,
                                        std::vector<DeviceRow>* rows);

/// Compares stored usage with a script's expectation, application by
/// application (focus ms and sessions exactly).
::testing::AssertionResult UsageMatches(const std::map<std::string, UsageRow>& actual,
                                        const std::map<std::string, ExpectedUsage>& expected);

/// Sum of focus_ms over all rows.
std::int64_t TotalFocusMs(const std::map<std::string, UsageRow>& rows);

}  // namespace reclaim::integration
