// A fake org.freedesktop.login1 for tests, on a bus the test starts
// (dbus-daemon --session --address=unix:path=...): owns the name on a private
// connection served by its own thread; answers Manager.GetSessionByPID,
// Manager.GetSession and Properties.Get(LockedHint) for one session
// (kSessionPath), and emits the real signals on request: Session.Lock,
// Session.Unlock, PropertiesChanged(LockedHint), Manager.PrepareForSleep.
// Reference: https://www.freedesktop.org/software/systemd/man/org.freedesktop.login1.html
#pragma once

#include <dbus/dbus.h>
#include <poll.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace reclaim::e2e {

inline constexpr char kSessionPath[] = "/org/freedesktop/login1/session/_32";

/// Thread-safe. `bus_name` is the name it owns: another service whose
/// Properties.Get answers one boolean can be faked the same way (the
/// do-not-disturb test owns org.freedesktop.Notifications; SetLockedHint
/// then sets its Inhibited).
class FakeLogind {
 public:
  explicit FakeLogind(const std::string& address,
                      const char* bus_name = "org.freedesktop.login1") {
    DBusError err;
    dbus_error_init(&err);
    conn_ = dbus_connection_open_private(address.c_str(), &err);
    if (conn_ && dbus_bus_register(conn_, &err)) {
      const int r = dbus_bus_request_name(conn_, bus_name,
                                          DBUS_NAME_FLAG_DO_NOT_QUEUE, &err);
      ok_ = r == DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER;
    }
    if (dbus_error_is_set(&err)) error_ = err.message;
    dbus_error_free(&err);
    if (ok_) thread_ = std::thread([this] { Serve(); });
  }
  ~FakeLogind() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (conn_) {
      dbus_connection_close(conn_);
      dbus_connection_unref(conn_);
    }
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  int calls() const { return calls_.load(); }

  void SetLockedHint(bool locked, bool emit) {
    locked_ = locked;
    if (!emit) return;
    std::lock_guard<std::mutex> l(mu_);
    DBusMessage* m = dbus_message_new_signal(kSessionPath, "org.freedesktop.DBus.Properties",
                                             "PropertiesChanged");
    DBusMessageIter it, dict, entry, var, inv;
    dbus_message_iter_init_append(m, &it);
    const char* iface = "org.freedesktop.login1.Session";
    dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &iface);
    dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
    dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, nullptr, &entry);
    const char* name = "LockedHint";
    dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &name);
    dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "b", &var);
    dbus_bool_t b = locked;
    dbus_message_iter_append_basic(&var, DBUS_TYPE_BOOLEAN, &b);
    dbus_message_iter_close_container(&entry, &var);
    dbus_message_iter_close_container(&dict, &entry);
    dbus_message_iter_close_container(&it, &dict);
    dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &inv);
    dbus_message_iter_close_container(&it, &inv);
    Send(m);
  }
  void Signal(const char* path, const char* iface, const char* member,
              std::optional<bool> arg = std::nullopt) {
    std::lock_guard<std::mutex> l(mu_);
    DBusMessage* m = dbus_message_new_signal(path, iface, member);
    if (arg) {
      dbus_bool_t b = *arg;
      dbus_message_append_args(m, DBUS_TYPE_BOOLEAN, &b, DBUS_TYPE_INVALID);
    }
    Send(m);
  }

 private:
  void Send(DBusMessage* m) {
    dbus_connection_send(conn_, m, nullptr);
    dbus_connection_flush(conn_);
    dbus_message_unref(m);
  }
  void Serve() {
    while (!stop_) {
      {
        std::lock_guard<std::mutex> l(mu_);
        dbus_connection_read_write(conn_, 0);
        while (DBusMessage* m = dbus_connection_pop_message(conn_)) {
          Answer(m);
          dbus_message_unref(m);
        }
      }
      int fd = -1;
      dbus_connection_get_unix_fd(conn_, &fd);
      pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
      poll(&p, 1, 20);
    }
  }
  void Answer(DBusMessage* m) {
    if (dbus_message_get_type(m) != DBUS_MESSAGE_TYPE_METHOD_CALL) return;
    ++calls_;
    DBusMessage* reply = nullptr;
    if (dbus_message_is_method_call(m, "org.freedesktop.login1.Manager", "GetSessionByPID") ||
        dbus_message_is_method_call(m, "org.freedesktop.login1.Manager", "GetSession")) {
      reply = dbus_message_new_method_return(m);
      const char* path = kSessionPath;
      dbus_message_append_args(reply, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID);
    } else if (dbus_message_is_method_call(m, "org.freedesktop.DBus.Properties", "Get")) {
      reply = dbus_message_new_method_return(m);
      DBusMessageIter it, var;
      dbus_message_iter_init_append(reply, &it);
      dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, "b", &var);
      dbus_bool_t b = locked_.load();
      dbus_message_iter_append_basic(&var, DBUS_TYPE_BOOLEAN, &b);
      dbus_message_iter_close_container(&it, &var);
    } else {
      reply = dbus_message_new_error(m, DBUS_ERROR_UNKNOWN_METHOD, "not in the fake");
    }
    dbus_connection_send(conn_, reply, nullptr);
    dbus_connection_flush(conn_);
    dbus_message_unref(reply);
  }

  DBusConnection* conn_ = nullptr;
  bool ok_ = false;
  std::string error_;
  std::mutex mu_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> locked_{false};
  std::atomic<int> calls_{0};
};


}  // namespace reclaim::e2e
