// The callback through which platform sources report state changes to the
// metering loop (agent/core/metering_loop.h).
//
// Standard C++ only (also built for Windows with mingw-w64).
#pragma once

#include <functional>

#include "agent/meter/meter.h"

namespace reclaim::agent {

/// Receives one MeterEvent. Implementations must be thread-safe and must not
/// block for long: sources call it from their own threads, in the order in
/// which they observed the changes (`at` is the monotonic time of the change,
/// which may be earlier than the call, e.g. idle starts at the last input).
using EventSink = std::function<void(const MeterEvent&)>;

}  // namespace reclaim::agent
