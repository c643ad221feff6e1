// Fuzz target: CronSchedule::Parse / NextAfter / Matches
// (collector/reclaim/cron.h). Input: 8 bytes of a UTC ms time (little-endian,
// reduced to years 1970..2200), then the expression.
// Properties: Parse never crashes; an accepted schedule fires (NextAfter
// succeeds: Parse refuses schedules that can never fire), strictly after the
// given time, on a whole minute that Matches; text() is the input.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "collector/reclaim/cron.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t raw = 0;
  std::memcpy(&raw, data, 8);
  constexpr std::uint64_t kMaxMs = 7258118400000ULL;  // 2200-01-01
  const reclaim::UtcMs after = static_cast<reclaim::UtcMs>(raw % kMaxMs);
  const std::string text(reinterpret_cast<const char*>(data + 8), size - 8);

  auto schedule = reclaim::collector::CronSchedule::Parse(text);
  if (!schedule.ok()) {
    FUZZ_CHECK(schedule.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(schedule->text() == text);
  auto next = schedule->NextAfter(after);
  FUZZ_CHECK(next.ok());
  FUZZ_CHECK(*next > after);
  FUZZ_CHECK(*next % 60000 == 0);
  FUZZ_CHECK(schedule->Matches(*next));
  // Nothing fires in between (checked over at most one day of minutes).
  for (reclaim::UtcMs t = (after / 60000 + 1) * 60000; t < *next && t < after + 86400000;
       t += 60000) {
    FUZZ_CHECK(!schedule->Matches(t));
  }
  return 0;
}
