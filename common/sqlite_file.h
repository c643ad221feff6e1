// The file of a new SQLite database, created before SQLite opens it (internal
// to common/sqlite.cc; twins sqlite_file_linux.cc and sqlite_file_windows.cc).
#pragma once

#include <string>

namespace reclaim::sqlite {

/// Creates `path` (UTF-8) empty and readable by its owner only when it does
/// not exist yet; leaves an existing file alone. Best effort: when it fails,
/// sqlite3_open_v2 reports the problem. Linux: mode 0600 whatever the umask
/// (SQLite gives its -wal and -shm files the database file's mode). Windows:
/// nothing; see sqlite_file_windows.cc.
void CreateOwnerOnlyDatabaseFile(const std::string& path);

}  // namespace reclaim::sqlite
