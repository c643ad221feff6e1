#include "common/backoff.h"

#include <gtest/gtest.h>

namespace reclaim {
namespace {

TEST(BackoffTest, DelaysGrowWithinBoundsAndReset) {
  Backoff b({.initial = std::chrono::milliseconds(100),
             .max = std::chrono::milliseconds(1000),
             .multiplier = 2.0},
            /*seed=*/42);
  std::chrono::milliseconds ceiling(100);
  for (int i = 0; i < 20; ++i) {
    const auto d = b.NextDelay();
    EXPECT_GE(d.count(), 50) << "attempt " << i;
    EXPECT_LE(d, ceiling) << "attempt " << i;
    ceiling = std::min(ceiling * 2, std::chrono::milliseconds(1000));
  }
  EXPECT_EQ(b.attempts(), 20);
  b.Reset();
  EXPECT_LE(b.NextDelay().count(), 100);
}

TEST(BackoffTest, JitterSpreadsDelays) {
  Backoff b({.initial = std::chrono::milliseconds(1000),
             .max = std::chrono::milliseconds(60000)},
            7);
  for (int i = 0; i < 5; ++i) b.NextDelay();
  // Two agents with different seeds at the same attempt differ.
  Backoff c({.initial = std::chrono::milliseconds(1000),
             .max = std::chrono::milliseconds(60000)},
            8);
  for (int i = 0; i < 5; ++i) c.NextDelay();
  EXPECT_NE(b.NextDelay(), c.NextDelay());
}

}  // namespace
}  // namespace reclaim
