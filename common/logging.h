// Logging set-up for Reclaim binaries (spdlog). Libraries log through
// spdlog's default logger and never configure it; main() calls SetUpLogging.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace reclaim {

/// Options; every field documents its default.
struct LoggingOptions {
  /// "trace", "debug", "info", "warn", "error" or "off". Default "info".
  std::string level = "info";
  /// Log file path; empty = standard error. Default empty.
  std::string file;
  /// Name shown in each line ("reclaim-agent"). Default "reclaim".
  std::string name = "reclaim";
};

/// Installs the default spdlog logger. When the environment variable
/// RECLAIM_TEST_LOG_DIR is set (the test suite sets it), every line is also
/// appended to "<dir>/<name>-<pid>.log" and flushed per line. Errors:
/// kInvalidArgument for an unknown level, kUnavailable when a log file
/// cannot be opened.
[[nodiscard]] absl::Status SetUpLogging(const LoggingOptions& options);

}  // namespace reclaim
