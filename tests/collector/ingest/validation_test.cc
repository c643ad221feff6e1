#include "collector/ingest/validation.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/utf8.h"
#include "reclaim/v1/agent.pb.h"

namespace reclaim::collector {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr std::int64_t kMinute = 60 * 1000;
constexpr std::int64_t kHour = 60 * kMinute;
// 2024-03-10T12:00:00Z.
constexpr UtcMs kNow = 1710072000000LL;
const std::string kBadUtf8 = "bad\xC3\x28utf8";  // 0xC3 followed by a non-continuation byte.

reclaim::v1::FocusInterval GoodInterval(const std::string& exe = "/usr/bin/gimp") {
  reclaim::v1::FocusInterval iv;
  iv.mutable_app()->set_exe_path(exe);
  iv.mutable_app()->set_exe_name(exe.substr(exe.rfind('/') + 1));
  iv.mutable_app()->set_window_class("Gimp");
  iv.set_start_utc_ms(kNow - kHour);
  iv.set_active_duration_ms(5 * kMinute);
  return iv;
}

reclaim::v1::UsageBatch BatchOf(const std::vector<reclaim::v1::FocusInterval>& intervals,
                                std::uint64_t seq = 42) {
  reclaim::v1::UsageBatch b;
  b.set_seq(seq);
  b.set_created_utc_ms(kNow);
  for (const auto& iv : intervals) *b.add_intervals() = iv;
  return b;
}

// Validates a batch holding `iv` alone and returns its quarantine reason ("" if kept).
std::string ReasonFor(const reclaim::v1::FocusInterval& iv,
                      const ValidationLimits& limits = ValidationLimits{}) {
  const ValidatedBatch out = ValidateBatch(BatchOf({iv}), limits, kNow);
  EXPECT_EQ(out.intervals.size() + out.quarantined.size(), 1u);
  if (out.quarantined.empty()) return "";
  EXPECT_EQ(out.quarantined[0].index, 0u);
  return out.quarantined[0].reason;
}

TEST(ValidateBatchTest, ValidIntervalsAreKeptInOrderWithTheirFields) {
  reclaim::v1::FocusInterval a = GoodInterval("/usr/bin/a");
  reclaim::v1::FocusInterval bad = GoodInterval("/usr/bin/bad");
  bad.set_active_duration_ms(0);
  reclaim::v1::FocusInterval b = GoodInterval("/usr/bin/b");
  b.set_continuation(true);
  b.mutable_app()->set_product_name("Product");
  b.mutable_app()->set_product_version("1.2.3");
  b.mutable_app()->set_package_id("org.example.B");
  b.mutable_app()->set_web_domain("example.com");
  b.mutable_app()->set_window_title("Títle ✓");
  reclaim::v1::FocusInterval c = GoodInterval("/usr/bin/c");

  const ValidatedBatch out = ValidateBatch(BatchOf({a, bad, b, c}, 7), ValidationLimits{}, kNow);
  EXPECT_EQ(out.seq, 7u);
  ASSERT_THAT(out.intervals, SizeIs(3));
  EXPECT_EQ(out.intervals[0].app.exe_path, "/usr/bin/a");
  EXPECT_EQ(out.intervals[1].app.exe_path, "/usr/bin/b");
  EXPECT_EQ(out.intervals[2].app.exe_path, "/usr/bin/c");
  const IntervalRecord& r = out.intervals[1];
  EXPECT_EQ(r.app.exe_name, "b");
  EXPECT_EQ(r.app.window_class, "Gimp");
  EXPECT_EQ(r.app.package_id, "org.example.B");
  EXPECT_EQ(r.app.product_name, "Product");
  EXPECT_EQ(r.app.product_version, "1.2.3");
  EXPECT_EQ(r.app.web_domain, "example.com");
  EXPECT_EQ(r.app.window_title, "Títle ✓");
  EXPECT_EQ(r.start_utc_ms, kNow - kHour);
  EXPECT_EQ(r.active_duration_ms, 5 * kMinute);
  EXPECT_TRUE(r.continuation);
  EXPECT_FALSE(out.intervals[0].continuation);
  ASSERT_THAT(out.quarantined, SizeIs(1));
  EXPECT_EQ(out.quarantined[0].index, 1u);
  EXPECT_EQ(out.quarantined[0].reason, "duration_out_of_range");
}

TEST(ValidateBatchTest, EmptyBatchIsValid) {
  const ValidatedBatch out = ValidateBatch(BatchOf({}, 3), ValidationLimits{}, kNow);
  EXPECT_EQ(out.seq, 3u);
  EXPECT_THAT(out.intervals, IsEmpty());
  EXPECT_THAT(out.quarantined, IsEmpty());
}

TEST(ValidateBatchTest, DurationMustBePositiveAndAtMostTheMaximum) {
  reclaim::v1::FocusInterval iv = GoodInterval();
  iv.set_start_utc_ms(kNow - 48 * kHour);
  iv.set_active_duration_ms(0);
  EXPECT_EQ(ReasonFor(iv), "duration_out_of_range");
  iv.set_active_duration_ms(-1);
  EXPECT_EQ(ReasonFor(iv), "duration_out_of_range");
  iv.set_active_duration_ms(24 * kHour + 1);
  EXPECT_EQ(ReasonFor(iv), "duration_out_of_range");
  iv.set_active_duration_ms(24 * kHour);
  EXPECT_EQ(ReasonFor(iv), "");
  iv.set_active_duration_ms(1);
  EXPECT_EQ(ReasonFor(iv), "");
  ValidationLimits tight;
  tight.max_duration_ms = kHour;
  iv.set_active_duration_ms(kHour + 1);
  EXPECT_EQ(ReasonFor(iv, tight), "duration_out_of_range");
}

TEST(ValidateBatchTest, EndMayNotLieInTheFutureBeyondTheSkew) {
  const ValidationLimits limits;  // 5 min skew.
  reclaim::v1::FocusInterval iv = GoodInterval();
  iv.set_active_duration_ms(kMinute);
  iv.set_start_utc_ms(kNow + limits.max_future_skew_ms - kMinute);  // Ends at now + skew.
  EXPECT_EQ(ReasonFor(iv), "");
  iv.set_start_utc_ms(kNow + limits.max_future_skew_ms - kMinute + 1);
  EXPECT_EQ(ReasonFor(iv), "start_in_future");
  iv.set_start_utc_ms(std::numeric_limits<std::int64_t>::max());  // No overflow.
  EXPECT_EQ(ReasonFor(iv), "start_in_future");
}

TEST(ValidateBatchTest, StartBefore2000IsOutOfRange) {
  reclaim::v1::FocusInterval iv = GoodInterval();
  iv.set_start_utc_ms(946684800000LL - 1);
  EXPECT_EQ(ReasonFor(iv), "start_out_of_range");
  iv.set_start_utc_ms(0);
  EXPECT_EQ(ReasonFor(iv), "start_out_of_range");
  iv.set_start_utc_ms(std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(ReasonFor(iv), "start_out_of_range");
  iv.set_start_utc_ms(946684800000LL);
  EXPECT_EQ(ReasonFor(iv), "");
}

TEST(ValidateBatchTest, InvalidUtf8InAnyIdentityFieldIsQuarantined) {
  using Setter = void (reclaim::v1::AppIdentity::*)(const std::string&);
  const Setter setters[] = {
      &reclaim::v1::AppIdentity::set_exe_path,     &reclaim::v1::AppIdentity::set_exe_name,
      &reclaim::v1::AppIdentity::set_window_class, &reclaim::v1::AppIdentity::set_package_id,
      &reclaim::v1::AppIdentity::set_product_name, &reclaim::v1::AppIdentity::set_product_version,
      &reclaim::v1::AppIdentity::set_web_domain,   &reclaim::v1::AppIdentity::set_window_title};
  for (size_t i = 0; i < std::size(setters); ++i) {
    SCOPED_TRACE(i);
    reclaim::v1::FocusInterval iv = GoodInterval();
    (iv.mutable_app()->*setters[i])(kBadUtf8);
    EXPECT_EQ(ReasonFor(iv), "invalid_utf8");
  }
  // A surrogate code point and an overlong encoding are ill-formed too.
  reclaim::v1::FocusInterval iv = GoodInterval();
  iv.mutable_app()->set_window_title("\xED\xA0\x80");
  EXPECT_EQ(ReasonFor(iv), "invalid_utf8");
  iv.mutable_app()->set_window_title("\xC0\xAF");
  EXPECT_EQ(ReasonFor(iv), "invalid_utf8");
}

TEST(ValidateBatchTest, OversizeStringsAreQuarantined) {
  const ValidationLimits limits;
  reclaim::v1::FocusInterval iv = GoodInterval();
  iv.mutable_app()->set_exe_path("/" + std::string(limits.max_path_bytes - 1, 'p'));
  EXPECT_EQ(ReasonFor(iv), "");
  iv.mutable_app()->set_exe_path("/" + std::string(limits.max_path_bytes, 'p'));
  EXPECT_EQ(ReasonFor(iv), "string_too_long");

  using Setter = void (reclaim::v1::AppIdentity::*)(const std::string&);
  const Setter setters[] = {
      &reclaim::v1::AppIdentity::set_exe_name,        &reclaim::v1::AppIdentity::set_window_class,
      &reclaim::v1::AppIdentity::set_package_id,      &reclaim::v1::AppIdentity::set_product_name,
      &reclaim::v1::AppIdentity::set_product_version, &reclaim::v1::AppIdentity::set_web_domain,
      &reclaim::v1::AppIdentity::set_window_title};
  for (size_t i = 0; i < std::size(setters); ++i) {
    SCOPED_TRACE(i);
    reclaim::v1::FocusInterval ok = GoodInterval();
    (ok.mutable_app()->*setters[i])(std::string(limits.max_string_bytes, 's'));
    EXPECT_EQ(ReasonFor(ok), "");
    reclaim::v1::FocusInterval big = GoodInterval();
    (big.mutable_app()->*setters[i])(std::string(limits.max_string_bytes + 1, 's'));
    EXPECT_EQ(ReasonFor(big), "string_too_long");
  }
}

TEST(ValidateBatchTest, AnIntervalWithoutAnIdentityIsMissingApp) {
  reclaim::v1::FocusInterval iv = GoodInterval();
  iv.clear_app();
  EXPECT_EQ(ReasonFor(iv), "missing_app");
  // A title, product name or version alone does not identify an application.
  iv.mutable_app()->set_window_title("Quarterly report");
  iv.mutable_app()->set_product_name("Microsoft Visio");
  iv.mutable_app()->set_product_version("16.0");
  EXPECT_EQ(ReasonFor(iv), "missing_app");
  // Any one of the identifying fields suffices.
  for (const char* field : {"exe_path", "exe_name", "window_class", "package_id", "web_domain"}) {
    SCOPED_TRACE(field);
    reclaim::v1::FocusInterval one = GoodInterval();
    one.clear_app();
    const auto* fd = reclaim::v1::AppIdentity::descriptor()->FindFieldByName(field);
    ASSERT_NE(fd, nullptr);
    one.mutable_app()->GetReflection()->SetString(one.mutable_app(), fd, "x");
    EXPECT_EQ(ReasonFor(one), "");
  }
}

TEST(ValidateBatchTest, IntervalsBeyondTheLimitAreQuarantinedAsBatchTooLarge) {
  ValidationLimits limits;
  limits.max_intervals_per_batch = 3;
  std::vector<reclaim::v1::FocusInterval> intervals;
  for (int i = 0; i < 5; ++i) intervals.push_back(GoodInterval("/usr/bin/app" + std::to_string(i)));
  intervals[1].set_active_duration_ms(-1);  // Bad within the limit: its own reason.
  const ValidatedBatch out = ValidateBatch(BatchOf(intervals), limits, kNow);
  ASSERT_THAT(out.intervals, SizeIs(2));
  EXPECT_EQ(out.intervals[0].app.exe_path, "/usr/bin/app0");
  EXPECT_EQ(out.intervals[1].app.exe_path, "/usr/bin/app2");
  ASSERT_THAT(out.quarantined, SizeIs(3));
  EXPECT_EQ(out.quarantined[0].index, 1u);
  EXPECT_EQ(out.quarantined[0].reason, "duration_out_of_range");
  EXPECT_EQ(out.quarantined[1].index, 3u);
  EXPECT_EQ(out.quarantined[1].reason, "batch_too_large");
  EXPECT_EQ(out.quarantined[2].index, 4u);
  EXPECT_EQ(out.quarantined[2].reason, "batch_too_large");
  EXPECT_THAT(out.quarantined[2].detail, HasSubstr("/usr/bin/app4"));
}

TEST(ValidateBatchTest, DefaultLimitKeepsTenThousandIntervals) {
  std::vector<reclaim::v1::FocusInterval> intervals(10001, GoodInterval());
  const ValidatedBatch out = ValidateBatch(BatchOf(intervals), ValidationLimits{}, kNow);
  EXPECT_THAT(out.intervals, SizeIs(10000));
  ASSERT_THAT(out.quarantined, SizeIs(1));
  EXPECT_EQ(out.quarantined[0].index, 10000u);
  EXPECT_EQ(out.quarantined[0].reason, "batch_too_large");
}

TEST(ValidateBatchTest, DetailIsTextFormatValidUtf8AndAtMost4KiB) {
  reclaim::v1::FocusInterval iv = GoodInterval();
  iv.mutable_app()->set_window_title(kBadUtf8 + " Ünïcødé \"quoted\"\n\\ \x01 😀");
  const ValidatedBatch bad_utf8 = ValidateBatch(BatchOf({iv}), ValidationLimits{}, kNow);
  ASSERT_THAT(bad_utf8.quarantined, SizeIs(1));
  const std::string& detail = bad_utf8.quarantined[0].detail;
  EXPECT_TRUE(IsValidUtf8(detail));
  EXPECT_THAT(detail, HasSubstr("exe_path: \"/usr/bin/gimp\""));
  EXPECT_THAT(detail, HasSubstr("Ünïcødé"));        // Valid text stays readable...
  EXPECT_THAT(detail, HasSubstr("bad\\303(utf8"));  // ...bad bytes are shown exactly.
  EXPECT_THAT(detail, HasSubstr("active_duration_ms: 300000"));
  EXPECT_EQ(detail.find('\n'), std::string::npos);
  // The detail parses back as the interval (only the bad bytes are escaped).
  reclaim::v1::FocusInterval parsed;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(detail, &parsed));
  EXPECT_EQ(parsed.app().window_title(), iv.app().window_title());

  reclaim::v1::FocusInterval huge = GoodInterval();
  huge.mutable_app()->set_exe_path("/" + std::string(10000, 'p'));
  const ValidatedBatch too_long = ValidateBatch(BatchOf({huge}), ValidationLimits{}, kNow);
  ASSERT_THAT(too_long.quarantined, SizeIs(1));
  EXPECT_EQ(too_long.quarantined[0].reason, "string_too_long");
  EXPECT_LE(too_long.quarantined[0].detail.size(), 4096u);
  EXPECT_GT(too_long.quarantined[0].detail.size(), 4000u);
  EXPECT_TRUE(IsValidUtf8(too_long.quarantined[0].detail));
}

TEST(ValidateBatchTest, FirstApplicableReasonIsReported) {
  reclaim::v1::FocusInterval iv = GoodInterval();
  iv.set_active_duration_ms(-1);
  iv.set_start_utc_ms(0);
  EXPECT_EQ(ReasonFor(iv), "duration_out_of_range");
  iv.mutable_app()->set_exe_name(kBadUtf8);
  EXPECT_EQ(ReasonFor(iv), "invalid_utf8");
}

reclaim::v1::Hello GoodHello() {
  reclaim::v1::Hello h;
  h.set_device_id("0123456789abcdef0123456789abcdef");
  h.set_agent_instance_id("4a7c2a5e-3f0e-4b5d-9c7e-2f1d1c0b9a88");
  h.set_agent_version("0.1.0");
  h.set_os_family(reclaim::v1::OS_FAMILY_LINUX);
  h.set_os_version("Debian GNU/Linux 12 (bookworm)");
  h.set_hostname("ws-042");
  h.mutable_user()->set_login_name("jdoe");
  h.mutable_user()->set_domain("EXAMPLE");
  h.mutable_user()->set_uid(1000);
  h.mutable_user()->set_upn("jdoe@example.com");
  return h;
}

// Expects kInvalidArgument whose message names `field`.
void ExpectRefused(const reclaim::v1::Hello& hello, const std::string& field) {
  const absl::Status s = ValidateHello(hello);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("Hello." + field + " ")) << s;
}

TEST(ValidateHelloTest, AcceptsACompleteHello) {
  EXPECT_TRUE(ValidateHello(GoodHello()).ok());
  reclaim::v1::Hello minimal;
  minimal.set_device_id("d");
  minimal.set_agent_instance_id("i");
  minimal.mutable_user()->set_login_name("l");
  minimal.mutable_user()->set_domain("D");
  EXPECT_TRUE(ValidateHello(minimal).ok());
}

TEST(ValidateHelloTest, RequiredFieldsMustBePresent) {
  reclaim::v1::Hello h = GoodHello();
  h.clear_device_id();
  ExpectRefused(h, "device_id");
  h = GoodHello();
  h.clear_agent_instance_id();
  ExpectRefused(h, "agent_instance_id");
  h = GoodHello();
  h.clear_user();
  ExpectRefused(h, "user");
  h = GoodHello();
  h.mutable_user()->clear_login_name();
  ExpectRefused(h, "user.login_name");
  h = GoodHello();
  h.mutable_user()->clear_domain();
  ExpectRefused(h, "user.domain");
}

TEST(ValidateHelloTest, FieldsAreLimitedInLength) {
  reclaim::v1::Hello h = GoodHello();
  h.set_device_id(std::string(128, 'd'));
  h.set_agent_instance_id(std::string(64, 'i'));
  h.set_hostname(std::string(1024, 'h'));
  EXPECT_TRUE(ValidateHello(h).ok());
  h = GoodHello();
  h.set_device_id(std::string(129, 'd'));
  ExpectRefused(h, "device_id");
  h = GoodHello();
  h.set_agent_instance_id(std::string(65, 'i'));
  ExpectRefused(h, "agent_instance_id");
  h = GoodHello();
  h.set_hostname(std::string(1025, 'h'));
  ExpectRefused(h, "hostname");
  h = GoodHello();
  h.set_os_version(std::string(1025, 'o'));
  ExpectRefused(h, "os_version");
  h = GoodHello();
  h.mutable_user()->set_upn(std::string(1025, 'u'));
  ExpectRefused(h, "user.upn");
}

TEST(ValidateHelloTest, StringsMustBeValidUtf8AndAreNotQuoted) {
  reclaim::v1::Hello h = GoodHello();
  h.mutable_user()->set_login_name(kBadUtf8);
  ExpectRefused(h, "user.login_name");
  EXPECT_THAT(std::string(ValidateHello(h).message()), ::testing::Not(HasSubstr("bad")));
  h = GoodHello();
  h.set_hostname(kBadUtf8);
  ExpectRefused(h, "hostname");
  h = GoodHello();
  h.mutable_user()->set_sid(kBadUtf8);
  ExpectRefused(h, "user.sid");
  h = GoodHello();
  h.set_agent_version(kBadUtf8);
  ExpectRefused(h, "agent_version");
}

TEST(ToAgentInfoTest, CopiesEveryField) {
  reclaim::v1::Hello h = GoodHello();
  h.mutable_user()->set_sid("S-1-5-21-1");
  const AgentInfo a = ToAgentInfo(h);
  EXPECT_EQ(a.device_id, h.device_id());
  EXPECT_EQ(a.agent_instance_id, h.agent_instance_id());
  EXPECT_EQ(a.agent_version, "0.1.0");
  EXPECT_EQ(a.os_version, "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(a.hostname, "ws-042");
  EXPECT_EQ(a.user.login_name, "jdoe");
  EXPECT_EQ(a.user.domain, "EXAMPLE");
  EXPECT_EQ(a.user.sid, "S-1-5-21-1");
  EXPECT_EQ(a.user.uid, std::optional<std::uint32_t>(1000));
  EXPECT_EQ(a.user.upn, "jdoe@example.com");
  h.mutable_user()->clear_uid();
  EXPECT_FALSE(ToAgentInfo(h).user.uid.has_value());
  h.mutable_user()->set_uid(0);  // uid 0 is a real uid (root), not "unset".
  EXPECT_EQ(ToAgentInfo(h).user.uid, std::optional<std::uint32_t>(0));
}

TEST(ToDropCountersTest, CopiesEveryCounter) {
  reclaim::v1::DroppedDataReport r;
  r.set_dropped_batches(1);
  r.set_dropped_intervals(2);
  r.set_dropped_focus_ms(3);
  r.set_corrupt_spools(4);
  EXPECT_EQ(ToDropCounters(r), (DropCounters{1, 2, 3, 4}));
  EXPECT_EQ(ToDropCounters(reclaim::v1::DroppedDataReport{}), DropCounters{});
}

}  // namespace
}  // namespace reclaim::collector

namespace reclaim::collector {
namespace {

TEST(ValidateHelloControlCharsTest, ControlCharactersAreRefused) {
  // A forged log line through a user name, a NUL in a device id, ESC and DEL.
  reclaim::v1::Hello h = GoodHello();
  h.mutable_user()->set_login_name("evil\n[critical] FAKE");
  ExpectRefused(h, "user.login_name");
  h = GoodHello();
  h.set_device_id(std::string("d\0x", 3));
  ExpectRefused(h, "device_id");
  h = GoodHello();
  h.set_hostname("host\x1b[31m");
  ExpectRefused(h, "hostname");
  h = GoodHello();
  h.mutable_user()->set_domain("EXAMPLE\x7f");
  ExpectRefused(h, "user.domain");
  // Non-ASCII letters are fine.
  h = GoodHello();
  h.mutable_user()->set_login_name("j\xC3\xBCrgen");
  EXPECT_TRUE(ValidateHello(h).ok());
}

}  // namespace
}  // namespace reclaim::collector
