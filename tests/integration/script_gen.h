// Generates scripts for the scripted focus source (format:
// agent/sources/scripted_source.h) together with the usage they must produce,
// computed by construction and independently of the meter: the generator
// tracks the state it scripts (focus, idle, locked, suspended) and sums the
// active segments per application itself.
//
// Definitions used for the expectation (README "What it does" and the focus
// semantics of agent/meter/meter.h, restated here on purpose rather than
// computed with Meter):
//  - the state is active iff an application has the focus and the user is not
//    idle, the screen is not locked and the machine is not suspended;
//  - focus time of an application = total length of the active segments while
//    it has the focus;
//  - a session = a maximal active segment on one application of positive
//    length: it starts when the state becomes active or the focus moves to
//    another application while active; a focus event naming the application
//    that already has the focus changes nothing.
//
// Deterministic: the same spec gives the same text on every platform (own
// integer draws, no std::*_distribution).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace reclaim::integration {

/// One application a script can focus.
struct ScriptApp {
  /// The key=value arguments of its `focus` line.
  std::string focus_args;
  /// The collector's display key for it (collector/store/usage_store.cc
  /// DisplayKey: pkg:, else web:, else exe: path [class], else class:).
  std::string display_key;
};

/// Expected usage of one application (one display key).
struct ExpectedUsage {
  std::int64_t focus_ms = 0;
  std::int64_t sessions = 0;
  bool operator==(const ExpectedUsage&) const = default;
};

/// What to generate; every field documents its default.
struct ScriptSpec {
  /// Seed of the event draws. Default 1.
  std::uint64_t seed = 1;
  /// The `end` offset, ms. Default 6 h.
  std::int64_t duration_ms = 6LL * 3600 * 1000;
  /// UTC ms of offset 0 (the `start` line). Must lie far enough in the past
  /// that start + duration is not in the collector's future. Required.
  std::int64_t start_utc_ms = 0;
  /// The applications (distinct display keys). Default: DefaultApps().
  std::vector<ScriptApp> apps;
  /// Largest gap between consecutive events, ms (gaps are drawn in
  /// [0, max_gap_ms], some exactly 0 so equal offsets occur). Default 10 min.
  std::int64_t max_gap_ms = 10 * 60 * 1000;
};

/// A generated script and the usage it must produce.
struct GeneratedScript {
  std::string text;
  /// Per display key; applications never active are absent.
  std::map<std::string, ExpectedUsage> expected;
  std::int64_t total_focus_ms = 0;
  std::int64_t total_sessions = 0;
  /// Timed lines written (without `end`), and how many of each verb.
  int events = 0;
  std::map<std::string, int> verbs;
};

/// Eight applications covering every display-key form, quoted values with
/// spaces and escapes, and non-ASCII UTF-8.
std::vector<ScriptApp> DefaultApps();

/// An application whose exe path is `path_bytes` long (for filling a spool).
ScriptApp LongPathApp(int index, int path_bytes);

/// Generates a script (see the file comment for what `expected` means).
GeneratedScript GenerateScript(const ScriptSpec& spec);

/// 22:00 UTC two days before the current UTC day: a start for scripts of up
/// to a day that cross a UTC midnight and end in the past.
std::int64_t PastStartUtcMs();

}  // namespace reclaim::integration
