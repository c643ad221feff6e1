// Paths of the programs under test, compiled into each integration test by
// tests/integration/CMakeLists.txt (RECLAIM_*_BIN, from $<TARGET_FILE:...>).
#pragma once

#include "tests/integration/harness.h"

#if !defined(RECLAIM_AGENT_BIN) || !defined(RECLAIM_COLLECTOR_BIN) || !defined(RECLAIMCTL_BIN)
#error "RECLAIM_AGENT_BIN, RECLAIM_COLLECTOR_BIN and RECLAIMCTL_BIN must be defined"
#endif

namespace reclaim::integration {

inline Binaries TestBinaries() {
  return {.agent = RECLAIM_AGENT_BIN,
          .collector = RECLAIM_COLLECTOR_BIN,
          .ctl = RECLAIMCTL_BIN,
          .ctl_flags = {"--insecure-plaintext"}};
}

}  // namespace reclaim::integration
