// Usage batches for tests: real reclaim.v1.UsageBatch payloads for the spool,
// and whole AgentMessages for tests that speak the agent stream themselves.
#pragma once

#include <chrono>
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

/// An AgentMessage carrying batch `seq` with one GIMP focus interval of
/// `focus_ms` starting at `start_utc_ms`.
inline reclaim::v1::AgentMessage GimpBatchMessage(std::uint64_t seq, std::int64_t start_utc_ms,
                                                  std::int64_t focus_ms = 1000) {
  reclaim::v1::AgentMessage m;
  reclaim::v1::UsageBatch* b = m.mutable_batch();
  b->set_seq(seq);
  reclaim::v1::FocusInterval* i = b->add_intervals();
  i->mutable_app()->set_exe_path("/usr/bin/gimp-2.10");
  i->mutable_app()->set_exe_name("gimp-2.10");
  i->set_start_utc_ms(start_utc_ms);
  i->set_active_duration_ms(focus_ms);
  return m;
}

/// Now minus `ago_ms`, UTC milliseconds (the wall clock: the collector
/// refuses intervals too far in the future).
inline std::int64_t UtcMsAgo(std::int64_t ago_ms) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() -
         ago_ms;
}

}  // namespace reclaim::testing
