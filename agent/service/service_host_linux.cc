// service_host.h for Linux: a systemd simple service
// (deploy/reclaim-agent-service.service, Type=simple) is an ordinary
// foreground process. systemd asks it to stop with SIGTERM
// (systemd.kill(5): KillSignal= defaults to SIGTERM, then SIGKILL after
// TimeoutStopSec=); a terminal's Ctrl+C is SIGINT. Both are blocked in the
// calling thread before the host starts any thread, so every thread started
// afterwards inherits the mask and only the host's sigwait(3) thread takes
// them. Nothing is reported to systemd: a simple service is "up" once
// started (no sd_notify, no libsystemd).
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "agent/service/foreground_service.h"
#include "agent/service/service_host.h"

namespace reclaim::agent {
namespace {

const char* SignalName(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "signal";
  }
}

}  // namespace

int RunAsService(const std::string& /*service_name*/,
                 const std::function<int(ServiceContext&)>& body) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // Threads started before this call keep their own mask: main() calls
  // RunAsService (or PrepareForStopRequests) before it starts any.
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ForegroundServiceContext context;
  std::atomic<bool> closing{false};
  std::thread watcher([&] {
    pthread_setname_np(pthread_self(), "stop-signals");
    while (true) {
      int sig = 0;
      if (sigwait(&stop_signals, &sig) != 0) continue;
      if (!closing.load()) context.latch.Request(SignalName(sig));
      return;  // later signals stay pending (blocked) until the process ends
    }
  });
  const int exit_code = body(context);
  closing = true;
  // A thread-directed SIGTERM: only the watcher's sigwait can take it. When
  // the watcher already ended (a stop request came), it is discarded.
  pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  return exit_code;
}

}  // namespace reclaim::agent
