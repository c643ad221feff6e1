#include "agent/sources/x11_connection_linux.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

namespace reclaim::agent::x11 {

std::vector<std::string> CandidateDisplays(const std::string& configured,
                                           const std::string& socket_dir) {
  if (!configured.empty()) return {configured};
  std::vector<std::pair<long, std::string>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(socket_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 2 || name[0] != 'X') continue;
    char* end = nullptr;
    const long n = std::strtol(name.c_str() + 1, &end, 10);
    if (*end != '\0' || n < 0) continue;
    found.emplace_back(n, ":" + std::to_string(n));
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [n, d] : found) out.push_back(std::move(d));
  return out;
}

std::unique_ptr<Connection> Connect(const std::string& configured, std::string* error) {
  const std::vector<std::string> displays = CandidateDisplays(configured);
  if (displays.empty()) *error = "no X display found (no $DISPLAY and no /tmp/.X11-unix/X*)";
  for (const std::string& d : displays) {
    int screen = 0;
    xcb_connection_t* c = xcb_connect(d.c_str(), &screen);
    if (const int err = xcb_connection_has_error(c); err != 0) {
      *error = "cannot connect to X display " + d + " (xcb error " + std::to_string(err) + ")";
      xcb_disconnect(c);
      continue;
    }
    auto out = std::make_unique<Connection>();
    out->conn = c;
    out->display = d;
    xcb_screen_iterator_t it = xcb_setup_roots_iterator(xcb_get_setup(c));
    for (int i = 0; i < screen && it.rem; ++i) xcb_screen_next(&it);
    if (!it.rem) {
      *error = "X display " + d + " has no screen " + std::to_string(screen);
      continue;
    }
    out->root = it.data->root;
    return out;
  }
  return nullptr;
}

WakeFd::WakeFd() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
WakeFd::~WakeFd() {
  if (fd_ >= 0) close(fd_);
}
void WakeFd::Notify() {
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof(one));
}

bool WaitForWake(const WakeFd& wake, std::chrono::milliseconds timeout) {
  pollfd p{.fd = wake.fd(), .events = POLLIN, .revents = 0};
  const int n = poll(&p, 1, static_cast<int>(std::min<std::int64_t>(timeout.count(), 1 << 30)));
  return n > 0;
}

xcb_atom_t InternAtom(xcb_connection_t* c, const char* name) {
  xcb_intern_atom_reply_t* r = xcb_intern_atom_reply(
      c, xcb_intern_atom(c, 0, static_cast<std::uint16_t>(std::strlen(name)), name), nullptr);
  if (!r) return 0;
  const xcb_atom_t a = r->atom;
  std::free(r);
  return a;
}

}  // namespace reclaim::agent::x11
