// Secrets in tests are recognisable, so that the test suite can prove none
// of them reaches a log line.
//
// Every password, client secret, enrollment secret or other secret a test
// makes up starts with kTestSecretMarker (shell scripts write the same
// literal prefix). Every test runs with RECLAIM_TEST_LOG_DIR set: its output
// (tests/testing/capture_output.sh), the log of every Reclaim binary it
// starts (common/logging.cc) and what harnesses capture from child
// processes (AppendToTestLog) land there, and the last CTest test,
// no_secret_in_logs (tests/testing/scan_test_logs.sh), fails when any line
// holds the marker or an admin token ("rcat_" + 43 characters).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace reclaim::testing {

/// Prefix of every secret made up by a test.
inline constexpr char kTestSecretMarker[] = "RECLAIM-TEST-SECRET-";

/// A test secret: kTestSecretMarker + `what` (e.g. "ldap-bind-password").
inline std::string TestSecret(const std::string& what) { return kTestSecretMarker + what; }

/// Appends `text` (what a child process printed, for example) to
/// "$RECLAIM_TEST_LOG_DIR/<label>-<pid>.captured"; does nothing when the
/// variable is unset.
inline void AppendToTestLog(const std::string& label, const std::string& text) {
  const char* dir = std::getenv("RECLAIM_TEST_LOG_DIR");
  if (dir == nullptr || *dir == '\0' || text.empty()) return;
  std::ofstream(std::string(dir) + "/" + label + "-" + std::to_string(::getpid()) + ".captured",
                std::ios::app)
      << text << (text.back() == '\n' ? "" : "\n");
}

}  // namespace reclaim::testing
