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

#include "agent/sources/do_not_disturb.h"
#include "agent/sources/session_source.h"
#include "gtest/gtest.h"
#include "tests/e2e_x11/fake_logind.h"
#include "tests/e2e_x11/x11_desktop.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::agent {
namespace {

using e2e::ReadFile;
using e2e::WaitFor;

using e2e::FakeLogind;
using e2e::kSessionPath;

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

// The do-not-disturb probe on the same kind of session bus: the
// Notifications service's Inhibited property, read at each query; no service
// and no gsettings: unknown.
TEST_F(SessionSourceTest, DoNotDisturbProbeReadsNotificationsInhibited) {
  DoNotDisturbOptions o;
  o.session_bus_address = address_;
  o.gsettings = "";  // only D-Bus here
  auto probe = MakeDoNotDisturbProbe(o);
  EXPECT_EQ(probe->Query(), std::nullopt) << "no notification daemon on the bus yet";
  FakeLogind notifications(address_, "org.freedesktop.Notifications");
  ASSERT_TRUE(notifications.ok()) << notifications.error();
  EXPECT_EQ(probe->Query(), std::optional<bool>(false));
  notifications.SetLockedHint(true, /*emit=*/false);  // Inhibited = true
  EXPECT_EQ(probe->Query(), std::optional<bool>(true));
  o.session_bus_address = "";  // no session bus: not asked (no autolaunch)
  EXPECT_EQ(MakeDoNotDisturbProbe(o)->Query(), std::nullopt);
}

}  // namespace
}  // namespace reclaim::agent
