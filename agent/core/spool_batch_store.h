// The agent's BatchStore (metering_loop.h): each batch of focus intervals
// becomes one reclaim.v1.UsageBatch (batch_codec.h) appended to the spool in
// one durable transaction, stamped with the clock's wall time (UTC ms).
#pragma once

#include "agent/core/metering_loop.h"
#include "agent/spool/spool.h"
#include "common/clock.h"

namespace reclaim::agent {

/// `spool` and `clock` must outlive the returned store. Its errors are the
/// spool's (Spool::Append: disk full, I/O), as text for the loop's log.
BatchStore SpoolBatchStore(Spool& spool, const Clock& clock);

}  // namespace reclaim::agent
