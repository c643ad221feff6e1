// process_platform.h on the platform it is built for: the same expectations
// on Linux and, built with mingw-w64, under Wine (tests/windows). The
// platform-specific checks are in process_platform_linux_test.cc and
// tests/windows/process_platform_windows_test.cc.
#include "agent/platform/process_platform.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <string>

namespace reclaim::agent {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(ProcessPlatformTest, SessionUserHasLoginAndDomain) {
  const PlatformUser user = CurrentPlatformUser();
  EXPECT_FALSE(user.login_name.empty());
  EXPECT_FALSE(user.domain.empty());
  // Exactly one of the POSIX uid and the Windows SID is set.
  EXPECT_NE(user.uid.has_value(), !user.sid.empty()) << user.sid;
}

TEST(ProcessPlatformTest, OsVersionHostNameAndProcessId) {
  EXPECT_FALSE(OsVersion().empty());
  const std::string host = HostName();
  EXPECT_FALSE(host.empty());
  EXPECT_EQ(host.find('\0'), std::string::npos);
  EXPECT_GT(CurrentProcessId(), 0);
}

TEST(ProcessPlatformTest, DefaultStateDirectoryIsAbsoluteAndNamedReclaim) {
  const std::filesystem::path dir = DefaultStateDirectory();
  EXPECT_TRUE(dir.is_absolute()) << dir;
  EXPECT_EQ(Lower(dir.filename().string()), "reclaim") << dir;
}

TEST(ProcessPlatformTest, MachineStateDirectoryIsAbsoluteAndNamedReclaim) {
  const std::filesystem::path dir = DefaultMachineStateDirectory();
  EXPECT_TRUE(dir.is_absolute()) << dir;
  EXPECT_EQ(Lower(dir.filename().string()), "reclaim") << dir;
  EXPECT_NE(dir, std::filesystem::path(DefaultStateDirectory()));  // the machine's, not the user's
}

TEST(ProcessPlatformTest, DeviceIdSourceIsNamed) { EXPECT_FALSE(DeviceIdSource().empty()); }

TEST(ProcessPlatformTest, WatcherClosedWithoutRequestReportsNothing) {
  PrepareForStopRequests();
  std::atomic<int> calls{0};
  auto watcher = WatchStopRequests([&calls](const std::string&) { ++calls; });
  const auto start = std::chrono::steady_clock::now();
  watcher->Close();
  watcher->Close();  // idempotent
  watcher.reset();
  EXPECT_EQ(calls.load(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace reclaim::agent
