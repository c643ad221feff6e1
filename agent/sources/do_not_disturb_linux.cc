// Linux do-not-disturb probe (do_not_disturb.h), libdbus-1 as in
// session_source_linux.cc: one private connection per query (queries are
// rare: only while a not-urgent prompt waits).
#include <dbus/dbus.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "agent/sources/do_not_disturb.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace reclaim::agent {
namespace {

class LinuxDoNotDisturbProbe final : public DoNotDisturbProbe {
 public:
  explicit LinuxDoNotDisturbProbe(DoNotDisturbOptions options) : options_(std::move(options)) {}

  std::optional<bool> Query() override {
    if (auto v = NotificationsInhibited()) return v;
    return GnomeBannersOff();
  }

 private:
  // org.freedesktop.Notifications' Inhibited property; nullopt when there is
  // no bus, no notification daemon or no such property.
  std::optional<bool> NotificationsInhibited() const {
    if (options_.session_bus_address.empty()) return std::nullopt;
    DBusError err;
    dbus_error_init(&err);
    DBusConnection* c = dbus_connection_open_private(options_.session_bus_address.c_str(), &err);
    std::optional<bool> out;
    if (c != nullptr && dbus_bus_register(c, &err)) {
      dbus_connection_set_exit_on_disconnect(c, false);
      DBusMessage* m = dbus_message_new_method_call(
          "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
          "org.freedesktop.DBus.Properties", "Get");
      const char* iface = "org.freedesktop.Notifications";
      const char* prop = "Inhibited";
      dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &prop,
                               DBUS_TYPE_INVALID);
      DBusMessage* reply = dbus_connection_send_with_reply_and_block(
          c, m, static_cast<int>(options_.call_timeout.count()), &err);
      dbus_message_unref(m);
      if (reply != nullptr) {
        DBusMessageIter it, variant;
        if (dbus_message_iter_init(reply, &it) &&
            dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_VARIANT) {
          dbus_message_iter_recurse(&it, &variant);
          if (dbus_message_iter_get_arg_type(&variant) == DBUS_TYPE_BOOLEAN) {
            dbus_bool_t b = false;
            dbus_message_iter_get_basic(&variant, &b);
            out = b != 0;
          }
        }
        dbus_message_unref(reply);
      }
    }
    if (dbus_error_is_set(&err)) spdlog::debug("do-not-disturb: {}", err.message);
    dbus_error_free(&err);
    if (c != nullptr) {
      dbus_connection_close(c);
      dbus_connection_unref(c);
    }
    return out;
  }

  // GNOME's show-banners == false; nullopt when gsettings or the schema is
  // missing.
  std::optional<bool> GnomeBannersOff() const {
    if (options_.gsettings.empty()) return std::nullopt;
    std::string prog = options_.gsettings;
    std::string get = "get", schema = "org.gnome.desktop.notifications", key = "show-banners";
    char* argv[] = {prog.data(), get.data(), schema.data(), key.data(), nullptr};
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return std::nullopt;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    std::string printed;
    if (rc == 0) {
      char buf[64];
      ssize_t n;
      while ((n = read(out[0], buf, sizeof buf)) != 0) {
        if (n > 0) printed.append(buf, static_cast<size_t>(n));
        else if (errno != EINTR) break;
      }
    }
    close(out[0]);
    if (rc != 0) return std::nullopt;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
    if (printed.rfind("false", 0) == 0) return true;
    if (printed.rfind("true", 0) == 0) return false;
    return std::nullopt;
  }

  const DoNotDisturbOptions options_;
};

}  // namespace

std::unique_ptr<DoNotDisturbProbe> MakeDoNotDisturbProbe(DoNotDisturbOptions options) {
  return std::make_unique<LinuxDoNotDisturbProbe>(std::move(options));
}

}  // namespace reclaim::agent
