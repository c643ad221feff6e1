// Transport security for Reclaim's gRPC channels: builds server and channel
// credentials from PEM files (gRPC's SslServerCredentials / SslCredentials,
// https://grpc.github.io/grpc/cpp/namespacegrpc.html), or plaintext ones when
// plaintext was explicitly asked for.
//
// Certificates are public and read as plain files; private keys are secrets
// and read with common/secret_file.h (owner-only files). Every file is
// checked with OpenSSL before gRPC sees it, so a wrong path, a non-PEM file or
// a key that does not match its certificate is a clear start-up error
// instead of a failed handshake later. gRPC types are only forward-declared
// here (gRPC headers cost 10-17 s per file).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ServerCredentials;
class ChannelCredentials;
}  // namespace grpc

namespace reclaim {

/// A listener's transport security; every field documents its default.
struct ServerTlsOptions {
  /// PEM certificate chain of the server (leaf first). Default none.
  std::string cert_file;
  /// PEM private key of `cert_file`, owner-only (0600/0400). Default none.
  std::string key_file;
  /// Mutual TLS: when set, clients must present a certificate signed by a CA
  /// in this PEM bundle (handshake fails otherwise). Default none (no client
  /// certificate asked for).
  std::string client_ca_file;
  /// Listen without TLS. Only when no cert/key is given. Default false.
  bool insecure_plaintext = false;
};

/// A client's transport security; every field documents its default.
struct ClientTlsOptions {
  /// PEM bundle of the CAs trusted to sign the server's certificate. Required
  /// unless `insecure_plaintext`.
  std::string ca_file;
  /// Mutual TLS: this client's PEM certificate and owner-only key (both or
  /// neither). Default none.
  std::string cert_file;
  std::string key_file;
  /// Connect without TLS. Only when no CA file is given. Default false.
  bool insecure_plaintext = false;
};

/// Credentials for a listening port. Errors: kInvalidArgument (neither
/// TLS material nor `insecure_plaintext`, both, a key without a certificate,
/// not PEM, key and certificate do not match), kNotFound / kPermissionDenied /
/// kFailedPrecondition from reading the files (a key file readable by group
/// or others is refused). Messages name the files, never key material.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options);

/// Credentials for a channel. Errors as MakeServerCredentials.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& options);

}  // namespace reclaim
