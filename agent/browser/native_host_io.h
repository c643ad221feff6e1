// reclaim-native-host's platform I/O (native_host_main.cc is portable):
// the browser's end (stdin/stdout) and the agent's end (the bridge's socket
// or pipe, browser_address.h). Twins: native_host_io_linux.cc,
// native_host_io_windows.cc. Standard C++ types only.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "agent/local/local_channel.h"

namespace reclaim::agent {

/// Makes stdin and stdout carry bytes unchanged. Windows:
/// _setmode(_fileno(stdin|stdout), _O_BINARY) (the CRT's text mode would turn
/// "\n" into "\r\n" and stop at 0x1A, breaking the 32-bit length prefixes of
/// native messaging). Linux: nothing. Call before any I/O.
void PrepareHostStdio();

/// Blocks until stdin has bytes and reads at most `size` of them: the count,
/// 0 at the end (the browser closed the port or exited), -1 on an error.
long ReadHostStdin(char* buffer, std::size_t size);

/// Writes all of `bytes` to stdout. False when the browser is gone.
bool WriteHostStdout(const std::string& bytes);

/// The bridge's address: DefaultBrowserAddress($RECLAIM_BROWSER_SOCKET,
/// $XDG_RUNTIME_DIR, this uid, this user's SID on Windows).
std::string HostBridgeAddress();

/// Connects to the agent's bridge at `address`, only when the listener runs
/// as this user: Linux SO_PEERCRED of the connected socket (without
/// $XDG_RUNTIME_DIR the socket is under /tmp, where another user may listen
/// first); Windows ConnectLocal with windows_server_sid "self"
/// (GetNamedPipeServerProcessId's token user). Errors: UNAVAILABLE when
/// nothing listens; PERMISSION_DENIED naming the listener's user when it is
/// someone else (nothing was sent); INVALID_ARGUMENT for a bad address.
IpcStatus ConnectHostBridge(const std::string& address, std::unique_ptr<LocalChannel>* channel);

}  // namespace reclaim::agent
