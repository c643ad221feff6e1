// Direct mode's LocalConnector: each connection is a channel pair to a fresh
// personal relay, `reclaim-agent-service relay --fd N ...`, which holds the
// gRPC stream to the collector with the agent's own collector, TLS,
// credential and enrollment options (agent/service/relay.h has the relay's
// command-line contract). A relay serves one connection and exits; when it
// dies instead, its exit is logged, the stream ends as UNAVAILABLE and the
// uplink engine starts the next relay after its backoff. The relay is ended
// (relay_process.h: SIGTERM then SIGKILL; Windows TerminateProcess) when its
// connection is over, and dies with the agent (PR_SET_PDEATHSIG; a Windows
// job object).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agent/local/local_uplink.h"
#include "agent/local/relay_process.h"

namespace reclaim::agent {

/// Options; every field documents its default.
struct RelayConnectorOptions {
  /// Collector address, for logs ("collector HOST:PORT").
  /// Default none.
  std::string collector;
  /// Arguments after `relay --fd N`: --collector, TLS, --credential-file,
  /// --enrollment-secret-file, --log-file/--log-level. Default none.
  std::vector<std::string> relay_args;
  /// Enroll again although a credential exists (the agent's --enroll): the
  /// relays get --enroll until the credential file (`credential_file`) is
  /// replaced, so a successful enrollment happens once, not per stream.
  /// Default false.
  bool enroll = false;
  /// The device credential file the relays use. Default none.
  std::string credential_file;
  /// How long a relay may take to exit after its connection closed before it
  /// is ended with SIGTERM (and SIGKILL after as long again). Default 5 s.
  std::chrono::milliseconds exit_grace{5000};
};

/// A connector that starts one relay per connection with `spawner`.
std::unique_ptr<LocalConnector> MakeRelayConnector(std::unique_ptr<RelaySpawner> spawner,
                                                   RelayConnectorOptions options);

}  // namespace reclaim::agent
