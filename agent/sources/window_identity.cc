#include "agent/sources/window_identity.h"

#include <algorithm>

#include "common/utf8.h"

namespace reclaim::agent {
namespace {

constexpr std::size_t kMaxTitleBytes = 1024;

bool EqualsAsciiNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool Excluded(std::uint32_t pid, const WindowIdentityOptions& options) {
  return std::find(options.excluded_pids.begin(), options.excluded_pids.end(),
                   static_cast<std::int64_t>(pid)) != options.excluded_pids.end();
}

// The identity of process `pid`, whose window of class `window_class` has the focus.
// `path`: its image path when already read.
AppIdentity IdentityOf(const WindowSystem& ws, std::uint32_t pid, const std::string& window_class,
                       std::optional<std::string> path) {
  AppIdentity app;
  app.window_class = SanitizeUtf8(window_class, 256);
  if (!path) path = ws.ProcessImagePath(pid, ProcessAccess::kQueryLimitedInformation);
  if (!path || path->empty()) {
    app.exe_name = "pid-denied";
    return app;
  }
  app.exe_path = SanitizeUtf8(*path, 4096);
  app.exe_name = std::string(PathBaseName(app.exe_path));
  app.package_id = SanitizeUtf8(ws.PackageFamilyName(pid), 256);
  ProductVersion v = ws.ReadProductVersion(*path);
  app.product_name = SanitizeUtf8(v.product_name, 256);
  app.product_version = SanitizeUtf8(v.product_version, 64);
  return app;
}

}  // namespace

std::string_view PathBaseName(std::string_view path) {
  const std::size_t slash = path.find_last_of("\\/");
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool IsApplicationFrameHost(std::string_view exe_name) {
  return EqualsAsciiNoCase(exe_name, "ApplicationFrameHost.exe");
}

ResolvedWindow ResolveWindow(const WindowSystem& ws, WindowHandle window,
                             const WindowIdentityOptions& options) {
  using Outcome = ResolvedWindow::Outcome;
  ResolvedWindow r;
  if (window == 0) return r;  // kNoWindow
  const std::uint32_t pid = ws.WindowProcessId(window);
  if (pid == 0) {
    r.outcome = Outcome::kGone;
    return r;
  }
  if (Excluded(pid, options)) {
    r.outcome = Outcome::kExcluded;
    return r;
  }
  std::uint32_t app_pid = pid;
  std::string window_class = ws.WindowClass(window);
  std::optional<std::string> path = ws.ProcessImagePath(pid, ProcessAccess::kQueryLimitedInformation);
  if (path && IsApplicationFrameHost(PathBaseName(*path))) {
    // UWP: the hosted app owns a child window of the frame.
    app_pid = 0;
    for (WindowHandle child : ws.ChildWindows(window)) {
      const std::uint32_t child_pid = ws.WindowProcessId(child);
      if (child_pid != 0 && child_pid != pid) {
        app_pid = child_pid;
        window_class = ws.WindowClass(child);
        break;
      }
    }
    if (app_pid == 0) {
      r.outcome = Outcome::kFrameWithoutApp;
      return r;
    }
    if (Excluded(app_pid, options)) {
      r.outcome = Outcome::kExcluded;
      return r;
    }
  }
  r.outcome = Outcome::kApp;
  r.pid = app_pid;
  r.app = IdentityOf(ws, app_pid, window_class, app_pid == pid ? path : std::nullopt);
  if (options.read_window_titles) {
    r.app->window_title = SanitizeUtf8(ws.WindowTitle(window), kMaxTitleBytes);
  }
  return r;
}

}  // namespace reclaim::agent
