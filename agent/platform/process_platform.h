// Process-level facts and hooks of the operating system that the agent's
// main() needs: who the session user is, the OS version, host name and
// device id, where per-user state lives, the OS's requests to stop the
// process, thread names and memory tuning.
//
// One header, twins chosen in CMake (STYLE.md rule 4; leveldb's env.h is the
// model): process_platform_linux.cc (POSIX, glibc) and
// process_platform_windows.cc (Win32). Standard C++ types only, so the
// Windows twin builds with mingw-w64 where gRPC and abseil are not at hand.
// The functions read the real OS: tests of code above them inject the values
// (the agent's options override every one of them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace reclaim::agent {

/// The account this process runs as (reclaim.v1.SessionUser's fields).
struct PlatformUser {
  /// Linux: the passwd name of the real uid (getpwuid_r), else the uid as
  /// text. Windows: the account name of the process token's user
  /// (LookupAccountSidW: the sAMAccountName for domain accounts).
  std::string login_name;
  /// Windows: the account's domain from LookupAccountSidW (the NetBIOS domain
  /// name, or the computer name for local accounts). Linux: the host name up
  /// to its first dot, upper case (local accounts belong to the machine, as
  /// on Windows).
  std::string domain;
  /// Windows: the user's SID ("S-1-5-21-..."). Linux: empty.
  std::string sid;
  /// Linux: the real uid. Windows: none.
  std::optional<std::uint32_t> uid;
  /// Windows: GetUserNameExW(NameUserPrincipal) for domain and Entra
  /// accounts, empty for local ones. Linux: empty.
  std::string upn;
};

/// The user of this process. Never fails: fields it cannot read stay empty
/// (login_name falls back to the uid on Linux).
PlatformUser CurrentPlatformUser();

/// A one-line OS name and version for the Hello. Linux: PRETTY_NAME of
/// /etc/os-release (os-release(5)), else uname's sysname and release.
/// Windows: "<ProductName> <DisplayVersion> (build N.UBR)" from
/// HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion, with the build from
/// RtlGetVersion (GetVersionEx reports 6.2 to unmanifested programs); builds
/// from 22000 on are Windows 11 although ProductName still says "Windows 10".
std::string OsVersion();

/// The OS family for the Hello (reclaim.v1.OsFamily): "linux" in the Linux
/// twin, "windows" in the Windows twin (the enum's names in lower case,
/// without OS_FAMILY_).
std::string OsFamily();

/// The host name. Linux: gethostname(2). Windows: the DNS name
/// (GetComputerNameExW(ComputerNameDnsFullyQualified); the host name alone
/// when the machine has no DNS domain).
std::string HostName();

/// The machine's stable id, the default device id. Linux: the first line
/// of /etc/machine-id (machine-id(5): 32 lower-case hex digits). Windows:
/// HKLM\SOFTWARE\Microsoft\Cryptography value MachineGuid (a GUID in its
/// 36-character form, 8-4-4-4-12 hex digits), read from the 64-bit registry
/// view. Empty when it cannot be read; DeviceIdSource() names the place for
/// the error message.
std::string ReadDeviceId();

/// Where ReadDeviceId() looks, for messages and --help.
std::string DeviceIdSource();

/// The folder for this user's agent state (spool, device credential).
/// Linux: $XDG_STATE_HOME/reclaim, else ~/.local/state/reclaim, else
/// /var/lib/reclaim. Windows: %LOCALAPPDATA%\Reclaim (the user's profile,
/// FOLDERID_LocalApplicationData; the installer documents the same path).
std::string DefaultStateDirectory();

/// The folder for the machine service's state (reclaim-agent-service enroll
/// and run: the machine credential). Linux: /var/lib/reclaim (the systemd
/// unit's StateDirectory=reclaim). Windows: %ProgramData%\Reclaim
/// (SHGetKnownFolderPath(FOLDERID_ProgramData); the installer limits it to
/// SYSTEM and Administrators).
std::string DefaultMachineStateDirectory();

/// The config file reclaim-agent-service reads when it exists and no
/// --config is given (TOML, [run] / [enroll] tables of long option names).
/// Linux: none (""): systemd passes the options from
/// /etc/reclaim/agent-service.env. Windows: agent-service.toml in
/// DefaultMachineStateDirectory(), since the SCM starts the service with
/// only the arguments of its registered command line.
std::string DefaultMachineServiceConfigFile();

/// This process's id.
std::int64_t CurrentProcessId();

/// Sets an environment variable of this process (for child processes such
/// as the Linux prompt dialog).
void SetProcessEnvironment(const std::string& name, const std::string& value);

/// Names the calling thread for debuggers and `top -H` / Process Explorer.
/// Linux: pthread_setname_np (the first 15 bytes). Windows:
/// SetThreadDescription (Windows 10 1607 and later; looked up at run time,
/// so nothing happens on older systems).
void SetCurrentThreadName(const std::string& name);

/// Process-wide memory tuning for a small resident agent, called once at
/// the start of main(). Linux: at most 2 glibc malloc arenas (each thread
/// would otherwise get its own arena, resident memory per thread).
/// Windows: nothing (the CRT uses the process heap, which has no per-thread
/// arenas).
void TuneProcessMemory();

/// Prepares the process for WatchStopRequests(): call at the very start of
/// main(), before any thread exists. Linux: blocks SIGINT, SIGTERM and
/// SIGUSR1 in the calling thread, so every thread started later inherits
/// the mask and only the watcher's sigwait(3) receives them. Windows:
/// nothing.
void PrepareForStopRequests();

/// Watches for the OS asking this process to stop and calls `on_stop` once,
/// with a short reason for the log, on a thread of the watcher.
///
/// Linux: SIGINT and SIGTERM (sigwait in the thread "stop-signals").
/// Windows: SetConsoleCtrlHandler (Ctrl+C, Ctrl+Break, console closed) and a
/// hidden top-level window of class kStopWindowClass on the thread
/// "stop-requests", which receives WM_QUERYENDSESSION / WM_ENDSESSION at
/// logoff and shutdown (a process that loads user32.dll gets no
/// CTRL_LOGOFF_EVENT / CTRL_SHUTDOWN_EVENT: SetConsoleCtrlHandler's
/// documentation) and WM_CLOSE (what `taskkill` without /F sends). For
/// console close, logoff and shutdown Windows ends the process as soon as
/// the handler returns, so the handler waits (at most 4.5 s) until the
/// owner Close()s the watcher after its clean stop.
///
/// Owned by main(); one watcher per process at a time (the console control
/// handler is process-wide).
class StopRequestWatcher {
 public:
  virtual ~StopRequestWatcher() = default;
  /// Ends the watch; call after the clean stop is done (on Windows this
  /// lets a waiting logoff proceed). Joins the watcher's thread. Idempotent;
  /// the destructor calls it.
  virtual void Close() = 0;
};

/// Window class of the Windows watcher's hidden window (tests find it by it).
inline constexpr char kStopWindowClass[] = "ReclaimAgentStopRequests";

/// Starts watching. `on_stop` is called at most once, from the watcher's
/// thread (or Windows' console-control thread), and must not block long.
std::unique_ptr<StopRequestWatcher> WatchStopRequests(
    std::function<void(const std::string& reason)> on_stop);

/// Holds a per-file lock that keeps a second agent off the same spool: the
/// lock is released when the object is destroyed or the process ends
/// (however it ends). Linux: flock(LOCK_EX | LOCK_NB) on the file (created
/// 0600). Windows: the file opened with no sharing (dwShareMode 0) and
/// FILE_FLAG_DELETE_ON_CLOSE.
class InstanceLock {
 public:
  virtual ~InstanceLock() = default;
};

/// The start of TryLockInstance's error when another process holds the lock.
inline constexpr char kInstanceLockHeld[] = "held by another process";

/// Takes the lock on `path` (e.g. "<spool>.lock"). Returns null and sets
/// `*error` when another process holds it ("held by another process (pid N)"
/// where the pid is known: on Linux the holder writes its pid into the file;
/// on Windows no other process can open the file, so the message has no pid)
/// or the file cannot be opened ("<path>: cannot open: <OS error>").
/// Linux: flock(2), open(2) with O_CLOEXEC so no child keeps the lock.
/// Windows: CreateFileW, not inheritable
/// (https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew).
std::unique_ptr<InstanceLock> TryLockInstance(const std::string& path, std::string* error);

}  // namespace reclaim::agent
