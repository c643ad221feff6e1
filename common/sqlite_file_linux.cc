#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sqlite_file.h"

namespace reclaim::sqlite {

void CreateOwnerOnlyDatabaseFile(const std::string& path) {
  // Databases hold usage data and credential hashes: create the file
  // owner-only (0600) whatever the umask. SQLite gives its -wal and -shm
  // files the database file's permissions (unix VFS findCreateFileMode).
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    ::fchmod(fd, 0600);
    ::close(fd);
  }
}

}  // namespace reclaim::sqlite
