#include <time.h>

#include "agent/sources/suspend_detector.h"

namespace reclaim::agent {

MonoTime ReadAwakeClock() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return MonoTime(static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000);
}

}  // namespace reclaim::agent
