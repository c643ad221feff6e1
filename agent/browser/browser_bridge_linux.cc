// StartBrowserBridge on Linux: the agent listens on a Unix stream socket
// (socket_path) through ListenLocal (agent/local/local_channel_linux.cc) in
// a directory of its own, created 0700 (one owned by another user or open
// to others is refused), the socket 0600, and serves it with the shared
// local-channel bridge (browser_bridge_local.h): only peers of this uid
// (SO_PEERCRED, key "uid:<uid>") are served; the browser is the peer's
// parent process, read from <proc_root>/<pid>/stat.
#include <errno.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/browser/browser_bridge.h"
#include "agent/browser/browser_bridge_local.h"
#include "agent/local/local_channel.h"
#include "agent/sources/proc_identity.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

std::string Errno(const std::string& what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

// Creates `dir` (0700) if missing; refuses one that another user owns or
// that others can write to or enter.
absl::Status PrepareDirectory(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(Errno("mkdir " + dir));
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) return absl::UnavailableError(Errno("stat " + dir));
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " must be a directory owned by uid ", geteuid(), " with mode 0700"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BrowserBridge>> StartBrowserBridge(BrowserBridgeOptions options,
                                                                   BrowserStateSink on_state) {
  const std::string& path = options.socket_path;
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("browser socket path must be 1-", sizeof(sockaddr_un::sun_path) - 1, " bytes"));
  }
  RETURN_IF_ERROR(PrepareDirectory(std::filesystem::path(path).parent_path().string()));
  LocalListenerOptions lo;
  lo.unix_mode = 0600;
  std::unique_ptr<LocalListener> listener;
  if (IpcStatus s = ListenLocal(path, lo, &listener); !s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.code),
                        absl::StrCat("browser bridge: ", s.message));
  }
  spdlog::info("browser extension socket {}", path);
  std::string proc_root = options.proc_root;
  return StartLocalBrowserBridge(
      std::move(options), std::move(on_state), std::move(listener),
      {.user_key = absl::StrCat("uid:", geteuid()),
       .browser_of_host = [proc_root](std::int64_t host_pid) {
         return ParentPid(proc_root, host_pid);
       }});
}

}  // namespace reclaim::agent
