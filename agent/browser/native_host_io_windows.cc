// reclaim-native-host's I/O on Windows: stdin/stdout in binary mode (the
// browser talks to the host over pipes: Chrome "Native messaging", MDN
// "Native messaging"), the agent's per-user pipe through ConnectLocal, which
// checks that the pipe's server runs as this user.
#include <fcntl.h>
#include <io.h>
#include <stdio.h>

#include <climits>
#include <cstdlib>

#include "agent/browser/browser_address.h"
#include "agent/browser/native_host_io.h"
#include "agent/platform/process_platform.h"

namespace reclaim::agent {

void PrepareHostStdio() {
  _setmode(_fileno(stdin), _O_BINARY);
  _setmode(_fileno(stdout), _O_BINARY);
}

long ReadHostStdin(char* buffer, std::size_t size) {
  const unsigned chunk = size > INT_MAX ? INT_MAX : static_cast<unsigned>(size);
  return _read(0, buffer, chunk);  // 0 also when the browser's pipe end closed
}

bool WriteHostStdout(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::size_t left = bytes.size() - done;
    const int n = _write(1, bytes.data() + done, left > INT_MAX ? INT_MAX : static_cast<unsigned>(left));
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string HostBridgeAddress() {
  const char* address = std::getenv("RECLAIM_BROWSER_SOCKET");
  return DefaultBrowserAddress(address ? address : "", "", 0, CurrentPlatformUser().sid);
}

IpcStatus ConnectHostBridge(const std::string& address, std::unique_ptr<LocalChannel>* channel) {
  LocalConnectOptions options;
  options.windows_server_sid = "self";  // only this user's agent hears which sites we use
  return ConnectLocal(address, options, channel);
}

}  // namespace reclaim::agent
