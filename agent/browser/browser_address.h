// Where reclaim-native-host finds the agent's browser bridge, on each
// platform. Standard C++ only (built into the Windows layer tested under
// Wine, and into both twins of the bridge and the host).
//
// Linux: a Unix stream socket in a directory of the user's own (0700).
// Windows: a named pipe per user, \\.\pipe\reclaim-browser-<SID>, whose
// security descriptor (BrowserPipeSddl) lets only that user (and SYSTEM)
// open it, and only that user create instances of it (ARCH-WINDOWS.md).
#pragma once

#include <string>

namespace reclaim::agent {

/// Linux: where the agent listens for reclaim-native-host:
/// `override_path` when not empty ($RECLAIM_BROWSER_SOCKET, --browser-socket),
/// else `xdg_runtime_dir`/reclaim/browser.sock, else
/// /tmp/reclaim-<uid>/browser.sock. The agent and the host compute it alike,
/// so they must see the same environment (the browser passes its own to the
/// host).
std::string DefaultBrowserSocketPath(const std::string& override_path,
                                     const std::string& xdg_runtime_dir, unsigned uid);

/// Windows: the bridge's pipe for the user with SID `sid` ("S-1-5-21-..."):
/// "\\.\pipe\reclaim-browser-<sid>". A SID has only digits, 'S' and '-', so
/// the name is a valid pipe name (at most 256 characters, no backslash).
std::string BrowserPipeName(const std::string& sid);

/// Windows: the bridge pipe's security descriptor in SDDL (Security
/// Descriptor String Format, learn.microsoft.com/windows/win32/secauthz/
/// security-descriptor-string-format): a protected DACL (no inherited
/// entries) that denies network logons, gives the user `sid` full control
/// (including FILE_CREATE_PIPE_INSTANCE, so the agent can add instances)
/// and SYSTEM read and write without FILE_APPEND_DATA (for a pipe,
/// FILE_CREATE_PIPE_INSTANCE): nobody else may connect or add instances to
/// squat on the name.
std::string BrowserPipeSddl(const std::string& sid);

/// The address the agent listens on and the host connects to:
/// `override_address` when not empty; else on Windows (`windows_sid` not
/// empty) BrowserPipeName(windows_sid); else DefaultBrowserSocketPath("",
/// xdg_runtime_dir, uid).
std::string DefaultBrowserAddress(const std::string& override_address,
                                  const std::string& xdg_runtime_dir, unsigned uid,
                                  const std::string& windows_sid);

}  // namespace reclaim::agent
