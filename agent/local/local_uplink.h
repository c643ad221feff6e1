// LocalUplink: the uplink engine (agent/uplink/uplink.h) over a local channel
// (agent/local/local_channel.h: a UNIX socket, a named pipe) to
// reclaim-agent-service, carrying the frames of
// proto/reclaim/v1/local.proto (agent/local/local_frames.h). No gRPC: this is
// what keeps the per-session reclaim-agent small.
//
// One connection carries one collector stream: the agent writes AgentMessages
// (Hello first), the service answers with LocalServiceMessages (the
// collector's messages, then a LocalStreamEnd with the collector's status,
// and closes). A connection that closes without a LocalStreamEnd ended with
// UNAVAILABLE. The engine reconnects with its backoff.
//
// Where the channel comes from (LocalConnector):
// - the machine's reclaim-agent-service (`run` mode) listening on an address,
//   default DefaultServiceAddress() (MakeServiceSocketConnector);
// - direct mode: a channel pair to a personal `reclaim-agent-service relay`
//   child started per connection (agent/local/relay_connector.h).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/local/local_channel.h"
#include "agent/uplink/uplink.h"

namespace reclaim::agent {

/// Makes the connections of a LocalUplink. Used by the uplink thread only,
/// except Interrupt().
class LocalConnector {
 public:
  virtual ~LocalConnector() = default;
  /// A connected channel to a reclaim-agent-service; the caller owns it.
  /// Errors: UNAVAILABLE naming what failed (no service listening, the relay
  /// cannot be started); PERMISSION_DENIED when the OS refuses the
  /// connection or (Windows) the server is not the machine service.
  virtual absl::StatusOr<std::unique_ptr<LocalChannel>> Connect() = 0;
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

/// Connects to the machine's reclaim-agent-service listening on `address`
/// (ConnectLocal: a socket path, a pipe name) with `options` (default: the
/// server must run as LocalSystem on Windows).
std::unique_ptr<LocalConnector> MakeServiceSocketConnector(std::string address,
                                                           LocalConnectOptions options = {});

/// The engine over `connector`'s connections. `spool` must outlive the uplink.
std::unique_ptr<Uplink> MakeLocalUplink(Spool& spool, AgentIdentity identity,
                                        UplinkOptions options,
                                        std::unique_ptr<LocalConnector> connector);

}  // namespace reclaim::agent
