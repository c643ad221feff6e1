// A token bucket (Wikipedia "Token bucket"; the shape of Envoy's local rate
// limit): refilled continuously at a rate up to a burst size; a request costs
// tokens. Shared by the per-device rate limit of the agent channel
// (agent_limits.h) and the per-peer limits on enrollment
// (enrollment_limits.h).
//
// A plain value without a lock: its owner guards it. Time is the Clock's
// monotonic face, in ms.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/clock.h"

namespace reclaim::collector {

/// Tokens and the time they were last refilled. A full bucket at `now`:
/// TokenBucket{burst, now}.
struct TokenBucket {
  double tokens = 0;
  MonoTime refilled_at{0};

  /// Adds `rate_per_s` tokens per second elapsed since the last refill, up
  /// to `burst`. A clock that did not advance adds nothing.
  void Refill(MonoTime now, double rate_per_s, double burst) {
    const double seconds = static_cast<double>((now - refilled_at).count()) / 1000.0;
    if (seconds <= 0) return;
    tokens = std::min(burst, tokens + seconds * rate_per_s);
    refilled_at = now;
  }

  /// How long until the bucket holds `needed` tokens at `rate_per_s`
  /// (rounded up to whole ms; 0 when it already does or the rate is 0).
  std::chrono::milliseconds TimeUntil(double needed, double rate_per_s) const {
    if (tokens >= needed || rate_per_s <= 0) return std::chrono::milliseconds(0);
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(std::ceil((needed - tokens) * 1000.0 / rate_per_s)));
  }
};

}  // namespace reclaim::collector
