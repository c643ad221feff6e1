// Tests for the scripted focus source: parsing, loading, and replay through
// the meter (agent/sources/scripted_source.h).
#include "agent/sources/scripted_source.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;
using Kind = MeterEvent::Kind;

// 2026-11-23T08:00:00Z, ms since the Unix epoch.
constexpr UtcMs kEightUtc = 1795392000000 + 8 * 3600000;

MonoTime Hms(int h, int m, int s = 0) { return hours(h) + minutes(m) + seconds(s); }

// The example of the format, as the brief and the header give it.
constexpr char kExample[] = R"(# comments and blank lines ignored

start 2026-11-23T08:00:00Z          # optional, UTC of offset 0
+00:00:00 focus exe=/usr/bin/gimp-2.10 name=gimp-2.10 class=Gimp
+00:25:00 idle
+00:30:00 active
+00:31:10 focus exe="/opt/My App/app" name=app class="My App" package=org.example.App product="X" version=1 web=na1.lightning.force.com title="..."
+01:00:00 lock
+01:10:00 unlock
+02:00:00 suspend
+02:30:00 resume
+03:00:00 nofocus
+08:00:00 end                       # required last line: end of the script
)";

AppIdentity Gimp() {
  AppIdentity app;
  app.exe_path = "/usr/bin/gimp-2.10";
  app.exe_name = "gimp-2.10";
  app.window_class = "Gimp";
  return app;
}

AppIdentity MyApp() {
  AppIdentity app;
  app.exe_path = "/opt/My App/app";
  app.exe_name = "app";
  app.window_class = "My App";
  app.package_id = "org.example.App";
  app.product_name = "X";
  app.product_version = "1";
  app.web_domain = "na1.lightning.force.com";
  app.window_title = "...";
  return app;
}

// --- Parsing -------------------------------------------------------------------

TEST(ParseScriptTest, ParsesEveryVerb) {
  const absl::StatusOr<Script> script = ParseScript(kExample, "example");
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_EQ(script->start_utc_ms, kEightUtc);
  EXPECT_EQ(script->end, hours(8));
  const std::vector<MeterEvent> expected = {
      {Kind::kFocus, Hms(0, 0), Gimp()},         {Kind::kIdle, Hms(0, 25), std::nullopt},
      {Kind::kActive, Hms(0, 30), std::nullopt}, {Kind::kFocus, Hms(0, 31, 10), MyApp()},
      {Kind::kLock, Hms(1, 0), std::nullopt},    {Kind::kUnlock, Hms(1, 10), std::nullopt},
      {Kind::kSuspend, Hms(2, 0), std::nullopt}, {Kind::kResume, Hms(2, 30), std::nullopt},
      {Kind::kFocus, Hms(3, 0), std::nullopt},
  };
  ASSERT_EQ(script->events.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(script->events[i].kind, expected[i].kind);
    EXPECT_EQ(script->events[i].at, expected[i].at);
    EXPECT_EQ(script->events[i].app, expected[i].app);
  }
}

TEST(ParseScriptTest, StartIsOptional) {
  const absl::StatusOr<Script> script = ParseScript("+00:00:00 idle\n+00:00:01 end\n", "s");
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_FALSE(script->start_utc_ms.has_value());
  EXPECT_EQ(script->end, seconds(1));
}

TEST(ParseScriptTest, QuotingEscapesAndUtf8) {
  const absl::StatusOr<Script> script = ParseScript(
      "+0:00:00 focus title=\"say \\\"hi\\\" \\\\ # not a comment\" web=\"\" "
      "name=Caf\xC3\xA9#1 class=\"tab\there\"   # a comment \"unterminated\n"
      "+0:00:01 end",
      "s");
  ASSERT_TRUE(script.ok()) << script.status();
  ASSERT_EQ(script->events.size(), 1u);
  const AppIdentity& app = *script->events[0].app;
  EXPECT_EQ(app.window_title, "say \"hi\" \\ # not a comment");
  EXPECT_EQ(app.web_domain, "");
  EXPECT_EQ(app.exe_name, "Caf\xC3\xA9#1");
  EXPECT_EQ(app.window_class, "tab\there");
}

TEST(ParseScriptTest, OffsetsWithMillisecondsLongHoursAndCrlf) {
  const absl::StatusOr<Script> script = ParseScript(
      "start 2026-11-23t08:00:00.123456z\r\n"
      "\t+00:00:00.250\tlock\r\n"
      "+00:00:00.250 unlock\r\n"  // equal offsets keep file order
      "+30:00:00.001 idle\r\n"
      "+123456:59:59.999 end\r\n",
      "s");
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_EQ(script->start_utc_ms, kEightUtc + 123);
  ASSERT_EQ(script->events.size(), 3u);
  EXPECT_EQ(script->events[0].kind, Kind::kLock);
  EXPECT_EQ(script->events[0].at, milliseconds(250));
  EXPECT_EQ(script->events[1].kind, Kind::kUnlock);
  EXPECT_EQ(script->events[1].at, milliseconds(250));
  EXPECT_EQ(script->events[2].at, hours(30) + milliseconds(1));
  EXPECT_EQ(script->end, hours(123456) + minutes(59) + seconds(59) + milliseconds(999));
}

TEST(ParseScriptTest, StartTimesConvertToUtcMs) {
  struct Case {
    const char* text;
    UtcMs ms;
  };
  const Case cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59.5Z", -500},
      {"2000-02-29T12:00:00Z", 951825600000},
      {"2026-11-23T08:00:00Z", kEightUtc},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const absl::StatusOr<Script> script =
        ParseScript(std::string("start ") + c.text + "\n+00:00:00 end\n", "s");
    ASSERT_TRUE(script.ok()) << script.status();
    EXPECT_EQ(script->start_utc_ms, c.ms);
  }
}

struct BadScript {
  const char* name;
  const char* text;
  const char* error;  // the whole message starts with this
};

class ParseScriptErrorTest : public ::testing::TestWithParam<BadScript> {};

TEST_P(ParseScriptErrorTest, ReportsLineAndCause) {
  const absl::StatusOr<Script> script = ParseScript(GetParam().text, "day.script");
  ASSERT_FALSE(script.ok());
  EXPECT_EQ(script.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(script.status().message()), ::testing::StartsWith(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    AllErrors, ParseScriptErrorTest,
    ::testing::Values(
        BadScript{"UnknownVerb", "+00:00:00 idle\n\n+00:00:01 sleep\n+00:00:02 end\n",
                  "day.script:3: unknown verb 'sleep'"},
        BadScript{"UnknownVerbIsEchoedAsValidUtf8", "+00:00:00 x\xFF\n+00:00:01 end\n",
                  "day.script:1: unknown verb 'x\xEF\xBF\xBD'"},
        BadScript{"UnknownKey", "# c\n+00:00:00 focus exe=a colour=red\n+00:00:01 end\n",
                  "day.script:2: unknown key 'colour'"},
        BadScript{"DuplicateKey", "+00:00:00 focus exe=a exe=b\n+00:00:01 end\n",
                  "day.script:1: duplicate key 'exe'"},
        BadScript{"KeyWithoutValue", "+00:00:00 focus exe\n+00:00:01 end\n",
                  "day.script:1: expected key=value, got 'exe'"},
        BadScript{"EmptyUnquotedValue", "+00:00:00 focus exe= name=b\n+00:00:01 end\n",
                  "day.script:1: empty value for 'exe'"},
        BadScript{"FocusWithoutKeys", "+00:00:00 focus   # nothing\n+00:00:01 end\n",
                  "day.script:1: 'focus' needs at least one key=value"},
        BadScript{"ArgumentsOnIdle", "+00:00:00 idle now\n+00:00:01 end\n",
                  "day.script:1: 'idle' takes no arguments"},
        BadScript{"ArgumentsOnEnd", "+00:00:00 end now\n",
                  "day.script:1: 'end' takes no arguments"},
        BadScript{"MissingVerb", "\n+00:00:00   # no verb\n+00:00:01 end\n",
                  "day.script:2: missing verb after +00:00:00"},
        BadScript{"NoOffset", "idle\n+00:00:01 end\n",
                  "day.script:1: expected '+HH:MM:SS[.mmm] <verb>' or 'start <time>', got 'idle'"},
        BadScript{"OffsetWithoutPlus", "00:00:00 idle\n+00:00:01 end\n",
                  "day.script:1: expected '+HH:MM:SS[.mmm] <verb>'"},
        BadScript{"OneDigitMinutes", "+0:0:00 idle\n+00:00:01 end\n",
                  "day.script:1: bad time offset '+0:0:00'"},
        BadScript{"SixtyMinutes", "+00:60:00 idle\n+01:00:01 end\n",
                  "day.script:1: bad time offset '+00:60:00'"},
        BadScript{"SixtySeconds", "+00:00:60 idle\n+00:01:01 end\n",
                  "day.script:1: bad time offset '+00:00:60'"},
        BadScript{"ShortMilliseconds", "+00:00:00.5 idle\n+00:00:01 end\n",
                  "day.script:1: bad time offset '+00:00:00.5'"},
        BadScript{"SevenDigitHours", "+1234567:00:00 idle\n+1234567:00:01 end\n",
                  "day.script:1: bad time offset '+1234567:00:00'"},
        BadScript{"TrailingJunkInOffset", "+00:00:00x idle\n+00:00:01 end\n",
                  "day.script:1: bad time offset '+00:00:00x'"},
        BadScript{"DecreasingOffset", "+00:10:00 idle\n+00:09:59.999 active\n+01:00:00 end\n",
                  "day.script:2: offset +00:09:59.999 is before the previous offset "
                  "+00:10:00.000"},
        BadScript{"EndBeforeLastEvent", "+00:10:00 idle\n+00:05:00 end\n",
                  "day.script:2: offset +00:05:00 is before the previous offset"},
        BadScript{"MissingEnd", "+00:00:00 idle\n+00:00:01 active\n# the end\n",
                  "day.script:3: missing 'end' line"},
        BadScript{"EmptyScript", "", "day.script:1: missing 'end' line"},
        BadScript{"TextAfterEnd", "+00:00:00 end\n\n+00:00:01 idle\n",
                  "day.script:3: text after 'end'"},
        BadScript{"UnterminatedQuote", "+00:00:00 focus exe=\"/opt/My App\n+00:00:01 end\n",
                  "day.script:1: unterminated quote in value of 'exe'"},
        BadScript{"UnterminatedAfterBackslash", "+00:00:00 focus exe=\"a\\\n+00:00:01 end\n",
                  "day.script:1: unterminated quote in value of 'exe'"},
        BadScript{"BadEscape", "+00:00:00 focus exe=\"C:\\Program Files\"\n+00:00:01 end\n",
                  "day.script:1: bad escape '\\P' in value of 'exe'"},
        BadScript{"TextAfterClosingQuote", "+00:00:00 focus exe=\"a\"b\n+00:00:01 end\n",
                  "day.script:1: unexpected text after the closing quote of 'exe'"},
        BadScript{"QuoteInsideUnquoted", "+00:00:00 focus exe=a\"b\"\n+00:00:01 end\n",
                  "day.script:1: '\"' inside the unquoted value of 'exe'"},
        BadScript{"InvalidUtf8",
                  "+00:00:00 focus exe=a\n+00:00:01 focus title=\"\xC3(\"\n"
                  "+00:00:02 end\n",
                  "day.script:2: value of 'title' is not valid UTF-8"},
        BadScript{"OverlongUtf8", "+00:00:00 focus name=\xC0\xAF\n+00:00:02 end\n",
                  "day.script:1: value of 'name' is not valid UTF-8"},
        BadScript{"ControlCharacter", "+00:00:00 focus name=\"a\x1b[31m\"\n+00:00:02 end\n",
                  "day.script:1: control character in value of 'name'"},
        BadScript{"DuplicateStart",
                  "start 2026-11-23T08:00:00Z\nstart 2026-11-23T09:00:00Z\n+00:00:00 end\n",
                  "day.script:2: duplicate 'start'"},
        BadScript{"StartAfterEvents", "+00:00:00 idle\nstart 2026-11-23T08:00:00Z\n+00:00:01 end\n",
                  "day.script:2: 'start' must come before the first timed line"},
        BadScript{"StartWithoutTime", "start # when?\n+00:00:00 end\n",
                  "day.script:1: 'start' needs a time"},
        BadScript{"StartWithOffset", "start 2026-11-23T08:00:00+01:00\n+00:00:00 end\n",
                  "day.script:1: bad start time '2026-11-23T08:00:00+01:00'"},
        BadScript{"StartWithoutZone", "start 2026-11-23T08:00:00\n+00:00:00 end\n",
                  "day.script:1: bad start time"},
        BadScript{"StartOnFebruary30", "start 2026-02-30T08:00:00Z\n+00:00:00 end\n",
                  "day.script:1: bad start time"},
        BadScript{"StartWithLeapSecond", "start 2016-12-31T23:59:60Z\n+00:00:00 end\n",
                  "day.script:1: bad start time"},
        BadScript{"StartWithTenDigitFraction",
                  "start 2026-11-23T08:00:00.0123456789Z\n+00:00:00 end\n",
                  "day.script:1: bad start time"},
        BadScript{"StartWithSpaceSeparator", "start 2026-11-23 08:00:00Z\n+00:00:00 end\n",
                  "day.script:1: bad start time '2026-11-23'"}),
    [](const ::testing::TestParamInfo<BadScript>& info) { return info.param.name; });

// --- Loading -------------------------------------------------------------------

class LoadScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("scripted_source_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(LoadScriptTest, LoadsAndParsesAFile) {
  const std::string path = Write("day.script", kExample);
  const absl::StatusOr<Script> script = LoadScript(path);
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_EQ(script->events.size(), 9u);
  EXPECT_EQ(script->end, hours(8));
}

TEST_F(LoadScriptTest, ParseErrorsNameThePath) {
  const std::string path = Write("bad.script", "+00:00:00 idle\n");
  const absl::StatusOr<Script> script = LoadScript(path);
  EXPECT_EQ(script.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(script.status().message()), HasSubstr(path + ":1: missing 'end'"));
}

TEST_F(LoadScriptTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadScript((dir_ / "nope.script").string()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadScript((dir_ / "no-dir" / "nope.script").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(LoadScriptTest, DirectoryIsInvalidArgument) {
  EXPECT_EQ(LoadScript(dir_.string()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LoadScriptTest, UnreadableFileIsPermissionDenied) {
  const std::string path = Write("secret.script", kExample);
  std::filesystem::permissions(path, std::filesystem::perms::none);
  // Root reads any file, so check in a child that runs as "nobody" then.
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all |
                                         std::filesystem::perms::group_exec |
                                         std::filesystem::perms::others_exec);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    ::_exit(LoadScript(path).status().code() == absl::StatusCode::kPermissionDenied ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: wrong status code, 3: cannot drop privileges";
}

TEST_F(LoadScriptTest, RefusesFilesOver64MiB) {
  const std::string path = Write("huge.script", "");
  std::filesystem::resize_file(path, kMaxScriptBytes + 1);  // sparse: cheap
  const absl::StatusOr<Script> script = LoadScript(path);
  EXPECT_EQ(script.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(script.status().message()), HasSubstr("larger than"));
}

TEST_F(LoadScriptTest, AcceptsAFileOfExactly64MiB) {
  // A valid script padded with a comment to the limit.
  std::string text = "+00:00:00 end\n#";
  text.resize(kMaxScriptBytes - 1, 'x');
  text.push_back('\n');
  ASSERT_EQ(text.size(), kMaxScriptBytes);
  const absl::StatusOr<Script> script = LoadScript(Write("big.script", text));
  EXPECT_TRUE(script.ok()) << script.status();
}

// --- Replay --------------------------------------------------------------------

// Focus ms per "window_class[ web_domain]", and sessions likewise.
struct Tally {
  std::map<std::string, std::int64_t> ms;
  std::map<std::string, int> sessions;
  bool operator==(const Tally&) const = default;
};

Tally Count(const std::vector<FocusInterval>& intervals) {
  Tally t;
  for (const auto& i : intervals) {
    const std::string key =
        i.app.window_class + (i.app.web_domain.empty() ? "" : " " + i.app.web_domain);
    t.ms[key] += i.active_duration_ms;
    if (!i.continuation) ++t.sessions[key];
  }
  return t;
}

std::vector<FocusInterval> ReplayAll(const Script& script, MeterOptions options,
                                     MonoTime resume_from = MonoTime{0}) {
  ScriptReplay replay(script, options, script.start_utc_ms.value_or(0), resume_from);
  auto out = replay.AdvanceTo(script.end);
  EXPECT_TRUE(replay.done());
  EXPECT_EQ(replay.now(), script.end);
  return out;
}

Script ParseOrDie(std::string_view text) {
  absl::StatusOr<Script> script = ParseScript(text, "test");
  EXPECT_TRUE(script.ok()) << script.status();
  return script.ok() ? *std::move(script) : Script{};
}

TEST(ScriptReplayTest, ExampleTotalsMatchHandComputedValues) {
  const Script script = ParseOrDie(kExample);
  for (const milliseconds settle_delay : {milliseconds(0), milliseconds(minutes(5))}) {
    SCOPED_TRACE(settle_delay.count());
    MeterOptions options;
    options.settle_delay = settle_delay;
    const auto out = ReplayAll(script, options);
    // Gimp 0:00-0:25 and 0:30-0:31:10; My App 0:31:10-1:00, 1:10-2:00, 2:30-3:00.
    EXPECT_EQ(Count(out), (Tally{{{"Gimp", 1570000}, {"My App na1.lightning.force.com", 6530000}},
                                 {{"Gimp", 2}, {"My App na1.lightning.force.com", 3}}}));
    for (const auto& i : out) {
      EXPECT_GT(i.active_duration_ms, 0);
      EXPECT_LE(i.active_duration_ms, 120000);  // heartbeat 60 s, polled every 60 s
    }
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.front().start_utc_ms, kEightUtc);
    EXPECT_EQ(out.back().start_utc_ms + out.back().active_duration_ms,
              kEightUtc + milliseconds(hours(3)).count());
  }
}

TEST(ScriptReplayTest, StepsDoNotChangeTheIntervals) {
  const Script script = ParseOrDie(kExample);
  MeterOptions options;
  const auto straight = ReplayAll(script, options);
  ScriptReplay replay(script, options, kEightUtc, MonoTime{0});
  std::vector<FocusInterval> stepped;
  for (MonoTime t{0}; !replay.done(); t += milliseconds(7919)) {
    for (auto& i : replay.AdvanceTo(t)) stepped.push_back(i);
    EXPECT_EQ(replay.now(), std::min(t, script.end));
  }
  EXPECT_EQ(stepped, straight);
  EXPECT_THAT(replay.AdvanceTo(hours(100)), ::testing::IsEmpty());
  EXPECT_EQ(replay.emitted_through(), script.end);
}

TEST(ScriptReplayTest, NeverGoesBackOrPastTheEnd) {
  const Script script = ParseOrDie(kExample);
  ScriptReplay replay(script, MeterOptions{}, kEightUtc, MonoTime{0});
  EXPECT_EQ(replay.end(), hours(8));
  (void)replay.AdvanceTo(hours(1));
  EXPECT_THAT(replay.AdvanceTo(minutes(30)), ::testing::IsEmpty());
  EXPECT_EQ(replay.now(), hours(1));
  EXPECT_FALSE(replay.done());
  (void)replay.AdvanceTo(hours(9));
  EXPECT_EQ(replay.now(), hours(8));
  EXPECT_TRUE(replay.done());
}

// Stops a replay at `stop`, then resumes a fresh one from its cursor; returns
// everything both emitted.
std::vector<FocusInterval> StopAndResume(const Script& script, MeterOptions options,
                                         MonoTime stop) {
  const UtcMs start = script.start_utc_ms.value_or(0);
  ScriptReplay first(script, options, start, MonoTime{0});
  std::vector<FocusInterval> out = first.AdvanceTo(stop);
  const MonoTime cursor = first.emitted_through();
  EXPECT_LE(cursor, stop);
  ScriptReplay second(script, options, start, cursor);
  for (auto& i : second.AdvanceTo(script.end)) out.push_back(i);
  return out;
}

void ExpectResumeAnywhereMatchesStraight(const Script& script) {
  for (const milliseconds settle_delay : {milliseconds(0), milliseconds(minutes(5))}) {
    for (const milliseconds heartbeat : {milliseconds(seconds(60)), milliseconds(minutes(7))}) {
      SCOPED_TRACE(::testing::Message()
                   << "settle " << settle_delay.count() << " heartbeat " << heartbeat.count());
      MeterOptions options;
      options.settle_delay = settle_delay;
      options.heartbeat = heartbeat;
      const auto straight = ReplayAll(script, options);
      // Stops every 3 min 17.3 s, plus at every event, every event +- 1 ms
      // and the end.
      std::vector<MonoTime> stops;
      for (MonoTime t{0}; t <= script.end; t += milliseconds(197300)) stops.push_back(t);
      for (const auto& e : script.events) {
        for (int d : {-1, 0, 1}) stops.push_back(std::max(MonoTime{0}, e.at + milliseconds(d)));
      }
      stops.push_back(script.end);
      for (const MonoTime stop : stops) {
        SCOPED_TRACE(stop.count());
        const auto resumed = StopAndResume(script, options, stop);
        ASSERT_EQ(resumed, straight);
        ASSERT_EQ(Count(resumed), Count(straight));
      }
    }
  }
}

TEST(ScriptReplayTest, ResumeAfterStopAnywhereMatchesStraightReplay) {
  ExpectResumeAnywhereMatchesStraight(ParseOrDie(kExample));
}

TEST(ScriptReplayTest, ResumeAtTheEndEmitsNothing) {
  const Script script = ParseOrDie(kExample);
  ScriptReplay replay(script, MeterOptions{}, kEightUtc, script.end);
  EXPECT_THAT(replay.AdvanceTo(script.end), ::testing::IsEmpty());
  EXPECT_TRUE(replay.done());
}

TEST(ScriptReplayTest, WithoutStartUsesTheCallersStartTime) {
  const Script script = ParseOrDie("+00:00:10 focus name=a\n+00:01:10 end\n");
  ScriptReplay replay(script, MeterOptions{}, 5000, MonoTime{0});
  const auto out = replay.AdvanceTo(script.end);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].start_utc_ms, 15000);
  EXPECT_EQ(out[0].active_duration_ms, 60000);
}

// --- The bundled sample day -------------------------------------------------------

TEST(SampleDayTest, ParsesAndGivesTheDayItDescribes) {
  const absl::StatusOr<Script> script =
      LoadScript(std::string(RECLAIM_SOURCE_DIR) + "/deploy/sample-day.script");
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_EQ(script->start_utc_ms, kEightUtc);
  EXPECT_EQ(script->end, hours(9) + minutes(30));
  const Tally tally = Count(ReplayAll(*script, MeterOptions{}));
  // Hand-computed from the script's comments (minutes:seconds).
  EXPECT_EQ(tally.ms, (std::map<std::string, std::int64_t>{
                          {"Gnome-terminal", 2000000},                       // 3:20 + 30:00
                          {"firefox-esr mail.example.com", 3400000},         // 21:40 + 15 + 20
                          {"firefox-esr na1.lightning.force.com", 5610000},  // 25 + 35 + 33:30
                          {"libreoffice-writer", 6960000},                   // 50 + 36 + 30
                          {"libreoffice-calc", 6330000},                     // 38 + 67:30
                          {"Chromium wiki.example.com", 900000},
                          {"Chromium meet.example.com", 1800000},
                          {"Gimp", 240000},  // the reclamation candidate
                      }));
}

TEST(SampleDayTest, ResumeAfterStopAnywhereMatchesStraightReplay) {
  const absl::StatusOr<Script> script =
      LoadScript(std::string(RECLAIM_SOURCE_DIR) + "/deploy/sample-day.script");
  ASSERT_TRUE(script.ok()) << script.status();
  ExpectResumeAnywhereMatchesStraight(*script);
}

}  // namespace
}  // namespace reclaim::agent
