#include "common/utc_day.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace reclaim {

std::int64_t UtcDayOf(UtcMs utc_ms) {
  constexpr std::int64_t kMsPerDay = 86'400'000;
  return utc_ms >= 0 ? utc_ms / kMsPerDay : -((-utc_ms + kMsPerDay - 1) / kMsPerDay);
}

std::string FormatUtcDay(std::int64_t day) {
  const absl::CivilDay d = absl::CivilDay(1970, 1, 1) + day;
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

absl::StatusOr<std::int64_t> ParseUtcDay(absl::string_view text) {
  absl::CivilDay d;
  if (text.size() != 10 || !absl::ParseCivilTime(text, &d) ||
      FormatUtcDay(d - absl::CivilDay(1970, 1, 1)) != text) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a day in the form YYYY-MM-DD"));
  }
  return d - absl::CivilDay(1970, 1, 1);
}

std::string FormatUtcMs(UtcMs utc_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(utc_ms),
                          absl::UTCTimeZone());
}

}  // namespace reclaim
