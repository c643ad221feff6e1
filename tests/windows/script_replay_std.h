// A minimal, standard-C++-only reader and replayer of the scripted-day format
// (agent/sources/scripted_source.h is the reference; that one needs abseil,
// which mingw-w64 has no build of). It exists so that the same day can be
// replayed through the meter core built for Windows and compared with the
// Linux build: tests only. It accepts the format's full syntax but reports
// errors only as "line N: what".
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/meter/meter.h"
#include "common/clock.h"

namespace reclaim::agent::testing {

struct StdScript {
  std::optional<UtcMs> start_utc_ms;
  std::vector<MeterEvent> events;  // `at` = offset, ms
  MonoTime end{0};
};

/// The whole file (binary); a test failure (ADD_FAILURE) and "" when it
/// cannot be read.
std::string ReadTestFile(const std::string& path);

/// Parses a script; nullopt and `error` set when it does not parse.
std::optional<StdScript> ParseScriptStd(std::string_view text, std::string* error);

/// Replays like ScriptReplay: events recorded when virtual time reaches them,
/// a Poll at every multiple of the heartbeat, Finish at the end.
std::vector<FocusInterval> ReplayStd(const StdScript& script, MeterOptions options,
                                     UtcMs start_utc_ms);

/// Totals per application, one line each, sorted by identity:
/// "<active ms> <pieces> <continuations> <first piece start UTC ms> | <identity fields joined by |>"
/// then "total <active ms> <pieces>".
std::string FormatTotals(const std::vector<FocusInterval>& intervals);

}  // namespace reclaim::agent::testing
