// The personal relay: `reclaim-agent-service relay --fd N`, reclaim-agent's
// gRPC half in direct mode (reclaim-agent itself never links gRPC).
//
// Command-line contract (what reclaim-agent passes; names and meanings are
// reclaim-agent's own collector options, so it passes them through as given):
//
//   reclaim-agent-service relay --fd N
//       [--collector HOST:PORT]            default 127.0.0.1:7443
//       [--ca-file PEM] [--client-cert PEM --client-key KEY] | [--insecure-plaintext]
//       [--credential-file PATH]           owner-only device credential; default
//                                          none: a credential from enrolling is
//                                          kept in memory only (reclaim-agent
//                                          passes its default, "device-credential"
//                                          beside its spool)
//       [--enrollment-secret-file PATH]    default $RECLAIM_ENROLLMENT_SECRET
//       [--enroll]                         enroll although a credential exists
//       [--connect-timeout-ms MS]          default 20000 (see below)
//       [--log-level LEVEL] [--log-file PATH]   default info, standard error
//
// N is the relay's end of a LocalChannelPair (agent/local/local_channel.h)
// inherited from the agent, as HandleForChild() wrote it: Linux a
// socketpair(AF_UNIX, SOCK_STREAM) end (fd 3), Windows a named-pipe handle
// value; the relay owns it (AdoptInheritedChannel). On it run the frames of
// proto/reclaim/v1/local.proto (agent/local/local_frames.h): the agent sends
// a Hello first, then AgentMessages; the relay sends
// LocalServiceMessage.collector for each CollectorMessage and, last,
// LocalServiceMessage.end{code, message}, then closes. The Hello is relayed
// unchanged (the collector checks its device id against the credential).
//
// The relay may close its end right after the end frame, while the agent is
// still writing: a write that fails (EPIPE) is followed by reading the end
// frame, which is still there to read.
//
// One relay serves ONE connection and then exits; the agent starts a new one
// (with its own backoff) for its next stream. Enrollment (Enroll RPC) happens
// after the Hello arrives, with the Hello's device id and hostname, when
// there is no credential (or with --enroll) and an enrollment secret is given.
//
// End codes (gRPC status codes): 14 UNAVAILABLE when the collector cannot be
// reached within --connect-timeout-ms (a failed connection attempt ends the
// wait at once; nothing was acknowledged, the agent keeps its data and
// retries), or the relay got SIGTERM/SIGINT; 16 UNAUTHENTICATED when the
// credential is refused or revoked, or enrollment was refused (wrong
// secret); the collector's own code when it ends the stream (0 OK for a
// normal end); 3 INVALID_ARGUMENT when the first frame is not a Hello or a
// frame does not parse; 8 RESOURCE_EXHAUSTED for a frame over 4 MiB; for bad
// options (exit 2, below) 3 INVALID_ARGUMENT or 9 FAILED_PRECONDITION (a
// secret file readable by others) with the same message as on stderr.
//
// Exit codes: 0 the connection ended (an end frame was sent, or the agent
// closed its side; also after SIGTERM/SIGINT); 2 bad options or an unusable
// credential / secret file (message on stderr, and an end frame when --fd is
// a usable channel). Standard error carries the log (never a credential or
// secret).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/local/local_channel.h"
#include "agent/service/collector_link.h"

namespace reclaim::agent {

class SessionRelay;

/// The device credential and how to get one (both modes); every field
/// documents its default.
struct DeviceCredential {
  /// The credential (a token from Enroll). Default none.
  std::string token;
  /// Where a credential obtained by enrolling is stored (owner-only, atomic).
  /// Default none: kept in memory only.
  std::string file;
  /// The enrollment secret: when set and `token` is empty, the relay enrolls
  /// before its stream. Default none.
  std::string enrollment_secret;
};

/// Relay options; every field documents its default.
struct RelayOptions {
  /// The inherited, connected channel (AdoptInheritedChannel). Required.
  std::unique_ptr<LocalChannel> channel;
  /// The collector. Required: target.
  CollectorLinkOptions collector;
  /// Default: no credential, no secret (streams carry no credential).
  DeviceCredential device;
};

/// Relays one connection; owned by main(). Thread-safe.
class PersonalRelay {
 public:
  explicit PersonalRelay(RelayOptions options);
  ~PersonalRelay();
  PersonalRelay(const PersonalRelay&) = delete;
  PersonalRelay& operator=(const PersonalRelay&) = delete;

  /// Reads the Hello, enrolls when needed, relays until either side ends,
  /// and sends the end frame (contract above). Returns the exit code: 0.
  int Run();

  /// Makes Run() end the session with UNAVAILABLE and return (SIGTERM).
  /// Before the Hello arrived, writes that end frame itself (at most 1 s)
  /// and shuts the channel down to wake Run().
  void Stop();

 private:
  RelayOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Run() waits for the Hello (Stop() ends the channel itself then).
  bool awaiting_hello_ ABSL_GUARDED_BY(mu_) = true;
  SessionRelay* session_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace reclaim::agent
