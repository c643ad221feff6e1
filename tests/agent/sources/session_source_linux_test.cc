// The logind session source against a real dbus-daemon started by the test,
// with a small fake org.freedesktop.login1 in this process that answers
// GetSessionByPID / GetSession / Properties.Get(LockedHint) and emits the real
// signals: Session.Lock, Session.Unlock, PropertiesChanged(LockedHint),
// Manager.PrepareForSleep.
#include <dbus/dbus.h>
#include <poll.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "agent/sources/session_source.h"
#include "gtest/gtest.h"
#include "tests/e2e_x11/x11_desktop.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::agent {
namespace {

using e2e::ReadFile;
using e2e::WaitFor;

constexpr char kSessionPath[] = "/org/freedesktop/login1/session/_32";

// The fake logind: owns the name on a private connection, served by a thread.
class FakeLogind {
 public:
  explicit FakeLogind(const std::string& address) {
    DBusError err;
    dbus_error_init(&err);
    conn_ = dbus_connection_open_private(address.c_str(), &err);
    if (conn_ && dbus_bus_register(conn_, &err)) {
      const int r = dbus_bus_request_name(conn_, "org.freedesktop.login1",
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

class Recorder {
 public:
  EventSink sink() {
    return [this](const MeterEvent& e) {
      std::lock_guard<std::mutex> l(mu_);
      kinds_.push_back(e.kind);
    };
  }
  std::vector<MeterEvent::Kind> kinds() {
    std::lock_guard<std::mutex> l(mu_);
    return kinds_;
  }
  size_t size() { return kinds().size(); }

 private:
  std::mutex mu_;
  std::vector<MeterEvent::Kind> kinds_;
};

class SessionSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string daemon = e2e::FindProgram("dbus-daemon");
    ASSERT_FALSE(daemon.empty()) << "dbus-daemon is missing: run deploy/install-deps.sh";
    const std::string socket = dir_.File("bus");
    bus_ = e2e::Child::Spawn(daemon,
                          {"--session", "--nofork", "--nopidfile", "--address=unix:path=" + socket,
                           "--print-address=1"},
                          dir_.File("bus.address"), dir_.File("bus.log"));
    ASSERT_TRUE(bus_.started()) << bus_.error();
    ASSERT_TRUE(WaitFor([&] { return ReadFile(dir_.File("bus.address")).find('\n') !=
                                     std::string::npos; },
                        std::chrono::seconds(10)))
        << ReadFile(dir_.File("bus.log"));
    address_ = ReadFile(dir_.File("bus.address"));
    address_ = address_.substr(0, address_.find('\n'));
  }
  SessionSourceOptions FastRetry() const {
    SessionSourceOptions o;
    o.bus_address = address_;
    o.reconnect_initial = std::chrono::milliseconds(50);
    o.reconnect_max = std::chrono::milliseconds(200);
    return o;
  }
  testing::TempDir dir_;
  e2e::Child bus_;
  std::string address_;
  ManualClock clock_;
};

TEST_F(SessionSourceTest, LockUnlockLockedHintAndSleep) {
  FakeLogind logind(address_);
  ASSERT_TRUE(logind.ok()) << logind.error();
  logind.SetLockedHint(true, /*emit=*/false);  // locked when the agent starts
  Recorder rec;
  SessionSourceOptions o;
  o.bus_address = address_;
  auto source = MakeSessionSource(o, clock_);
  source->Start(rec.sink());
  using K = MeterEvent::Kind;
  ASSERT_TRUE(WaitFor([&] { return rec.size() >= 1; }, std::chrono::seconds(10)));
  EXPECT_EQ(rec.kinds()[0], K::kLock);  // the initial LockedHint
  EXPECT_EQ(source->stats().session_path, kSessionPath);

  logind.SetLockedHint(false, /*emit=*/true);
  ASSERT_TRUE(WaitFor([&] { return rec.size() >= 2; }, std::chrono::seconds(10)));
  logind.Signal(kSessionPath, "org.freedesktop.login1.Session", "Lock");
  ASSERT_TRUE(WaitFor([&] { return rec.size() >= 3; }, std::chrono::seconds(10)));
  logind.Signal(kSessionPath, "org.freedesktop.login1.Session", "Unlock");
  ASSERT_TRUE(WaitFor([&] { return rec.size() >= 4; }, std::chrono::seconds(10)));
  // Another session's Lock is not ours.
  logind.Signal("/org/freedesktop/login1/session/_99", "org.freedesktop.login1.Session", "Lock");
  logind.Signal("/org/freedesktop/login1", "org.freedesktop.login1.Manager", "PrepareForSleep",
                true);
  ASSERT_TRUE(WaitFor([&] { return rec.size() >= 5; }, std::chrono::seconds(10)));
  logind.Signal("/org/freedesktop/login1", "org.freedesktop.login1.Manager", "PrepareForSleep",
                false);
  ASSERT_TRUE(WaitFor([&] { return rec.size() >= 6; }, std::chrono::seconds(10)));
  source->Stop();
  EXPECT_EQ(rec.kinds(), (std::vector<K>{K::kLock, K::kUnlock, K::kLock, K::kUnlock,
                                         K::kSuspend, K::kResume}));
}

TEST_F(SessionSourceTest, WaitsForLogindAndSurvivesItsAbsence) {
  Recorder rec;
  SessionSourceOptions o = FastRetry();
  o.session_id = "32";
  auto source = MakeSessionSource(o, clock_);
  source->Start(rec.sink());
  ASSERT_TRUE(WaitFor([&] { return source->stats().failures >= 2; }, std::chrono::seconds(10)));
  FakeLogind logind(address_);  // logind appears later
  ASSERT_TRUE(logind.ok()) << logind.error();
  ASSERT_TRUE(WaitFor([&] { return source->stats().connects >= 1; }, std::chrono::seconds(10)));
  // Subscribed before the session was looked up, so this reaches us.
  logind.Signal(kSessionPath, "org.freedesktop.login1.Session", "Lock");
  ASSERT_TRUE(WaitFor([&] { return rec.size() >= 1; }, std::chrono::seconds(10)));
  EXPECT_EQ(rec.kinds()[0], MeterEvent::Kind::kLock);
  source->Stop();
}

TEST_F(SessionSourceTest, BusGoingAwayIsSurvived) {
  Recorder rec;
  auto source = MakeSessionSource(FastRetry(), clock_);
  {
    FakeLogind logind(address_);
    ASSERT_TRUE(logind.ok());
    source->Start(rec.sink());
    ASSERT_TRUE(WaitFor([&] { return source->stats().connects >= 1; }, std::chrono::seconds(10)));
  }
  bus_.KillAndReap();
  const auto failures = source->stats().failures;
  ASSERT_TRUE(WaitFor([&] { return source->stats().failures > failures + 1; },
                      std::chrono::seconds(10)));
  source->Stop();  // joins promptly even while retrying
}

}  // namespace
}  // namespace reclaim::agent
