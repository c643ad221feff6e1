#include "agent/sources/proc_identity.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>

#include "common/utf8.h"

namespace reclaim::agent {
namespace {

constexpr size_t kMaxFileBytes = 64 * 1024;
constexpr size_t kMaxTitleBytes = 1024;
constexpr size_t kMaxPathBytes = 4096;
constexpr size_t kMaxNameBytes = 255;

// Up to kMaxFileBytes of a (proc) file; empty when unreadable.
std::string ReadSmall(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::string out(kMaxFileBytes, '\0');
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(f.gcount()));
  return out;
}

std::string BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// `[Application]` section's `name=` in a .flatpak-info key file.
std::string FlatpakInfoName(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  bool in_app = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line.front() == '[') {
      in_app = line == "[Application]";
      continue;
    }
    if (in_app && line.rfind("name=", 0) == 0) return line.substr(5);
  }
  return {};
}

// A Flatpak app id or Snap name from PID/cgroup lines ("0::/user.slice/...").
std::string PackageFromCgroup(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // Look at each path component.
    size_t pos = line.find("::");
    std::string_view path = pos == std::string::npos ? std::string_view(line)
                                                     : std::string_view(line).substr(pos + 2);
    while (!path.empty()) {
      const size_t slash = path.find('/');
      std::string_view part = path.substr(0, slash);
      path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
      // systemd scopes made by flatpak: app-flatpak-<app id>-<pid>.scope
      constexpr std::string_view kFlatpak = "app-flatpak-";
      if (part.rfind(kFlatpak, 0) == 0 && part.size() > 6 &&
          part.substr(part.size() - 6) == ".scope") {
        std::string_view id = part.substr(kFlatpak.size(), part.size() - kFlatpak.size() - 6);
        const size_t dash = id.rfind('-');
        if (dash != std::string_view::npos && dash > 0) return std::string(id.substr(0, dash));
      }
      // snapd: snap.<name>.<app>-<uuid>.scope or snap.<name>.<app>.service
      constexpr std::string_view kSnap = "snap.";
      if (part.rfind(kSnap, 0) == 0) {
        std::string_view rest = part.substr(kSnap.size());
        const size_t dot = rest.find('.');
        if (dot != std::string_view::npos && dot > 0) return std::string(rest.substr(0, dot));
      }
    }
  }
  return {};
}

// The snap name when `exe` lies under /snap/<name>/<revision>/.
std::string SnapFromExe(std::string_view exe) {
  constexpr std::string_view kSnapDir = "/snap/";
  if (exe.rfind(kSnapDir, 0) != 0) return {};
  std::string_view rest = exe.substr(kSnapDir.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return {};
  return std::string(rest.substr(0, slash));
}

}  // namespace

AppIdentity IdentifyWindow(const WindowFacts& window, bool with_title,
                           const std::string& proc_root) {
  AppIdentity app;
  app.window_class = SanitizeUtf8(window.window_class, kMaxNameBytes);
  if (with_title) app.window_title = SanitizeUtf8(window.title, kMaxTitleBytes);
  if (!window.pid || *window.pid <= 0) return app;

  const std::filesystem::path dir = std::filesystem::path(proc_root) / std::to_string(*window.pid);
  std::error_code ec;
  std::string exe = std::filesystem::read_symlink(dir / "exe", ec).string();
  if (!ec && !exe.empty()) {
    constexpr std::string_view kDeleted = " (deleted)";
    if (exe.size() > kDeleted.size() &&
        std::string_view(exe).substr(exe.size() - kDeleted.size()) == kDeleted) {
      exe.resize(exe.size() - kDeleted.size());
    }
    app.exe_path = SanitizeUtf8(exe, kMaxPathBytes);
    app.exe_name = SanitizeUtf8(BaseName(exe), kMaxNameBytes);
  } else {
    // Not ours to read (or gone): the name only, from argv[0] or comm.
    std::string cmdline = ReadSmall(dir / "cmdline");
    std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
    if (argv0.empty()) {
      argv0 = ReadSmall(dir / "comm");
      while (!argv0.empty() && argv0.back() == '\n') argv0.pop_back();
    }
    app.exe_name = SanitizeUtf8(BaseName(argv0), kMaxNameBytes);
  }

  std::string package = FlatpakInfoName(ReadSmall(dir / "root" / ".flatpak-info"));
  if (package.empty()) package = PackageFromCgroup(ReadSmall(dir / "cgroup"));
  if (package.empty()) package = SnapFromExe(exe);
  app.package_id = SanitizeUtf8(package, kMaxNameBytes);
  return app;
}

bool IsLockScreen(const AppIdentity& app) {
  static constexpr std::array<std::string_view, 14> kLockers = {
      "xscreensaver",      "xscreensaver-gl-helper", "i3lock",        "slock",
      "xsecurelock",       "light-locker",           "gnome-screensaver",
      "mate-screensaver",  "cinnamon-screensaver",   "xfce4-screensaver",
      "kscreenlocker_greet", "xlock",                "swaylock",      "xtrlock"};
  for (std::string_view l : kLockers) {
    if (app.exe_name == l) return true;
  }
  static constexpr std::array<std::string_view, 4> kLockerClasses = {
      "XScreenSaver", "i3lock", "Light-locker", "Xsecurelock"};
  for (std::string_view c : kLockerClasses) {
    if (app.window_class == c) return true;
  }
  return false;
}

std::int64_t ParentPid(const std::string& proc_root, std::int64_t pid) {
  std::ifstream f(proc_root + "/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  std::int64_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

}  // namespace reclaim::agent
