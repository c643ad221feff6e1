#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/service/peer_identity.h"

namespace reclaim::agent {

absl::StatusOr<PeerCredentials> PeerCredentialsOf(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::InternalError(absl::StrCat("SO_PEERCRED: ", std::strerror(errno)));
  }
  return PeerCredentials{.uid = cred.uid, .gid = cred.gid, .pid = cred.pid};
}

absl::StatusOr<std::string> LoginNameOf(std::uint32_t uid) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<size_t>(size) : 16384);
  while (true) {
    passwd pw{};
    passwd* result = nullptr;
    const int rc = getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot look up uid ", uid, " in the passwd database: ", std::strerror(rc)));
    }
    if (result == nullptr || pw.pw_name == nullptr || *pw.pw_name == '\0') {
      return absl::NotFoundError(absl::StrCat("uid ", uid, " has no passwd entry"));
    }
    return std::string(pw.pw_name);
  }
}

}  // namespace reclaim::agent
