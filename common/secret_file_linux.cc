#include "common/secret_file_platform.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace reclaim::secret_file_internal {
namespace {

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

void WipeBytes(void* p, size_t n) {
  if (n > 0) explicit_bzero(p, n);
}

absl::StatusOr<std::string> ReadOwnerOnlyBytes(const std::string& path, absl::string_view what,
                                               size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer;
  // the file is refused below unless it is a regular file, where the flag
  // changes nothing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      return absl::NotFoundError(absl::StrCat(what, " file ", path, " does not exist"));
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", what, " file ", path, ": ", std::strerror(err)));
  }
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot stat ", what, " file ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s file %s has mode %04o: it must not be accessible by group or others "
        "(chmod 600 %s)",
        what, path, st.st_mode & 07777, path));
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s file %s is owned by uid %d, not by this process's user (uid %d) or root",
                        what, path, st.st_uid, ::geteuid()));
  }
  std::string secret;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      WipeBytes(secret.data(), secret.size());
      return absl::PermissionDeniedError(
          absl::StrCat("cannot read ", what, " file ", path, ": ", std::strerror(err)));
    }
    if (n == 0) break;
    secret.append(buf, static_cast<size_t>(n));
    WipeBytes(buf, sizeof buf);
    if (secret.size() > max_bytes) {
      WipeBytes(secret.data(), secret.size());
      return absl::InvalidArgumentError(
          absl::StrCat(what, " file ", path, " is larger than ", max_bytes, " bytes"));
    }
  }
  return secret;
}

absl::Status WriteOwnerOnlyFile(const std::string& path, absl::string_view secret) {
  // A fresh file with an unpredictable name (mkostemp: O_CREAT | O_EXCL,
  // mode 0600). A predictable name opened without O_EXCL let another user
  // who can write to the directory create it first and own the file that
  // then held the secret (or keep it open and read the secret).
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  FdCloser closer{fd};
  if (::fchmod(fd, 0600) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::PermissionDeniedError(
        absl::StrCat("cannot chmod ", tmp, ": ", std::strerror(err)));
  }
  size_t off = 0;
  while (off < secret.size()) {
    const ssize_t n = ::write(fd, secret.data() + off, secret.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(err)));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot fsync ", tmp, ": ", std::strerror(err)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace reclaim::secret_file_internal
