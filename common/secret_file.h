// Secrets (passwords, client secrets, enrollment secrets, tokens, private
// keys) are read from owner-only files or from the environment, and written
// owner-only; one policy for every component.
//
// Error messages name the file or variable and never contain the secret.
#pragma once

#include <cstddef>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace reclaim {

/// Largest secret file accepted by default, bytes (PEM keys fit).
inline constexpr size_t kMaxSecretFileBytes = 64 * 1024;

/// Reads a secret from `path`, which must be a regular file owned by this
/// process's user (or root) with no group/other permission bits (mode 0600
/// or 0400); strips one trailing newline (LF or CRLF). `what` names the
/// secret in errors ("LDAP bind password"). Errors: kNotFound (no such
/// file), kPermissionDenied (cannot open/read), kFailedPrecondition
/// (group/world accessible, wrong owner, not a regular file),
/// kInvalidArgument (empty, or larger than `max_bytes`).
[[nodiscard]] absl::StatusOr<std::string> ReadSecretFile(const std::string& path,
                                                         absl::string_view what = "secret",
                                                         size_t max_bytes = kMaxSecretFileBytes);

/// Reads a secret from the environment variable `name`. Errors:
/// kFailedPrecondition (not set), kInvalidArgument (empty).
[[nodiscard]] absl::StatusOr<std::string> ReadSecretEnv(const std::string& name,
                                                        absl::string_view what = "secret");

/// Checks that `secret` can travel as a bearer token in an HTTP/2 (gRPC)
/// header value: printable ASCII 0x21-0x7E only. gRPC aborts the process on
/// an illegal header value and prints the whole value (the secret) in hex,
/// so callers check first. Error: kInvalidArgument naming the offset of the
/// first bad byte, never the secret.
[[nodiscard]] absl::Status CheckHeaderSafeSecret(absl::string_view secret,
                                                 absl::string_view what = "secret");

/// Writes `secret` to `path` atomically (temporary file in the same
/// directory, fsync, rename) with mode 0600, so it is never readable by
/// others, not even for a moment. Errors: kPermissionDenied / kInternal with
/// the path and errno text.
[[nodiscard]] absl::Status WriteSecretFile(const std::string& path, absl::string_view secret);

/// Overwrites a secret's bytes before the memory is released.
void WipeSecret(std::string& s);

}  // namespace reclaim
