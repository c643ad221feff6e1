// From a window's owner process to the AppIdentity the meter reports.
//
// Reads, for the process `pid` under `proc_root` (normally "/proc"; tests use
// a fixture tree), per proc(5):
//  - exe_path: the target of PID/exe, without the " (deleted)" suffix the
//    kernel adds after a package upgrade replaced the file; exe_name its file
//    name. When PID/exe cannot be read (a process of another user, a zombie),
//    exe_name falls back to the file name of argv[0] from PID/cmdline, then
//    to PID/comm, and exe_path stays empty (never a guess).
//  - package_id: the Flatpak application id (PID/root/.flatpak-info,
//    `[Application] name=`, or a cgroup `app-flatpak-<id>-<n>.scope`), else
//    the Snap name (cgroup `snap.<name>.<app>...`, or an exe under
//    /snap/<name>/), else empty. A sandboxed process thus reports its app id,
//    whatever the helper that started it.
//  - window_class: the class part of WM_CLASS (ICCCM 4.1.2.5), as given.
//  - window_title: only when titles are enabled, sanitised to valid UTF-8
//    (invalid bytes become U+FFFD) and cut to 1024 bytes.
// All strings are sanitised to valid UTF-8. Two executables sharing one window
// class (Electron apps) differ in exe_path and so are two identities.
//
// Standard C++ (std::filesystem); Linux semantics. Thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "agent/meter/meter.h"

namespace reclaim::agent {

/// What the X server told us about a window.
struct WindowFacts {
  /// Owner process: X-Resource client id, else _NET_WM_PID; nullopt if unknown.
  std::optional<std::int64_t> pid;
  /// WM_CLASS class part ("XTerm"); may be empty.
  std::string window_class;
  /// _NET_WM_NAME (UTF-8) or WM_NAME; raw bytes, may be invalid UTF-8.
  std::string title;
};

/// The identity of the application that owns a window (see above).
AppIdentity IdentifyWindow(const WindowFacts& window, bool with_title,
                           const std::string& proc_root = "/proc");

/// True for screen lockers and screensavers (xscreensaver, i3lock,
/// light-locker, gnome-screensaver, ...): the lock screen is never an
/// application, its windows count as "no foreground application".
bool IsLockScreen(const AppIdentity& app);

/// The parent of `pid` from <proc_root>/<pid>/stat (proc(5): the 4th field,
/// after the parenthesised command name); 0 when unknown.
std::int64_t ParentPid(const std::string& proc_root, std::int64_t pid);

}  // namespace reclaim::agent
