// LocalUplink: the uplink engine (agent/uplink/uplink.h) over a UNIX stream
// socket to reclaim-agent-service, carrying the frames of
// proto/reclaim/v1/local.proto (agent/local/local_frames.h). No gRPC: this is
// what keeps the per-session reclaim-agent small.
//
// One connection carries one collector stream: the agent writes AgentMessages
// (Hello first), the service answers with LocalServiceMessages (the
// collector's messages, then a LocalStreamEnd with the collector's status,
// and closes). A connection that closes without a LocalStreamEnd ended with
// UNAVAILABLE. The engine reconnects with its backoff.
//
// Where the socket comes from (LocalConnector):
// - the machine's reclaim-agent-service (`run` mode) listening on a path,
//   default /run/reclaim/agent.sock (MakeServiceSocketConnector);
// - direct mode: a socketpair to a personal `reclaim-agent-service relay`
//   child started per connection (agent/local/relay_connector.h).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/uplink/uplink.h"

namespace reclaim::agent {

/// The machine service's default socket.
inline constexpr char kDefaultServiceSocket[] = "/run/reclaim/agent.sock";

/// Makes the connections of a LocalUplink. Used by the uplink thread only,
/// except Interrupt().
class LocalConnector {
 public:
  virtual ~LocalConnector() = default;
  /// A connected UNIX stream socket to a reclaim-agent-service, close-on-exec;
  /// the caller owns it. Errors: UNAVAILABLE naming what failed (no service
  /// listening, the relay cannot be started).
  virtual absl::StatusOr<int> Connect() = 0;
  /// The connection Connect() returned was closed. `clean` is false when it
  /// ended without a LocalStreamEnd. Returns a note for the log (e.g. how a
  /// relay process ended), empty if none.
  virtual std::string Closed(bool clean) = 0;
  /// From any thread (Stop()): a blocked Connect() returns soon.
  virtual void Interrupt() = 0;
  /// For logs; begins with "collector" ("collector HOST:PORT").
  virtual std::string Describe() const = 0;
  /// What the administrator can do when the collector refuses the credential.
  virtual std::string AuthHint() const = 0;
};

/// Connects to the machine's reclaim-agent-service listening on `path`.
std::unique_ptr<LocalConnector> MakeServiceSocketConnector(std::string path);

/// The engine over `connector`'s connections. `spool` must outlive the uplink.
std::unique_ptr<Uplink> MakeLocalUplink(Spool& spool, AgentIdentity identity,
                                        UplinkOptions options,
                                        std::unique_ptr<LocalConnector> connector);

}  // namespace reclaim::agent
