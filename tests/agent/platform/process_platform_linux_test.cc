// process_platform_linux.cc against what the OS says directly: getpwuid,
// /etc/machine-id, real SIGTERM and SIGINT, the thread's name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <string>

#include "agent/platform/process_platform.h"

namespace reclaim::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(ProcessPlatformLinuxTest, UserIsTheRealUid) {
  const PlatformUser user = CurrentPlatformUser();
  ASSERT_TRUE(user.uid.has_value());
  EXPECT_EQ(*user.uid, getuid());
  const passwd* pw = getpwuid(getuid());
  ASSERT_NE(pw, nullptr);
  EXPECT_EQ(user.login_name, pw->pw_name);
  EXPECT_TRUE(user.sid.empty());
  EXPECT_TRUE(user.upn.empty());
  std::string short_host = HostName().substr(0, HostName().find('.'));
  for (char& c : short_host) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(user.domain, short_host);
}

TEST(ProcessPlatformLinuxTest, DeviceIdIsEtcMachineId) {
  EXPECT_EQ(DeviceIdSource(), "/etc/machine-id");
  std::ifstream f("/etc/machine-id");
  std::string line;
  std::getline(f, line);
  // machine-id(5): 32 lower-case hex digits and a newline.
  EXPECT_EQ(ReadDeviceId(), line);
  if (!line.empty()) {
    EXPECT_THAT(ReadDeviceId(), MatchesRegex("[0-9a-f]{32}"));
  }
}

// systemd's StateDirectory=reclaim of deploy/reclaim-agent-service.service;
// no default config file (the unit's EnvironmentFile= holds the options).
TEST(ProcessPlatformLinuxTest, MachineStateIsTheUnitsStateDirectory) {
  EXPECT_EQ(DefaultMachineStateDirectory(), "/var/lib/reclaim");
  EXPECT_EQ(DefaultMachineServiceConfigFile(), "");
}

TEST(ProcessPlatformLinuxTest, ThreadName) {
  std::async(std::launch::async, [] {
    SetCurrentThreadName("a-name-longer-than-fifteen-bytes");
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    EXPECT_STREQ(name, "a-name-longer-t");
  }).get();
}

// kill(2) of the whole process: blocked in every thread, so only the
// watcher's sigwait takes it (without it the default action ends the test).
void ExpectStopOn(int sig, const std::string& reason) {
  PrepareForStopRequests();
  std::promise<std::string> got;
  auto watcher = WatchStopRequests([&got](const std::string& why) { got.set_value(why); });
  ASSERT_EQ(kill(getpid(), sig), 0);
  std::future<std::string> f = got.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_THAT(f.get(), HasSubstr(reason));
  watcher->Close();
}

TEST(ProcessPlatformLinuxTest, SigtermAndSigintAreStopRequests) {
  ExpectStopOn(SIGTERM, "signal 15");
  ExpectStopOn(SIGINT, "signal 2");
}

}  // namespace
}  // namespace reclaim::agent
