// X11 focus source (see focus_source.h). References: EWMH 1.5
// (_NET_ACTIVE_WINDOW, _NET_WM_PID, _NET_SUPPORTING_WM_CHECK), ICCCM 4.1.2.5
// (WM_CLASS), X-Resource extension 1.2 (QueryClientIds, LocalClientPID).
//
// Window -> process: the X-Resource extension first, because the X server
// knows the PID of a local client from its socket (SO_PEERCRED) in our PID
// namespace, whereas _NET_WM_PID is whatever the client wrote (a sandboxed
// app writes its PID inside the sandbox; old Xt apps such as xeyes and
// xmessage write none). _NET_WM_PID is the fallback when X-Resource is absent.
//
// Robustness: every reply may be missing because the window vanished between
// the PropertyNotify and our query (hundreds of windows a second); such a
// window is treated as "no foreground application" (debounced like a 0 in
// _NET_ACTIVE_WINDOW) and counted, never logged one by one. A window manager
// restart rewrites _NET_ACTIVE_WINDOW and _NET_SUPPORTING_WM_CHECK, which we
// re-read. When the connection breaks (X server gone), the open interval
// closes at that moment and the thread reconnects with backoff.
#include <poll.h>
#include <pthread.h>
#include <xcb/res.h>
#include <xcb/xcb.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "agent/sources/focus_source.h"
#include "agent/sources/proc_identity.h"
#include "agent/sources/x11_connection_linux.h"
#include "common/backoff.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {



template <typename T>
struct FreeDeleter {
  void operator()(T* p) const { std::free(p); }
};
template <typename T>
using XcbReply = std::unique_ptr<T, FreeDeleter<T>>;

class X11FocusSource final : public FocusSource {
 public:
  X11FocusSource(FocusSourceOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}
  ~X11FocusSource() override { Stop(); }

  void Start(EventSink sink) override {
    sink_ = std::move(sink);
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "focus-x11");
      Run();
    });
  }

  void Stop() override {
    if (!thread_.joinable()) return;
    stopping_ = true;
    wake_.Notify();
    thread_.join();
  }

  FocusSourceStats stats() const override {
    absl::MutexLock l(&mu_);
    return stats_;
  }

 private:
  // The agent's own processes and their children (the prompt dialog runs in
  // a child process, e.g. zenity) are never metered.
  bool IsExcluded(std::int64_t pid) const {
    const auto& ex = options_.excluded_pids;
    if (std::find(ex.begin(), ex.end(), pid) != ex.end()) return true;
    const std::int64_t parent = ParentPid(options_.proc_root, pid);
    return parent > 0 && std::find(ex.begin(), ex.end(), parent) != ex.end();
  }

  struct Atoms {
    xcb_atom_t active = 0, wm_pid = 0, net_wm_name = 0, utf8 = 0, wm_check = 0, wm_state = 0,
               fullscreen = 0;
  };

  void Run() {
    Backoff backoff({.initial = options_.reconnect_initial, .max = options_.reconnect_max});
    bool logged_failure = false;
    while (!stopping_) {
      std::string error;
      std::unique_ptr<x11::Connection> x = x11::Connect(options_.display, &error);
      if (!x) {
        // Bounded logging: one warning per outage, details at debug level.
        if (!logged_failure) spdlog::warn("focus source: {}; retrying with backoff", error);
        else spdlog::debug("focus source: {}", error);
        logged_failure = true;
        x11::WaitForWake(wake_, backoff.NextDelay());
        continue;
      }
      spdlog::info("focus source: watching _NET_ACTIVE_WINDOW on X display {}", x->display);
      {
        absl::MutexLock l(&mu_);
        ++stats_.connects;
      }
      backoff.Reset();
      logged_failure = false;
      Serve(*x);
      // Connection lost or stopping: the open interval ends now.
      ReportNow(std::nullopt);
      ReportFullscreen(false);
      last_.reset();
      if (!stopping_) {
        spdlog::warn("focus source: lost X display {}; reconnecting with backoff", x->display);
        absl::MutexLock l(&mu_);
        ++stats_.disconnects;
      }
    }
  }

  void Serve(x11::Connection& x) {
    xcb_connection_t* c = x.conn;
    Atoms atoms;
    atoms.active = x11::InternAtom(c, "_NET_ACTIVE_WINDOW");
    atoms.wm_pid = x11::InternAtom(c, "_NET_WM_PID");
    atoms.net_wm_name = x11::InternAtom(c, "_NET_WM_NAME");
    atoms.utf8 = x11::InternAtom(c, "UTF8_STRING");
    atoms.wm_check = x11::InternAtom(c, "_NET_SUPPORTING_WM_CHECK");
    atoms.wm_state = x11::InternAtom(c, "_NET_WM_STATE");
    atoms.fullscreen = x11::InternAtom(c, "_NET_WM_STATE_FULLSCREEN");
    if (xcb_connection_has_error(c) || atoms.active == 0) return;
    atoms_ = atoms;
    res_ = false;
    if (const xcb_query_extension_reply_t* ext = xcb_get_extension_data(c, &xcb_res_id);
        ext && ext->present) {
      XcbReply<xcb_res_query_version_reply_t> v(
          xcb_res_query_version_reply(c, xcb_res_query_version(c, 1, 2), nullptr));
      res_ = v && (v->server_major > 1 || (v->server_major == 1 && v->server_minor >= 2));
    }
    if (!res_) spdlog::info("focus source: no X-Resource 1.2; using _NET_WM_PID only");
    const std::uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
    xcb_change_window_attributes(c, x.root, XCB_CW_EVENT_MASK, &mask);
    root_ = x.root;
    watched_ = 0;
    ReadActive(c, clock_.Monotonic());
    xcb_flush(c);

    while (!stopping_) {
      int timeout = -1;
      if (pending_none_) {
        const auto due = *pending_none_ + options_.none_debounce - clock_.Monotonic();
        timeout = static_cast<int>(std::max<std::int64_t>(0, due.count()));
      }
      pollfd fds[2] = {{.fd = xcb_get_file_descriptor(c), .events = POLLIN, .revents = 0},
                       {.fd = wake_.fd(), .events = POLLIN, .revents = 0}};
      poll(fds, 2, timeout);
      if (stopping_) return;
      while (xcb_generic_event_t* ev = xcb_poll_for_event(c)) {
        Handle(c, ev);
        std::free(ev);
      }
      if (xcb_connection_has_error(c)) return;
      if (pending_none_ && clock_.Monotonic() >= *pending_none_ + options_.none_debounce) {
        const MonoTime at = *pending_none_;
        pending_none_.reset();
        Report(std::nullopt, at);
      }
      xcb_flush(c);
    }
  }

  void Handle(xcb_connection_t* c, xcb_generic_event_t* ev) {
    const std::uint8_t type = ev->response_type & 0x7f;
    if (type == 0) return;  // an error for a window that vanished: expected, ignored
    const MonoTime now = clock_.Monotonic();
    if (type == XCB_PROPERTY_NOTIFY) {
      auto* p = reinterpret_cast<xcb_property_notify_event_t*>(ev);
      if (p->window == root_ && (p->atom == atoms_.active || p->atom == atoms_.wm_check)) {
        ReadActive(c, now);
      } else if (p->window == watched_ && watched_ != 0 && p->atom == atoms_.wm_state) {
        ReadFullscreen(c, watched_);
      } else if (p->window == watched_ && watched_ != 0 &&
                 (p->atom == XCB_ATOM_WM_CLASS || p->atom == atoms_.wm_pid ||
                  (options_.read_window_titles &&
                   (p->atom == atoms_.net_wm_name || p->atom == XCB_ATOM_WM_NAME)))) {
        ShowWindow(c, watched_, now);
      }
    } else if (type == XCB_DESTROY_NOTIFY) {
      auto* d = reinterpret_cast<xcb_destroy_notify_event_t*>(ev);
      if (d->window == watched_) {
        // The active window is gone; the window manager names the next one
        // (without a window manager nobody does: then no window has focus).
        watched_ = 0;
        if (!pending_none_) pending_none_ = now;
        ReportFullscreen(false);
      }
    }
  }

  // Reads _NET_ACTIVE_WINDOW and reports what it names.
  void ReadActive(xcb_connection_t* c, MonoTime now) {
    XcbReply<xcb_get_property_reply_t> r(xcb_get_property_reply(
        c, xcb_get_property(c, 0, root_, atoms_.active, XCB_ATOM_WINDOW, 0, 1), nullptr));
    xcb_window_t w = 0;
    if (r && r->format == 32 && xcb_get_property_value_length(r.get()) >= 4) {
      std::memcpy(&w, xcb_get_property_value(r.get()), 4);
    }
    if (w == root_) w = 0;  // focus on the root window: no application
    ShowWindow(c, w, now);
  }

  // Makes `w` the watched foreground window and reports its application.
  void ShowWindow(xcb_connection_t* c, xcb_window_t w, MonoTime now) {
    spdlog::debug("focus source: active window 0x{:x}", w);
    if (w != watched_) {
      if (watched_ != 0) {
        const std::uint32_t none = 0;
        xcb_change_window_attributes(c, watched_, XCB_CW_EVENT_MASK, &none);
      }
      watched_ = w;
      if (w != 0) {
        const std::uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE | XCB_EVENT_MASK_STRUCTURE_NOTIFY;
        xcb_change_window_attributes(c, w, XCB_CW_EVENT_MASK, &mask);
      }
    }
    ReadFullscreen(c, w);
    std::optional<AppIdentity> app;
    identified_pid_ = 0;
    if (w != 0) app = Identify(c, w);
    if (!app) {
      // No window, a window that vanished, or one we do not meter: debounce,
      // since window managers write 0 for a moment between two windows.
      if (!pending_none_) pending_none_ = now;
      return;
    }
    pending_none_.reset();
    Report(std::move(app), now, identified_pid_);
  }

  // The application of window `w`; nullopt when it vanished, is ours or is
  // the lock screen.
  std::optional<AppIdentity> Identify(xcb_connection_t* c, xcb_window_t w) {
    // Send every request first: one round trip.
    const xcb_get_property_cookie_t class_ck =
        xcb_get_property(c, 0, w, XCB_ATOM_WM_CLASS, XCB_ATOM_STRING, 0, 256);
    const xcb_get_property_cookie_t pid_ck =
        xcb_get_property(c, 0, w, atoms_.wm_pid, XCB_ATOM_CARDINAL, 0, 1);
    xcb_res_query_client_ids_cookie_t res_ck{};
    if (res_) {
      xcb_res_client_id_spec_t spec{.client = w, .mask = XCB_RES_CLIENT_ID_MASK_LOCAL_CLIENT_PID};
      res_ck = xcb_res_query_client_ids(c, 1, &spec);
    }
    xcb_get_property_cookie_t name_ck{}, wm_name_ck{};
    if (options_.read_window_titles) {
      name_ck = xcb_get_property(c, 0, w, atoms_.net_wm_name, atoms_.utf8, 0, 256);
      wm_name_ck = xcb_get_property(c, 0, w, XCB_ATOM_WM_NAME, XCB_GET_PROPERTY_TYPE_ANY, 0, 256);
    }
    xcb_generic_error_t* err = nullptr;
    XcbReply<xcb_get_property_reply_t> cls(xcb_get_property_reply(c, class_ck, &err));
    bool vanished = err != nullptr;
    std::free(err);
    err = nullptr;
    XcbReply<xcb_get_property_reply_t> pid(xcb_get_property_reply(c, pid_ck, &err));
    std::free(err);
    err = nullptr;
    XcbReply<xcb_res_query_client_ids_reply_t> res;
    if (res_) {
      res.reset(xcb_res_query_client_ids_reply(c, res_ck, &err));
      std::free(err);
      err = nullptr;
    }
    WindowFacts facts;
    if (options_.read_window_titles) {
      XcbReply<xcb_get_property_reply_t> n(xcb_get_property_reply(c, name_ck, &err));
      std::free(err);
      err = nullptr;
      XcbReply<xcb_get_property_reply_t> wn(xcb_get_property_reply(c, wm_name_ck, &err));
      std::free(err);
      err = nullptr;
      auto text = [](const xcb_get_property_reply_t* r) {
        if (!r || r->format != 8) return std::string();
        return std::string(static_cast<const char*>(xcb_get_property_value(r)),
                           static_cast<size_t>(xcb_get_property_value_length(r)));
      };
      facts.title = text(n.get());
      if (facts.title.empty()) facts.title = text(wn.get());
    }
    if (vanished || !cls) {
      absl::MutexLock l(&mu_);
      ++stats_.vanished_windows;
      return std::nullopt;
    }
    if (cls->format == 8) {
      const char* v = static_cast<const char*>(xcb_get_property_value(cls.get()));
      const size_t len = static_cast<size_t>(xcb_get_property_value_length(cls.get()));
      // "instance\0class\0"
      const std::string all(v, len);
      const size_t nul = all.find('\0');
      if (nul != std::string::npos) {
        std::string klass = all.substr(nul + 1);
        klass = klass.substr(0, klass.find('\0'));
        facts.window_class = std::move(klass);
      }
    }
    if (res) {
      for (xcb_res_client_id_value_iterator_t it =
               xcb_res_query_client_ids_ids_iterator(res.get());
           it.rem; xcb_res_client_id_value_next(&it)) {
        if ((it.data->spec.mask & XCB_RES_CLIENT_ID_MASK_LOCAL_CLIENT_PID) &&
            xcb_res_client_id_value_value_length(it.data) >= 1) {
          facts.pid = *xcb_res_client_id_value_value(it.data);
          break;
        }
      }
    }
    if (!facts.pid && pid && pid->format == 32 && xcb_get_property_value_length(pid.get()) >= 4) {
      std::uint32_t p = 0;
      std::memcpy(&p, xcb_get_property_value(pid.get()), 4);
      facts.pid = p;
    }
    if (facts.pid && IsExcluded(*facts.pid)) {
      return std::nullopt;  // the agent's own window (a prompt), or its dialog child's
    }
    identified_pid_ = facts.pid.value_or(0);
    AppIdentity app = IdentifyWindow(facts, options_.read_window_titles, options_.proc_root);
    if (IsLockScreen(app)) return std::nullopt;
    if (app.exe_path.empty() && app.exe_name.empty() && app.window_class.empty()) {
      // Nothing identifies it (no owner process, no class): not an application.
      return std::nullopt;
    }
    return app;
  }

  // Reads whether `w` (0: none) is full screen and reports a change.
  void ReadFullscreen(xcb_connection_t* c, xcb_window_t w) {
    if (!options_.on_fullscreen) return;
    bool fullscreen = false;
    if (w != 0 && atoms_.wm_state != 0 && atoms_.fullscreen != 0) {
      XcbReply<xcb_get_property_reply_t> r(xcb_get_property_reply(
          c, xcb_get_property(c, 0, w, atoms_.wm_state, XCB_ATOM_ATOM, 0, 64), nullptr));
      if (r && r->format == 32) {
        const auto* atoms = static_cast<const xcb_atom_t*>(xcb_get_property_value(r.get()));
        const int n = xcb_get_property_value_length(r.get()) / 4;
        fullscreen = std::find(atoms, atoms + n, atoms_.fullscreen) != atoms + n;
      }
    }
    ReportFullscreen(fullscreen);
  }

  void ReportFullscreen(bool fullscreen) {
    if (!options_.on_fullscreen || fullscreen == fullscreen_) return;
    fullscreen_ = fullscreen;
    spdlog::debug("focus source: active window {} full screen", fullscreen ? "is" : "is not");
    options_.on_fullscreen(fullscreen);
  }

  void ReportNow(std::optional<AppIdentity> app) {
    pending_none_.reset();
    Report(std::move(app), clock_.Monotonic());
  }

  // `pid`: the window's owner process (0: unknown or no window).
  void Report(std::optional<AppIdentity> app, MonoTime at, std::int64_t pid = 0) {
    if (last_ && *last_ == app && last_pid_ == pid) return;
    last_pid_ = pid;
    if (!last_ && !app) {
      // Nothing was reported on this connection yet: "none" is news only
      // after a focus.
      last_ = app;
      return;
    }
    last_ = app;
    {
      absl::MutexLock l(&mu_);
      ++stats_.focus_events;
    }
    sink_({.kind = MeterEvent::Kind::kFocus, .at = at, .app = std::move(app), .pid = pid});
  }

  const FocusSourceOptions options_;
  const Clock& clock_;
  EventSink sink_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  x11::WakeFd wake_;
  // Thread state (the "focus-x11" thread only).
  Atoms atoms_;
  bool res_ = false;
  xcb_window_t root_ = 0;
  xcb_window_t watched_ = 0;
  bool fullscreen_ = false;  // last reported through on_fullscreen
  std::optional<MonoTime> pending_none_;
  // What was last reported (nullopt: nothing yet on this connection).
  std::optional<std::optional<AppIdentity>> last_;
  std::int64_t last_pid_ = 0;       // the owner process of last_
  std::int64_t identified_pid_ = 0;  // set by Identify
  mutable absl::Mutex mu_;
  FocusSourceStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<FocusSource> MakeFocusSource(FocusSourceOptions options, const Clock& clock) {
  return std::make_unique<X11FocusSource>(std::move(options), clock);
}

}  // namespace reclaim::agent
