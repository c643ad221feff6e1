// The scripted focus source: a text file of timed focus, idle, lock and
// suspend events, so that tests and demos can replay a recorded or invented
// day through the real meter in virtual time.
//
// Script format (UTF-8 text, one statement per line; LF or CRLF):
//
//   # comments and blank lines are ignored
//   start 2026-11-23T08:00:00Z     # optional: the UTC time of offset 0
//   +00:00:00 focus exe=/usr/bin/gimp-2.10 name=gimp-2.10 class=Gimp
//   +00:25:00 idle
//   +00:30:00 active
//   +00:31:10 focus exe="/opt/My App/app" name=app class="My App" web=example.com
//   +01:00:00 lock
//   +01:10:00 unlock
//   +02:00:00 suspend
//   +02:30:00 resume
//   +03:00:00 nofocus
//   +08:00:00 end                  # required: the end of the script
//
// Lexical rules:
//  - Tokens are separated by spaces or tabs. A `#` that begins a token (at the
//    start of a line or after whitespace, outside quotes) starts a comment that
//    runs to the end of the line; elsewhere `#` is an ordinary character.
//  - `start <time>` may appear at most once, before the first timed line.
//    <time> is RFC 3339 in UTC only: `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (`T`
//    and `Z` may be lower case, the fraction has 1 to 9 digits and is
//    truncated to ms; no leap second, no numeric offset).
//  - A timed line is `+HH:MM:SS[.mmm] <verb> [key=value ...]`: the offset from
//    offset 0 with HH of 1 to 6 digits (it may exceed 24), MM and SS of exactly
//    2 digits below 60, and an optional `.` with exactly 3 digits of ms.
//    Offsets never decrease; equal offsets keep file order.
//  - Verbs: `focus` (the foreground application; at least one key), `nofocus`
//    (no foreground window), `idle`, `active`, `lock`, `unlock`, `suspend`,
//    `resume` (see MeterEvent::Kind) and `end`. Only `focus` takes arguments.
//    `end` must be the last statement; its offset is the end of the script.
//  - Keys of `focus`, each at most once, map to AppIdentity fields: exe
//    (exe_path), name (exe_name), class (window_class), package (package_id),
//    product (product_name), version (product_version), web (web_domain),
//    title (window_title). Missing keys leave the field empty.
//  - A value is either unquoted, a non-empty run of characters other than
//    whitespace and `"`, or quoted: `"` ... `"` where `\"` stands for `"` and
//    `\\` for `\` (no other escapes); a closing quote must be followed by
//    whitespace, a comment or the end of the line. Values must be well-formed
//    UTF-8 without control characters other than tab.
//
// Errors are absl::InvalidArgumentError("<source>:<line>: <what>"), line
// numbers from 1; a missing `end` is reported at the last line.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/meter/meter.h"
#include "common/clock.h"

namespace reclaim::agent {

/// A parsed script.
struct Script {
  /// The UTC time (ms since the Unix epoch) of offset 0, from the `start`
  /// line; nullopt when the script has none (the caller picks one).
  std::optional<UtcMs> start_utc_ms;
  /// The events in file order; `at` is the offset in ms (so non-decreasing).
  std::vector<MeterEvent> events;
  /// The offset of the `end` line, ms; >= every event's `at`.
  MonoTime end{0};
};

/// The largest script file LoadScript reads: 64 MiB.
inline constexpr std::size_t kMaxScriptBytes = std::size_t{64} << 20;

/// Parses a script (format above). `source_name` prefixes error messages.
/// Errors: InvalidArgument "<source_name>:<line>: <what>".
[[nodiscard]] absl::StatusOr<Script> ParseScript(std::string_view text,
                                                 std::string_view source_name);

/// Reads and parses the script file at `path` (errors name it as the source).
/// Errors: NotFound when the file does not exist; PermissionDenied when it may
/// not be read; Unavailable on other I/O errors; InvalidArgument when it is
/// larger than kMaxScriptBytes or does not parse.
[[nodiscard]] absl::StatusOr<Script> LoadScript(const std::string& path);

/// Replays a script through a Meter in virtual time: monotonic time = offset
/// (ms), wall time = start_utc_ms + offset. Events are recorded when virtual
/// time reaches their offset (so they are never late), and the meter is
/// polled at every multiple of options.heartbeat (a non-positive heartbeat
/// polls every 60 s), whatever the steps AdvanceTo is called with: the
/// emitted intervals depend only on the script, the options and
/// start_utc_ms. At the end the meter is finished.
///
/// Resuming: a replay stopped at any point and restarted with resume_from =
/// the stopped replay's emitted_through() emits exactly the intervals the
/// stopped one had not emitted yet (Meter::StartAt, Meter::emitted_through).
///
/// Owns its meter and a copy of the script. Not thread-safe.
class ScriptReplay {
 public:
  /// `start_utc_ms`: UTC ms of offset 0 (usually script.start_utc_ms, else a
  /// caller's choice). `resume_from`: offset (ms) from a previous run's
  /// emitted_through(), 0 to replay from the start; calls Meter::StartAt and
  /// starts virtual time there (clamped to [0, end]).
  ScriptReplay(const Script& script, MeterOptions options, UtcMs start_utc_ms,
               MonoTime resume_from);

  /// Advances virtual time to min(t, end) (never backwards): records the events
  /// with at <= that time, polls the meter at every heartbeat boundary on the
  /// way, and on reaching the end finishes the meter. Returns the intervals
  /// emitted, in time order; nothing once done().
  std::vector<FocusInterval> AdvanceTo(MonoTime t);

  /// True once the end was reached and the meter finished.
  bool done() const { return done_; }
  /// Virtual time (offset, ms).
  MonoTime now() const { return now_; }
  /// The script's end offset, ms.
  MonoTime end() const { return script_.end; }
  /// The cursor to persist with the intervals emitted so far: resume with
  /// ScriptReplay(..., resume_from = emitted_through()).
  MonoTime emitted_through() const { return meter_.emitted_through(); }

 private:
  // Records the script's events with at <= t.
  void RecordThrough(MonoTime t);
  UtcMs WallAt(MonoTime t) const { return start_utc_ms_ + t.count(); }

  Script script_;
  UtcMs start_utc_ms_;
  std::chrono::milliseconds poll_every_;
  Meter meter_;
  size_t next_event_ = 0;
  MonoTime now_{0};
  bool done_ = false;
};

}  // namespace reclaim::agent
