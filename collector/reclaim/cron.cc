#include "collector/reclaim/cron.h"

#include <array>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace reclaim::collector {
namespace {

constexpr std::int64_t kMsPerMinute = 60 * 1000;
constexpr std::int64_t kMsPerDay = 24 * 60 * kMsPerMinute;

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const char* const* names;  // nullptr or names for min..min+N-1
  int name_count;
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

constexpr std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, nullptr, 0},
    {"hour", 0, 23, nullptr, 0},
    {"day-of-month", 1, 31, nullptr, 0},
    {"month", 1, 12, kMonthNames, 12},
    {"day-of-week", 0, 7, kDayNames, 7},
}};

absl::StatusOr<int> ParseValue(const FieldSpec& f, const std::string& item, const std::string& v) {
  if (f.names != nullptr) {
    const std::string upper = absl::AsciiStrToUpper(v);
    for (int i = 0; i < f.name_count; ++i) {
      if (upper == f.names[i]) return f.names == kMonthNames ? i + 1 : i;
    }
  }
  int n = 0;
  if (v.empty() || !absl::SimpleAtoi(v, &n) || v.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(f.name, ": '", v, "' in '", item,
                                                   "' is not a number",
                                                   f.names ? " or a name" : ""));
  }
  if (n < f.min || n > f.max) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.name, ": ", n, " is out of range ", f.min, "-", f.max));
  }
  return n;
}

// Parses one field into `bits` (indexes are the field's values).
absl::Status ParseField(const FieldSpec& f, const std::string& text, std::vector<bool>* bits) {
  bits->assign(f.max + 1, false);
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(f.name, ": empty field"));
  for (absl::string_view item_view : absl::StrSplit(text, ',')) {
    const std::string item(item_view);
    if (item.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(f.name, ": empty item in '", text, "'"));
    }
    std::string range = item;
    int step = 1;
    bool has_step = false;
    if (const size_t slash = item.find('/'); slash != std::string::npos) {
      range = item.substr(0, slash);
      const std::string s = item.substr(slash + 1);
      if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos ||
          !absl::SimpleAtoi(s, &step) || step < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name, ": step '", s, "' in '", item, "' must be a number >= 1"));
      }
      if (step > f.max) {
        return absl::InvalidArgumentError(absl::StrCat(f.name, ": step ", step, " in '", item,
                                                       "' is larger than ", f.max));
      }
      has_step = true;
    }
    int lo = f.min, hi = f.max;
    if (range == "*") {
      // whole range
    } else if (const size_t dash = range.find('-'); dash != std::string::npos) {
      auto a = ParseValue(f, item, range.substr(0, dash));
      if (!a.ok()) return a.status();
      auto b = ParseValue(f, item, range.substr(dash + 1));
      if (!b.ok()) return b.status();
      lo = *a;
      hi = *b;
      if (lo > hi) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name, ": range '", range, "' runs backwards"));
      }
    } else {
      auto a = ParseValue(f, item, range);
      if (!a.ok()) return a.status();
      lo = *a;
      hi = has_step ? f.max : *a;
    }
    for (int v = lo; v <= hi; v += step) (*bits)[v] = true;
  }
  return absl::OkStatus();
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[month - 1];
}

}  // namespace

// Howard Hinnant's days_from_civil / civil_from_days.
std::int64_t DaysFromCivil(int y, int m, int d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

CivilDay CivilFromDays(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDay{static_cast<int>(y + (m <= 2)), static_cast<int>(m), static_cast<int>(d)};
}

absl::StatusOr<CronSchedule> CronSchedule::Parse(const std::string& text) {
  const auto error = [&](const absl::Status& s) {
    return absl::InvalidArgumentError(
        absl::StrCat("cron expression '", text, "': ", s.message()));
  };
  std::vector<std::string> fields =
      absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.size() != 5) {
    return error(absl::InvalidArgumentError(
        absl::StrCat("expected 5 fields (minute hour day-of-month month day-of-week), got ",
                     fields.size())));
  }
  CronSchedule c;
  c.text_ = text;
  std::vector<bool> bits;
  for (size_t i = 0; i < 5; ++i) {
    if (absl::Status s = ParseField(kFields[i], fields[i], &bits); !s.ok()) return error(s);
    for (size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (i) {
        case 0: c.minutes_.set(v); break;
        case 1: c.hours_.set(v); break;
        case 2: c.days_of_month_.set(v); break;
        case 3: c.months_.set(v); break;
        case 4: c.days_of_week_.set(v % 7); break;
      }
    }
  }
  c.dom_restricted_ = fields[2][0] != '*';
  c.dow_restricted_ = fields[4][0] != '*';
  // A day-of-month-only schedule must name a day that exists in one of its
  // months (leap years count).
  if (!c.dow_restricted_ || !c.dom_restricted_) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!c.months_.test(m)) continue;
      const int max_day = DaysInMonth(2000, m);  // 2000 is a leap year
      for (int d = 1; d <= max_day; ++d) {
        if (c.days_of_month_.test(d)) {
          possible = true;
          break;
        }
      }
    }
    if (!possible) {
      return error(absl::InvalidArgumentError(
          "day-of-month: no listed day exists in any listed month, so it would never fire"));
    }
  }
  return c;
}

bool CronSchedule::DayMatches(std::int64_t days) const {
  const CivilDay cd = CivilFromDays(days);
  if (!months_.test(cd.month)) return false;
  const int weekday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  const bool dom = days_of_month_.test(cd.day);
  const bool dow = days_of_week_.test(weekday);
  if (dom_restricted_ && dow_restricted_) return dom || dow;
  if (dom_restricted_) return dom;
  if (dow_restricted_) return dow;
  return true;
}

bool CronSchedule::Matches(UtcMs utc_ms) const {
  const std::int64_t day = FloorDiv(utc_ms, kMsPerDay);
  const std::int64_t minute_of_day = FloorDiv(utc_ms - day * kMsPerDay, kMsPerMinute);
  return DayMatches(day) && hours_.test(minute_of_day / 60) && minutes_.test(minute_of_day % 60);
}

absl::StatusOr<UtcMs> CronSchedule::NextAfter(UtcMs after_utc_ms) const {
  // Start at the next whole minute strictly after `after_utc_ms`.
  const std::int64_t start_minute = FloorDiv(after_utc_ms, kMsPerMinute) + 1;
  std::int64_t day = FloorDiv(start_minute, 24 * 60);
  int first_minute = static_cast<int>(start_minute - day * 24 * 60);
  constexpr std::int64_t kMaxDays = 8 * 366 + 1;
  for (std::int64_t i = 0; i <= kMaxDays; ++i, ++day, first_minute = 0) {
    if (!DayMatches(day)) continue;
    for (int m = first_minute; m < 24 * 60; ++m) {
      if (hours_.test(m / 60) && minutes_.test(m % 60)) {
        return day * kMsPerDay + static_cast<std::int64_t>(m) * kMsPerMinute;
      }
    }
  }
  return absl::NotFoundError(
      absl::StrCat("cron expression '", text_, "' does not fire within 8 years"));
}

}  // namespace reclaim::collector
