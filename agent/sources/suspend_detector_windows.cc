// ReadAwakeClock() on Windows: QueryUnbiasedInterruptTime, which does not
// count time spent in sleep or hibernation
// (https://learn.microsoft.com/windows/win32/api/realtimeapiset/nf-realtimeapiset-queryunbiasedinterrupttime),
// against the agent's monotonic clock (std::chrono::steady_clock, i.e.
// QueryPerformanceCounter, which keeps counting across a sleep on current
// Windows). Should a machine's QPC stop during sleep, the detector sees no gap
// and the session source's WM_POWERBROADCAST still reports the suspend.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h:
#include <realtimeapiset.h>

#include "agent/sources/suspend_detector.h"

namespace reclaim::agent {

MonoTime ReadAwakeClock() {
  ULONGLONG t100ns = 0;
  QueryUnbiasedInterruptTime(&t100ns);
  return MonoTime(static_cast<std::int64_t>(t100ns / 10000));
}

}  // namespace reclaim::agent
