// The platform half of common/secret_file.h (internal to common/): twins
// secret_file_linux.cc (POSIX modes) and secret_file_windows.cc (DACLs,
// common/secret_acl_windows.h). secret_file.cc holds what both share.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace reclaim::secret_file_internal {

/// The whole file at `path` after the owner-only checks of ReadSecretFile
/// (secret_file.h), unmodified; errors as documented there.
absl::StatusOr<std::string> ReadOwnerOnlyBytes(const std::string& path, absl::string_view what,
                                               size_t max_bytes);

/// WriteSecretFile (secret_file.h).
absl::Status WriteOwnerOnlyFile(const std::string& path, absl::string_view secret);

/// Overwrites `n` bytes at `p` in a way the compiler keeps.
void WipeBytes(void* p, size_t n);

}  // namespace reclaim::secret_file_internal
