#include "common/sqlite_file.h"

namespace reclaim::sqlite {

// Nothing to do on Windows: a file has no mode bits, and a new file takes the
// inheritable ACEs of its folder. The only databases on Windows are the
// agent's spool in %LOCALAPPDATA%\Reclaim (inside the user's profile, whose
// ACL grants only the user, SYSTEM and Administrators) and the machine
// service's spool under %ProgramData%\Reclaim, whose ACL the installer sets
// to SYSTEM and Administrators before any file is written there
// (deploy/windows/install-reclaim-agent.ps1). SQLite's -wal and -shm files
// inherit the same ACL.
void CreateOwnerOnlyDatabaseFile(const std::string& /*path*/) {}

}  // namespace reclaim::sqlite
