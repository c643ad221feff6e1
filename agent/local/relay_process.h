// Starting the personal relay (`reclaim-agent-service relay --fd N`) for
// direct mode, behind a small interface: the relay connector
// (relay_connector.h) asks a RelaySpawner for one relay process per
// connection; tests substitute a spawner that runs a relay in a thread.
//
// Implementations: relay_process_linux.cc (fork/exec with a socketpair(2);
// the child dies with the agent: PR_SET_PDEATHSIG). The Windows agent has no
// spawner: it keeps the in-process gRPC transport (agent/uplink/grpc_uplink.h)
// because reclaim-agent-service is built for Linux only; a Windows spawner
// would pass one end of a connected socket to reclaim-agent-service.exe the
// same way.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace reclaim::agent {

/// One running relay and the agent's end of its socket.
class RelayProcess {
 public:
  virtual ~RelayProcess() = default;
  /// Takes the agent's end of the socket (connected, close-on-exec); the
  /// caller owns it. Call once.
  virtual int TakeSocket() = 0;
  /// Waits up to `grace` for the relay to exit by itself, then ends it
  /// (SIGTERM, then SIGKILL after another `grace`) and reaps it. Returns how
  /// it ended, e.g. "exited with status 0", "killed by signal 9". Idempotent.
  virtual std::string Finish(std::chrono::milliseconds grace) = 0;
  /// The relay's process id (for logs), 0 if none.
  virtual long pid() const = 0;
};

/// Starts relays.
class RelaySpawner {
 public:
  virtual ~RelaySpawner() = default;
  /// Starts one relay with `args` (the arguments after the program name;
  /// "{fd}" in them is replaced by the number of the relay's end of the
  /// socket). Errors: UNAVAILABLE naming the program and errno when it cannot
  /// be started.
  virtual absl::StatusOr<std::unique_ptr<RelayProcess>> Spawn(
      const std::vector<std::string>& args) = 0;
  /// What is started, for logs.
  virtual std::string program() const = 0;
};

/// A spawner that runs `program` as a child process with its end of a
/// socketpair as file descriptor 3 ("{fd}" = "3"), every other descriptor
/// but 0-2 closed, and SIGKILL sent to it when this process (thread) dies.
std::unique_ptr<RelaySpawner> MakeProcessRelaySpawner(std::string program);

/// Where reclaim-agent-service is: $RECLAIM_AGENT_SERVICE when set, else
/// beside the running executable (installed: both in bin/), else in
/// service/ beside it (the build tree). Errors: NOT_FOUND naming the places
/// tried.
absl::StatusOr<std::string> FindAgentService();

}  // namespace reclaim::agent
