// The local byte stream between a session's reclaim-agent and
// reclaim-agent-service (and between reclaim-native-host and the agent's
// browser bridge), with the peer's identity as the OS attests it.
//
// Linux (local_channel_linux.cc): a UNIX stream socket; the peer from
// SO_PEERCRED (unix(7)) and the passwd database (getpwuid_r(3)).
// Windows (local_channel_windows.cc): a named pipe, byte mode, overlapped
// I/O; the server rejects remote clients (PIPE_REJECT_REMOTE_CLIENTS), creates
// the first instance with FILE_FLAG_FIRST_PIPE_INSTANCE (no squatting of a
// live service's name) and grants connecting only to the DACL it is given;
// clients open with SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION (the
// server may identify the user, never act as them) and check the server
// process's user (GetNamedPipeServerProcessId) before sending anything; the
// peer of a server instance from ImpersonateNamedPipeClient + OpenThreadToken
// (TokenUser) after the first bytes were read (the named-pipe file system
// impersonates "the last message read"), then RevertToSelf.
//
// Standard C++ types only (like agent/platform/process_platform.h), so the
// Windows twin builds and is tested with mingw-w64 under Wine, where abseil
// is not at hand. Callers above turn IpcStatus into absl::Status
// (local_channel_status.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace reclaim::agent {

/// Outcome of a local IPC call. `code` uses absl::StatusCode's numbering:
/// 0 OK, 3 INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED, 5 NOT_FOUND,
/// 7 PERMISSION_DENIED, 9 FAILED_PRECONDITION, 13 INTERNAL, 14 UNAVAILABLE.
/// `message` names the path/pipe and the OS error (errno text or the
/// GetLastError number and FormatMessage text).
struct IpcStatus {
  int code = 0;
  std::string message;
  bool ok() const { return code == 0; }
};

/// The IpcStatus codes used here (absl::StatusCode's values).
inline constexpr int kIpcInvalidArgument = 3;
inline constexpr int kIpcDeadlineExceeded = 4;
inline constexpr int kIpcNotFound = 5;
inline constexpr int kIpcPermissionDenied = 7;
inline constexpr int kIpcFailedPrecondition = 9;
inline constexpr int kIpcInternal = 13;
inline constexpr int kIpcUnavailable = 14;

/// Who is at the other end of a channel, as the OS says (never as the peer's
/// messages say).
struct LocalPeer {
  /// Stable key of the account, for per-user limits and scoping:
  /// Linux "uid:<uid>", Windows the SID string ("S-1-5-21-...").
  std::string key;
  /// Linux: the passwd name of the uid. Windows: the account name from
  /// LookupAccountSidW (the sAMAccountName for domain accounts).
  std::string login_name;
  /// Windows: the account's domain from LookupAccountSidW (NetBIOS domain
  /// name; the computer name for local accounts). Linux: empty (the
  /// service's configured domain applies).
  std::string domain;
  /// Windows: the SID. Linux: empty.
  std::string sid;
  /// Linux: the uid. Windows: none.
  std::optional<std::uint32_t> uid;
  /// The peer's process id at connect time (logs only; 0 if unknown).
  std::int64_t pid = 0;
};

/// A connected, full-duplex local byte stream. Owns the OS handle (closed by
/// the destructor). One thread may Read() while another WriteAll()s;
/// Shutdown() may be called from any thread.
class LocalChannel {
 public:
  virtual ~LocalChannel() = default;

  /// Blocks until at least one byte can be read, then reads at most `size`
  /// bytes into `buffer` and sets `*read` to the count. `*read` == 0 with OK
  /// is the end of stream: the peer closed its end, or Shutdown() was
  /// called. Errors: UNAVAILABLE naming the OS error (the connection broke).
  virtual IpcStatus Read(void* buffer, std::size_t size, std::size_t* read) = 0;

  /// Writes all `size` bytes, blocking at most `timeout` in total
  /// (zero: no limit). Never raises SIGPIPE. Errors: UNAVAILABLE when the
  /// peer is gone or after Shutdown(); DEADLINE_EXCEEDED when the peer did
  /// not read enough within `timeout` (the stream is then out of step:
  /// close it).
  virtual IpcStatus WriteAll(const void* data, std::size_t size,
                             std::chrono::milliseconds timeout) = 0;

  /// Ends the stream in both directions: blocked and later Read()s return
  /// end of stream (or UNAVAILABLE), WriteAll()s UNAVAILABLE; the peer sees
  /// the end of stream. From any thread; idempotent.
  virtual void Shutdown() = 0;

  /// Ends only this side's writing (the peer reads end of stream after what
  /// was written); reading goes on. Linux shutdown(SHUT_WR); Windows: the
  /// channel remembers it and WriteAll fails with FAILED_PRECONDITION (a
  /// named pipe has no half-close; callers use an end frame instead).
  virtual void ShutdownWrite() = 0;

  /// For logs: "fd 7", "pipe \\.\pipe\reclaim-agent".
  virtual std::string Describe() const = 0;

  /// Makes this channel's OS handle inheritable by the next child process
  /// and returns its text for the child's command line ("3" for an fd, the
  /// handle value in decimal on Windows). Used by the relay spawner only.
  virtual std::string HandleForChild() = 0;
};

/// A channel accepted by a LocalListener: knows its peer.
class ServerChannel : public LocalChannel {
 public:
  /// The peer as known when it connected, before any data: Linux
  /// SO_PEERCRED; Windows the token of the client's process
  /// (GetNamedPipeClientProcessId, OpenProcess with
  /// PROCESS_QUERY_LIMITED_INFORMATION, OpenProcessToken). Good enough for
  /// connection limits; attest with AttestPeer() before trusting it.
  /// Errors: INTERNAL / UNAVAILABLE naming the OS error; NOT_FOUND when the
  /// uid has no passwd entry (Linux).
  virtual IpcStatus PeerAtConnect(LocalPeer* peer) = 0;

  /// The peer, attested: call after at least one byte was read from the
  /// channel. Linux: SO_PEERCRED again (the credentials of connect(2)).
  /// Windows: ImpersonateNamedPipeClient, OpenThreadToken(TOKEN_QUERY, as
  /// self), TokenUser, RevertToSelf (the process is ended if RevertToSelf
  /// fails: it must never go on as the client). Errors:
  /// FAILED_PRECONDITION when nothing was read yet (Windows
  /// ERROR_CANNOT_IMPERSONATE); PERMISSION_DENIED / INTERNAL naming the
  /// OS error; NOT_FOUND when the uid has no passwd entry (Linux).
  virtual IpcStatus AttestPeer(LocalPeer* peer) = 0;
};

/// Listener options; every field documents its default.
struct LocalListenerOptions {
  /// Linux: the socket's mode (its directory is created 0755 when missing; a
  /// stale socket is replaced; anything else at the path is refused).
  /// Default 0666: any local user may connect.
  std::uint32_t unix_mode = 0666;
  /// Windows: the pipe's security descriptor in SDDL
  /// (ConvertStringSecurityDescriptorToSecurityDescriptorW). Empty (the
  /// default): network logons denied, SYSTEM and Administrators full
  /// control, Authenticated Users 0x12018b = FILE_GENERIC_READ |
  /// FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES, i.e. read and write but NOT
  /// FILE_APPEND_DATA, which for a pipe is FILE_CREATE_PIPE_INSTANCE, so no
  /// other user can add instances to the service's pipe:
  /// "D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x12018b;;;AU)".
  /// (Clients therefore open with exactly those rights, never
  /// GENERIC_WRITE, which includes FILE_APPEND_DATA.) The browser bridge
  /// passes one that allows only the current user.
  std::string windows_sddl;
  /// Windows: pipe buffer sizes, bytes. Default 64 KiB each.
  std::uint32_t windows_buffer_bytes = 64 << 10;
};

/// Accepts connections on a local address: Linux a socket path, Windows a
/// pipe name ("\\.\pipe\NAME"). Accept() is called by one thread; Interrupt()
/// from any.
class LocalListener {
 public:
  virtual ~LocalListener() = default;
  /// Blocks until a client connects and returns its channel. Errors:
  /// CANCELLED-like UNAVAILABLE "interrupted" after Interrupt(); UNAVAILABLE
  /// / INTERNAL naming the OS error (the caller may retry after a pause).
  virtual IpcStatus Accept(std::unique_ptr<ServerChannel>* channel) = 0;
  /// Makes a blocked and every later Accept() return UNAVAILABLE
  /// "interrupted". From any thread; idempotent.
  virtual void Interrupt() = 0;
  /// The address listened on.
  virtual std::string address() const = 0;
};

/// Listens on `address`. Errors: INVALID_ARGUMENT (an address too long or
/// malformed); FAILED_PRECONDITION (Linux: something other than a socket at
/// the path, or a live listener on it; Windows: the pipe name exists already,
/// ERROR_ACCESS_DENIED / ERROR_PIPE_BUSY on the first instance);
/// PERMISSION_DENIED / INTERNAL naming the OS error.
IpcStatus ListenLocal(const std::string& address, const LocalListenerOptions& options,
                      std::unique_ptr<LocalListener>* listener);

/// Client options; every field documents its default.
struct LocalConnectOptions {
  /// Windows: the user the server process must run as, a SID string.
  /// Default "S-1-5-18" (LocalSystem, the machine service). "self": the
  /// current user (the browser bridge). Empty: not checked (tests only).
  /// Linux: ignored (the socket's directory is root-owned; see README).
  std::string windows_server_sid = "S-1-5-18";
  /// How long to wait for a busy server (Windows WaitNamedPipeW when all
  /// instances are busy). Default 2 s.
  std::chrono::milliseconds busy_wait{2000};
};

/// Connects to `address` (a socket path / pipe name). Errors: UNAVAILABLE
/// when nothing listens there (ENOENT, ECONNREFUSED, ERROR_FILE_NOT_FOUND)
/// or all instances stay busy; PERMISSION_DENIED when the OS refuses, or
/// (Windows) the server does not run as `windows_server_sid` (the channel
/// is closed before anything was sent); INVALID_ARGUMENT for a malformed
/// address.
IpcStatus ConnectLocal(const std::string& address, const LocalConnectOptions& options,
                       std::unique_ptr<LocalChannel>* channel);

/// A connected pair of channels in this process, for a child process
/// (relay spawner) and tests: Linux socketpair(AF_UNIX, SOCK_STREAM) with
/// close-on-exec; Windows a uniquely named pipe (FILE_FLAG_FIRST_PIPE_INSTANCE,
/// DACL: the current user only) and its client end, not inheritable.
/// Errors: INTERNAL naming the OS error.
IpcStatus LocalChannelPair(std::unique_ptr<LocalChannel>* first,
                           std::unique_ptr<LocalChannel>* second);

/// Takes ownership of a channel inherited from the parent process, given as
/// HandleForChild()'s text ("3"; a Windows handle value in decimal).
/// Errors: INVALID_ARGUMENT when it is not a number or not an open stream
/// socket / pipe handle.
IpcStatus AdoptInheritedChannel(const std::string& handle_text,
                                std::unique_ptr<LocalChannel>* channel);

/// The machine service's default address: Linux /run/reclaim/agent.sock,
/// Windows \\.\pipe\reclaim-agent-service.
std::string DefaultServiceAddress();

}  // namespace reclaim::agent
