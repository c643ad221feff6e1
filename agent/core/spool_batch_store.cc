#include "agent/core/spool_batch_store.h"

#include "agent/core/batch_codec.h"

namespace reclaim::agent {

BatchStore SpoolBatchStore(Spool& spool, const Clock& clock) {
  return [&spool, &clock](const std::vector<FocusInterval>& intervals) -> std::string {
    auto seq = spool.Append(EncodeBatch(intervals, clock.WallUtcMs()));
    return seq.ok() ? std::string() : seq.status().ToString();
  };
}

}  // namespace reclaim::agent
