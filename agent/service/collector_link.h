// reclaim-agent-service's side of the collector: the gRPC channel, waiting
// for it to connect, and device enrollment (reclaim.v1.AgentService.Enroll).
//
// Shared by both modes of reclaim-agent-service (`relay` for one session in
// direct mode, `run` for the machine service) and by `enroll`. gRPC types are
// only forward-declared here (gRPC headers cost 10-17 s per file).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpc {
class Channel;
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace reclaim::agent {

/// How to reach the collector; every field documents its default.
struct CollectorLinkOptions {
  /// Collector address, "host:port". Required.
  std::string target;
  /// Transport credentials (common/grpc_tls.h MakeChannelCredentials).
  /// Default null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  /// gRPC keepalive ping interval. Default 30 s.
  std::chrono::milliseconds keepalive{30000};
  /// Longest wait for the channel to connect before a session is ended with
  /// UNAVAILABLE. A failed connection attempt ends the wait at once. Default 20 s.
  std::chrono::milliseconds connect_timeout{20000};
};

/// A channel to `options.target` with keepalive pings (gRPC channel
/// arguments, https://grpc.github.io/grpc/core/group__grpc__arg__keys.html)
/// and a reconnect backoff of 1 s to 30 s.
std::shared_ptr<grpc::Channel> MakeCollectorChannel(const CollectorLinkOptions& options);

/// Waits until `channel` is connected (READY). Errors: UNAVAILABLE naming
/// `target` and gRPC's reason (a failed TLS handshake names the certificate
/// problem) when a connection attempt failed or `timeout` passed; CANCELLED
/// when `stopping` returns true (polled every 200 ms).
[[nodiscard]] absl::Status AwaitCollector(grpc::Channel& channel, const std::string& target,
                                          std::chrono::milliseconds timeout,
                                          const std::function<bool()>& stopping);

/// The collector's retry-after hint of a finished call: its trailing
/// metadata "reclaim-retry-after-ms" (sent with RESOURCE_EXHAUSTED by the
/// agent service's limits, collector/server/services.h), capped at
/// kMaxHonoredRetryAfter (agent/uplink/retry_after.h); zero when absent or
/// malformed. Call after the call's Finish.
std::chrono::milliseconds RetryAfterFromTrailers(const grpc::ClientContext& context);

/// Exchanges the enrollment secret for a device credential (Enroll RPC, 30 s
/// deadline) and wipes `secret`. Errors: the RPC's status with its gRPC code
/// (UNAUTHENTICATED for a wrong secret, PERMISSION_DENIED, UNAVAILABLE,
/// RESOURCE_EXHAUSTED over the collector's enrollment limits, with its
/// retry-after hint attached: agent/uplink/retry_after.h) and the
/// collector's message, never the secret.
[[nodiscard]] absl::StatusOr<std::string> EnrollDevice(grpc::Channel& channel,
                                                       const std::string& device_id,
                                                       const std::string& hostname,
                                                       std::string secret);

}  // namespace reclaim::agent
