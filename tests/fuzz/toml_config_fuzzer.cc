// Fuzz target: the strict TOML config reader (common/toml_config.h) with a
// CLI11 app shaped like reclaim-collector's (same option names, types and
// range checks). Input: the config file's text.
// Property: reading any file either succeeds or throws a CLI::ParseError
// (which main turns into a message and exit code 2); no other exception,
// no crash.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "common/toml_config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  // The reader alone.
  {
    std::istringstream in(text);
    try {
      (void)reclaim::StrictTomlConfig().from_config(in);
    } catch (const CLI::ParseError&) {
    }
  }

  // The reader behind a collector-like app.
  std::string db = "collector.db", listen = "0.0.0.0:7443", admin = "127.0.0.1:7444", port_file;
  int max_message_bytes = 4 << 20, in_flight = 64, skew = 300, per_batch = 10000, poll = 60;
  std::string level = "info", log_file;
  bool flag = false;
  CLI::App app{"fuzz"};
  reclaim::AddStrictConfig(app);
  app.add_option("--db", db);
  app.add_option("--listen", listen);
  app.add_option("--admin-listen", admin);
  app.add_option("--port-file", port_file);
  app.add_option("--max-message-bytes", max_message_bytes)->check(CLI::Range(1024, 64 << 20));
  app.add_option("--max-in-flight-batches", in_flight)->check(CLI::Range(1, 4096));
  app.add_option("--max-future-skew", skew)->check(CLI::Range(0, 86400));
  app.add_option("--max-intervals-per-batch", per_batch)->check(CLI::Range(1, 1000000));
  app.add_option("--reclaim-poll", poll)->check(CLI::Range(1, 3600));
  app.add_option("--log-level", level);
  app.add_option("--log-file", log_file);
  app.add_flag("--send-window-titles", flag);
  std::istringstream in(text);
  try {
    app.parse_from_stream(in);
  } catch (const CLI::ParseError&) {
  }
  return 0;
}
