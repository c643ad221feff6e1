// A stand-in native messaging host for browser_pipe_windows_test: prints
// BrowserProcessOfHost(its own pid) on stdout.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <cstdio>

#include "agent/browser/browser_process.h"

int main() {
  std::printf("%lld\n", static_cast<long long>(
                            reclaim::agent::BrowserProcessOfHost(GetCurrentProcessId())));
  return 0;
}
