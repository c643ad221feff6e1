// How reclaim-agent-service runs as the machine's service: the OS's service
// manager starts it, asks it to stop, and is told its state.
//
// Linux (service_host_linux.cc): a systemd simple service
// (deploy/reclaim-agent-service.service) is a foreground process; stop
// requests are SIGTERM and SIGINT (sigwait on a thread of the host).
// Windows (service_host_windows.cc): a Win32 own-process service under the
// Service Control Manager (StartServiceCtrlDispatcherW,
// RegisterServiceCtrlHandlerExW, SetServiceStatus: SERVICE_START_PENDING ->
// SERVICE_RUNNING -> SERVICE_STOP_PENDING with checkpoints -> SERVICE_STOPPED
// with the exit code in dwServiceSpecificExitCode); SERVICE_CONTROL_STOP and
// SERVICE_CONTROL_PRESHUTDOWN are stop requests. Run from a console (not by
// the SCM: ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) it runs in the
// foreground and Ctrl+C / Ctrl+Break / console close are stop requests, as on
// Linux.
//
// Standard C++ types only, so the Windows twin builds with mingw-w64 and is
// tested under Wine (whose services.exe implements the SCM).
#pragma once

#include <functional>
#include <string>

namespace reclaim::agent {

/// What the service's body gets from its host.
class ServiceContext {
 public:
  virtual ~ServiceContext() = default;
  /// Tells the service manager the service is up (Windows SERVICE_RUNNING;
  /// Linux nothing). Call once the service accepts connections.
  virtual void ReportRunning() = 0;
  /// Blocks until the service manager (or the console, or a signal) asks
  /// the service to stop; returns the reason for the log ("SIGTERM",
  /// "SERVICE_CONTROL_STOP", ...).
  virtual std::string WaitForStopRequest() = 0;
  /// Tells the service manager stopping takes a while (Windows
  /// SERVICE_STOP_PENDING with the next checkpoint and `wait_hint_ms`; Linux
  /// nothing). Call while stopping, at least every wait_hint_ms.
  virtual void ReportStopping(unsigned wait_hint_ms) = 0;
};

/// Runs `body` as the service named `service_name` (Windows: the SCM name,
/// "ReclaimAgentService"; Linux: for logs) and returns its exit code (0 ok,
/// 1 runtime error). `body` runs on a thread of the host's choosing and
/// returns the process's exit code; the host reports SERVICE_STOPPED with it
/// (a non-zero code as ERROR_SERVICE_SPECIFIC_ERROR, so the SCM's recovery
/// actions restart the service).
int RunAsService(const std::string& service_name,
                 const std::function<int(ServiceContext&)>& body);

}  // namespace reclaim::agent
