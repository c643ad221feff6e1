// Drives the scripted focus source: replays a script (a recorded or made-up
// day) through the meter into the spool, resumably.
//
// Each step advances virtual time by at most one heartbeat, appends the
// emitted intervals as one batch and, in the same spool transaction, the
// replay cursor (Meter::emitted_through()). After a crash or SIGKILL the next
// run resumes at the cursor: no focus time is lost or stored twice. The
// script's UTC start is fixed at the first run and kept in the spool too.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "agent/meter/meter.h"
#include "agent/sources/scripted_source.h"
#include "agent/spool/spool.h"
#include "common/clock.h"

namespace reclaim::agent {

/// Options; every field documents its default.
struct ReplayOptions {
  /// Virtual seconds per real second; 0 = as fast as the spool allows. Default 1.
  double speed = 1.0;
  /// UTC of the script's offset 0; default: the script's `start` line, else
  /// the time of the first run (remembered in the spool).
  std::optional<UtcMs> start_utc_ms;
  MeterOptions meter;
};

/// Replays `script` into `spool`. `on_batch` is called after each stored
/// batch (to wake the uplink). Returns when the script is done or `stop` is
/// set. Errors: those of the spool (e.g. kResourceExhausted on a full disk,
/// after which the run can simply be repeated: nothing unstored was counted).
[[nodiscard]] absl::Status RunReplay(const Script& script, const std::string& script_text,
                                     const ReplayOptions& options, Spool& spool,
                                     const Clock& clock, const std::atomic<bool>& stop,
                                     const std::function<void()>& on_batch);

}  // namespace reclaim::agent
