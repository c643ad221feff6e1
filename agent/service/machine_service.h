// The machine service: `reclaim-agent-service run`, one per machine, as root
// (Windows: LocalSystem).
//
// Listens on a local address (agent/local/local_channel.h ListenLocal: Linux
// the UNIX socket /run/reclaim/agent.sock, mode 0666: any local user may
// connect; Windows the pipe \\.\pipe\reclaim-agent-service). Each connection
// is one session's reclaim-agent; who it is comes from the OS, never from
// its messages: PeerAtConnect() at accept (for the per-user limits), then
// AttestPeer() once the Hello is read (Linux SO_PEERCRED and the passwd
// entry of that uid; Windows the pipe client's token); a user that differs
// from the one at accept ends the connection PERMISSION_DENIED. Per
// connection it reads the first frame, which must be a Hello, OVERWRITES its
// device id and hostname (the machine's) and user (the peer's login name;
// Linux its uid, the configured domain, login@upn_suffix when a suffix is
// configured; Windows its SID and domain), scopes its agent_instance_id to
// the user (Linux "uid<UID>-<instance>", Windows "u<first 12 hex digits of
// SHA-256(SID)>-<instance>"), and relays it over one AgentService.Connect
// stream presenting the machine's device credential
// (agent/service/session_relay.h). All streams share one gRPC channel
// (HTTP/2 multiplexing).
//
// Ends a connection (LocalServiceMessage.end) with RESOURCE_EXHAUSTED when
// the peer's user already has max_connections_per_uid connections or the
// service max_connections, or a frame is over max_frame_bytes;
// INVALID_ARGUMENT when the first frame is not a Hello (or does not parse, or
// its instance id does not fit the collector's 64 bytes once scoped);
// PERMISSION_DENIED when the peer's uid has no passwd entry or its attested
// user differs from the one at accept; UNAVAILABLE when
// no Hello came within hello_timeout, the collector cannot be reached, or the
// service stops; nothing (the connection is closed) when a write to it
// blocks over 10 s because the session does not read; else as the collector ended the stream
// (UNAUTHENTICATED when it revoked the machine's credential).
//
// Threads: "svc-accept", "svc-reaper" (joins finished sessions, ends Hellos
// over the timeout) plus one per connection (and its relay's "relay-down");
// all owned, and joined by Stop(). Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/local/local_channel.h"
#include "agent/service/collector_link.h"

namespace reclaim::agent {

class SessionRelay;

/// Options; every field documents its default.
struct MachineServiceOptions {
  /// The address (ListenLocal): Linux a socket path, whose directory is
  /// created (0755) when missing; a stale socket is replaced; anything else
  /// at the path is refused. Windows a pipe name. Default
  /// DefaultServiceAddress() (/run/reclaim/agent.sock,
  /// \\.\pipe\reclaim-agent-service).
  std::string address = DefaultServiceAddress();
  /// The machine's device id (Hello.device_id). Required.
  std::string device_id;
  /// The machine's host name (Hello.hostname). Required.
  std::string hostname;
  /// The domain of every attested user without one of its own
  /// (Hello.user.domain; Linux users). Required.
  std::string user_domain;
  /// When set, a user's UPN is "<login>@<upn_suffix>". Default none: no UPN.
  std::string upn_suffix;
  /// Connections one user (uid, SID) may hold at once. Default 8.
  int max_connections_per_uid = 8;
  /// New connections one uid may make per second, sustained (a token bucket
  /// per uid). Beyond it a connection is refused with RESOURCE_EXHAUSTED and
  /// the refusals of a uid are logged at most once a minute, so that a local
  /// user cannot flood the service's log (and the collector with streams) by
  /// connecting in a loop. Default 2.
  double connects_per_uid_per_s = 2;
  /// Connections one uid may make at once above that rate. Default 20 (all
  /// of a user's sessions reconnecting after a restart of the service).
  double connects_per_uid_burst = 20;
  /// Connections in total. Default 256.
  int max_connections = 256;
  /// Largest local frame, bytes. Default 4 MiB (kMaxLocalFrameBytes).
  std::size_t max_frame_bytes = 4 << 20;
  /// Longest wait for a connection's Hello. Default 30 s.
  std::chrono::milliseconds hello_timeout{30000};
  /// The collector. Required: target.
  CollectorLinkOptions collector;
  /// The machine's device credential. Required.
  std::string token;
};

/// Counters for logs and tests.
struct MachineServiceStats {
  std::uint64_t accepted = 0;    ///< Connections accepted.
  std::uint64_t over_limit = 0;  ///< Ended with RESOURCE_EXHAUSTED at accept.
  std::uint64_t active = 0;      ///< Connections open now.
};

class MachineService {
 public:
  /// Listens on the address and starts accepting. Errors: INVALID_ARGUMENT
  /// (a required option missing, an address too long), FAILED_PRECONDITION
  /// (something other than a socket at the path, or a live service already
  /// listening there), INTERNAL / PERMISSION_DENIED naming the address and
  /// the OS error (ListenLocal).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MachineService>> Start(
      MachineServiceOptions options);

  /// Serves the connections of `listener` instead (options.address is only
  /// logged): tests hand it peers the OS cannot make here (a Windows SID on
  /// Linux, a user that changes between connecting and the Hello). Errors:
  /// INVALID_ARGUMENT as above.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MachineService>> Start(
      MachineServiceOptions options, std::unique_ptr<LocalListener> listener);
  ~MachineService();
  MachineService(const MachineService&) = delete;
  MachineService& operator=(const MachineService&) = delete;

  /// Stops accepting, ends every session (UNAVAILABLE), joins the threads
  /// and removes the socket (Linux). Idempotent.
  void Stop();

  MachineServiceStats stats() const;

 private:
  struct Session;
  MachineService(MachineServiceOptions options, std::unique_ptr<LocalListener> listener);
  void AcceptLoop();
  void Accept(std::unique_ptr<ServerChannel> channel);
  void Serve(Session* session);
  void ReapLoop();
  // Ends a session still waiting for its Hello with `code`: the end frame,
  // then the channel's shutdown (which wakes its read).
  static void EndWaitingSession(Session* session, int code, const std::string& message);

  const MachineServiceOptions options_;
  std::unique_ptr<LocalListener> listener_;  // reset by Stop() (removes the socket)
  std::shared_ptr<grpc::Channel> channel_;
  std::thread accept_thread_;
  std::thread reap_thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t finished_ ABSL_GUARDED_BY(mu_) = 0;  // sessions done, not yet reaped
  std::list<std::unique_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  // Keyed by LocalPeer::key ("uid:1000", a SID).
  std::map<std::string, int> per_uid_ ABSL_GUARDED_BY(mu_);
  // Per user that ever connected (bounded by the machine's accounts): its
  // connection rate bucket and the throttled logging of its refusals.
  struct UidRate {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled_at;
    std::chrono::steady_clock::time_point logged_at;
    bool logged = false;
    std::uint64_t unlogged_refusals = 0;
  };
  std::map<std::string, UidRate> uid_rates_ ABSL_GUARDED_BY(mu_);
  MachineServiceStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::agent
