// Starting the personal relay (`reclaim-agent-service relay --fd N`) for
// direct mode, behind a small interface: the relay connector
// (relay_connector.h) asks a RelaySpawner for one relay process per
// connection; tests substitute a spawner that runs a relay in a thread.
//
// Twins: relay_process_linux.cc (fork/exec, the child's end of a
// LocalChannelPair as fd 3) and relay_process_windows.cc (CreateProcessW).
// Standard C++ only, like local_channel.h.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agent/local/local_channel.h"

namespace reclaim::agent {

/// One running relay and the agent's end of its channel.
class RelayProcess {
 public:
  virtual ~RelayProcess() = default;
  /// The agent's end of the relay's channel; the caller owns it. Call once.
  virtual std::unique_ptr<LocalChannel> TakeChannel() = 0;
  /// Waits up to `grace` for the relay to exit by itself, then ends it
  /// (Linux SIGTERM then SIGKILL after another grace; Windows
  /// TerminateProcess) and reaps it. Returns how it ended ("exited with
  /// status 0", "killed by signal 9", "terminated"). Idempotent.
  virtual std::string Finish(std::chrono::milliseconds grace) = 0;
  /// The relay's process id (for logs), 0 if none.
  virtual long pid() const = 0;
};

/// Starts relays.
class RelaySpawner {
 public:
  virtual ~RelaySpawner() = default;
  /// Starts one relay with `args` (after the program name; "{fd}" replaced
  /// by the child's end's HandleForChild() text). Errors: UNAVAILABLE naming
  /// the program and the OS error.
  virtual IpcStatus Spawn(const std::vector<std::string>& args,
                          std::unique_ptr<RelayProcess>* relay) = 0;
  /// What is started, for logs.
  virtual std::string program() const = 0;
};

/// Linux: fork/exec, child's end as fd 3, PR_SET_PDEATHSIG. Windows:
/// CreateProcessW with only the child's end inherited
/// (PROC_THREAD_ATTRIBUTE_HANDLE_LIST), the child in a job object with
/// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE (it dies with the agent), no window
/// (CREATE_NO_WINDOW).
std::unique_ptr<RelaySpawner> MakeProcessRelaySpawner(std::string program);

/// $RECLAIM_AGENT_SERVICE, else beside the running executable
/// (reclaim-agent-service[.exe]), else service/ beside it (build tree).
/// Errors: NOT_FOUND naming the places tried.
IpcStatus FindAgentService(std::string* path);

}  // namespace reclaim::agent
