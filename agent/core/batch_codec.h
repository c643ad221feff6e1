// Encoding of meter output into the spool's batch payloads
// (reclaim.v1.UsageBatch without its seq, which the spool assigns).
#pragma once

#include <vector>

#include "agent/meter/meter.h"
#include "agent/spool/spool.h"
#include "common/clock.h"

namespace reclaim::agent {

/// Encodes `intervals` (non-empty) as one spool batch created at `created_utc_ms`.
SpoolBatch EncodeBatch(const std::vector<FocusInterval>& intervals, UtcMs created_utc_ms);

}  // namespace reclaim::agent
