// The uplink engine (uplink.h) over an in-process gRPC channel to the
// collector (reclaim.v1.AgentService.Connect).
//
// Who uses it: the Windows agent (which has no reclaim-agent-service yet) and
// in-process tests. The Linux reclaim-agent never links it: it talks to the
// collector through reclaim-agent-service (agent/local/local_uplink.h), so it
// does not pay for gRPC's memory and timer threads.
//
// Device identity: presents the device credential on every stream
// ("authorization: Bearer <token>"); without one, and given the enrollment
// secret, enrolls first (AgentService.Enroll) and stores the credential in an
// owner-only file. It never re-enrolls by itself: after a revocation the
// administrator decides. gRPC keepalive pings detect a dead connection.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "agent/uplink/uplink.h"

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

/// Options of the gRPC transport; every field documents its default.
struct GrpcUplinkOptions {
  /// Collector address, "host:port". Required.
  std::string target;
  /// gRPC keepalive ping interval. Default 30 s.
  std::chrono::milliseconds keepalive{30000};
  /// Transport credentials (common/grpc_tls.h MakeChannelCredentials).
  /// Default null: plaintext (tests).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  /// Device credential. Default none: streams carry no credential.
  DeviceCredentialOptions device;
};

/// An uplink (the engine of uplink.h) over a gRPC channel to
/// `grpc_options.target`. `spool` must outlive the uplink.
std::unique_ptr<Uplink> MakeGrpcUplink(Spool& spool, AgentIdentity identity,
                                       UplinkOptions options, GrpcUplinkOptions grpc_options);

}  // namespace reclaim::agent
