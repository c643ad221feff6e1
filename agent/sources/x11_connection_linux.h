// Shared plumbing of the X11 sources (Linux only; included only by *_linux.cc):
// finding the session's display, connecting, and an eventfd that wakes a
// source's thread for Stop().
#pragma once

#include <xcb/xcb.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace reclaim::agent::x11 {

/// Displays to try, in order: `configured` when not empty, else ":N" for each
/// X server socket /tmp/.X11-unix/XN (lowest N first). The agent runs in the
/// user's session, so the first display that accepts the connection (its
/// authorization: XAUTHORITY or ~/.Xauthority) is the session's.
std::vector<std::string> CandidateDisplays(const std::string& configured,
                                           const std::string& socket_dir = "/tmp/.X11-unix");

/// An open connection. Owns `conn` (xcb_disconnect on destruction).
struct Connection {
  xcb_connection_t* conn = nullptr;
  xcb_window_t root = 0;
  std::string display;
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (conn) xcb_disconnect(conn);
  }
};

/// Connects to the first candidate display that accepts us; nullptr if none.
/// `error` says why the last attempt failed.
std::unique_ptr<Connection> Connect(const std::string& configured, std::string* error);

/// An eventfd that wakes a thread blocked in poll(). Thread-safe.
class WakeFd {
 public:
  WakeFd();
  ~WakeFd();
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  int fd() const { return fd_; }
  void Notify();

 private:
  int fd_ = -1;
};

/// Waits up to `timeout` or until `wake` is notified (returns true then).
bool WaitForWake(const WakeFd& wake, std::chrono::milliseconds timeout);

/// Interns `name`; 0 on error.
xcb_atom_t InternAtom(xcb_connection_t* c, const char* name);

}  // namespace reclaim::agent::x11
