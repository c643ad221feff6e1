#include "agent/browser/browser_address.h"

namespace reclaim::agent {

std::string DefaultBrowserSocketPath(const std::string& override_path,
                                     const std::string& xdg_runtime_dir, unsigned uid) {
  if (!override_path.empty()) return override_path;
  if (!xdg_runtime_dir.empty()) return xdg_runtime_dir + "/reclaim/browser.sock";
  return "/tmp/reclaim-" + std::to_string(uid) + "/browser.sock";
}

std::string BrowserPipeName(const std::string& sid) {
  return "\\\\.\\pipe\\reclaim-browser-" + sid;
}

std::string BrowserPipeSddl(const std::string& sid) {
  // 0x12018b = FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES:
  // read and write, but not FILE_APPEND_DATA (FILE_CREATE_PIPE_INSTANCE).
  return "D:P(D;;GA;;;NU)(A;;GA;;;" + sid + ")(A;;0x12018b;;;SY)";
}

std::string DefaultBrowserAddress(const std::string& override_address,
                                  const std::string& xdg_runtime_dir, unsigned uid,
                                  const std::string& windows_sid) {
  if (!override_address.empty()) return override_address;
  if (!windows_sid.empty()) return BrowserPipeName(windows_sid);
  return DefaultBrowserSocketPath("", xdg_runtime_dir, uid);
}

}  // namespace reclaim::agent
