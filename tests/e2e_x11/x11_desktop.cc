#include "tests/e2e_x11/x11_desktop.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <thread>


namespace reclaim::e2e {


std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    const std::filesystem::path p = std::filesystem::path(dir) / name;
    if (access(p.c_str(), X_OK) == 0) return p.string();
  }
  return {};
}

X11Desktop::~X11Desktop() {
  wm_.KillAndReap();
  server_.KillAndReap();
}

int X11Desktop::PickRestartableDisplay() {
  const int first = 600 + static_cast<int>(::getpid() % 400);
  for (int i = 0; i < 400; ++i) {
    const int n = 600 + (first - 600 + i) % 400;
    const std::string lock = "/tmp/.X" + std::to_string(n) + "-lock";
    const std::string socket = "/tmp/.X11-unix/X" + std::to_string(n);
    if (::access(lock.c_str(), F_OK) != 0 && ::access(socket.c_str(), F_OK) != 0) return n;
  }
  return -1;
}

::testing::AssertionResult X11Desktop::StartServer(int display_number) {
  const std::string xvfb = FindProgram("Xvfb");
  if (xvfb.empty()) {
    return ::testing::AssertionFailure() << "Xvfb is missing: run deploy/install-deps.sh";
  }
  const std::string out = dir_ + "/xvfb." + std::to_string(++runs_) + ".out";
  std::vector<std::string> args;
  if (display_number >= 0) {
    args.push_back(":" + std::to_string(display_number));
  } else {
    args.insert(args.end(), {"-displayfd", "1"});
  }
  args.insert(args.end(), {"-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"});
  server_ = Child::Spawn(xvfb, args, out, dir_ + "/xvfb.log");
  if (!server_.started()) return ::testing::AssertionFailure() << server_.error();
  if (display_number >= 0) {
    display_number_ = display_number;
  } else {
    std::string text;
    if (!WaitFor([&] {
          text = ReadFile(out);
          return text.find('\n') != std::string::npos || !server_.Running();
        }, std::chrono::seconds(20)) || text.empty()) {
      return ::testing::AssertionFailure()
             << "Xvfb did not report its display: " << ReadFile(dir_ + "/xvfb.log");
    }
    display_number_ = std::stoi(text);
  }
  display_ = ":" + std::to_string(display_number_);
  setenv("DISPLAY", display_.c_str(), 1);
  const std::string xdpyinfo = FindProgram("xdpyinfo");
  if (xdpyinfo.empty()) return ::testing::AssertionFailure() << "xdpyinfo (x11-utils) is missing";
  if (!WaitFor([&] { return server_.Running() && Run(xdpyinfo, {}).exit_code == 0; },
               std::chrono::seconds(20), std::chrono::milliseconds(50))) {
    return ::testing::AssertionFailure()
           << "Xvfb on " << display_ << " does not answer: " << server_.Describe() << " "
           << ReadFile(dir_ + "/xvfb.log");
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult X11Desktop::StartWm() {
  const std::string openbox = FindProgram("openbox");
  const std::string xprop = FindProgram("xprop");
  if (openbox.empty() || xprop.empty()) {
    return ::testing::AssertionFailure() << "openbox or xprop is missing: run deploy/install-deps.sh";
  }
  // After a window manager died, the root window still names its (destroyed)
  // check window: wait until the named window exists and carries the WM's name.
  for (int attempt = 0; attempt < 3; ++attempt) {
    wm_.KillAndReap();
    wm_ = Child::Spawn(openbox, {"--sm-disable"}, dir_ + "/openbox.log");
    if (!wm_.started()) return ::testing::AssertionFailure() << wm_.error();
    if (WaitFor([&] {
          RunResult r = Run(xprop, {"-root", "_NET_SUPPORTING_WM_CHECK"});
          const size_t hash = r.out.find("window id # ");
          if (hash == std::string::npos) return false;
          std::string id = r.out.substr(hash + 12);
          id = id.substr(0, id.find_first_of(" \n"));
          RunResult w = Run(xprop, {"-id", id, "_NET_WM_NAME"});
          return w.exit_code == 0 && w.out.find(" = ") != std::string::npos;
        }, std::chrono::seconds(10), std::chrono::milliseconds(50))) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "openbox did not start: " << ReadFile(dir_ + "/openbox.log");
}

void X11Desktop::KillWm() { wm_.KillAndReap(); }
void X11Desktop::KillServer() { server_.KillAndReap(); }

Child X11Desktop::StartApp(const std::string& path, const std::vector<std::string>& args,
                             const std::string& name) {
  const std::string log = dir_ + "/" + name + ".log";
  return Child::Spawn(path, args, log);
}

RunResult X11Desktop::Run(const std::string& path, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout) {
  return RunToCompletion(path, args, dir_ + "/run.out", timeout);
}

std::optional<std::uint32_t> X11Desktop::WaitForWindow(const std::string& klass,
                                                       std::chrono::milliseconds timeout,
                                                       const std::vector<std::uint32_t>& known) {
  const std::string xdotool = FindProgram("xdotool");
  std::optional<std::uint32_t> found;
  WaitFor([&] {
    RunResult r = Run(xdotool, {"search", "--onlyvisible", "--class", klass});
    std::stringstream ss(r.out);
    std::uint32_t w;
    while (ss >> w) {
      if (std::find(known.begin(), known.end(), w) == known.end()) {
        found = w;
        return true;
      }
    }
    return false;
  }, timeout, std::chrono::milliseconds(50));
  return found;
}

std::uint32_t X11Desktop::ActiveWindow() {
  RunResult r = Run(FindProgram("xprop"), {"-root", "_NET_ACTIVE_WINDOW"});
  const size_t hash = r.out.find("# ");
  if (hash == std::string::npos) return 0;
  return static_cast<std::uint32_t>(std::stoul(r.out.substr(hash + 2), nullptr, 16));
}

bool X11Desktop::Activate(std::uint32_t w) {
  // Some windows refuse focus and make --sync wait ~15 s: bound it ourselves.
  Run(FindProgram("xdotool"), {"windowactivate", std::to_string(w)}, std::chrono::seconds(2));
  return WaitFor([&] { return ActiveWindow() == w; }, std::chrono::seconds(3),
                 std::chrono::milliseconds(20));
}

bool X11Desktop::FocusRoot() {
  // Clicking the desktop in openbox unfocuses every window: _NET_ACTIVE_WINDOW
  // becomes None. xdotool's XTEST click on an empty root spot does the same.
  const std::string xdotool = FindProgram("xdotool");
  Run(xdotool, {"mousemove", "1275", "795", "click", "1"});
  return WaitFor([&] { return ActiveWindow() == 0; }, std::chrono::seconds(3),
                 std::chrono::milliseconds(20));
}

bool X11Desktop::Input() {
  return Run(FindProgram("xdotool"), {"mousemove_relative", "--", "1", "0"}).exit_code == 0;
}

std::uint32_t X11Desktop::WaitForWindowOf(int pid, const std::string& name,
                                          std::chrono::milliseconds timeout) {
  std::vector<std::string> args = {"search", "--onlyvisible", "--pid", std::to_string(pid)};
  if (!name.empty()) args.insert(args.end(), {"--name", name});
  std::uint32_t found = 0;
  WaitFor([&] {
    std::stringstream ss(Run(FindProgram("xdotool"), args).out);
    return static_cast<bool>(ss >> found);
  }, timeout, std::chrono::milliseconds(50));
  return found;
}

bool X11Desktop::KeepActive(std::chrono::milliseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
    if (!Input()) return false;
    WaitFor([&] { return std::chrono::steady_clock::now() >= end; },
            std::chrono::milliseconds(700), std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace reclaim::e2e
