// A real headless X11 desktop for tests: Xvfb (display picked by the server
// itself with -displayfd, so tests can run in parallel), openbox as the EWMH
// window manager, real applications, and xdotool as the scripted user.
//
// Missing tools are failures, never skips: CI installs them with
// deploy/install-deps.sh. Everything lives in the test's own directory.
// Sets DISPLAY in this process's environment (children inherit it), so one
// desktop per test process. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e_x11/child_process.h"

namespace reclaim::e2e {

class X11Desktop {
 public:
  /// Logs go to `dir`.
  explicit X11Desktop(std::string dir) : dir_(std::move(dir)) {}
  ~X11Desktop();

  /// Starts Xvfb on a free display (or on `display_number` when >= 0, as for
  /// a restart on the same display) and waits until it accepts clients.
  ::testing::AssertionResult StartServer(int display_number = -1);
  /// A display number for a test that must restart its X server on the same
  /// display: from 600-999 (chosen by pid, then the next free one), far from
  /// the low numbers `Xvfb -displayfd` hands out to parallel tests, so none
  /// of them takes it while this test's server is down. Free means no
  /// /tmp/.X<n>-lock and no /tmp/.X11-unix/X<n>.
  static int PickRestartableDisplay();
  /// Starts openbox and waits until it announces itself
  /// (_NET_SUPPORTING_WM_CHECK on the root window); retried once.
  ::testing::AssertionResult StartWm();
  /// SIGKILLs the window manager.
  void KillWm();
  /// SIGKILLs the X server (clients lose their connection).
  void KillServer();

  const std::string& display() const { return display_; }
  int display_number() const { return display_number_; }

  /// Starts an application on the desktop; its output goes to dir/<name>.log.
  Child StartApp(const std::string& path, const std::vector<std::string>& args,
                                const std::string& name);
  /// Waits for a visible window whose WM_CLASS matches `klass` (xdotool
  /// search --class), excluding `known`; polls every 50 ms.
  std::optional<std::uint32_t> WaitForWindow(const std::string& klass,
                                             std::chrono::milliseconds timeout,
                                             const std::vector<std::uint32_t>& known = {});
  /// Waits up to `timeout` for a visible window of process `pid` whose title
  /// contains `name` (any title when empty); 0 when none appeared.
  std::uint32_t WaitForWindowOf(int pid, const std::string& name = "",
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Activates `w` (xdotool windowactivate; bounded by `timeout` 2 s) and waits
  /// until _NET_ACTIVE_WINDOW names it. False when it did not.
  bool Activate(std::uint32_t w);
  /// Focus on the root window: no active window (xdotool windowfocus on the root).
  bool FocusRoot();
  /// The window _NET_ACTIVE_WINDOW names (0: none), via xdotool getactivewindow.
  std::uint32_t ActiveWindow();
  /// Real input through XTEST (resets the X server's idle time).
  bool Input();
  /// Keeps the user active for `d`: Input() every 700 ms. False when an
  /// input failed.
  bool KeepActive(std::chrono::milliseconds d);
  /// Runs a program to completion with this desktop's DISPLAY.
  RunResult Run(const std::string& path, const std::vector<std::string>& args,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  std::string dir_;
  std::string display_;
  int display_number_ = -1;
  int runs_ = 0;
  Child server_;
  Child wm_;
};

/// Absolute path of a program on PATH; empty when missing.
std::string FindProgram(const std::string& name);

}  // namespace reclaim::e2e
