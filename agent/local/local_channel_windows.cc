// local_channel.h for Windows: named pipes in byte mode with overlapped I/O.
// Win32 + standard C++ only (builds with mingw-w64; tested under Wine).
//
// Sources of external behaviour (Microsoft Learn):
//  - CreateNamedPipeW: FILE_FLAG_FIRST_PIPE_INSTANCE fails with
//    ERROR_ACCESS_DENIED when the name exists; PIPE_REJECT_REMOTE_CLIENTS;
//    names "\\.\pipe\NAME" of at most 256 characters
//    (https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-createnamedpipew).
//  - Named pipe security: creating an instance needs FILE_CREATE_PIPE_INSTANCE,
//    which has FILE_APPEND_DATA's value, so GENERIC_WRITE includes it; the
//    DACL from GetSecurityInfo
//    (https://learn.microsoft.com/windows/win32/ipc/named-pipe-security-and-access-rights).
//  - ConvertStringSecurityDescriptorToSecurityDescriptorW
//    (https://learn.microsoft.com/windows/win32/api/sddl/nf-sddl-convertstringsecuritydescriptortosecuritydescriptorw).
//  - ConnectNamedPipe, overlapped: ERROR_IO_PENDING while waiting;
//    ERROR_PIPE_CONNECTED when a client connected between CreateNamedPipe and
//    ConnectNamedPipe (a good connection); ERROR_NO_DATA when it already
//    closed again
//    (https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-connectnamedpipe).
//  - CancelIoEx cancels one OVERLAPPED's I/O from any thread; the OVERLAPPED
//    must not be reused until GetOverlappedResult says it completed
//    (https://learn.microsoft.com/windows/win32/fileio/cancelioex-func).
//  - Named pipe clients: CreateFile, ERROR_PIPE_BUSY then WaitNamedPipe
//    (https://learn.microsoft.com/windows/win32/ipc/named-pipe-client,
//    https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-waitnamedpipew);
//    SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION: the server may identify
//    the client but not act as it
//    (https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew).
//  - GetNamedPipeServerProcessId / GetNamedPipeClientProcessId
//    (https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-getnamedpipeserverprocessid).
//  - ImpersonateNamedPipeClient impersonates "the security context of the
//    last message read from the pipe"; check its result; RevertToSelf
//    (https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-impersonatenamedpipeclient,
//    https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-reverttoself);
//    OpenThreadToken with OpenAsSelf TRUE
//    (https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-openthreadtoken).
//  - OpenProcess with PROCESS_QUERY_LIMITED_INFORMATION, OpenProcessToken
//    (https://learn.microsoft.com/windows/win32/procthread/process-security-and-access-rights).
//  - SetHandleInformation(HANDLE_FLAG_INHERIT), GetFileType == FILE_TYPE_PIPE
//    (https://learn.microsoft.com/windows/win32/api/handleapi/nf-handleapi-sethandleinformation,
//    https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getfiletype).
//
// End of stream: a pipe has no half-close. Shutdown() closes this end's
// handle as soon as no Read()/WriteAll() of another thread still uses it
// (they are woken through a shutdown event and cancel their I/O); the peer
// then reads what was already written and then ERROR_BROKEN_PIPE, which Read()
// reports as end of stream.
#include "agent/sources/win32_account_windows.h"  // <windows.h> first
// After windows.h:
#include <sddl.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string_view>
#include <vector>

#include "agent/local/local_channel.h"
#include "agent/local/service_account_windows.h"
#include "agent/sources/win32_strings_windows.h"

namespace reclaim::agent {
namespace {

constexpr char kPipePrefix[] = "\\\\.\\pipe\\";
constexpr std::size_t kMaxPipeName = 256;  // CreateNamedPipeW: the whole name
// The service pipe's DACL (local_channel.h, LocalListenerOptions::windows_sddl).
constexpr wchar_t kDefaultSddl[] = L"D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x12018b;;;AU)";
// The client's rights: read and write data, attributes, SYNCHRONIZE; never
// FILE_APPEND_DATA (= FILE_CREATE_PIPE_INSTANCE), which the service's DACL
// does not grant.
constexpr DWORD kClientAccess =
    FILE_READ_DATA | FILE_WRITE_DATA | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES | SYNCHRONIZE;
constexpr DWORD kMaxIo = 1u << 20;  // bytes per ReadFile / WriteFile
// SERVICE_USER_SERVICE | SERVICE_USERSERVICE_INSTANCE (winnt.h of the
// Windows 10 SDK; mingw-w64's headers lack them): per-user services.
constexpr DWORD kUserServiceTypes = 0x40 | 0x80;

IpcStatus Error(int code, std::string message) { return IpcStatus{code, std::move(message)}; }

IpcStatus OsError(int code, const std::string& what, DWORD error) {
  return Error(code, what + ": " + Win32ErrorText(error));
}

// Errors that mean the other end closed (or disconnected) the pipe.
bool IsPeerGone(DWORD error) {
  return error == ERROR_BROKEN_PIPE || error == ERROR_PIPE_NOT_CONNECTED || error == ERROR_NO_DATA;
}

IpcStatus CheckPipeName(const std::string& address) {
  if (address.size() <= sizeof kPipePrefix - 1 ||
      _strnicmp(address.c_str(), kPipePrefix, sizeof kPipePrefix - 1) != 0 ||
      address.find('\\', sizeof kPipePrefix - 1) != std::string::npos) {
    return Error(kIpcInvalidArgument, "not a local pipe name (\\\\.\\pipe\\NAME): " + address);
  }
  if (address.size() > kMaxPipeName) {
    return Error(kIpcInvalidArgument, "pipe name longer than " + std::to_string(kMaxPipeName) +
                                          " characters: " + address);
  }
  return {};
}

// A manual-reset event, closed on destruction.
class Event {
 public:
  Event() : h_(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {}
  ~Event() {
    if (h_ != nullptr) CloseHandle(h_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  HANDLE get() const { return h_; }

 private:
  HANDLE h_;
};

// A security descriptor from SDDL, freed with LocalFree.
class SecurityDescriptor {
 public:
  SecurityDescriptor() = default;
  ~SecurityDescriptor() {
    if (sd_ != nullptr) LocalFree(sd_);
  }
  SecurityDescriptor(const SecurityDescriptor&) = delete;
  SecurityDescriptor& operator=(const SecurityDescriptor&) = delete;

  IpcStatus Parse(const std::wstring& sddl) {
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd_,
                                                              nullptr)) {
      return OsError(kIpcInvalidArgument, "invalid pipe security descriptor " + Utf8FromWide(sddl),
                     GetLastError());
    }
    return {};
  }
  // Not inheritable.
  SECURITY_ATTRIBUTES* attributes() {
    sa_.nLength = sizeof sa_;
    sa_.lpSecurityDescriptor = sd_;
    sa_.bInheritHandle = FALSE;
    return &sa_;
  }

 private:
  PSECURITY_DESCRIPTOR sd_ = nullptr;
  SECURITY_ATTRIBUTES sa_{};
};

// The peer named by `token`'s user (TOKEN_QUERY); `what` names it in errors.
IpcStatus PeerOfToken(HANDLE token, const std::string& what, LocalPeer* peer) {
  DWORD e = 0;
  const std::vector<BYTE> user = TokenUserBuffer(token, &e);
  if (user.empty()) return OsError(kIpcInternal, "TokenUser of " + what, e);
  const Win32Account account = AccountOfSid(TokenUserSid(user));
  *peer = LocalPeer{};
  peer->key = account.sid;
  peer->sid = account.sid;
  peer->login_name = account.name;
  peer->domain = account.domain;
  return {};
}

// The peer of a process id: its token's user.
IpcStatus PeerOfProcess(DWORD pid, LocalPeer* peer) {
  HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (process == nullptr) {
    const DWORD e = GetLastError();
    return OsError(kIpcUnavailable, "OpenProcess of pid " + std::to_string(pid), e);
  }
  HANDLE token = nullptr;
  if (!OpenProcessToken(process, TOKEN_QUERY, &token)) {
    const DWORD e = GetLastError();
    CloseHandle(process);
    return OsError(kIpcInternal, "OpenProcessToken of pid " + std::to_string(pid), e);
  }
  IpcStatus s = PeerOfToken(token, "pid " + std::to_string(pid), peer);
  CloseHandle(token);
  CloseHandle(process);
  if (s.ok()) peer->pid = pid;
  return s;
}

// A connected pipe end (server instance, client, or inherited handle).
class PipeChannel final : public ServerChannel {
 public:
  enum class Kind { kServer, kClient, kInherited };

  PipeChannel(HANDLE pipe, Kind kind, std::string name)
      : pipe_(pipe), kind_(kind), name_(std::move(name)) {}
  ~PipeChannel() override {
    Shutdown();
    std::lock_guard<std::mutex> l(mu_);
    CloseLocked();  // normally done by Shutdown(): no operation is running now
  }
  PipeChannel(const PipeChannel&) = delete;
  PipeChannel& operator=(const PipeChannel&) = delete;

  IpcStatus Read(void* buffer, std::size_t size, std::size_t* read) override {
    *read = 0;
    if (size == 0) return {};
    HANDLE pipe = Enter();
    if (pipe == nullptr) return {};  // after Shutdown(): end of stream
    IpcStatus status;
    for (;;) {
      DWORD n = 0;
      DWORD error = Transfer(pipe, /*write=*/false, buffer,
                             static_cast<DWORD>(size < kMaxIo ? size : kMaxIo), INFINITE, &n);
      if (error == ERROR_SUCCESS || error == ERROR_MORE_DATA) {
        if (n == 0) continue;  // a zero-byte write of the peer: not the end
        *read = n;
        read_any_ = true;
      } else if (error == ERROR_OPERATION_ABORTED || IsPeerGone(error)) {
        // Shutdown() (ours) or the peer closed: end of stream.
      } else {
        status = OsError(kIpcUnavailable, "reading " + Describe(), error);
      }
      break;
    }
    Leave();
    return status;
  }

  IpcStatus WriteAll(const void* data, std::size_t size,
                     std::chrono::milliseconds timeout) override {
    if (write_shut_) {
      return Error(kIpcFailedPrecondition, "writing " + Describe() + ": its writing was ended");
    }
    HANDLE pipe = Enter();
    if (pipe == nullptr) return Error(kIpcUnavailable, "writing " + Describe() + ": shut down");
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto* p = static_cast<const char*>(data);
    IpcStatus status;
    while (size > 0) {
      DWORD wait = INFINITE;
      if (timeout.count() > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          status =
              Error(kIpcDeadlineExceeded, "writing " + Describe() + ": the peer did not read " +
                                              std::to_string(size) + " more bytes within " +
                                              std::to_string(timeout.count()) + " ms");
          break;
        }
        wait = static_cast<DWORD>(left.count());
      }
      DWORD n = 0;
      const DWORD error = Transfer(pipe, /*write=*/true, const_cast<char*>(p),
                                   static_cast<DWORD>(size < kMaxIo ? size : kMaxIo), wait, &n);
      p += n;
      size -= n;
      if (error == ERROR_SUCCESS) continue;
      if (error == WAIT_TIMEOUT) {
        status = Error(kIpcDeadlineExceeded, "writing " + Describe() + ": the peer did not read " +
                                                 std::to_string(size) + " more bytes within " +
                                                 std::to_string(timeout.count()) + " ms");
      } else if (error == ERROR_OPERATION_ABORTED) {
        status = Error(kIpcUnavailable, "writing " + Describe() + ": shut down");
      } else if (IsPeerGone(error)) {
        status = OsError(kIpcUnavailable, "writing " + Describe() + ": the peer closed it", error);
      } else {
        status = OsError(kIpcUnavailable, "writing " + Describe(), error);
      }
      break;
    }
    Leave();
    return status;
  }

  void Shutdown() override {
    std::lock_guard<std::mutex> l(mu_);
    if (shut_) return;
    shut_ = true;
    SetEvent(shutdown_.get());  // wakes a blocked Read()/WriteAll(), which cancel their I/O
    if (active_ == 0) CloseLocked();
  }

  void ShutdownWrite() override { write_shut_ = true; }

  std::string Describe() const override {
    if (kind_ == Kind::kInherited) return "pipe handle " + name_;
    return "pipe " + name_;
  }

  std::string HandleForChild() override {
    std::lock_guard<std::mutex> l(mu_);
    if (pipe_ == INVALID_HANDLE_VALUE) return {};
    SetHandleInformation(pipe_, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    return std::to_string(reinterpret_cast<std::uintptr_t>(pipe_));
  }

  IpcStatus PeerAtConnect(LocalPeer* peer) override {
    HANDLE pipe = Enter();
    if (pipe == nullptr) return Error(kIpcUnavailable, Describe() + ": shut down");
    ULONG pid = 0;
    IpcStatus status;
    if (!GetNamedPipeClientProcessId(pipe, &pid)) {
      status =
          OsError(kIpcUnavailable, "GetNamedPipeClientProcessId of " + Describe(), GetLastError());
    } else {
      status = PeerOfProcess(pid, peer);
      if (!status.ok()) status.message = "the client of " + Describe() + ": " + status.message;
    }
    Leave();
    return status;
  }

  IpcStatus AttestPeer(LocalPeer* peer) override {
    if (kind_ != Kind::kServer) {
      return Error(kIpcFailedPrecondition, Describe() + " is not a server end");
    }
    // The named-pipe file system impersonates the sender of the last message
    // read: before any read there is none (Windows: ERROR_CANNOT_IMPERSONATE;
    // checked here too, so that the rule holds wherever this runs).
    if (!read_any_) {
      return Error(kIpcFailedPrecondition,
                   "attesting the client of " + Describe() + ": nothing was read from it yet");
    }
    HANDLE pipe = Enter();
    if (pipe == nullptr) return Error(kIpcUnavailable, Describe() + ": shut down");
    IpcStatus status = AttestLocked(pipe, peer);
    Leave();
    return status;
  }

 private:
  IpcStatus AttestLocked(HANDLE pipe, LocalPeer* peer) {
    if (!ImpersonateNamedPipeClient(pipe)) {
      const DWORD e = GetLastError();
      return OsError(e == ERROR_CANNOT_IMPERSONATE ? kIpcFailedPrecondition : kIpcPermissionDenied,
                     "ImpersonateNamedPipeClient of " + Describe(), e);
    }
    HANDLE token = nullptr;
    const BOOL opened = OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &token);
    const DWORD open_error = opened ? ERROR_SUCCESS : GetLastError();
    if (!RevertToSelf()) {
      // Going on as the client is never an option.
      std::abort();
    }
    if (!opened) {
      return OsError(kIpcPermissionDenied, "OpenThreadToken as the client of " + Describe(),
                     open_error);
    }
    IpcStatus s = PeerOfToken(token, "the client of " + Describe(), peer);
    CloseHandle(token);
    if (!s.ok()) return s;
    ULONG pid = 0;
    if (GetNamedPipeClientProcessId(pipe, &pid)) peer->pid = pid;
    return {};
  }

  // One overlapped ReadFile/WriteFile, waiting at most `wait_ms` and for the
  // shutdown event. Returns ERROR_SUCCESS, WAIT_TIMEOUT (cancelled after the
  // wait), ERROR_OPERATION_ABORTED (cancelled by Shutdown()) or the I/O's
  // error; `*done` is the bytes moved (also when cancelled part way).
  DWORD Transfer(HANDLE pipe, bool write, void* buffer, DWORD size, DWORD wait_ms, DWORD* done) {
    Event io;
    if (io.get() == nullptr) return GetLastError();
    OVERLAPPED ov{};
    ov.hEvent = io.get();
    const BOOL ok = write ? WriteFile(pipe, buffer, size, nullptr, &ov)
                          : ReadFile(pipe, buffer, size, nullptr, &ov);
    DWORD error = ok ? ERROR_SUCCESS : GetLastError();
    if (!ok && error != ERROR_IO_PENDING) {
      *done = 0;
      return error;
    }
    DWORD cancelled_for = ERROR_SUCCESS;
    if (!ok) {
      const HANDLE handles[2] = {io.get(), shutdown_.get()};
      const DWORD w = WaitForMultipleObjects(2, handles, FALSE, wait_ms);
      if (w != WAIT_OBJECT_0) {
        cancelled_for = w == WAIT_OBJECT_0 + 1 ? ERROR_OPERATION_ABORTED : WAIT_TIMEOUT;
        CancelIoEx(pipe, &ov);
      }
    }
    // Waits for the I/O (or its cancellation) to complete: `ov` lives until then.
    if (!GetOverlappedResult(pipe, &ov, done, TRUE)) {
      error = GetLastError();
      if (error == ERROR_OPERATION_ABORTED && cancelled_for != ERROR_SUCCESS) return cancelled_for;
      return error;
    }
    // Completed before the cancellation took: a timed-out write that went
    // through after all is a success.
    return ERROR_SUCCESS;
  }

  // Starts an operation: the handle (kept open until Leave()), or null after
  // Shutdown().
  HANDLE Enter() {
    std::lock_guard<std::mutex> l(mu_);
    if (shut_ || pipe_ == INVALID_HANDLE_VALUE) return nullptr;
    ++active_;
    return pipe_;
  }
  void Leave() {
    std::lock_guard<std::mutex> l(mu_);
    if (--active_ == 0 && shut_) CloseLocked();
  }
  void CloseLocked() {
    if (pipe_ == INVALID_HANDLE_VALUE) return;
    // A server end: flush nothing (FlushFileBuffers would wait for the
    // client to read); closing without DisconnectNamedPipe lets the client
    // still read what was written before it sees the end.
    CloseHandle(pipe_);
    pipe_ = INVALID_HANDLE_VALUE;
  }

  std::mutex mu_;
  HANDLE pipe_;        // guarded by mu_ (INVALID_HANDLE_VALUE once closed)
  bool shut_ = false;  // guarded by mu_
  int active_ = 0;     // Read/WriteAll/peer calls using pipe_; guarded by mu_
  Event shutdown_;     // set by Shutdown()
  const Kind kind_;
  const std::string name_;
  std::atomic<bool> write_shut_{false};
  std::atomic<bool> read_any_{false};
};

// Creates one server instance of `name` (overlapped, byte mode, local clients only).
HANDLE CreateInstance(const std::wstring& name, bool first, DWORD max_instances, DWORD buffer,
                      SECURITY_ATTRIBUTES* sa) {
  DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
  if (first) open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
  return CreateNamedPipeW(
      name.c_str(), open_mode,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, max_instances,
      buffer, buffer, 0, sa);
}

// Waits for a client on `instance` (overlapped ConnectNamedPipe). Returns
// ERROR_SUCCESS once connected, ERROR_OPERATION_ABORTED when `interrupt`
// was set, else the error.
DWORD ConnectInstance(HANDLE instance, HANDLE interrupt) {
  Event io;
  if (io.get() == nullptr) return GetLastError();
  OVERLAPPED ov{};
  ov.hEvent = io.get();
  if (ConnectNamedPipe(instance, &ov)) return ERROR_SUCCESS;
  const DWORD error = GetLastError();
  if (error == ERROR_PIPE_CONNECTED) return ERROR_SUCCESS;  // connected in between: good
  if (error != ERROR_IO_PENDING) return error;
  const HANDLE handles[2] = {io.get(), interrupt};
  const DWORD w = WaitForMultipleObjects(interrupt != nullptr ? 2 : 1, handles, FALSE, INFINITE);
  if (w != WAIT_OBJECT_0) CancelIoEx(instance, &ov);
  DWORD ignored = 0;
  if (!GetOverlappedResult(instance, &ov, &ignored, TRUE)) return GetLastError();
  return ERROR_SUCCESS;
}

class PipeListener final : public LocalListener {
 public:
  PipeListener(std::string address, std::uint32_t buffer)
      : address_(std::move(address)), wide_(WideFromUtf8(address_)), buffer_(buffer) {}
  ~PipeListener() override {
    if (pending_ != INVALID_HANDLE_VALUE) CloseHandle(pending_);
  }
  PipeListener(const PipeListener&) = delete;
  PipeListener& operator=(const PipeListener&) = delete;

  IpcStatus Init(const std::string& sddl) {
    IpcStatus s = sd_.Parse(sddl.empty() ? std::wstring(kDefaultSddl) : WideFromUtf8(sddl));
    if (!s.ok()) return s;
    pending_ =
        CreateInstance(wide_, /*first=*/true, PIPE_UNLIMITED_INSTANCES, buffer_, sd_.attributes());
    if (pending_ == INVALID_HANDLE_VALUE) {
      const DWORD e = GetLastError();
      if (e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY) {
        return OsError(kIpcFailedPrecondition,
                       "pipe " + address_ + " exists already (another server listens there)", e);
      }
      if (e == ERROR_INVALID_NAME || e == ERROR_BAD_PATHNAME) {
        return OsError(kIpcInvalidArgument, "pipe name " + address_, e);
      }
      return OsError(kIpcInternal, "CreateNamedPipeW " + address_, e);
    }
    // Belt and braces for FILE_FLAG_FIRST_PIPE_INSTANCE (which Wine does not
    // enforce): the first instance is the only one of its name.
    DWORD instances = 0;
    if (GetNamedPipeHandleStateW(pending_, nullptr, &instances, nullptr, nullptr, nullptr, 0) &&
        instances > 1) {
      CloseHandle(pending_);
      pending_ = INVALID_HANDLE_VALUE;
      return Error(kIpcFailedPrecondition, "pipe " + address_ + " exists already (" +
                                               std::to_string(instances - 1) +
                                               " instances of another server)");
    }
    return {};
  }

  IpcStatus Accept(std::unique_ptr<ServerChannel>* channel) override {
    for (;;) {
      if (interrupted_) return Error(kIpcUnavailable, "interrupted");
      if (pending_ == INVALID_HANDLE_VALUE) {
        pending_ =
            CreateInstance(wide_, false, PIPE_UNLIMITED_INSTANCES, buffer_, sd_.attributes());
        if (pending_ == INVALID_HANDLE_VALUE) {
          return OsError(kIpcUnavailable, "CreateNamedPipeW " + address_, GetLastError());
        }
      }
      const DWORD error = ConnectInstance(pending_, interrupt_.get());
      if (error == ERROR_OPERATION_ABORTED && interrupted_) {
        return Error(kIpcUnavailable, "interrupted");
      }
      // ERROR_NO_DATA: the client came and already closed its end. Accepted
      // all the same (as accept(2) does on Linux): its Read() is the end of
      // stream, and a refused client is seen as such.
      if (error != ERROR_SUCCESS && error != ERROR_NO_DATA) {
        CloseHandle(pending_);
        pending_ = INVALID_HANDLE_VALUE;
        return OsError(kIpcUnavailable, "ConnectNamedPipe " + address_, error);
      }
      HANDLE connected = pending_;
      // The next instance right away: clients find one waiting (and the
      // name never lapses). Failing here is retried by the next Accept().
      pending_ = CreateInstance(wide_, false, PIPE_UNLIMITED_INSTANCES, buffer_, sd_.attributes());
      *channel = std::make_unique<PipeChannel>(connected, PipeChannel::Kind::kServer, address_);
      return {};
    }
  }

  void Interrupt() override {
    interrupted_ = true;
    SetEvent(interrupt_.get());
  }

  std::string address() const override { return address_; }

 private:
  const std::string address_;
  const std::wstring wide_;
  const DWORD buffer_;
  SecurityDescriptor sd_;
  HANDLE pending_ = INVALID_HANDLE_VALUE;  // the instance waiting for a client (Accept's thread)
  Event interrupt_;
  std::atomic<bool> interrupted_{false};
};

// Opens the client end of `name` (waiting while all instances are busy).
IpcStatus OpenClient(const std::string& address, std::chrono::milliseconds busy_wait,
                     HANDLE* pipe) {
  const std::wstring name = WideFromUtf8(address);
  const auto deadline = std::chrono::steady_clock::now() + busy_wait;
  for (;;) {
    HANDLE h = CreateFileW(name.c_str(), kClientAccess, 0, nullptr, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                           nullptr);
    if (h != INVALID_HANDLE_VALUE) {
      *pipe = h;
      return {};
    }
    const DWORD e = GetLastError();
    if (e == ERROR_PIPE_BUSY) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return OsError(kIpcUnavailable,
                       "pipe " + address + ": all instances stayed busy for " +
                           std::to_string(busy_wait.count()) + " ms",
                       e);
      }
      // Returns when an instance is free (or at once when none exists any more).
      WaitNamedPipeW(name.c_str(), static_cast<DWORD>(left.count()));
      continue;
    }
    if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND) {
      return OsError(kIpcUnavailable, "nothing listens on pipe " + address, e);
    }
    if (e == ERROR_ACCESS_DENIED)
      return OsError(kIpcPermissionDenied, "opening pipe " + address, e);
    if (e == ERROR_INVALID_NAME || e == ERROR_BAD_PATHNAME) {
      return OsError(kIpcInvalidArgument, "pipe name " + address, e);
    }
    return OsError(kIpcUnavailable, "opening pipe " + address, e);
  }
}

// Checks that the process serving `pipe` runs as `expected` ("self": this
// process's user). For LocalSystem, when the server's token cannot be
// opened (a standard user may not query a SYSTEM token), the SCM's word that
// the process is a service configured as LocalSystem is taken instead.
IpcStatus CheckServerUser(HANDLE pipe, const std::string& address, const std::string& expected) {
  std::vector<BYTE> self;
  PSID wanted = nullptr;
  PSID parsed = nullptr;
  if (expected == "self") {
    DWORD e = 0;
    self = CurrentProcessTokenUser(&e);
    if (self.empty()) return OsError(kIpcInternal, "this process's user", e);
    wanted = TokenUserSid(self);
  } else {
    if (!ConvertStringSidToSidW(WideFromUtf8(expected).c_str(), &parsed)) {
      return OsError(kIpcInvalidArgument, "windows_server_sid \"" + expected + "\"",
                     GetLastError());
    }
    wanted = parsed;
  }
  const std::string wanted_text = AccountOfSid(wanted).sid;
  IpcStatus status;
  ULONG pid = 0;
  LocalPeer server;
  if (!GetNamedPipeServerProcessId(pipe, &pid)) {
    status =
        OsError(kIpcPermissionDenied,
                "pipe " + address + ": GetNamedPipeServerProcessId (the server's user is unknown)",
                GetLastError());
  } else if (IpcStatus s = PeerOfProcess(pid, &server); !s.ok()) {
    bool local_system_service = false;
    IpcStatus scm;
    if (IsWellKnownSid(wanted, WinLocalSystemSid)) {
      scm = IsLocalSystemServiceProcess(pid, &local_system_service);
    }
    if (!local_system_service) {
      status = Error(kIpcPermissionDenied,
                     "pipe " + address + ": the user of its server (pid " + std::to_string(pid) +
                         ") cannot be checked against " + wanted_text + ": " + s.message +
                         (scm.ok() ? std::string() : "; " + scm.message));
    }
  } else {
    PSID actual = nullptr;
    if (!ConvertStringSidToSidW(WideFromUtf8(server.sid).c_str(), &actual) ||
        !EqualSid(actual, wanted)) {
      status = Error(kIpcPermissionDenied, "pipe " + address + " is served by pid " +
                                               std::to_string(pid) + " running as " + server.sid +
                                               ", not " + wanted_text + " (refused)");
    }
    if (actual != nullptr) LocalFree(actual);
  }
  if (parsed != nullptr) LocalFree(parsed);
  return status;
}

}  // namespace

bool ServiceRunsAsLocalSystem(unsigned long service_type, const wchar_t* start_name) {
  if ((service_type & SERVICE_WIN32) == 0 || (service_type & kUserServiceTypes) != 0) return false;
  // "LocalSystem" (or its full name) is how the SCM stores the account.
  return start_name != nullptr && (_wcsicmp(start_name, L"LocalSystem") == 0 ||
                                   _wcsicmp(start_name, L".\\LocalSystem") == 0 ||
                                   _wcsicmp(start_name, L"NT AUTHORITY\\SYSTEM") == 0);
}

IpcStatus IsLocalSystemServiceProcess(unsigned long pid, bool* is) {
  *is = false;
  SC_HANDLE scm =
      OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT | SC_MANAGER_ENUMERATE_SERVICE);
  if (scm == nullptr) return OsError(kIpcUnavailable, "OpenSCManagerW", GetLastError());
  std::vector<BYTE> buf;
  DWORD needed = 0, count = 0, resume = 0;
  IpcStatus status;
  for (;;) {
    const BOOL ok =
        EnumServicesStatusExW(scm, SC_ENUM_PROCESS_INFO, SERVICE_WIN32, SERVICE_ACTIVE,
                              buf.empty() ? nullptr : buf.data(), static_cast<DWORD>(buf.size()),
                              &needed, &count, &resume, nullptr);
    const DWORD e = ok ? ERROR_SUCCESS : GetLastError();
    if (!ok && e != ERROR_MORE_DATA) {
      status = OsError(kIpcUnavailable, "EnumServicesStatusExW", e);
      break;
    }
    const auto* services = reinterpret_cast<const ENUM_SERVICE_STATUS_PROCESSW*>(buf.data());
    for (DWORD i = 0; i < count && !*is; ++i) {
      if (services[i].ServiceStatusProcess.dwProcessId != pid) continue;
      SC_HANDLE service = OpenServiceW(scm, services[i].lpServiceName, SERVICE_QUERY_CONFIG);
      if (service == nullptr) continue;
      DWORD config_bytes = 0;
      QueryServiceConfigW(service, nullptr, 0, &config_bytes);
      std::vector<BYTE> config(config_bytes > 0 ? config_bytes : 1);
      if (QueryServiceConfigW(service, reinterpret_cast<QUERY_SERVICE_CONFIGW*>(config.data()),
                              static_cast<DWORD>(config.size()), &config_bytes)) {
        *is = ServiceRunsAsLocalSystem(
            services[i].ServiceStatusProcess.dwServiceType,
            reinterpret_cast<QUERY_SERVICE_CONFIGW*>(config.data())->lpServiceStartName);
      }
      CloseServiceHandle(service);
    }
    if (ok || *is) break;  // all listed, or found
    // ERROR_MORE_DATA: a larger buffer; `resume` continues the listing.
    buf.assign(needed + sizeof(ENUM_SERVICE_STATUS_PROCESSW), 0);
    count = 0;
  }
  CloseServiceHandle(scm);
  return status;
}

IpcStatus ListenLocal(const std::string& address, const LocalListenerOptions& options,
                      std::unique_ptr<LocalListener>* listener) {
  if (IpcStatus s = CheckPipeName(address); !s.ok()) return s;
  auto l = std::make_unique<PipeListener>(address, options.windows_buffer_bytes);
  if (IpcStatus s = l->Init(options.windows_sddl); !s.ok()) return s;
  *listener = std::move(l);
  return {};
}

IpcStatus ConnectLocal(const std::string& address, const LocalConnectOptions& options,
                       std::unique_ptr<LocalChannel>* channel) {
  if (IpcStatus s = CheckPipeName(address); !s.ok()) return s;
  if (!options.windows_server_sid.empty() && options.windows_server_sid != "self") {
    PSID sid = nullptr;
    if (!ConvertStringSidToSidW(WideFromUtf8(options.windows_server_sid).c_str(), &sid)) {
      return OsError(kIpcInvalidArgument,
                     "windows_server_sid \"" + options.windows_server_sid + "\"", GetLastError());
    }
    LocalFree(sid);
  }
  HANDLE pipe = INVALID_HANDLE_VALUE;
  if (IpcStatus s = OpenClient(address, options.busy_wait, &pipe); !s.ok()) return s;
  if (!options.windows_server_sid.empty()) {
    if (IpcStatus s = CheckServerUser(pipe, address, options.windows_server_sid); !s.ok()) {
      CloseHandle(pipe);  // nothing was sent
      return s;
    }
  }
  *channel = std::make_unique<PipeChannel>(pipe, PipeChannel::Kind::kClient, address);
  return {};
}

IpcStatus LocalChannelPair(std::unique_ptr<LocalChannel>* first,
                           std::unique_ptr<LocalChannel>* second) {
  DWORD e = 0;
  const std::vector<BYTE> user = CurrentProcessTokenUser(&e);
  if (user.empty()) return OsError(kIpcInternal, "channel pair: this process's user", e);
  const std::string sid = AccountOfSid(TokenUserSid(user)).sid;
  SecurityDescriptor sd;
  if (IpcStatus s = sd.Parse(WideFromUtf8("D:P(A;;GA;;;" + sid + ")")); !s.ok()) {
    s.code = kIpcInternal;
    return s;
  }
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  const std::string address = std::string(kPipePrefix) + "reclaim-pair-" +
                              std::to_string(GetCurrentProcessId()) + "-" +
                              std::to_string(counter++) + "-" + std::to_string(rd());
  const std::wstring name = WideFromUtf8(address);
  HANDLE server = CreateInstance(name, /*first=*/true, 1, 64 << 10, sd.attributes());
  if (server == INVALID_HANDLE_VALUE) {
    return OsError(kIpcInternal, "channel pair: CreateNamedPipeW " + address, GetLastError());
  }
  HANDLE client =
      CreateFileW(name.c_str(), kClientAccess, 0, nullptr, OPEN_EXISTING,
                  FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, nullptr);
  if (client == INVALID_HANDLE_VALUE) {
    const DWORD ce = GetLastError();
    CloseHandle(server);
    return OsError(kIpcInternal, "channel pair: opening " + address, ce);
  }
  if (const DWORD ce = ConnectInstance(server, nullptr); ce != ERROR_SUCCESS) {
    CloseHandle(client);
    CloseHandle(server);
    return OsError(kIpcInternal, "channel pair: ConnectNamedPipe " + address, ce);
  }
  *first = std::make_unique<PipeChannel>(server, PipeChannel::Kind::kServer, address);
  *second = std::make_unique<PipeChannel>(client, PipeChannel::Kind::kClient, address);
  return {};
}

IpcStatus AdoptInheritedChannel(const std::string& handle_text,
                                std::unique_ptr<LocalChannel>* channel) {
  if (handle_text.empty() || handle_text.size() > 20 ||
      handle_text.find_first_not_of("0123456789") != std::string::npos) {
    return Error(kIpcInvalidArgument, "not a handle value (decimal): \"" + handle_text + "\"");
  }
  const unsigned long long value = std::strtoull(handle_text.c_str(), nullptr, 10);
  HANDLE h = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(value));
  if (value == 0 || h == INVALID_HANDLE_VALUE) {
    return Error(kIpcInvalidArgument, "not a pipe handle: " + handle_text);
  }
  SetLastError(ERROR_SUCCESS);
  const DWORD type = GetFileType(h);
  if (type != FILE_TYPE_PIPE) {
    const DWORD e = GetLastError();
    return Error(kIpcInvalidArgument,
                 "handle " + handle_text + " is not an open pipe" +
                     (e != ERROR_SUCCESS ? ": " + Win32ErrorText(e) : std::string()));
  }
  // Not passed on to this process's own children.
  SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
  *channel = std::make_unique<PipeChannel>(h, PipeChannel::Kind::kInherited, handle_text);
  return {};
}

std::string DefaultServiceAddress() { return "\\\\.\\pipe\\reclaim-agent-service"; }

}  // namespace reclaim::agent
