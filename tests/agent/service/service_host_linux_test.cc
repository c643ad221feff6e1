// service_host_linux.cc in a real child process: each test forks a child
// whose main thread calls RunAsService (as reclaim-agent-service's main()
// does) and sends the real signals systemd and a terminal send: SIGTERM and
// SIGINT to the whole process. The child reports over a pipe; its exit
// status is the body's return value.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "agent/service/service_host.h"

namespace reclaim::agent {
namespace {

// One line (without its '\n') from `fd`; empty at end of file.
std::string ReadLine(int fd) {
  std::string line;
  char c = 0;
  while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

void WriteLine(int fd, const std::string& line) {
  const std::string text = line + "\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
}

// A child process running `body` under RunAsService("ReclaimTestService").
// The body reports to the parent on `to_parent` and reads from `from_parent`.
class ChildService {
 public:
  using Body = std::function<int(ServiceContext&, int to_parent, int from_parent)>;

  explicit ChildService(const Body& body) {
    int up[2];
    int down[2];
    EXPECT_EQ(pipe(up), 0);
    EXPECT_EQ(pipe(down), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(up[0]);
      close(down[1]);
      const int rc = RunAsService("ReclaimTestService", [&](ServiceContext& context) {
        return body(context, up[1], down[0]);
      });
      _exit(rc);
    }
    close(up[1]);
    close(down[0]);
    from_child_ = up[0];
    to_child_ = down[1];
  }
  ~ChildService() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(from_child_);
    close(to_child_);
  }

  pid_t pid() const { return pid_; }
  std::string ReadLine() { return reclaim::agent::ReadLine(from_child_); }
  void WriteLine(const std::string& line) { reclaim::agent::WriteLine(to_child_, line); }
  // The child's wait status.
  int Wait() {
    int status = 0;
    EXPECT_EQ(waitpid(pid_, &status, 0), pid_);
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int from_child_ = -1;
  int to_child_ = -1;
};

// The body of a service that runs a worker thread of its own until stopped:
// reports "running", then the stop reason, and returns `exit_code`.
ChildService::Body StopReasonBody(int exit_code) {
  return [exit_code](ServiceContext& context, int to_parent, int) {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    // Started after RunAsService: it inherits the blocked mask, so a
    // process-directed signal cannot end the process through it.
    std::thread worker([&] {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return stop; });
    });
    context.ReportRunning();
    WriteLine(to_parent, "running");
    const std::string reason = context.WaitForStopRequest();
    context.ReportStopping(1000);
    {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
    }
    cv.notify_all();
    worker.join();
    WriteLine(to_parent, reason);
    return exit_code;
  };
}

struct StopSignal {
  int signal;
  const char* reason;
  int exit_code;
};

class ServiceHostSignalTest : public ::testing::TestWithParam<StopSignal> {};

// systemd stops the service with SIGTERM, a terminal with SIGINT (Ctrl+C).
TEST_P(ServiceHostSignalTest, IsAStopRequestAndTheExitCodeIsTheBodys) {
  const StopSignal& p = GetParam();
  ChildService child(StopReasonBody(p.exit_code));
  ASSERT_EQ(child.ReadLine(), "running");
  ASSERT_EQ(kill(child.pid(), p.signal), 0);
  EXPECT_EQ(child.ReadLine(), p.reason);
  const int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), p.exit_code);
}

INSTANTIATE_TEST_SUITE_P(StopSignals, ServiceHostSignalTest,
                         ::testing::Values(StopSignal{SIGTERM, "SIGTERM", 7},
                                           StopSignal{SIGINT, "SIGINT", 0}),
                         [](const ::testing::TestParamInfo<StopSignal>& info) {
                           return std::string(info.param.reason);
                         });

TEST(ServiceHostLinuxTest, BodyEndingWithoutAStopRequestEndsTheHost) {
  // A runtime error: the body returns 1 with no stop request; the host's
  // signal thread must not keep the process alive.
  ChildService child([](ServiceContext&, int to_parent, int) {
    WriteLine(to_parent, "failing");
    return 1;
  });
  EXPECT_EQ(child.ReadLine(), "failing");
  const int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

TEST(ServiceHostLinuxTest, RequestBeforeWaitingIsKept) {
  ChildService child([](ServiceContext& context, int to_parent, int from_parent) {
    WriteLine(to_parent, "running");
    EXPECT_EQ(ReadLine(from_parent), "wait now");  // the signal was sent before
    WriteLine(to_parent, context.WaitForStopRequest());
    WriteLine(to_parent, context.WaitForStopRequest());  // the same reason again
    return 0;
  });
  ASSERT_EQ(child.ReadLine(), "running");
  ASSERT_EQ(kill(child.pid(), SIGTERM), 0);
  child.WriteLine("wait now");
  EXPECT_EQ(child.ReadLine(), "SIGTERM");
  EXPECT_EQ(child.ReadLine(), "SIGTERM");
  EXPECT_EQ(child.Wait(), 0);
}

TEST(ServiceHostLinuxTest, SignalsWhileStoppingDoNotEndTheProcess) {
  // systemd sends SIGTERM once, a user may press Ctrl+C twice: the clean
  // stop runs to its end and the body's exit code stands.
  ChildService child([](ServiceContext& context, int to_parent, int from_parent) {
    WriteLine(to_parent, "running");
    const std::string reason = context.WaitForStopRequest();
    context.ReportStopping(1000);
    WriteLine(to_parent, "stopping after " + reason);
    EXPECT_EQ(ReadLine(from_parent), "finish");
    return 5;
  });
  ASSERT_EQ(child.ReadLine(), "running");
  ASSERT_EQ(kill(child.pid(), SIGINT), 0);
  EXPECT_EQ(child.ReadLine(), "stopping after SIGINT");
  ASSERT_EQ(kill(child.pid(), SIGTERM), 0);
  ASSERT_EQ(kill(child.pid(), SIGINT), 0);
  child.WriteLine("finish");
  const int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 5);
}

}  // namespace
}  // namespace reclaim::agent
