// TryLockInstance (process_platform.h) on the platform it is built for: the
// same test source on Linux (flock) and, built with mingw-w64, under Wine
// (tests/windows: CreateFileW without sharing). The other process is
// instance_lock_holder, started through popen(3) / _popen with a pipe on its
// standard input: closing the pipe ends it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "agent/platform/process_platform.h"
#include "tests/testing/wait_for.h"

#ifndef _WIN32
#include <sys/wait.h>
#endif

#ifndef RECLAIM_INSTANCE_LOCK_HOLDER
#error "RECLAIM_INSTANCE_LOCK_HOLDER must name instance_lock_holder's path"
#endif

namespace reclaim::agent {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test (tests/testing/temp_dir.h uses mkdtemp, which
// Windows lacks).
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("reclaim-lock-test-" + std::to_string(CurrentProcessId()) +
                                         "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// instance_lock_holder holding `lock` until Release() (or destruction).
class Holder {
 public:
  Holder(const std::string& lock, const std::string& ready) {
    std::string exe = RECLAIM_INSTANCE_LOCK_HOLDER;
#ifdef _WIN32
    for (char& c : exe) {
      if (c == '/') c = '\\';
    }
    // _popen runs `cmd.exe /c <command>`; cmd strips the outermost quotes
    // of a command that has more than two, hence the extra pair.
    const std::string command = "\"\"" + exe + "\" \"" + lock + "\" \"" + ready + "\"\"";
    pipe_ = _popen(command.c_str(), "w");
#else
    const std::string command = "'" + exe + "' '" + lock + "' '" + ready + "'";
    pipe_ = popen(command.c_str(), "w");
#endif
  }
  ~Holder() { Release(); }
  bool started() const { return pipe_ != nullptr; }
  // Ends the holder's standard input and waits for it to exit; its status.
  int Release() {
    if (pipe_ == nullptr) return -1;
#ifdef _WIN32
    const int status = _pclose(pipe_);
#else
    const int status = pclose(pipe_);
#endif
    pipe_ = nullptr;
    return status;
  }

 private:
  std::FILE* pipe_ = nullptr;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(InstanceLockTest, SecondLockInTheSameProcessFailsUntilTheFirstIsReleased) {
  ScratchDir dir;
  const std::string path = dir.File("spool.db.lock");
  std::string error;
  auto first = TryLockInstance(path, &error);
  ASSERT_NE(first, nullptr) << error;
  EXPECT_EQ(TryLockInstance(path, &error), nullptr);
  EXPECT_NE(error.find("held by another process"), std::string::npos) << error;
  first.reset();
#ifdef _WIN32
  EXPECT_FALSE(fs::exists(path)) << "FILE_FLAG_DELETE_ON_CLOSE left the file";
#endif
  error.clear();
  auto again = TryLockInstance(path, &error);
  EXPECT_NE(again, nullptr) << error;
}

TEST(InstanceLockTest, LockHeldByAnotherProcessIsRefusedAndFreedWhenItEnds) {
  ScratchDir dir;
  const std::string path = dir.File("spool.db.lock");
  const std::string ready = dir.File("holder.ready");
  Holder holder(path, ready);
  ASSERT_TRUE(holder.started()) << RECLAIM_INSTANCE_LOCK_HOLDER;
  ASSERT_TRUE(testing::WaitFor([&] { return fs::exists(ready); }, std::chrono::seconds(30)))
      << "instance_lock_holder never took the lock";
  const std::string holder_pid = ReadFile(ready);
  ASSERT_FALSE(holder_pid.empty());

  std::string error;
  EXPECT_EQ(TryLockInstance(path, &error), nullptr);
  EXPECT_NE(error.find("held by another process"), std::string::npos) << error;
#ifndef _WIN32
  // Linux: the holder's pid from the file (Windows: nobody can read it).
  EXPECT_NE(error.find("(pid " + holder_pid + ")"), std::string::npos) << error;
#endif

  // The holder exits without releasing: the OS does it.
  EXPECT_EQ(holder.Release(), 0);
  error.clear();
  auto mine = TryLockInstance(path, &error);
  EXPECT_NE(mine, nullptr) << error;
}

TEST(InstanceLockTest, SecondProcessIsRefusedWhileThisOneHoldsTheLock) {
  ScratchDir dir;
  const std::string path = dir.File("spool.db.lock");
  std::string error;
  auto mine = TryLockInstance(path, &error);
  ASSERT_NE(mine, nullptr) << error;
  const std::string ready = dir.File("holder.ready");
  Holder holder(path, ready);
  ASSERT_TRUE(holder.started());
  // Refused: exit status 2 (Windows' _pclose returns it as is; POSIX pclose
  // returns a wait status).
  const int status = holder.Release();
#ifdef _WIN32
  EXPECT_EQ(status, 2);
#else
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << status;
#endif
  EXPECT_FALSE(fs::exists(ready));
}

TEST(InstanceLockTest, UnopenablePathIsNamedInTheError) {
  ScratchDir dir;
  const std::string path = dir.File("no-such-dir") + "/spool.db.lock";
  std::string error;
  EXPECT_EQ(TryLockInstance(path, &error), nullptr);
  EXPECT_NE(error.find("no-such-dir"), std::string::npos) << error;
  EXPECT_EQ(error.find("held by another process"), std::string::npos) << error;
}

}  // namespace
}  // namespace reclaim::agent
