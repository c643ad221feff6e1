// Jittered exponential backoff for reconnect loops that no library retries for
// us (gRPC never replays a stream that has started). "Full jitter" as in the
// AWS Architecture Blog's "Exponential Backoff And Jitter": each delay is
// uniform in [initial/2, min(max, initial * multiplier^attempt)].
//
// Standard C++ only. Not thread-safe: owned by the loop that uses it.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace reclaim {

/// Options; every field documents its default.
struct BackoffOptions {
  /// First delay's upper bound. Default 1 s.
  std::chrono::milliseconds initial{1000};
  /// Upper bound of any delay. Default 60 s.
  std::chrono::milliseconds max{60000};
  /// Growth per failed attempt. Default 2.
  double multiplier = 2.0;
};

/// Computes successive delays. Reset() after a success.
class Backoff {
 public:
  explicit Backoff(BackoffOptions options, std::uint64_t seed = std::random_device{}())
      : options_(options), rng_(seed) {}

  /// Returns the delay before the next attempt and counts one failure.
  std::chrono::milliseconds NextDelay();
  /// Forgets failures: the next delay starts from `initial` again.
  void Reset() { attempt_ = 0; }
  /// Number of failures counted since the last Reset().
  int attempts() const { return attempt_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace reclaim
