// The uplink: streams the spool's batches to the collector over one long-lived
// gRPC stream (reclaim.v1.AgentService.Connect) and deletes a batch from the
// spool only when the collector acknowledged it.
//
// - Sends a Hello first and resumes after the collector's first Ack, so a
//   batch stored before a lost ack is not sent again needlessly (and if it is,
//   the collector dedupes it on (device, instance, seq)).
// - Keeps up to `max_in_flight` batches unacknowledged on the wire.
// - A stream the collector ends with RESOURCE_EXHAUSTED (one of its input
//   limits: streams per device, rate) leaves the refused batches in the
//   spool; consecutive such endings keep growing the backoff (a successful
//   connect does not reset it), so an over-rate agent slows down.
// - Reconnects with jittered exponential backoff (common/backoff.h); gRPC
//   keepalive pings detect a dead connection.
// - Sends the spool's cumulative drop counters in the Hello and whenever they
//   change (reclaim.v1.DroppedDataReport).
// - Campaign prompts: a received ConsentPrompt is stored in the spool (with
//   its "delivered" result) before anyone is told; a WithdrawPrompt removes
//   it. Results the spool holds (Spool::RecordPromptOutcome) are sent on every
//   stream until the collector's CommandResultAck deletes them, so neither an
//   agent restart nor a collector outage loses an answer. Call Notify() after
//   recording an outcome.
//
// - Device identity: presents the device credential on every stream
//   ("authorization: Bearer <token>"); without one, and given the enrollment
//   secret, enrolls first (AgentService.Enroll) and stores the credential in
//   an owner-only file. A refused credential (revoked, unknown) is logged as
//   an error and retried with backoff; the spool keeps everything. It never
//   re-enrolls by itself: after a revocation the administrator decides.
//
// Owns two threads ("uplink", "uplink-read"), started by Start() and joined by
// Stop(). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/spool/spool.h"
#include "common/backoff.h"

namespace grpc {
class ChannelCredentials;
}

namespace reclaim::agent {

/// The device credential and how to get one; every field documents its default.
struct DeviceCredentialOptions {
  /// The credential (a token from Enroll). Default none.
  std::string token;
  /// Where a credential obtained by enrolling is stored (owner-only, atomic).
  /// Default none: kept in memory only.
  std::string file;
  /// The enrollment secret: when set and `token` is empty, the uplink
  /// enrolls before its first stream. Default none.
  std::string enrollment_secret;
};

/// The session user (reclaim.v1.SessionUser).
struct SessionUserInfo {
  std::string login_name;
  std::string domain;
  std::string sid;
  std::optional<std::uint32_t> uid;
  std::string upn;
};

/// What the Hello says about this agent.
struct AgentIdentity {
  std::string device_id;
  std::string agent_version;
  std::string os_version;
  std::string hostname;
  SessionUserInfo user;
};

/// Options; every field documents its default.
struct UplinkOptions {
  /// Collector address, "host:port". Required.
  std::string target;
  /// Reconnect backoff. Default 1 s doubling to 60 s, jittered.
  BackoffOptions backoff;
  /// Batches sent but not yet acknowledged. Default 64.
  size_t max_in_flight = 64;
  /// gRPC keepalive ping interval. Default 30 s.
  std::chrono::milliseconds keepalive{30000};
  /// A stream with unacknowledged batches and no ack for this long is
  /// abandoned and reconnected. Default 120 s.
  std::chrono::milliseconds ack_timeout{120000};
  /// Called on the uplink's read thread after a prompt was stored or
  /// withdrawn (the spool's open prompts changed); must not block. Default
  /// none.
  std::function<void()> on_prompts_changed;
  /// Transport credentials (common/grpc_tls.h MakeChannelCredentials).
  /// Default null: plaintext (tests).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  /// Device credential. Default none: streams carry no credential.
  DeviceCredentialOptions device;
};

/// Counters for status and tests.
struct UplinkStats {
  bool connected = false;
  std::uint64_t connects = 0;        ///< Streams that got their first ack.
  std::uint64_t failures = 0;        ///< Failed connects and broken streams.
  std::uint64_t batches_sent = 0;    ///< Including resends.
  std::uint64_t acked_through = 0;   ///< Highest seq the collector acknowledged.
  std::string last_error;            ///< Most recent failure, empty if none.
  std::uint64_t auth_failures = 0;   ///< Streams or enrollments refused (credential, secret, identity).
  bool enrolled = false;             ///< This uplink enrolled and holds a new credential.
};

class Uplink {
 public:
  virtual ~Uplink() = default;
  /// Starts the threads. Call once.
  virtual void Start() = 0;
  /// Wakes the sender: the spool has new batches.
  virtual void Notify() = 0;
  /// Waits until every batch through `seq` is acknowledged, or `timeout`.
  /// Returns true when acknowledged.
  virtual bool WaitForAck(std::uint64_t seq, std::chrono::milliseconds timeout) = 0;
  /// Closes the stream and joins the threads. Unacked batches stay in the spool.
  virtual void Stop() = 0;
  virtual UplinkStats stats() const = 0;
};

/// An uplink over a real gRPC channel to `options.target` with
/// `options.credentials`. `spool` must outlive the uplink.
std::unique_ptr<Uplink> MakeUplink(Spool& spool, AgentIdentity identity, UplinkOptions options);

}  // namespace reclaim::agent
