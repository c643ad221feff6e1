// AgentLimits on its own, with a manual clock: stream slots per device, the
// per-device token buckets, forgetting idle devices, counters, log escaping.
#include "collector/server/agent_limits.h"

#include <gtest/gtest.h>

namespace reclaim::collector {
namespace {

using std::chrono::milliseconds;

AgentLimitsOptions Options() {
  AgentLimitsOptions o;
  o.max_streams_per_device = 2;
  o.intervals_per_s = 10;
  o.intervals_burst = 100;
  o.bytes_per_s = 1000;
  o.bytes_burst = 10000;
  return o;
}

TEST(AgentLimitsTest, NewStreamBeyondTheLimitIsRefusedAndASlotComesBack) {
  ManualClock clock;
  AgentLimits limits(clock, Options());
  ASSERT_TRUE(limits.AcquireStream("dev-1", "EXAMPLE\\jdoe").ok());
  ASSERT_TRUE(limits.AcquireStream("dev-1", "EXAMPLE\\jdoe").ok());
  const absl::Status third = limits.AcquireStream("dev-1", "EXAMPLE\\jdoe");
  EXPECT_TRUE(absl::IsResourceExhausted(third)) << third;
  EXPECT_NE(third.message().find("max_streams_per_device"), absl::string_view::npos) << third;
  EXPECT_TRUE(limits.AcquireStream("dev-2", "EXAMPLE\\jdoe").ok()) << "another device is not affected";
  limits.ReleaseStream("dev-1", "EXAMPLE\\jdoe");
  EXPECT_TRUE(limits.AcquireStream("dev-1", "EXAMPLE\\jdoe").ok());
  EXPECT_EQ(limits.Counters().at(kLimitTooManyStreams), 1u);
}

TEST(AgentLimitsTest, BurstThenSustainedRate) {
  ManualClock clock;
  AgentLimits limits(clock, Options());
  EXPECT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 60, 100).ok());
  EXPECT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 40, 100).ok());  // burst of 100 used up
  const absl::Status over = limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 5, 100);
  EXPECT_TRUE(absl::IsResourceExhausted(over)) << over;
  EXPECT_NE(over.message().find("intervals_per_s"), absl::string_view::npos) << over;
  EXPECT_TRUE(limits.ChargeBatch("dev-2", "EXAMPLE\\jdoe", 100, 100).ok()) << "buckets are per device";
  clock.Advance(milliseconds(400));  // 4 tokens
  EXPECT_FALSE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 5, 100).ok());
  clock.Advance(milliseconds(100));  // 5 tokens: a refused batch took none
  EXPECT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 5, 100).ok());
  EXPECT_EQ(limits.Counters().at(kLimitRateIntervals), 2u);
}

TEST(AgentLimitsTest, ByteRateIsLimitedToo) {
  ManualClock clock;
  AgentLimits limits(clock, Options());
  EXPECT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 1, 9000).ok());
  const absl::Status over = limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 1, 2000);
  EXPECT_TRUE(absl::IsResourceExhausted(over)) << over;
  EXPECT_NE(over.message().find("bytes_per_s"), absl::string_view::npos) << over;
  clock.Advance(milliseconds(1000));  // +1000 bytes
  EXPECT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 1, 2000).ok());
  EXPECT_EQ(limits.Counters().at(kLimitRateBytes), 1u);
}

TEST(AgentLimitsTest, BatchLargerThanTheBurstPassesOnAFullBucketAndLeavesDebt) {
  ManualClock clock;
  AgentLimits limits(clock, Options());
  EXPECT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 150, 1).ok()) << "never stuck forever";
  // 50 tokens of debt: the bucket holds 100 again only after 15 s.
  clock.Advance(milliseconds(10000));  // 50 tokens
  EXPECT_FALSE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 51, 1).ok());
  EXPECT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 50, 1).ok());
}

TEST(AgentLimitsTest, RefusalSaysWhenTheBatchWouldPass) {
  ManualClock clock;
  AgentLimits limits(clock, Options());
  ASSERT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 100, 10000).ok());  // both buckets empty
  milliseconds retry_after{0};
  // 30 intervals at 10/s: 3 s; 2,500 bytes at 1,000/s: 2.5 s. The longer wins.
  const absl::Status over = limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 30, 2500, &retry_after);
  EXPECT_TRUE(absl::IsResourceExhausted(over)) << over;
  EXPECT_EQ(retry_after, milliseconds(3000));
  EXPECT_NE(over.message().find("retry in 3000 ms"), absl::string_view::npos) << over;
  // The byte bucket needs longer here.
  ASSERT_FALSE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 1, 5000, &retry_after).ok());
  EXPECT_EQ(retry_after, milliseconds(5000));
  // A batch over the burst waits for a full bucket, not forever.
  ASSERT_FALSE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 500, 1, &retry_after).ok());
  EXPECT_EQ(retry_after, milliseconds(10000));
  clock.Advance(retry_after);
  EXPECT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 500, 1).ok());
}

TEST(AgentLimitsTest, ZeroTurnsALimitOff) {
  ManualClock clock;
  AgentLimitsOptions o;
  o.max_streams_per_device = 0;
  o.max_streams_per_user = 0;
  o.intervals_per_s = 0;
  o.bytes_per_s = 0;
  AgentLimits limits(clock, o);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limits.AcquireStream("dev-1", "EXAMPLE\\jdoe").ok());
    ASSERT_TRUE(limits.ChargeBatch("dev-1", "EXAMPLE\\jdoe", 1000000, 1 << 30).ok());
  }
  EXPECT_TRUE(limits.Counters().empty());
}

TEST(AgentLimitsTest, IdleDevicesAreForgottenSoTheTableStaysBounded) {
  ManualClock clock;
  AgentLimits limits(clock, Options());
  for (int i = 0; i < 10000; ++i) {
    const std::string dev = "dev-" + std::to_string(i);
    ASSERT_TRUE(limits.AcquireStream(dev, "EXAMPLE\\jdoe").ok());
    ASSERT_TRUE(limits.ChargeBatch(dev, "EXAMPLE\\jdoe", 10, 10).ok());
    limits.ReleaseStream(dev, "EXAMPLE\\jdoe");
    clock.Advance(milliseconds(1000));  // refills the 10 tokens
  }
  EXPECT_LE(limits.TrackedDevices(), 128u);
  // A device with an open stream is never forgotten.
  ASSERT_TRUE(limits.AcquireStream("held", "EXAMPLE\\jdoe").ok());
  ASSERT_TRUE(limits.AcquireStream("held", "EXAMPLE\\jdoe").ok());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limits.AcquireStream("x" + std::to_string(i), "EXAMPLE\\jdoe").ok());
    limits.ReleaseStream("x" + std::to_string(i), "EXAMPLE\\jdoe");
  }
  EXPECT_FALSE(limits.AcquireStream("held", "EXAMPLE\\jdoe").ok());
}

// All sessions of a machine share its device id (reclaim-agent-service): one
// user flooding must not use up the others' rate or stream slots.
TEST(AgentLimitsTest, UsersOfOneDeviceHaveTheirOwnRateAndStreamSlots) {
  ManualClock clock;
  AgentLimitsOptions o = Options();
  o.max_streams_per_device = 4;
  o.max_streams_per_user = 2;
  AgentLimits limits(clock, o);
  // mallory empties her buckets; jdoe on the same machine is not affected.
  ASSERT_TRUE(limits.ChargeBatch("pc-1", "EXAMPLE\\mallory", 100, 100).ok());
  EXPECT_FALSE(limits.ChargeBatch("pc-1", "EXAMPLE\\mallory", 5, 100).ok());
  EXPECT_TRUE(limits.ChargeBatch("pc-1", "EXAMPLE\\jdoe", 100, 100).ok());
  // mallory takes her 2 stream slots; the 3rd is refused naming the limit,
  // jdoe still gets his.
  ASSERT_TRUE(limits.AcquireStream("pc-1", "EXAMPLE\\mallory").ok());
  ASSERT_TRUE(limits.AcquireStream("pc-1", "EXAMPLE\\mallory").ok());
  const absl::Status third = limits.AcquireStream("pc-1", "EXAMPLE\\mallory");
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(third.message().find("max_streams_per_user"), absl::string_view::npos) << third;
  ASSERT_TRUE(limits.AcquireStream("pc-1", "EXAMPLE\\jdoe").ok());
  ASSERT_TRUE(limits.AcquireStream("pc-1", "EXAMPLE\\jdoe").ok());
  // The device's own cap still holds across users.
  const absl::Status fifth = limits.AcquireStream("pc-1", "EXAMPLE\\carl");
  EXPECT_NE(fifth.message().find("max_streams_per_device"), absl::string_view::npos) << fifth;
  limits.ReleaseStream("pc-1", "EXAMPLE\\mallory");
  EXPECT_TRUE(limits.AcquireStream("pc-1", "EXAMPLE\\carl").ok());
  EXPECT_EQ(limits.Counters().at(kLimitTooManyStreams), 2u);
}

TEST(AgentLimitsTest, OptionsAreValidated) {
  AgentLimitsOptions o;
  EXPECT_TRUE(ValidateAgentLimitsOptions(o).ok());
  o.bytes_per_s = -1;
  EXPECT_NE(ValidateAgentLimitsOptions(o).message().find("bytes_per_s"), absl::string_view::npos);
  o = {};
  o.intervals_burst = 0;
  EXPECT_NE(ValidateAgentLimitsOptions(o).message().find("intervals_burst"),
            absl::string_view::npos);
  o = {};
  o.max_streams_per_device = -3;
  EXPECT_FALSE(ValidateAgentLimitsOptions(o).ok());
  o = {};
  o.max_streams_per_user = -1;
  EXPECT_NE(ValidateAgentLimitsOptions(o).message().find("max_streams_per_user"),
            absl::string_view::npos);
}

TEST(AgentLimitsTest, EscapeForLogNeutralisesControlCharactersAndCuts) {
  EXPECT_EQ(EscapeForLog("answered:yes"), "answered:yes");
  EXPECT_EQ(EscapeForLog("a\nINFO forged\x1b[2J"), "a\\nINFO forged\\x1b[2J");
  const std::string escaped = EscapeForLog(std::string(1000, 'x'), 16);
  EXPECT_EQ(escaped, std::string(16, 'x') + "...(1000 bytes)");
}

}  // namespace
}  // namespace reclaim::collector
