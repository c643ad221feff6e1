// Spool batches for uplink tests: real reclaim.v1.UsageBatch payloads.
#pragma once

#include <cstdint>

#include "agent/spool/spool.h"
#include "reclaim/v1/agent.pb.h"

namespace reclaim::testing {

/// A batch of `n` one-second GIMP focus intervals, two seconds apart,
/// starting at `start_utc_ms` (default 2023-11-14).
inline agent::SpoolBatch GimpBatch(int n = 1, std::int64_t start_utc_ms = 1'700'000'000'000) {
  reclaim::v1::UsageBatch b;
  for (int i = 0; i < n; ++i) {
    auto* iv = b.add_intervals();
    iv->mutable_app()->set_exe_path("/usr/bin/gimp");
    iv->set_start_utc_ms(start_utc_ms + i * 2000);
    iv->set_active_duration_ms(1000);
  }
  return {b.SerializeAsString(), n, n * 1000};
}

}  // namespace reclaim::testing
