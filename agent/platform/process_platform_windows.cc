// process_platform.h for Windows (Win32; builds with MSVC and mingw-w64).
//
// Sources of external behaviour:
//  - SetConsoleCtrlHandler / HandlerRoutine: a process that loads user32.dll
//    gets no CTRL_LOGOFF_EVENT or CTRL_SHUTDOWN_EVENT; it must handle
//    WM_QUERYENDSESSION / WM_ENDSESSION in a (hidden, top-level) window; for
//    CTRL_CLOSE/LOGOFF/SHUTDOWN the process ends when the handler returns
//    (https://learn.microsoft.com/windows/console/handlerroutine).
//  - WM_ENDSESSION: "the session can end any time after all applications
//    have returned from processing this message"
//    (https://learn.microsoft.com/windows/win32/shutdown/wm-endsession).
//  - Message-only windows (HWND_MESSAGE) receive no broadcasts, hence a
//    top-level window that is never shown.
//  - TryLockInstance: CreateFileW with dwShareMode 0 ("prevents other
//    processes from opening a file or device if they request delete, read,
//    or write access"; a second open fails with ERROR_SHARING_VIOLATION) and
//    FILE_FLAG_DELETE_ON_CLOSE (the file goes when its last handle closes,
//    also when the process is ended)
//    (https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew).
//  - MachineGuid: written by Windows setup under
//    HKLM\SOFTWARE\Microsoft\Cryptography; read through the 64-bit view
//    (KEY_WOW64_64KEY) so a 32-bit build sees the same value.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h:
#define SECURITY_WIN32
#include <sddl.h>
#include <security.h>
#include <shlobj.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/platform/process_platform.h"
#include "agent/sources/win32_account_windows.h"
#include "agent/sources/win32_strings_windows.h"

namespace reclaim::agent {
namespace {

constexpr wchar_t kCryptographyKey[] = L"SOFTWARE\\Microsoft\\Cryptography";
constexpr wchar_t kCurrentVersionKey[] = L"SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
// How long a console close, logoff or shutdown handler waits for the clean
// stop: Windows ends a process 5 s after CTRL_CLOSE_EVENT (and, by default,
// shows "this app is preventing shutdown" after 5 s at logoff).
constexpr DWORD kEndSessionWaitMs = 4500;

// A REG_SZ value of HKLM (64-bit view); empty when missing.
std::wstring ReadHklmString(const wchar_t* key_path, const wchar_t* value) {
  HKEY key = nullptr;
  if (RegOpenKeyExW(HKEY_LOCAL_MACHINE, key_path, 0, KEY_QUERY_VALUE | KEY_WOW64_64KEY, &key) !=
      ERROR_SUCCESS) {
    return {};
  }
  std::wstring out;
  DWORD type = 0, bytes = 0;
  if (RegQueryValueExW(key, value, nullptr, &type, nullptr, &bytes) == ERROR_SUCCESS &&
      (type == REG_SZ || type == REG_EXPAND_SZ) && bytes > 0) {
    std::vector<wchar_t> buf(bytes / sizeof(wchar_t) + 1, L'\0');
    if (RegQueryValueExW(key, value, nullptr, &type, reinterpret_cast<BYTE*>(buf.data()), &bytes) ==
        ERROR_SUCCESS) {
      out.assign(buf.data());  // up to the first NUL (the stored one, or ours)
    }
  }
  RegCloseKey(key);
  return out;
}

DWORD ReadHklmDword(const wchar_t* key_path, const wchar_t* value, DWORD fallback) {
  DWORD data = 0, bytes = sizeof data;
  if (RegGetValueW(HKEY_LOCAL_MACHINE, key_path, value, RRF_RT_REG_DWORD, nullptr, &data, &bytes) ==
      ERROR_SUCCESS) {
    return data;
  }
  return fallback;
}

// RtlGetVersion tells the truth whatever the program's manifest says.
OSVERSIONINFOW RealVersion() {
  OSVERSIONINFOW v{};
  v.dwOSVersionInfoSize = sizeof v;
  using RtlGetVersionFn = LONG(WINAPI*)(OSVERSIONINFOW*);
  if (HMODULE ntdll = GetModuleHandleW(L"ntdll.dll"); ntdll != nullptr) {
    auto fn = reinterpret_cast<RtlGetVersionFn>(
        reinterpret_cast<void*>(GetProcAddress(ntdll, "RtlGetVersion")));
    if (fn != nullptr) fn(&v);
  }
  return v;
}

// What the hidden window and the console control handler share. Held by
// shared_ptr: the console control handler runs on a thread Windows starts
// and may still be running while the watcher closes.
struct StopState {
  explicit StopState(std::function<void(const std::string&)> f)
      : on_stop(std::move(f)), closed(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {}
  ~StopState() { CloseHandle(closed); }
  StopState(const StopState&) = delete;
  StopState& operator=(const StopState&) = delete;

  void Fire(const std::string& reason) {
    if (!fired.exchange(true)) on_stop(reason);
  }
  // Windows ends the process as soon as the handler returns: wait for Close().
  void FireAndWaitForClose(const std::string& reason) {
    Fire(reason);
    WaitForSingleObject(closed, kEndSessionWaitMs);
  }

  const std::function<void(const std::string&)> on_stop;
  const HANDLE closed;  // set by Close()
  std::atomic<bool> fired{false};
};

// The state the console control handler reports to (the handler is a plain
// function, registered process-wide).
std::mutex g_console_mu;
std::shared_ptr<StopState> g_console_state;  // guarded by g_console_mu

class WindowsStopRequestWatcher final : public StopRequestWatcher {
 public:
  explicit WindowsStopRequestWatcher(std::function<void(const std::string&)> on_stop)
      : state_(std::make_shared<StopState>(std::move(on_stop))) {
    std::promise<void> ready;
    std::future<void> ready_f = ready.get_future();
    thread_ = std::thread([this, &ready] { Run(ready); });
    ready_f.wait();
    {
      std::lock_guard<std::mutex> l(g_console_mu);
      g_console_state = state_;
    }
    SetConsoleCtrlHandler(&ConsoleHandler, TRUE);
  }
  ~WindowsStopRequestWatcher() override { Close(); }

  void Close() override {
    std::lock_guard<std::mutex> l(close_mu_);
    if (!thread_.joinable()) return;
    state_->fired = true;      // no stop request is reported after Close()
    SetEvent(state_->closed);  // releases a waiting end-of-session handler
    SetConsoleCtrlHandler(&ConsoleHandler, FALSE);
    {
      std::lock_guard<std::mutex> g(g_console_mu);
      if (g_console_state == state_) g_console_state.reset();
    }
    PostThreadMessageW(thread_id_, WM_QUIT, 0, 0);
    thread_.join();
  }

 private:
  static BOOL WINAPI ConsoleHandler(DWORD type) {
    std::shared_ptr<StopState> state;
    {
      std::lock_guard<std::mutex> l(g_console_mu);
      state = g_console_state;
    }
    if (state == nullptr) return FALSE;
    switch (type) {
      case CTRL_C_EVENT:
        state->Fire("Ctrl+C");
        return TRUE;
      case CTRL_BREAK_EVENT:
        state->Fire("Ctrl+Break");
        return TRUE;
      case CTRL_CLOSE_EVENT:
        state->FireAndWaitForClose("console closed");
        return TRUE;
      case CTRL_LOGOFF_EVENT:
      case CTRL_SHUTDOWN_EVENT:
        state->FireAndWaitForClose(type == CTRL_LOGOFF_EVENT ? "logoff" : "shutdown");
        return TRUE;
      default:
        return FALSE;
    }
  }

  static LRESULT CALLBACK WndProc(HWND hwnd, UINT msg, WPARAM wp, LPARAM lp) {
    if (msg == WM_NCCREATE) {
      auto* cs = reinterpret_cast<CREATESTRUCTW*>(lp);
      SetWindowLongPtrW(hwnd, GWLP_USERDATA, reinterpret_cast<LONG_PTR>(cs->lpCreateParams));
    }
    // The watcher's state outlives the window (Close() joins its thread).
    auto* state = reinterpret_cast<StopState*>(GetWindowLongPtrW(hwnd, GWLP_USERDATA));
    if (state != nullptr) {
      switch (msg) {
        case WM_QUERYENDSESSION:
          return TRUE;  // never veto a logoff or shutdown
        case WM_ENDSESSION:
          if (wp) {
            state->FireAndWaitForClose((lp & ENDSESSION_LOGOFF) ? "logoff (WM_ENDSESSION)"
                                                                : "shutdown (WM_ENDSESSION)");
          }
          return 0;
        case WM_CLOSE:  // taskkill without /F; Close() destroys the window
          state->Fire("WM_CLOSE");
          return 0;
        default:
          break;
      }
    }
    return DefWindowProcW(hwnd, msg, wp, lp);
  }

  void Run(std::promise<void>& ready) {
    SetCurrentThreadName("stop-requests");
    thread_id_ = GetCurrentThreadId();
    MSG msg;
    PeekMessageW(&msg, nullptr, WM_USER, WM_USER, PM_NOREMOVE);  // the queue exists
    HINSTANCE inst = GetModuleHandleW(nullptr);
    const std::wstring class_name = WideFromUtf8(kStopWindowClass);
    WNDCLASSEXW wc{};
    wc.cbSize = sizeof wc;
    wc.lpfnWndProc = &WndProc;
    wc.hInstance = inst;
    wc.lpszClassName = class_name.c_str();
    RegisterClassExW(&wc);  // fails harmlessly when already registered
    // Top-level and never shown (WS_POPUP without WS_VISIBLE): broadcasts
    // reach it, the user never sees it.
    HWND hwnd = CreateWindowExW(WS_EX_TOOLWINDOW, class_name.c_str(), L"Reclaim agent", WS_POPUP, 0,
                                0, 0, 0, nullptr, nullptr, inst, state_.get());
    ready.set_value();
    while (GetMessageW(&msg, nullptr, 0, 0) > 0) {
      TranslateMessage(&msg);
      DispatchMessageW(&msg);
    }
    if (hwnd != nullptr) DestroyWindow(hwnd);
  }

  const std::shared_ptr<StopState> state_;
  std::mutex close_mu_;
  std::thread thread_;
  DWORD thread_id_ = 0;
};

}  // namespace

PlatformUser CurrentPlatformUser() {
  PlatformUser user;
  DWORD error = 0;
  const std::vector<BYTE> token = CurrentProcessTokenUser(&error);
  if (!token.empty()) {
    const Win32Account account = AccountOfSid(TokenUserSid(token));
    user.sid = account.sid;
    user.login_name = account.name;
    user.domain = account.domain;
  }
  if (user.login_name.empty()) {
    wchar_t name[256] = {};
    DWORD len = 256;
    if (GetUserNameW(name, &len)) user.login_name = Utf8FromWide(name);
  }
  if (user.domain.empty()) {
    wchar_t host[MAX_COMPUTERNAME_LENGTH + 1] = {};
    DWORD len = MAX_COMPUTERNAME_LENGTH + 1;
    if (GetComputerNameW(host, &len)) user.domain = Utf8FromWide(host);
  }
  wchar_t upn[512] = {};
  ULONG upn_len = 512;
  if (GetUserNameExW(NameUserPrincipal, upn, &upn_len)) user.upn = Utf8FromWide(upn);
  return user;
}

std::string OsVersion() {
  const OSVERSIONINFOW v = RealVersion();
  std::string product = Utf8FromWide(ReadHklmString(kCurrentVersionKey, L"ProductName"));
  if (product.empty()) product = "Windows";
  // Windows 11 keeps "Windows 10" in ProductName; its builds start at 22000.
  if (v.dwBuildNumber >= 22000 && product.rfind("Windows 10", 0) == 0) {
    product.replace(0, 10, "Windows 11");
  }
  // (append() rather than operator+: GCC 12 warns falsely, -Wrestrict.)
  std::string out = product;
  const std::string display = Utf8FromWide(ReadHklmString(kCurrentVersionKey, L"DisplayVersion"));
  if (!display.empty()) out.append(" ").append(display);
  out.append(" (").append(std::to_string(v.dwMajorVersion)).append(".");
  out.append(std::to_string(v.dwMinorVersion)).append(" build ");
  out.append(std::to_string(v.dwBuildNumber));
  if (DWORD ubr = ReadHklmDword(kCurrentVersionKey, L"UBR", 0); ubr != 0) {
    out.append(".").append(std::to_string(ubr));
  }
  out.append(")");
  return out;
}

std::string OsFamily() { return "windows"; }

std::string HostName() {
  wchar_t buf[256] = {};
  DWORD len = 256;
  if (GetComputerNameExW(ComputerNameDnsFullyQualified, buf, &len) && len > 0) {
    return Utf8FromWide(std::wstring_view(buf, len));
  }
  len = 256;
  if (GetComputerNameW(buf, &len)) return Utf8FromWide(std::wstring_view(buf, len));
  return {};
}

std::string ReadDeviceId() {
  return Utf8FromWide(ReadHklmString(kCryptographyKey, L"MachineGuid"));
}

std::string DeviceIdSource() { return "HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MachineGuid"; }

// `folder`\Reclaim for a known folder; its environment variable `env`
// when the shell cannot say, else `fallback`\Reclaim.
std::string ReclaimFolderIn(REFKNOWNFOLDERID folder, const char* env, const std::string& fallback) {
  PWSTR path = nullptr;
  std::string base;
  if (SHGetKnownFolderPath(folder, 0, nullptr, &path) == S_OK) base = Utf8FromWide(path);
  CoTaskMemFree(path);
  if (base.empty()) {
    const char* value = std::getenv(env);
    base = value != nullptr && *value != '\0' ? value : fallback;
  }
  return base.empty() ? "Reclaim" : base + "\\Reclaim";
}

std::string DefaultStateDirectory() {
  return ReclaimFolderIn(FOLDERID_LocalAppData, "LOCALAPPDATA", "");
}

std::string DefaultMachineStateDirectory() {
  return ReclaimFolderIn(FOLDERID_ProgramData, "ProgramData", "C:\\ProgramData");
}

std::string DefaultMachineServiceConfigFile() {
  return DefaultMachineStateDirectory() + "\\agent-service.toml";
}

std::int64_t CurrentProcessId() { return static_cast<std::int64_t>(GetCurrentProcessId()); }

void SetProcessEnvironment(const std::string& name, const std::string& value) {
  SetEnvironmentVariableW(WideFromUtf8(name).c_str(), WideFromUtf8(value).c_str());
  _wputenv_s(WideFromUtf8(name).c_str(), WideFromUtf8(value).c_str());  // the CRT's copy
}

void SetCurrentThreadName(const std::string& name) {
  using SetThreadDescriptionFn = HRESULT(WINAPI*)(HANDLE, PCWSTR);
  static const SetThreadDescriptionFn fn = [] {
    HMODULE kernel = GetModuleHandleW(L"kernel32.dll");
    return kernel == nullptr ? nullptr
                             : reinterpret_cast<SetThreadDescriptionFn>(reinterpret_cast<void*>(
                                   GetProcAddress(kernel, "SetThreadDescription")));
  }();
  if (fn != nullptr) fn(GetCurrentThread(), WideFromUtf8(name).c_str());
}

void TuneProcessMemory() {}

void PrepareForStopRequests() {}

std::unique_ptr<StopRequestWatcher> WatchStopRequests(
    std::function<void(const std::string& reason)> on_stop) {
  return std::make_unique<WindowsStopRequestWatcher>(std::move(on_stop));
}

namespace {

// The open lock file; closing the handle (or the process ending) releases
// the lock and deletes the file.
class SharingInstanceLock final : public InstanceLock {
 public:
  explicit SharingInstanceLock(HANDLE file) : file_(file) {}
  ~SharingInstanceLock() override { CloseHandle(file_); }
  SharingInstanceLock(const SharingInstanceLock&) = delete;
  SharingInstanceLock& operator=(const SharingInstanceLock&) = delete;

 private:
  const HANDLE file_;
};

}  // namespace

std::unique_ptr<InstanceLock> TryLockInstance(const std::string& path, std::string* error) {
  // Not inheritable (lpSecurityAttributes null): a child process must not
  // keep the lock after this process ends.
  const HANDLE file =
      CreateFileW(WideFromUtf8(path).c_str(), GENERIC_READ | GENERIC_WRITE, /*dwShareMode=*/0,
                  nullptr, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_DELETE_ON_CLOSE, nullptr);
  if (file == INVALID_HANDLE_VALUE) {
    const DWORD e = GetLastError();
    // No process can open the holder's file, so its pid stays unknown (and
    // the holder writes none).
    *error = e == ERROR_SHARING_VIOLATION ? std::string(kInstanceLockHeld)
                                          : path + ": cannot open: " + Win32ErrorText(e);
    return nullptr;
  }
  return std::make_unique<SharingInstanceLock>(file);
}

}  // namespace reclaim::agent
