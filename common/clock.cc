#include "common/clock.h"

#if defined(__linux__)
#include <time.h>
#endif

namespace reclaim {

MonoTime SystemClock::Monotonic() const {
#if defined(__linux__)
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return MonoTime{static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000};
#else
  return std::chrono::duration_cast<MonoTime>(
      std::chrono::steady_clock::now().time_since_epoch());
#endif
}

UtcMs SystemClock::WallUtcMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace reclaim
