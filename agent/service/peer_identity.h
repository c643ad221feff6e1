// Who is on the other end of a local socket, as the kernel says (never as
// the peer says): SO_PEERCRED (unix(7)) and the passwd database
// (getpwuid_r(3)). Linux implementation in peer_identity_linux.cc.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace reclaim::agent {

/// The credentials of the process that connected (at connect(2) time).
struct PeerCredentials {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::int32_t pid = 0;
};

/// The peer of the connected UNIX socket `fd`. Errors: INTERNAL naming errno.
[[nodiscard]] absl::StatusOr<PeerCredentials> PeerCredentialsOf(int fd);

/// The login name of `uid` from the passwd database (local files, LDAP/SSSD
/// through NSS). Errors: NOT_FOUND when the uid has no passwd entry;
/// UNAVAILABLE when the lookup failed (errno named).
[[nodiscard]] absl::StatusOr<std::string> LoginNameOf(std::uint32_t uid);

}  // namespace reclaim::agent
