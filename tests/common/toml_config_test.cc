// StrictTomlConfig (common/toml_config.h): what a malformed config file does.
#include "common/toml_config.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

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
    EXPECT_THAT(e.what(), ::testing::HasSubstr("not valid UTF-8"));
  }
  EXPECT_THROW(Read("a = \"\xc0\xaf\"\n"), CLI::ConfigError);
  EXPECT_THROW(Read("# comment \xff\n"), CLI::ConfigError);
}


// Parses `config_text` as the --config file of a small app and returns what
// ReportParseError prints and its exit code.
std::pair<int, std::string> ParseWithConfig(const std::string& config_text) {
  testing::TempDir dir;
  const std::string path = dir.File("agent.toml");
  std::ofstream(path) << config_text;
  CLI::App app{"test app", "reclaim-test"};
  AddStrictConfig(app);
  std::string listen;
  int port = 0;
  app.add_option("--listen", listen);
  app.add_option("--port", port)->check(CLI::Range(1, 65535));
  const std::string config_flag = "--config=" + path;
  const char* argv[] = {"reclaim-test", config_flag.c_str()};
  ::testing::internal::CaptureStderr();
  int rc = -1;
  try {
    app.parse(2, argv);
    rc = 0;
  } catch (const CLI::ParseError& e) {
    rc = ReportParseError(app, e);
  }
  std::string err = ::testing::internal::GetCapturedStderr();
  // Replace the temp path so expectations can name it.
  for (size_t at = err.find(path); at != std::string::npos; at = err.find(path, at)) {
    err.replace(at, path.size(), "PATH");
  }
  return {rc, err};
}

TEST(ReportParseErrorTest, UnknownKeyNamesTheFileAndTheKey) {
  auto [rc, err] = ParseWithConfig("listen = \"x\"\nbogus = 1\n");
  EXPECT_EQ(rc, 2);
  EXPECT_THAT(err, ::testing::HasSubstr("config file PATH: unknown key 'bogus'"));
  EXPECT_THAT(err, ::testing::Not(::testing::HasSubstr("INI")));
}

TEST(ReportParseErrorTest, SyntaxErrorPointsIntoTheFile) {
  auto [rc, err] = ParseWithConfig("listen = \n");
  EXPECT_EQ(rc, 2);
  EXPECT_THAT(err, ::testing::HasSubstr("config file PATH: "));
  EXPECT_THAT(err, ::testing::HasSubstr("--> PATH"));
}

TEST(ReportParseErrorTest, BadValueMentionsTheConfigFile) {
  auto [rc, err] = ParseWithConfig("port = 70000\n");
  EXPECT_EQ(rc, 2);
  EXPECT_THAT(err, ::testing::HasSubstr("--port"));
  EXPECT_THAT(err, ::testing::HasSubstr("config file PATH"));
}

TEST(ReportParseErrorTest, GoodConfigParses) {
  auto [rc, err] = ParseWithConfig("listen = \"127.0.0.1:1\"\nport = 5\n");
  EXPECT_EQ(rc, 0) << err;
}

// A subcommand's --config (AddSubcommandConfig + ApplySubcommandConfig):
// parses `args` after "prog run" with the config file holding
// `config_text` (none when empty) as the subcommand's default file.
struct SubResult {
  int rc = -1;
  std::string err;
  std::string collector;
  int n = 0;
  bool plain = false;
};
SubResult ParseRun(const std::string& config_text, std::vector<std::string> args,
                   bool default_only = true) {
  testing::TempDir dir;
  const std::string path = dir.File("agent-service.toml");
  if (!config_text.empty()) std::ofstream(path) << config_text;
  CLI::App app{"test app", "reclaim-test"};
  SubResult r;
  CLI::App* run = app.add_subcommand("run", "the service");
  run->add_option("--collector", r.collector);
  run->add_option("--n", r.n)->check(CLI::Range(1, 9));
  run->add_flag("--insecure-plaintext", r.plain);
  std::string config_path = path;
  const CLI::Option* config = AddSubcommandConfig(*run, &config_path);
  std::vector<std::string> argv = {"reclaim-test", "run"};
  if (!default_only) argv.push_back("--config=" + path);
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<const char*> cargv;
  for (const std::string& a : argv) cargv.push_back(a.c_str());
  ::testing::internal::CaptureStderr();
  try {
    app.parse(static_cast<int>(cargv.size()), cargv.data());
    ApplySubcommandConfig(*run, *config, config_path);
    r.rc = 0;
  } catch (const CLI::ParseError& e) {
    r.rc = ReportParseError(app, e);
  }
  r.err = ::testing::internal::GetCapturedStderr();
  for (size_t at = r.err.find(path); at != std::string::npos; at = r.err.find(path, at)) {
    r.err.replace(at, path.size(), "PATH");
  }
  return r;
}

TEST(SubcommandConfigTest, DefaultFileSetsOptionsTheCommandLineDidNot) {
  const SubResult r =
      ParseRun("collector = \"c:1\"\nn = 3\ninsecure-plaintext = true\n", {"--n", "5"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.collector, "c:1");
  EXPECT_EQ(r.n, 5);  // the command line wins
  EXPECT_TRUE(r.plain);
}

TEST(SubcommandConfigTest, MissingDefaultFileIsNoError) {
  const SubResult r = ParseRun("", {"--collector", "d:2"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.collector, "d:2");
}

TEST(SubcommandConfigTest, MissingGivenFileIsAnError) {
  const SubResult r = ParseRun("", {}, /*default_only=*/false);
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, ::testing::HasSubstr("PATH"));
}

TEST(SubcommandConfigTest, UnknownKeyAndTablesNameTheFile) {
  SubResult r = ParseRun("bogus = 1\n", {}, /*default_only=*/false);
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, ::testing::HasSubstr("config file PATH: unknown key 'bogus'"));
  r = ParseRun("[run]\ncollector = \"x\"\n", {});
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, ::testing::HasSubstr("config file PATH: unknown key 'run.collector'"));
  r = ParseRun("config = \"other.toml\"\n", {});
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, ::testing::HasSubstr("unknown key 'config'"));
}

TEST(SubcommandConfigTest, BadValueAndSyntaxNameTheFile) {
  SubResult r = ParseRun("n = 70\n", {});
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, ::testing::HasSubstr("config file PATH: 'n'"));
  r = ParseRun("collector = \n", {});
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, ::testing::HasSubstr("config file PATH: "));
}

}  // namespace
}  // namespace reclaim
