#include "collector/reclaim/cron.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/utc_day.h"

namespace reclaim::collector {
namespace {

using ::testing::HasSubstr;

// UTC ms of a civil time.
UtcMs At(int y, int mo, int d, int h = 0, int mi = 0) {
  return (DaysFromCivil(y, mo, d) * 1440 + h * 60 + mi) * 60000LL;
}

std::string Next(const std::string& expr, UtcMs after) {
  auto c = CronSchedule::Parse(expr);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return "parse error";
  auto n = c->NextAfter(after);
  if (!n.ok()) return std::string(n.status().message());
  return FormatUtcMs(*n);
}

TEST(CivilTest, RoundTrip) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  for (std::int64_t d = -800; d < 30000; d += 37) {
    const CivilDay c = CivilFromDays(d);
    EXPECT_EQ(DaysFromCivil(c.year, c.month, c.day), d);
  }
}

struct NextCase {
  const char* expr;
  UtcMs after;
  const char* want;
};

TEST(CronTest, NextFireTimes) {
  const UtcMs mon = At(2026, 11, 30, 10, 15);  // Monday 2026-11-30 10:15
  const NextCase cases[] = {
      {"* * * * *", mon, "2026-11-30T10:16:00.000Z"},
      {"* * * * *", mon + 59999, "2026-11-30T10:16:00.000Z"},  // strictly after, same minute
      {"0 * * * *", mon, "2026-11-30T11:00:00.000Z"},
      {"15 10 * * *", mon, "2026-12-01T10:15:00.000Z"},           // exactly now -> tomorrow
      {"15 10 * * *", mon - 1, "2026-11-30T10:15:00.000Z"},
      {"*/20 * * * *", mon, "2026-11-30T10:20:00.000Z"},
      {"5-10/2 * * * *", mon, "2026-11-30T11:05:00.000Z"},
      {"10/25 * * * *", mon, "2026-11-30T10:35:00.000Z"},       // 10,35 then next hour
      {"0,30 8-9 * * *", mon, "2026-12-01T08:00:00.000Z"},
      {"0 3 * * SUN", mon, "2026-12-06T03:00:00.000Z"},
      {"0 3 * * 7", mon, "2026-12-06T03:00:00.000Z"},            // 7 = Sunday too
      {"0 3 * * mon-fri", At(2026, 12, 4, 12), "2026-12-07T03:00:00.000Z"},  // Fri -> Mon
      {"0 0 1 * *", mon, "2026-12-01T00:00:00.000Z"},
      {"0 0 1 JAN *", mon, "2027-01-01T00:00:00.000Z"},
      {"0 0 31 * *", mon, "2026-12-31T00:00:00.000Z"},
      {"0 0 31 * *", At(2027, 1, 31, 1), "2027-03-31T00:00:00.000Z"},  // skips February
      {"0 0 29 2 *", mon, "2028-02-29T00:00:00.000Z"},           // leap day
      {"0 12 13 * FRI", mon, "2026-12-04T12:00:00.000Z"},        // dom OR dow (Vixie)
      {"59 23 31 12 *", At(2026, 12, 31, 23, 59), "2027-12-31T23:59:00.000Z"},
  };
  for (const NextCase& c : cases) {
    EXPECT_EQ(Next(c.expr, c.after), c.want) << c.expr << " after " << FormatUtcMs(c.after);
  }
}

TEST(CronTest, MatchesAgreesWithNext) {
  auto c = CronSchedule::Parse("*/7 9-17 * * 1-5");
  ASSERT_TRUE(c.ok());
  UtcMs t = At(2026, 11, 27, 0, 0);
  for (int i = 0; i < 200; ++i) {
    auto n = c->NextAfter(t);
    ASSERT_TRUE(n.ok());
    EXPECT_TRUE(c->Matches(*n));
    for (UtcMs m = t + 60000 - (t % 60000); m < *n; m += 60000) {
      ASSERT_FALSE(c->Matches(m)) << FormatUtcMs(m);
    }
    t = *n;
  }
}

TEST(CronTest, MalformedExpressionsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "expected 5 fields"},
      {"* * * *", "got 4"},
      {"* * * * * *", "got 6"},
      {"61 * * * *", "minute: 61 is out of range 0-59"},
      {"* 24 * * *", "hour: 24 is out of range 0-23"},
      {"* * 0 * *", "day-of-month: 0 is out of range 1-31"},
      {"* * * 13 *", "month: 13 is out of range 1-12"},
      {"* * * * 8", "day-of-week: 8 is out of range 0-7"},
      {"* * * FOO *", "month: 'FOO'"},
      {"x * * * *", "minute: 'x'"},
      {"*/0 * * * *", "minute: step '0'"},
      {"*/ * * * *", "minute: step ''"},
      {"5-1 * * * *", "minute: range '5-1' runs backwards"},
      {"1,,2 * * * *", "minute: empty item"},
      {"* -1 * * *", "hour: '' in '-1'"},
      {"0 0 30 2 *", "never fire"},
      {"0 0 31 4,6 *", "never fire"},
  };
  for (const auto& [expr, want] : cases) {
    auto c = CronSchedule::Parse(expr);
    ASSERT_FALSE(c.ok()) << expr;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(want)) << expr;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(absl::StrCat("'", expr, "'")));
  }
}

TEST(CronTest, NamesAreCaseInsensitiveAndRangesWork) {
  EXPECT_TRUE(CronSchedule::Parse("0 0 * jan-Mar Sat,sun").ok());
  EXPECT_TRUE(CronSchedule::Parse("0 0 * * 0-7").ok());
  EXPECT_TRUE(CronSchedule::Parse("0 0 30 2 1").ok());  // dow restricted too: fires on Mondays
}

}  // namespace
}  // namespace reclaim::collector
