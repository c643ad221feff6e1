#include "common/logging.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "spdlog/details/os.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace reclaim {

absl::Status SetUpLogging(const LoggingOptions& options) {
  const auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    return absl::InvalidArgumentError("unknown log level '" + options.level +
                                      "' (use trace, debug, info, warn, error or off)");
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (options.file.empty()) {
      logger = spdlog::stderr_color_mt(options.name);
    } else {
      logger = spdlog::basic_logger_mt(options.name, options.file);
    }
  } catch (const spdlog::spdlog_ex& e) {
    return absl::UnavailableError(std::string("cannot set up logging: ") + e.what());
  }
  // Under the test suite (CTest sets RECLAIM_TEST_LOG_DIR for every test),
  // every line also goes to a per-process file there, flushed per line, for
  // the no_secret_in_logs scan (tests/testing/test_secrets.h).
  const char* test_log_dir = std::getenv("RECLAIM_TEST_LOG_DIR");
  const bool under_test = test_log_dir != nullptr && *test_log_dir != '\0';
  if (under_test) {
    try {
      logger->sinks().push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(
          std::string(test_log_dir) + "/" + options.name + "-" + std::to_string(spdlog::details::os::pid()) +
          ".log"));
    } catch (const spdlog::spdlog_ex& e) {
      return absl::UnavailableError(std::string("cannot open the test log: ") + e.what());
    }
  }
  logger->set_level(level);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %n[%P] %l: %v");
  logger->flush_on(under_test ? spdlog::level::trace : spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return absl::OkStatus();
}

}  // namespace reclaim
