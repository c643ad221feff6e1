// A service for service_host_windows_test: RunAsService with a body that
// reports running, writes "running" to a marker file, waits for the stop
// request, reports stopping (twice, so the test sees the checkpoints move),
// waits for the test's "release" event (if named), appends "stopped
// <reason>" to the marker and returns the exit code it was given.
// Usage: service_host_test_service.exe MARKER EXIT_CODE [RELEASE_EVENT]
// (the SCM starts it with these arguments from its binary path; the test
// also runs it directly, as a console process).
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "agent/service/service_host.h"

namespace {

constexpr unsigned kStopWaitHintMs = 7000;

// Replaces `path` with `text` (a whole file or none: the test polls it).
void WriteMarker(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
  }
  MoveFileExA(tmp.c_str(), path.c_str(), MOVEFILE_REPLACE_EXISTING);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MARKER EXIT_CODE [RELEASE_EVENT]\n", argv[0]);
    return 2;
  }
  const std::string marker = argv[1];
  const int exit_code = std::atoi(argv[2]);
  const std::string release = argc > 3 ? argv[3] : "";
  return reclaim::agent::RunAsService(
      "ReclaimServiceHostTest", [&](reclaim::agent::ServiceContext& context) {
        context.ReportRunning();
        WriteMarker(marker, "running\n");
        const std::string reason = context.WaitForStopRequest();
        context.ReportStopping(kStopWaitHintMs);
        context.ReportStopping(kStopWaitHintMs);
        if (!release.empty()) {
          HANDLE event = OpenEventA(SYNCHRONIZE, FALSE, release.c_str());
          if (event == nullptr) {
            WriteMarker(marker, "running\nno release event " + release + "\n");
            return 3;
          }
          WaitForSingleObject(event, 60000);
          CloseHandle(event);
        }
        WriteMarker(marker, "running\nstopped " + reason + "\n");
        return exit_code;
      });
}
