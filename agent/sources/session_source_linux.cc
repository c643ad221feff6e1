// logind session source over D-Bus (see session_source.h), with libdbus-1,
// the reference implementation of the protocol: a C API without exceptions,
// stable for 15 years, present on every desktop (sdbus-c++ 1.2 in Debian 12
// would add libsystemd's sd-bus and exceptions to catch at every call).
//
// Used as a private connection owned by the "session-dbus" thread: poll() on
// its socket and a wake eventfd, read and pop messages, no main loop, no
// dispatch callbacks.
#include <dbus/dbus.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "agent/sources/session_source.h"
#include "agent/sources/x11_connection_linux.h"
#include "common/backoff.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

constexpr char kLogin1[] = "org.freedesktop.login1";
constexpr char kManagerPath[] = "/org/freedesktop/login1";
constexpr char kManagerIface[] = "org.freedesktop.login1.Manager";
constexpr char kSessionIface[] = "org.freedesktop.login1.Session";
constexpr char kPropsIface[] = "org.freedesktop.DBus.Properties";
constexpr int kCallTimeoutMs = 5000;

struct ConnCloser {
  void operator()(DBusConnection* c) const {
    dbus_connection_close(c);
    dbus_connection_unref(c);
  }
};
struct MsgUnref {
  void operator()(DBusMessage* m) const { dbus_message_unref(m); }
};
using ConnPtr = std::unique_ptr<DBusConnection, ConnCloser>;
using MsgPtr = std::unique_ptr<DBusMessage, MsgUnref>;

class ScopedError {
 public:
  ScopedError() { dbus_error_init(&e_); }
  ~ScopedError() { dbus_error_free(&e_); }
  DBusError* get() { return &e_; }
  bool set() const { return dbus_error_is_set(&e_); }
  std::string message() const { return set() ? std::string(e_.name) + ": " + e_.message : ""; }

 private:
  DBusError e_;
};

class LogindSessionSource final : public SessionSource {
 public:
  LogindSessionSource(SessionSourceOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}
  ~LogindSessionSource() override { Stop(); }

  void Start(EventSink sink) override {
    sink_ = std::move(sink);
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "session-dbus");
      Run();
    });
  }

  void Stop() override {
    if (!thread_.joinable()) return;
    stopping_ = true;
    wake_.Notify();
    thread_.join();
  }

  SessionSourceStats stats() const override {
    absl::MutexLock l(&mu_);
    return stats_;
  }

 private:
  void Run() {
    Backoff backoff({.initial = options_.reconnect_initial, .max = options_.reconnect_max});
    bool logged = false;
    while (!stopping_) {
      std::string error;
      const bool served = Serve(&error);
      if (stopping_) break;
      {
        absl::MutexLock l(&mu_);
        ++stats_.failures;
      }
      if (!logged) {
        spdlog::warn("session source: {}; lock and suspend come only from the clock-jump "
                     "detector until logind answers (retrying with backoff)",
                     error);
      } else {
        spdlog::debug("session source: {}", error);
      }
      logged = true;
      if (served) backoff.Reset();
      x11::WaitForWake(wake_, backoff.NextDelay());
    }
  }

  ConnPtr Open(std::string* error) {
    ScopedError err;
    DBusConnection* raw = nullptr;
    if (options_.bus_address.empty()) {
      raw = dbus_bus_get_private(DBUS_BUS_SYSTEM, err.get());
    } else {
      raw = dbus_connection_open_private(options_.bus_address.c_str(), err.get());
      if (raw && !dbus_bus_register(raw, err.get())) {
        dbus_connection_close(raw);
        dbus_connection_unref(raw);
        raw = nullptr;
      }
    }
    if (!raw) {
      *error = "cannot connect to the bus: " + err.message();
      return nullptr;
    }
    dbus_connection_set_exit_on_disconnect(raw, false);
    return ConnPtr(raw);
  }

  MsgPtr Call(DBusConnection* c, DBusMessage* m, std::string* error) {
    ScopedError err;
    DBusMessage* reply =
        dbus_connection_send_with_reply_and_block(c, m, kCallTimeoutMs, err.get());
    dbus_message_unref(m);
    if (!reply) *error = err.message();
    return MsgPtr(reply);
  }

  // The session's object path, or empty (error set).
  std::string FindSession(DBusConnection* c, std::string* error) {
    DBusMessage* m;
    if (!options_.session_id.empty()) {
      m = dbus_message_new_method_call(kLogin1, kManagerPath, kManagerIface, "GetSession");
      const char* id = options_.session_id.c_str();
      dbus_message_append_args(m, DBUS_TYPE_STRING, &id, DBUS_TYPE_INVALID);
    } else {
      m = dbus_message_new_method_call(kLogin1, kManagerPath, kManagerIface, "GetSessionByPID");
      const dbus_uint32_t pid = static_cast<dbus_uint32_t>(getpid());
      dbus_message_append_args(m, DBUS_TYPE_UINT32, &pid, DBUS_TYPE_INVALID);
    }
    std::string call_error;
    MsgPtr reply = Call(c, m, &call_error);
    if (!reply) {
      *error = "logind does not name our session: " + call_error;
      return {};
    }
    const char* path = nullptr;
    ScopedError err;
    if (!dbus_message_get_args(reply.get(), err.get(), DBUS_TYPE_OBJECT_PATH, &path,
                               DBUS_TYPE_INVALID)) {
      *error = "logind's answer has no session path: " + err.message();
      return {};
    }
    return path;
  }

  // LockedHint of `session` (nullopt on error).
  std::optional<bool> GetLockedHint(DBusConnection* c, const std::string& session) {
    DBusMessage* m = dbus_message_new_method_call(kLogin1, session.c_str(), kPropsIface, "Get");
    const char* iface = kSessionIface;
    const char* prop = "LockedHint";
    dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &prop,
                             DBUS_TYPE_INVALID);
    std::string error;
    MsgPtr reply = Call(c, m, &error);
    if (!reply) return std::nullopt;
    DBusMessageIter it, var;
    if (!dbus_message_iter_init(reply.get(), &it) ||
        dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_VARIANT) {
      return std::nullopt;
    }
    dbus_message_iter_recurse(&it, &var);
    if (dbus_message_iter_get_arg_type(&var) != DBUS_TYPE_BOOLEAN) return std::nullopt;
    dbus_bool_t b = false;
    dbus_message_iter_get_basic(&var, &b);
    return b != 0;
  }

  bool AddMatch(DBusConnection* c, const std::string& rule, std::string* error) {
    ScopedError err;
    dbus_bus_add_match(c, rule.c_str(), err.get());
    if (err.set()) {
      *error = "cannot subscribe to " + rule + ": " + err.message();
      return false;
    }
    return true;
  }

  // Watches one connection. Returns true when it watched the session for a
  // while before failing (so backoff restarts from its initial delay).
  bool Serve(std::string* error) {
    ConnPtr conn = Open(error);
    if (!conn) return false;
    DBusConnection* c = conn.get();
    // Subscribe first, then read the state: no change can fall in between.
    if (!AddMatch(c,
                  std::string("type='signal',sender='") + kLogin1 + "',interface='" +
                      kManagerIface + "',member='PrepareForSleep',path='" + kManagerPath + "'",
                  error)) {
      return false;
    }
    const std::string session = FindSession(c, error);
    if (session.empty()) return false;
    const std::string session_rule =
        std::string("type='signal',sender='") + kLogin1 + "',path='" + session + "'";
    if (!AddMatch(c, session_rule + ",interface='" + kSessionIface + "'", error) ||
        !AddMatch(c, session_rule + ",interface='" + kPropsIface + "',member='PropertiesChanged'",
                  error)) {
      return false;
    }
    {
      absl::MutexLock l(&mu_);
      ++stats_.connects;
      stats_.session_path = session;
    }
    spdlog::info("session source: watching logind session {}", session);
    if (std::optional<bool> locked = GetLockedHint(c, session); locked && *locked) {
      EmitLock(true);
    }
    int fd = -1;
    if (!dbus_connection_get_unix_fd(c, &fd)) {
      *error = "the bus connection has no socket";
      return false;
    }
    while (!stopping_) {
      // Handle what libdbus already buffered before blocking in poll().
      while (DBusMessage* raw = dbus_connection_pop_message(c)) {
        MsgPtr msg(raw);
        Handle(msg.get(), session, c);
      }
      if (!dbus_connection_get_is_connected(c)) {
        *error = "the bus connection closed";
        return true;
      }
      pollfd fds[2] = {{.fd = fd, .events = POLLIN, .revents = 0},
                       {.fd = wake_.fd(), .events = POLLIN, .revents = 0}};
      poll(fds, 2, -1);
      if (stopping_) return true;
      if (!dbus_connection_read_write(c, 0)) {
        *error = "the bus connection closed";
        return true;
      }
    }
    return true;
  }

  void Handle(DBusMessage* m, const std::string& session, DBusConnection* c) {
    if (dbus_message_is_signal(m, DBUS_INTERFACE_LOCAL, "Disconnected")) return;
    const char* path = dbus_message_get_path(m);
    if (!path) return;
    if (dbus_message_is_signal(m, kManagerIface, "PrepareForSleep") &&
        std::strcmp(path, kManagerPath) == 0) {
      dbus_bool_t sleeping = false;
      ScopedError err;
      if (dbus_message_get_args(m, err.get(), DBUS_TYPE_BOOLEAN, &sleeping, DBUS_TYPE_INVALID)) {
        EmitSleep(sleeping != 0);
      }
      return;
    }
    if (session != path) return;
    if (dbus_message_is_signal(m, kSessionIface, "Lock")) {
      EmitLock(true);
    } else if (dbus_message_is_signal(m, kSessionIface, "Unlock")) {
      EmitLock(false);
    } else if (dbus_message_is_signal(m, kPropsIface, "PropertiesChanged")) {
      // (s interface, a{sv} changed, as invalidated)
      DBusMessageIter it;
      if (!dbus_message_iter_init(m, &it) || dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_STRING)
        return;
      const char* iface = nullptr;
      dbus_message_iter_get_basic(&it, &iface);
      if (std::strcmp(iface, kSessionIface) != 0 || !dbus_message_iter_next(&it) ||
          dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_ARRAY) {
        return;
      }
      DBusMessageIter dict;
      dbus_message_iter_recurse(&it, &dict);
      while (dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY) {
        DBusMessageIter entry, var;
        dbus_message_iter_recurse(&dict, &entry);
        const char* name = nullptr;
        if (dbus_message_iter_get_arg_type(&entry) == DBUS_TYPE_STRING) {
          dbus_message_iter_get_basic(&entry, &name);
          if (std::strcmp(name, "LockedHint") == 0 && dbus_message_iter_next(&entry) &&
              dbus_message_iter_get_arg_type(&entry) == DBUS_TYPE_VARIANT) {
            dbus_message_iter_recurse(&entry, &var);
            if (dbus_message_iter_get_arg_type(&var) == DBUS_TYPE_BOOLEAN) {
              dbus_bool_t b = false;
              dbus_message_iter_get_basic(&var, &b);
              EmitLock(b != 0);
            }
          }
        }
        dbus_message_iter_next(&dict);
      }
      // An invalidated LockedHint: ask for its value.
      if (dbus_message_iter_next(&it) && dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_ARRAY) {
        DBusMessageIter inv;
        dbus_message_iter_recurse(&it, &inv);
        while (dbus_message_iter_get_arg_type(&inv) == DBUS_TYPE_STRING) {
          const char* name = nullptr;
          dbus_message_iter_get_basic(&inv, &name);
          if (std::strcmp(name, "LockedHint") == 0) {
            if (std::optional<bool> locked = GetLockedHint(c, session)) EmitLock(*locked);
          }
          dbus_message_iter_next(&inv);
        }
      }
    }
  }

  void EmitLock(bool locked) {
    {
      absl::MutexLock l(&mu_);
      ++stats_.lock_events;
    }
    sink_({.kind = locked ? MeterEvent::Kind::kLock : MeterEvent::Kind::kUnlock,
           .at = clock_.Monotonic(),
           .app = {}});
  }

  void EmitSleep(bool sleeping) {
    {
      absl::MutexLock l(&mu_);
      ++stats_.sleep_events;
    }
    sink_({.kind = sleeping ? MeterEvent::Kind::kSuspend : MeterEvent::Kind::kResume,
           .at = clock_.Monotonic(),
           .app = {}});
  }

  const SessionSourceOptions options_;
  const Clock& clock_;
  EventSink sink_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  x11::WakeFd wake_;
  mutable absl::Mutex mu_;
  SessionSourceStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<SessionSource> MakeSessionSource(SessionSourceOptions options,
                                                 const Clock& clock) {
  return std::make_unique<LogindSessionSource>(std::move(options), clock);
}

}  // namespace reclaim::agent
