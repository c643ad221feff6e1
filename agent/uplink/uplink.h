// The uplink: streams the spool's batches to the collector over one long-lived
// stream (reclaim.v1.AgentService.Connect, or the same messages relayed by
// reclaim-agent-service over a local socket) and deletes a batch from the
// spool only when the collector acknowledged it.
//
// One protocol engine (MakeUplink) drives any transport (UplinkTransport):
// - Sends a Hello first and resumes after the collector's first Ack, so a
//   batch stored before a lost ack is not sent again needlessly (and if it is,
//   the collector dedupes it on (device, instance, seq)).
// - Keeps up to `max_in_flight` batches unacknowledged on the wire.
// - A stream the collector ends with RESOURCE_EXHAUSTED (one of its input
//   limits: streams per device, rate) leaves the refused batches in the
//   spool; consecutive such endings keep growing the backoff (a successful
//   connect does not reset it), so an over-rate agent slows down.
// - Reconnects with jittered exponential backoff (common/backoff.h).
// - Sends the spool's cumulative drop counters in the Hello and whenever they
//   change (reclaim.v1.DroppedDataReport).
// - Campaign prompts: a received ConsentPrompt is stored in the spool (with
//   its "delivered" result) before anyone is told; a WithdrawPrompt removes
//   it. Results the spool holds (Spool::RecordPromptOutcome) are sent on every
//   stream until the collector's CommandResultAck deletes them, so neither an
//   agent restart nor a collector outage loses an answer. Call Notify() after
//   recording an outcome.
// - A stream ended with UNAUTHENTICATED or PERMISSION_DENIED (credential
//   refused or revoked) is counted and logged as an error with the
//   transport's hint; the spool keeps everything and the engine retries with
//   backoff.
//
// Transport: LocalUplink (agent/local/local_uplink.h: frames of
// proto/reclaim/v1/local.proto on a local channel, a UNIX socket or a named
// pipe, to reclaim-agent-service; what reclaim-agent uses on both platforms);
// tests also script their own. This header and the engine never include gRPC.
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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/spool/spool.h"
#include "common/backoff.h"

namespace reclaim::v1 {
class AgentMessage;
class CollectorMessage;
}  // namespace reclaim::v1

namespace reclaim::agent {

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

/// Options of the engine; every field documents its default.
struct UplinkOptions {
  /// Reconnect backoff. Default 1 s doubling to 60 s, jittered.
  BackoffOptions backoff;
  /// Batches sent but not yet acknowledged. Default 64.
  size_t max_in_flight = 64;
  /// A stream with unacknowledged batches and no ack for this long is
  /// abandoned and reconnected. Default 120 s.
  std::chrono::milliseconds ack_timeout{120000};
  /// How long to wait for the collector's first ack after the Hello. Default 30 s.
  std::chrono::milliseconds hello_timeout{30000};
  /// Called on the uplink's read thread after a prompt was stored or
  /// withdrawn (the spool's open prompts changed); must not block. Default
  /// none.
  std::function<void()> on_prompts_changed;
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
  /// The wait before the most recent reconnect attempt, ms: the backoff's
  /// delay, or the collector's retry-after hint when longer (retry_after.h).
  std::int64_t last_retry_delay_ms = 0;
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

/// One open stream to the collector, as a transport carries it. Write() is
/// called from one thread, Read() from another; Cancel() from any.
class UplinkStream {
 public:
  virtual ~UplinkStream() = default;
  /// Sends one message, blocking. False when the stream is over.
  virtual bool Write(const reclaim::v1::AgentMessage& message) = 0;
  /// Blocks for the next message from the collector. False when the stream
  /// ended (Finish() then says why).
  virtual bool Read(reclaim::v1::CollectorMessage* message) = 0;
  /// Ends the stream from our side; blocked Read()/Write() return false.
  virtual void Cancel() = 0;
  /// After Read() returned false: how the stream ended. The collector's
  /// status (absl codes are numbered as gRPC's), OK or CANCELLED when we
  /// ended it, UNAVAILABLE when the path to the collector broke.
  virtual absl::Status Finish() = 0;
};

/// What a transport tells the engine while it opens a stream.
class UplinkEvents {
 public:
  virtual ~UplinkEvents() = default;
  /// The collector refused an enrollment or credential.
  virtual void AuthFailure() = 0;
  /// This transport enrolled the device and holds a new credential.
  virtual void Enrolled() = 0;
};

/// Opens streams to the collector: a gRPC channel, or a local socket to
/// reclaim-agent-service. Used by the engine's thread only, except Interrupt().
class UplinkTransport {
 public:
  virtual ~UplinkTransport() = default;
  /// Opens one stream (connects, enrolls when needed). Blocks; Interrupt()
  /// makes it return soon. Errors: why no stream could be opened (logged by
  /// the engine, which retries after its backoff).
  virtual absl::StatusOr<std::unique_ptr<UplinkStream>> Open(UplinkEvents& events) = 0;
  /// From any thread (Stop()): ends a blocked Open().
  virtual void Interrupt() = 0;
  /// Where streams go, for logs: "collector HOST:PORT", "reclaim-agent-service
  /// at PATH".
  virtual std::string Describe() const = 0;
  /// What the administrator can do when the collector refuses this device's
  /// credential (appended to the error log line).
  virtual std::string AuthHint() const = 0;
};

/// The engine over `transport`. `spool` must outlive the uplink.
std::unique_ptr<Uplink> MakeUplink(Spool& spool, AgentIdentity identity, UplinkOptions options,
                                   std::unique_ptr<UplinkTransport> transport);

}  // namespace reclaim::agent
