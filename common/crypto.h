// The few cryptographic primitives Reclaim needs (OpenSSL libcrypto): SHA-256
// for stored credential hashes and the audit chain, and CSPRNG bytes for
// tokens.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace reclaim {

/// SHA-256 of `data` (FIPS 180-4): the 32-byte raw digest.
std::string Sha256(absl::string_view data);

/// SHA-256 of `data` as 64 lower-case hex digits.
std::string Sha256Hex(absl::string_view data);

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths (CRYPTO_memcmp), for comparing secrets and their hashes.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

/// `n` bytes from OpenSSL's CSPRNG (RAND_bytes). The caller wipes them
/// (WipeSecret) once encoded. Errors: kInternal when the generator fails.
[[nodiscard]] absl::StatusOr<std::string> RandomBytes(size_t n);

}  // namespace reclaim
