// UTC calendar days as integers (days since 1970-01-01) and as "YYYY-MM-DD".
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"

namespace reclaim {

/// The UTC day containing `utc_ms` (floor division, so times before 1970 work).
std::int64_t UtcDayOf(UtcMs utc_ms);
/// "YYYY-MM-DD" of a UTC day number.
std::string FormatUtcDay(std::int64_t day);
/// Parses "YYYY-MM-DD" (a real calendar date). Errors: kInvalidArgument.
absl::StatusOr<std::int64_t> ParseUtcDay(absl::string_view text);
/// RFC 3339 UTC timestamp with ms, "2026-11-23T08:00:00.000Z".
std::string FormatUtcMs(UtcMs utc_ms);

}  // namespace reclaim
