// StartBrowserBridge on Windows: the agent listens on the named pipe
// \\.\pipe\reclaim-browser-<SID> (browser_address.h) through ListenLocal
// (agent/local/local_channel.h, local_channel_windows.cc) with a DACL that
// lets only this user (and SYSTEM) open it and only this user add instances
// (BrowserPipeSddl), and serves it with the shared local-channel bridge
// (browser_bridge_local.h): only peers this user's SID is attested for are
// served; the browser is the host's parent process past a cmd.exe
// (browser_process.h).
#include "absl/strings/str_cat.h"
#include "agent/browser/browser_address.h"
#include "agent/browser/browser_bridge.h"
#include "agent/browser/browser_bridge_local.h"
#include "agent/browser/browser_process.h"
#include "agent/local/local_channel.h"
#include "agent/platform/process_platform.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {

absl::StatusOr<std::unique_ptr<BrowserBridge>> StartBrowserBridge(BrowserBridgeOptions options,
                                                                   BrowserStateSink on_state) {
  const std::string sid = CurrentPlatformUser().sid;
  if (sid.empty()) {
    return absl::FailedPreconditionError("browser bridge: this process's user SID is unknown");
  }
  if (options.socket_path.empty()) {
    return absl::InvalidArgumentError("browser bridge: the pipe name is empty");
  }
  LocalListenerOptions lo;
  lo.windows_sddl = BrowserPipeSddl(sid);
  std::unique_ptr<LocalListener> listener;
  if (IpcStatus s = ListenLocal(options.socket_path, lo, &listener); !s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.code),
                        absl::StrCat("browser bridge: ", s.message));
  }
  spdlog::info("browser extension pipe {}", options.socket_path);
  return StartLocalBrowserBridge(std::move(options), std::move(on_state), std::move(listener),
                                 {.user_key = sid, .browser_of_host = &BrowserProcessOfHost});
}

}  // namespace reclaim::agent
