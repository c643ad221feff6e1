// Windows foreground window -> AppIdentity, as pure logic over an injected
// view of the window system (WindowSystem), so the rules are unit-tested with
// made-up windows and processes that Wine cannot produce (UWP frames, elevated
// processes). focus_source_windows.cc implements WindowSystem with Win32.
//
// Rules:
//  - Window 0 (GetForegroundWindow() is NULL: UAC prompt on the secure
//    desktop, locked workstation, desktop switch) is "no focus".
//  - The process image path is read with PROCESS_QUERY_LIMITED_INFORMATION
//    only (QueryFullProcessImageNameW), which a standard user's process is
//    granted even for elevated processes; PROCESS_QUERY_INFORMATION or
//    PROCESS_VM_READ would be refused for them
//    (https://learn.microsoft.com/windows/win32/procthread/process-security-and-access-rights).
//    A process even that is refused for (protected processes) is still an
//    application: identified by its window class and `exe_name` "pid-denied"
//    rather than dropped, so its focus time is not credited to the previous one.
//  - A UWP app's top-level window belongs to ApplicationFrameHost.exe; the app
//    itself owns a child window (class Windows.UI.Core.CoreWindow) of another
//    process. The hosted app is reported: that child's process, its path and
//    package family name. While the frame has no hosted child yet (the app is
//    starting or resuming), the outcome is kFrameWithoutApp and no app: the
//    caller looks again shortly. ApplicationFrameHost is never reported.
//  - Product name and version come from the executable's version resource.
//  - Windows of excluded processes (the agent's own prompt) are "no focus".
//
// Standard C++ only (no <windows.h>): built and tested on every platform.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/meter/meter.h"

namespace reclaim::agent {

/// An HWND as an integer; 0 is no window.
using WindowHandle = std::uintptr_t;

/// How a process is opened to read its image path.
enum class ProcessAccess {
  kQueryLimitedInformation,  ///< PROCESS_QUERY_LIMITED_INFORMATION: what we use.
  kQueryInformationVmRead,   ///< PROCESS_QUERY_INFORMATION | PROCESS_VM_READ: refused for elevated processes.
};

/// Product strings from a file's version resource (empty when absent).
struct ProductVersion {
  std::string product_name;
  std::string product_version;
};

/// The window system as the resolver sees it. Strings are UTF-8. All calls
/// tolerate windows and processes that vanished (they return 0 / empty).
class WindowSystem {
 public:
  virtual ~WindowSystem() = default;
  /// Process owning the window; 0 when the window is gone.
  virtual std::uint32_t WindowProcessId(WindowHandle window) const = 0;
  virtual std::string WindowClass(WindowHandle window) const = 0;
  virtual std::string WindowTitle(WindowHandle window) const = 0;
  /// Direct child windows, in Z order.
  virtual std::vector<WindowHandle> ChildWindows(WindowHandle window) const = 0;
  /// Full image path (Win32 form, e.g. C:\Windows\System32\notepad.exe);
  /// nullopt when the process cannot be opened with `access` or is gone.
  virtual std::optional<std::string> ProcessImagePath(std::uint32_t pid,
                                                      ProcessAccess access) const = 0;
  /// The package family name of a packaged (UWP/MSIX) process, else "".
  virtual std::string PackageFamilyName(std::uint32_t pid) const = 0;
  virtual ProductVersion ReadProductVersion(const std::string& exe_path) const = 0;
};

/// Options; every field documents its default.
struct WindowIdentityOptions {
  /// Fill AppIdentity::window_title (sanitised UTF-8, at most 1024 bytes).
  /// Default false.
  bool read_window_titles = false;
  /// Processes whose windows are "no focus" (the agent's own). Default empty.
  std::vector<std::int64_t> excluded_pids;
};

struct ResolvedWindow {
  enum class Outcome {
    kApp,              ///< `app` is set.
    kNoWindow,         ///< Window 0: no focus.
    kGone,             ///< The window vanished: no focus.
    kExcluded,         ///< An excluded process: no focus.
    kFrameWithoutApp,  ///< ApplicationFrameHost without hosted app yet: look again.
  };
  Outcome outcome = Outcome::kNoWindow;
  std::optional<AppIdentity> app;
  /// The process the identity was read from (the hosted app for UWP), or 0.
  std::uint32_t pid = 0;
};

/// Maps the foreground window to an application (rules above).
ResolvedWindow ResolveWindow(const WindowSystem& ws, WindowHandle window,
                             const WindowIdentityOptions& options);

/// The file name of a Windows or POSIX path ("C:\a\b.exe" -> "b.exe").
std::string_view PathBaseName(std::string_view path);

/// True for ApplicationFrameHost.exe (ASCII case-insensitive).
bool IsApplicationFrameHost(std::string_view exe_name);

}  // namespace reclaim::agent
