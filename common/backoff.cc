#include "common/backoff.h"

#include <algorithm>
#include <cmath>

namespace reclaim {

std::chrono::milliseconds Backoff::NextDelay() {
  const double ceiling_ms =
      std::min<double>(static_cast<double>(options_.max.count()),
                       static_cast<double>(options_.initial.count()) *
                           std::pow(options_.multiplier, std::min(attempt_, 62)));
  ++attempt_;
  const double floor_ms =
      std::min<double>(ceiling_ms, static_cast<double>(options_.initial.count()) / 2.0);
  std::uniform_real_distribution<double> dist(floor_ms, std::max(floor_ms, ceiling_ms));
  return std::chrono::milliseconds(static_cast<std::int64_t>(dist(rng_)));
}

}  // namespace reclaim
