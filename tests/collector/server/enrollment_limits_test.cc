// EnrollmentLimits on its own, with a manual clock: the per-peer attempt
// bucket, failed attempts locking a peer out, the retry-after times, peer
// keys (IPv4, IPv6 /64, mapped, unix), one log line per peer and window, and
// the bound on tracked peers.
#include "collector/server/enrollment_limits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <sstream>

#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

using std::chrono::milliseconds;

constexpr char kPeer[] = "ipv4:192.0.2.7:51234";

EnrollmentLimitsOptions Options() {
  EnrollmentLimitsOptions o;
  o.attempts_per_minute = 6;  // one token per 10 s
  o.attempts_burst = 3;
  o.failures_per_hour = 6;  // one token per 10 min
  o.failures_burst = 2;
  return o;
}

// Counts the log lines written while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  int Lines() const {
    const std::string s = out_.str();
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
  std::string Text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(EnrollmentLimitsTest, BurstThenOneAttemptPerIntervalWithRetryAfter) {
  ManualClock clock;
  EnrollmentLimits limits(clock, Options());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limits.Admit(kPeer).status.ok()) << i;
  const EnrollmentAdmission over = limits.Admit(kPeer);
  EXPECT_TRUE(absl::IsResourceExhausted(over.status)) << over.status;
  EXPECT_STREQ(over.reason, kLimitEnrollRate);
  EXPECT_EQ(over.retry_after, milliseconds(10000));
  EXPECT_NE(over.status.message().find("too many enrollment attempts"), absl::string_view::npos);
  EXPECT_NE(over.status.message().find("retry in 10000 ms"), absl::string_view::npos)
      << over.status;
  // Another port of the same address is the same peer; another address is not.
  EXPECT_FALSE(limits.Admit("ipv4:192.0.2.7:40000").status.ok());
  EXPECT_TRUE(limits.Admit("ipv4:192.0.2.8:40000").status.ok());
  clock.Advance(milliseconds(4000));
  const EnrollmentAdmission later = limits.Admit(kPeer);
  EXPECT_FALSE(later.status.ok());
  EXPECT_EQ(later.retry_after, milliseconds(6000)) << "a refusal takes no token";
  clock.Advance(later.retry_after);
  EXPECT_TRUE(limits.Admit(kPeer).status.ok());
  EXPECT_FALSE(limits.Admit(kPeer).status.ok());
}

TEST(EnrollmentLimitsTest, FailedAttemptsLockThePeerOutEvenWithTheRightSecret) {
  ManualClock clock;
  EnrollmentLimitsOptions o = Options();
  o.attempts_per_minute = 0;  // only the failure limit
  EnrollmentLimits limits(clock, o);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(limits.Admit(kPeer).status.ok());
    limits.RecordFailure(kPeer);  // wrong secret
  }
  const EnrollmentAdmission locked = limits.Admit(kPeer);
  EXPECT_TRUE(absl::IsResourceExhausted(locked.status)) << locked.status;
  EXPECT_STREQ(locked.reason, kLimitEnrollFailures);
  EXPECT_EQ(locked.retry_after, milliseconds(600000));
  EXPECT_NE(locked.status.message().find("wrong enrollment secret"), absl::string_view::npos);
  EXPECT_TRUE(limits.Admit("ipv4:198.51.100.1:1").status.ok()) << "other peers are not locked";
  clock.Advance(milliseconds(600000));
  EXPECT_TRUE(limits.Admit(kPeer).status.ok());
}

TEST(EnrollmentLimitsTest, ZeroTurnsTheLimitsOff) {
  ManualClock clock;
  EnrollmentLimitsOptions o;
  o.attempts_per_minute = 0;
  o.failures_per_hour = 0;
  EnrollmentLimits limits(clock, o);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limits.Admit(kPeer).status.ok());
    limits.RecordFailure(kPeer);
  }
}

TEST(EnrollmentLimitsTest, PeerKeys) {
  EXPECT_EQ(EnrollmentPeerKey("ipv4:192.0.2.7:51234"), "192.0.2.7");
  EXPECT_EQ(EnrollmentPeerKey("ipv6:[2001:db8:1:2::5]:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(EnrollmentPeerKey("ipv6:%5B2001:db8:1:2:aaaa::9%5D:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(EnrollmentPeerKey("ipv6:[::ffff:192.0.2.7]:443"), "192.0.2.7");
  EXPECT_EQ(EnrollmentPeerKey("ipv6:[fe80::1%25eth0]:443"), "fe80::/64");
  EXPECT_EQ(EnrollmentPeerKey("unix:/run/reclaim.sock"), "unix");
  EXPECT_EQ(EnrollmentPeerKey("ipv4:not-an-address:1"), "not-an-address:1");
  EXPECT_EQ(EnrollmentPeerKey(std::string(200, 'x')).size(), 64u);
}

TEST(EnrollmentLimitsTest, RefusalsAreLoggedOncePerPeerAndWindow) {
  ManualClock clock;
  EnrollmentLimitsOptions o = Options();
  o.attempts_per_minute = 0.01;  // nothing refills within the test
  o.log_interval = milliseconds(60000);
  EnrollmentLimits limits(clock, o);
  LogCapture log;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limits.Admit(kPeer).status.ok());
  for (int i = 0; i < 50; ++i) ASSERT_FALSE(limits.Admit(kPeer).status.ok());
  EXPECT_EQ(log.Lines(), 1) << log.Text();
  EXPECT_NE(log.Text().find("192.0.2.7"), std::string::npos) << log.Text();
  clock.Advance(milliseconds(59000));
  for (int i = 0; i < 20; ++i) limits.Admit(kPeer);
  EXPECT_EQ(log.Lines(), 1) << log.Text();
  clock.Advance(milliseconds(1000));
  for (int i = 0; i < 20; ++i) limits.Admit(kPeer);
  EXPECT_EQ(log.Lines(), 2) << log.Text();
  // The second line counts what the window held back.
  EXPECT_NE(log.Text().find("(70 attempt(s) refused since the last such line"),
            std::string::npos)
      << log.Text();
}

TEST(EnrollmentLimitsTest, TrackedPeersStayBounded) {
  ManualClock clock;
  EnrollmentLimitsOptions o = Options();
  o.max_tracked_peers = 100;
  EnrollmentLimits limits(clock, o);
  for (int i = 0; i < 1000; ++i) {
    limits.Admit("ipv4:10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":1");
  }
  EXPECT_LE(limits.TrackedPeers(), 101u);
  // The peers beyond the cap share one bucket: still limited, together.
  EXPECT_FALSE(limits.Admit("ipv4:10.9.9.9:1").status.ok());
  // Once their buckets refilled, peers are forgotten.
  clock.Advance(milliseconds(3600000));
  for (int i = 0; i < 200; ++i) limits.Admit("ipv4:172.16.0." + std::to_string(i % 250) + ":1");
  EXPECT_LE(limits.TrackedPeers(), 101u);
  EXPECT_TRUE(limits.Admit("ipv4:172.16.0.1:1").status.ok());
}

TEST(EnrollmentLimitsTest, OptionsAreValidated) {
  EnrollmentLimitsOptions o;
  EXPECT_TRUE(ValidateEnrollmentLimitsOptions(o).ok());
  o.attempts_burst = 0;
  EXPECT_NE(ValidateEnrollmentLimitsOptions(o).message().find("attempts burst"),
            absl::string_view::npos);
  o = {};
  o.failures_per_hour = -1;
  EXPECT_NE(ValidateEnrollmentLimitsOptions(o).message().find("failures per hour"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace reclaim::collector
