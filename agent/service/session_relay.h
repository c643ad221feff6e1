// Relays one local connection (proto/reclaim/v1/local.proto frames on a
// LocalChannel: a UNIX socket, a named pipe) over one gRPC
// AgentService.Connect stream: AgentMessages up,
// CollectorMessages down as LocalServiceMessage.collector, and a
// LocalServiceMessage.end{code, message} when the collector stream ends or
// cannot be opened. Used by both modes of reclaim-agent-service.
//
// Threads: Run() blocks its caller, which relays upwards (local -> collector);
// it starts and joins one more thread ("relay-down") for the other direction,
// which also ends the session: it calls Finish() on the gRPC stream, writes
// the end frame and then shuts the channel down, which wakes the upward read
// (a local channel has no half-close for reading). Stop() may be called from
// any thread and does not block.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/local/local_channel.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace reclaim::v1 {
class AgentMessage;
}  // namespace reclaim::v1

namespace reclaim::agent {

class LocalFrameReader;

/// How a relayed session ended.
struct SessionOutcome {
  /// The local side closed the connection (or vanished); nothing was sent to it.
  bool local_closed = false;
  /// The LocalStreamEnd sent to the local side (a gRPC status code; 0 when the
  /// collector ended the stream normally), when !local_closed.
  int code = 0;
  std::string message;
  /// The collector's retry-after hint passed on in the end frame; zero if none.
  std::chrono::milliseconds retry_after{0};
};

/// Writes LocalServiceMessage.end{code, message, retry_after_ms} to
/// `channel`, waiting at most `timeout` (zero: no limit). `retry_after` is
/// the collector's hint to wait before the next stream (zero: none;
/// agent/uplink/retry_after.h). Errors as WriteLocalFrame (UNAVAILABLE when
/// the peer is gone, DEADLINE_EXCEEDED when it does not read).
[[nodiscard]] absl::Status SendLocalEnd(LocalChannel& channel, int code, const std::string& message,
                                        std::chrono::milliseconds timeout = {},
                                        std::chrono::milliseconds retry_after = {});

/// One session's relay. Owned by the caller of Run(); thread-safe.
class SessionRelay {
 public:
  /// Relays `local` (not owned: it must outlive the relay; it is shut down
  /// when Run returns) over `channel`, presenting `token` as "authorization:
  /// Bearer <token>" when not empty. `connect_timeout` bounds the wait for
  /// the channel to connect (see AwaitCollector); `local_write_timeout`
  /// each write to `local` (zero: no limit): a session that does not read
  /// for that long is treated as gone.
  SessionRelay(LocalChannel& local, std::shared_ptr<grpc::Channel> channel, std::string target,
               std::string token, std::chrono::milliseconds connect_timeout,
               std::chrono::milliseconds local_write_timeout = {});
  ~SessionRelay();
  SessionRelay(const SessionRelay&) = delete;
  SessionRelay& operator=(const SessionRelay&) = delete;

  /// Sends `hello` (the session's first frame, as read or rewritten by the
  /// caller) and then relays both ways until one side ends. Reads the
  /// session's later frames with `reader` (of `local`). Ends the local side
  /// with: UNAVAILABLE when the collector cannot be reached within the
  /// connect timeout or the service stops; the collector's status when it
  /// ends the stream (UNAUTHENTICATED for a refused or revoked credential);
  /// RESOURCE_EXHAUSTED / INVALID_ARGUMENT for a local frame over the limit
  /// or unparsable. When the local side closes, half-closes the gRPC stream
  /// (WritesDone), gives the collector 2 s to finish, then cancels it.
  SessionOutcome Run(const v1::AgentMessage& hello, LocalFrameReader& reader);

  /// Ends Run() early: cancels the gRPC stream and ends the local side with
  /// UNAVAILABLE ("the service is stopping"). Idempotent.
  void Stop();

 private:
  void RelayDown(void* stream);
  void WipeToken();
  // Writes the end frame, unless the local side is gone, and records it.
  void EndLocal(SessionOutcome* outcome, int code, std::string message,
                std::chrono::milliseconds retry_after = {});

  LocalChannel& local_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::string target_;
  std::string token_;
  const std::chrono::milliseconds connect_timeout_;
  const std::chrono::milliseconds local_write_timeout_;

  absl::Mutex mu_;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The collector stream ended (its read side saw the end).
  bool collector_ended_ ABSL_GUARDED_BY(mu_) = false;
  // Writing to the local side failed: it is gone.
  bool local_gone_ ABSL_GUARDED_BY(mu_) = false;
  // Why the upward relay stopped, when it stopped first (set by Run before
  // it cancels the stream; read by RelayDown to choose the end frame).
  enum class UpEnd { kNone, kLocalClosed, kLocalError } up_end_ ABSL_GUARDED_BY(mu_) = UpEnd::kNone;
  absl::Status local_error_ ABSL_GUARDED_BY(mu_);
  // Set (under up_mu_) once RelayDown finishes the gRPC stream: no more
  // Write/WritesDone on it. up_mu_ is held around every upward stream op.
  absl::Mutex up_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool finishing_ ABSL_GUARDED_BY(up_mu_) = false;
  // What RelayDown ended the session with.
  SessionOutcome outcome_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::agent
