#include "collector/store/usage_store.h"

#include "absl/strings/str_cat.h"

namespace reclaim::collector {

std::string DisplayKey(const AppIdentityRecord& app) {
  // The site is the most specific identity of a browser window: it is what a
  // web application's licence covers.
  if (!app.web_domain.empty()) return absl::StrCat("web:", app.web_domain);
  if (!app.package_id.empty()) return absl::StrCat("pkg:", app.package_id);
  if (!app.exe_path.empty() || !app.exe_name.empty()) {
    std::string key = absl::StrCat("exe:", app.exe_path.empty() ? app.exe_name : app.exe_path);
    if (!app.window_class.empty()) absl::StrAppend(&key, " [", app.window_class, "]");
    return key;
  }
  if (!app.window_class.empty()) return absl::StrCat("class:", app.window_class);
  return std::string();
}

}  // namespace reclaim::collector
