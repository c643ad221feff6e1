// RelaySpawner for Windows (relay_process.h): CreateProcessW with exactly one
// inherited handle, the child's end of a LocalChannelPair, and the child in a
// job object that ends it when the agent ends.
//
// Sources of external behaviour:
//  - PROC_THREAD_ATTRIBUTE_HANDLE_LIST: "a list of handles to be inherited by
//    the child process"; they must be inheritable; bInheritHandles must be
//    TRUE (https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-updateprocthreadattribute,
//    https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-initializeprocthreadattributelist).
//    Without it every inheritable handle of the agent (of any thread) would
//    go to the relay.
//  - JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: "causes all processes associated
//    with the job to terminate when the last handle to the job is closed"
//    (https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-jobobject_basic_limit_information);
//    the agent holds the only handle, so the relay ends with the agent however
//    it ends (Linux: PR_SET_PDEATHSIG). The child starts CREATE_SUSPENDED and
//    runs only once it is in the job (AssignProcessToJobObject,
//    https://learn.microsoft.com/windows/win32/api/jobapi2/nf-jobapi2-assignprocesstojobobject;
//    jobs nest from Windows 8 on, so an agent that is itself in a job works).
//  - CREATE_NO_WINDOW: a console application started without a console
//    window (https://learn.microsoft.com/windows/win32/procthread/process-creation-flags).
//  - The command line: command_line_windows.h (MSVCRT quoting rules).
//  - GetModuleFileNameW: the path of the running executable; the buffer is
//    grown while the result fills it (ERROR_INSUFFICIENT_BUFFER)
//    (https://learn.microsoft.com/windows/win32/api/libloaderapi/nf-libloaderapi-getmodulefilenamew).
//
// The relay's standard handles are not the agent's: only the channel is
// inherited (the relay logs through its own means).
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/local/command_line_windows.h"
#include "agent/local/relay_process.h"
#include "agent/sources/win32_strings_windows.h"

namespace reclaim::agent {
namespace {

constexpr wchar_t kServiceExe[] = L"reclaim-agent-service.exe";

// Closes a kernel handle once.
class OwnedHandle {
 public:
  OwnedHandle() = default;
  explicit OwnedHandle(HANDLE h) : h_(h) {}
  ~OwnedHandle() { Reset(); }
  OwnedHandle(const OwnedHandle&) = delete;
  OwnedHandle& operator=(const OwnedHandle&) = delete;
  HANDLE get() const { return h_; }
  HANDLE release() {
    HANDLE h = h_;
    h_ = nullptr;
    return h;
  }
  void Reset() {
    if (h_ != nullptr && h_ != INVALID_HANDLE_VALUE) CloseHandle(h_);
    h_ = nullptr;
  }

 private:
  HANDLE h_ = nullptr;
};

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

class WindowsRelay final : public RelayProcess {
 public:
  WindowsRelay(HANDLE process, DWORD pid, HANDLE job, std::unique_ptr<LocalChannel> channel)
      : process_(process), job_(job), pid_(pid), channel_(std::move(channel)) {}
  ~WindowsRelay() override {
    channel_.reset();
    Finish(std::chrono::milliseconds(0));
  }

  std::unique_ptr<LocalChannel> TakeChannel() override { return std::move(channel_); }

  std::string Finish(std::chrono::milliseconds grace) override {
    if (process_.get() == nullptr) return how_;
    const DWORD wait_ms = static_cast<DWORD>(std::clamp<std::chrono::milliseconds::rep>(
        grace.count(), 0, INFINITE - 1));
    if (WaitForSingleObject(process_.get(), wait_ms) == WAIT_OBJECT_0) {
      DWORD code = 0;
      how_ = GetExitCodeProcess(process_.get(), &code)
                 ? "exited with status " + std::to_string(code)
                 : "exited (status unknown: " + Win32ErrorText(GetLastError()) + ")";
    } else {
      // TerminateProcess is asynchronous: wait for the end before the
      // handles go (https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-terminateprocess).
      TerminateProcess(process_.get(), 1);
      WaitForSingleObject(process_.get(), INFINITE);
      how_ = "terminated";
    }
    process_.Reset();
    job_.Reset();  // ends whatever the relay started in turn
    pid_ = 0;
    return how_;
  }

  long pid() const override { return static_cast<long>(pid_); }

 private:
  OwnedHandle process_;
  OwnedHandle job_;
  DWORD pid_;
  std::unique_ptr<LocalChannel> channel_;
  std::string how_;
};

class ProcessRelaySpawner final : public RelaySpawner {
 public:
  explicit ProcessRelaySpawner(std::string program) : program_(std::move(program)) {}

  IpcStatus Spawn(const std::vector<std::string>& args,
                  std::unique_ptr<RelayProcess>* relay) override {
    auto fail = [this](const std::string& what, DWORD error) {
      return IpcStatus{kIpcUnavailable,
                       "cannot start " + program_ + ": " + what + ": " + Win32ErrorText(error)};
    };
    std::unique_ptr<LocalChannel> mine, theirs;
    if (IpcStatus s = LocalChannelPair(&mine, &theirs); !s.ok()) {
      return IpcStatus{kIpcUnavailable, "cannot start " + program_ + ": " + s.message};
    }
    // Inheritable from here until `theirs` is closed below; only a
    // CreateProcess of this process with bInheritHandles and no handle list
    // could take it meanwhile (the agent has none).
    const std::string handle_text = theirs->HandleForChild();
    char* end = nullptr;
    const unsigned long long value = std::strtoull(handle_text.c_str(), &end, 10);
    if (handle_text.empty() || end == nullptr || *end != '\0') {
      return IpcStatus{kIpcInternal, "cannot start " + program_ + ": the channel's handle \"" +
                                         handle_text + "\" is not a number"};
    }
    HANDLE inherited = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(value));

    const std::wstring program = WideFromUtf8(program_);
    std::vector<std::wstring> wide_args;
    wide_args.reserve(args.size());
    for (const std::string& a : args) wide_args.push_back(WideFromUtf8(Replace(a, "{fd}", handle_text)));
    std::wstring command_line = WindowsCommandLine(program, wide_args);

    SIZE_T list_bytes = 0;
    InitializeProcThreadAttributeList(nullptr, 1, 0, &list_bytes);  // fails, sets the size
    std::vector<unsigned char> list_storage(list_bytes);
    auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(list_storage.data());
    if (!InitializeProcThreadAttributeList(list, 1, 0, &list_bytes)) {
      return fail("InitializeProcThreadAttributeList", GetLastError());
    }
    struct ListDeleter {
      LPPROC_THREAD_ATTRIBUTE_LIST list;
      ~ListDeleter() { DeleteProcThreadAttributeList(list); }
    } list_deleter{list};
    if (!UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, &inherited,
                                   sizeof(inherited), nullptr, nullptr)) {
      return fail("UpdateProcThreadAttribute(HANDLE_LIST)", GetLastError());
    }

    OwnedHandle job(CreateJobObjectW(nullptr, nullptr));
    if (job.get() == nullptr) return fail("CreateJobObjectW", GetLastError());
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits = {};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation, &limits,
                                 sizeof(limits))) {
      return fail("SetInformationJobObject(KILL_ON_JOB_CLOSE)", GetLastError());
    }

    STARTUPINFOEXW startup = {};
    startup.StartupInfo.cb = sizeof(startup);
    startup.lpAttributeList = list;
    PROCESS_INFORMATION info = {};
    if (!CreateProcessW(program.c_str(), command_line.data(), nullptr, nullptr,
                        /*bInheritHandles=*/TRUE,
                        CREATE_SUSPENDED | CREATE_NO_WINDOW | EXTENDED_STARTUPINFO_PRESENT,
                        nullptr, nullptr, &startup.StartupInfo, &info)) {
      return fail("CreateProcessW", GetLastError());
    }
    OwnedHandle process(info.hProcess);
    OwnedHandle thread(info.hThread);
    theirs.reset();  // the child has its copy; ours would keep the pipe open
    if (!AssignProcessToJobObject(job.get(), process.get())) {
      const DWORD e = GetLastError();
      TerminateProcess(process.get(), 1);
      WaitForSingleObject(process.get(), INFINITE);
      return fail("AssignProcessToJobObject", e);
    }
    if (ResumeThread(thread.get()) == static_cast<DWORD>(-1)) {
      const DWORD e = GetLastError();
      TerminateProcess(process.get(), 1);
      WaitForSingleObject(process.get(), INFINITE);
      return fail("ResumeThread", e);
    }
    *relay = std::make_unique<WindowsRelay>(process.release(), info.dwProcessId, job.release(),
                                            std::move(mine));
    return {};
  }

  std::string program() const override { return program_; }

 private:
  const std::string program_;
};

// The running executable's full path (UTF-16).
std::wstring SelfPath() {
  std::wstring buf(MAX_PATH, L'\0');
  while (true) {
    const DWORD n = GetModuleFileNameW(nullptr, buf.data(), static_cast<DWORD>(buf.size()));
    if (n == 0) return {};
    if (n < buf.size()) {
      buf.resize(n);
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

bool IsFile(const std::wstring& path) {
  const DWORD a = GetFileAttributesW(path.c_str());
  return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY) == 0;
}

}  // namespace

std::unique_ptr<RelaySpawner> MakeProcessRelaySpawner(std::string program) {
  return std::make_unique<ProcessRelaySpawner>(std::move(program));
}

IpcStatus FindAgentService(std::string* path) {
  const DWORD env_n = GetEnvironmentVariableW(L"RECLAIM_AGENT_SERVICE", nullptr, 0);
  if (env_n > 1) {
    std::wstring env(env_n, L'\0');
    env.resize(GetEnvironmentVariableW(L"RECLAIM_AGENT_SERVICE", env.data(), env_n));
    if (!IsFile(env)) {
      return IpcStatus{kIpcNotFound,
                       "$RECLAIM_AGENT_SERVICE (" + Utf8FromWide(env) + ") is not a file"};
    }
    *path = Utf8FromWide(env);
    return {};
  }
  const std::wstring self = SelfPath();
  if (self.empty()) {
    return IpcStatus{kIpcNotFound, "GetModuleFileNameW: " + Win32ErrorText(GetLastError())};
  }
  const std::wstring dir = self.substr(0, self.find_last_of(L"\\/") + 1);
  const std::wstring beside = dir + kServiceExe;
  const std::wstring build = dir + L"service\\" + kServiceExe;
  for (const std::wstring& p : {beside, build}) {
    if (IsFile(p)) {
      *path = Utf8FromWide(p);
      return {};
    }
  }
  return IpcStatus{kIpcNotFound, "reclaim-agent-service.exe is neither at " + Utf8FromWide(beside) +
                                     " nor at " + Utf8FromWide(build) +
                                     " (set $RECLAIM_AGENT_SERVICE)"};
}

}  // namespace reclaim::agent
