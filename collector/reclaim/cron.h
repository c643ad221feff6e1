// Cron schedules for reclamation policies: a small, pure parser of 5-field
// cron expressions and a next-fire-time function. No I/O, no clock reads.
//
// Syntax (Vixie cron / POSIX crontab(5), without the @-macros):
//   minute hour day-of-month month day-of-week
//   minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
//   day-of-week 0-7 or SUN-SAT (0 and 7 are Sunday). Names are
//   case-insensitive. Each field is a comma-separated list of items; an item
//   is `*`, `N`, `N-M`, optionally followed by `/S` (step S >= 1); `N/S`
//   means `N-max/S`. Ranges must not wrap (`5-1` is an error).
// As in Vixie cron, when both day-of-month and day-of-week are restricted
// (neither starts with `*`), a day matches when EITHER matches.
// Schedules are evaluated in UTC (the collector's time base for everything).
#pragma once

#include <bitset>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"

namespace reclaim::collector {

/// A parsed cron expression. A value type; thread-compatible.
class CronSchedule {
 public:
  /// Parses `text`. Errors: kInvalidArgument naming the field and the bad
  /// item, e.g. "cron expression '61 * * * *': minute: 61 is out of range
  /// 0-59"; also for a wrong number of fields and for a schedule that can
  /// never fire ("0 0 30 2 *": February has no 30th).
  [[nodiscard]] static absl::StatusOr<CronSchedule> Parse(const std::string& text);

  /// The first fire time strictly after `after_utc_ms`, ms since the Unix
  /// epoch (UTC), always on a whole minute. Searches at most 8 years ahead
  /// (enough for any schedule Parse accepts: a Feb-29 one fires within 8
  /// years); kNotFound beyond that.
  [[nodiscard]] absl::StatusOr<UtcMs> NextAfter(UtcMs after_utc_ms) const;

  /// Whether the schedule fires at the minute containing `utc_ms`.
  bool Matches(UtcMs utc_ms) const;

  /// The expression as given to Parse.
  const std::string& text() const { return text_; }

 private:
  bool DayMatches(std::int64_t days_since_epoch) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bits 1..31
  std::bitset<13> months_;         // bits 1..12
  std::bitset<7> days_of_week_;    // bits 0..6, 0 = Sunday
  bool dom_restricted_ = false;
  bool dow_restricted_ = false;
};

/// Civil date helpers (proleptic Gregorian, UTC), exposed for tests.
struct CivilDay {
  int year = 1970;
  int month = 1;  ///< 1..12
  int day = 1;    ///< 1..31
};
CivilDay CivilFromDays(std::int64_t days_since_epoch);
std::int64_t DaysFromCivil(int year, int month, int day);

}  // namespace reclaim::collector
