// StrictTomlConfig (common/toml_config.h): what a malformed config file does.
#include "common/toml_config.h"

#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reclaim {
namespace {

std::vector<CLI::ConfigItem> Read(const std::string& text) {
  std::istringstream in(text);
  return StrictTomlConfig().from_config(in);
}

TEST(StrictTomlConfigTest, ReadsKeysAndTables) {
  const auto items = Read("log-level = \"debug\"\nmax-future-skew = 30\n[a]\nb = true\n");
  ASSERT_EQ(items.size(), 3u);
}

TEST(StrictTomlConfigTest, SyntaxErrorIsConfigError) {
  EXPECT_THROW(Read("db = \"unterminated\n"), CLI::ConfigError);
}

// Regression (tests/fuzz/corpus/toml_config_fuzzer/crash-invalid-utf8-in-literal-string):
// an ill-formed UTF-8 byte inside a literal string made toml11 3.7.1 read out
// of bounds while building its error message.
TEST(StrictTomlConfigTest, InvalidUtf8IsConfigErrorNotACrash) {
  try {
    Read("log-level = 'd\xa7" "bug'\n");
    FAIL() << "accepted";
  } catch (const CLI::ConfigError& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr("not valid UTF-8"));
  }
  EXPECT_THROW(Read("a = \"\xc0\xaf\"\n"), CLI::ConfigError);
  EXPECT_THROW(Read("# comment \xff\n"), CLI::ConfigError);
}

}  // namespace
}  // namespace reclaim
