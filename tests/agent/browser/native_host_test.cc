// reclaim-native-host and the agent's BrowserBridge together, over real
// pipes and a real Unix socket: the host is started as the browser would
// start it (this test process plays the browser, so it is the "browser
// process" the bridge must name), and fed valid, malformed, oversize and
// hostile input.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstring>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "agent/browser/browser_bridge.h"
#include "agent/browser/frame_reader.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait_for.h"

namespace reclaim::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Writes all of `bytes` to a pipe or socket (no SIGPIPE on sockets).
::testing::AssertionResult WriteAll(int fd, absl::string_view bytes) {
  struct stat st {};
  const bool is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  while (!bytes.empty()) {
    const ssize_t n = is_socket ? send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL)
                                : write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ::testing::AssertionFailure() << "write: " << std::strerror(errno);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return ::testing::AssertionSuccess();
}

bool WaitUntil(const std::function<bool()>& pred, milliseconds timeout = seconds(10)) {
  return reclaim::testing::WaitFor(pred, timeout, milliseconds(10));
}

// reclaim-native-host with its stdin and stdout on pipes, as a browser runs it.
class HostProcess {
 public:
  explicit HostProcess(const std::string& socket_path) {
    int in[2], out[2];
    EXPECT_EQ(pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    // Set before fork: the child of a threaded process must not allocate.
    setenv("RECLAIM_BROWSER_SOCKET", socket_path.c_str(), 1);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      execl(RECLAIM_NATIVE_HOST_BIN, RECLAIM_NATIVE_HOST_BIN, "chrome-extension://test/",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~HostProcess() {
    CloseStdin();
    if (stdout_ >= 0) close(stdout_);
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void Write(absl::string_view bytes) {
    ASSERT_TRUE(WriteAll(stdin_, bytes));
  }
  void Send(absl::string_view json) { Write(EncodeFrame(json)); }
  void CloseStdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  // The first frame the host wrote to the browser.
  std::string ReadFrame() {
    FrameReader r(1 << 16, 1 << 16);
    std::optional<std::string> f;
    char buf[256];
    while (!f) {
      const ssize_t n = read(stdout_, buf, sizeof(buf));
      if (n <= 0) return "<eof>";
      r.Feed(absl::string_view(buf, static_cast<size_t>(n)));
      if (!r.Next(&f).ok()) return "<broken>";
    }
    return *f;
  }
  // Exit code, waiting up to `timeout`; -1 when it did not exit normally.
  int Wait(milliseconds timeout = seconds(10)) {
    int status = 0;
    const bool done = WaitUntil([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!done) return -2;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
  bool exited_ = false;
};

class NativeHostTest : public ::testing::Test {
 protected:
  // The bridge's thread calls back into updates_: stop it before the members
  // it writes to are destroyed (members die in reverse order of declaration).
  void TearDown() override {
    if (bridge_) {
      bridge_->Stop();
      bridge_.reset();
    }
  }
  void StartAgentEnd(WebDetailPolicy web_detail = {}) {
    BrowserBridgeOptions o;
    o.socket_path = socket_;
    o.web_detail = web_detail;
    auto b = StartBrowserBridge(o, [this](std::int64_t pid,
                                          const std::optional<WebBrowserState>& state) {
      absl::MutexLock l(&mu_);
      updates_.push_back({pid, state});
    });
    ASSERT_TRUE(b.ok()) << b.status();
    bridge_ = *std::move(b);
  }
  size_t Updates() {
    absl::MutexLock l(&mu_);
    return updates_.size();
  }
  std::pair<std::int64_t, std::optional<WebBrowserState>> Update(size_t i) {
    absl::MutexLock l(&mu_);
    return updates_.at(i);
  }
  static std::string State(const std::string& host) {
    return R"({"v":1,"type":"state","focused":1,"windows":[{"id":1,"origin":"https://)" + host +
           R"("}]})";
  }

  testing::TempDir dir_;
  std::string socket_ = dir_.File("run/browser.sock");
  std::unique_ptr<BrowserBridge> bridge_;
  absl::Mutex mu_;
  std::vector<std::pair<std::int64_t, std::optional<WebBrowserState>>> updates_;
};

TEST_F(NativeHostTest, ForwardsValidStatesAndDropsBadOnes) {
  StartAgentEnd();
  struct stat st {};
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir_.File("run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  HostProcess host(socket_);
  EXPECT_EQ(host.ReadFrame(), R"({"v":1,"type":"ready"})");
  host.Send(State("a.example.test"));
  ASSERT_TRUE(WaitUntil([&] { return Updates() == 1; }));
  EXPECT_EQ(Update(0).first, getpid());  // the browser is the host's parent
  ASSERT_TRUE(Update(0).second);
  EXPECT_EQ(Update(0).second->FocusedHost(), "a.example.test");

  // Malformed, hostile and oversize input between two valid states.
  host.Send("not json");
  host.Send(R"j({"v":1,"type":"state","focused":1,"windows":[{"id":1,"origin":"javascript:alert(1)"}]})j");
  host.Send(R"({"v":1,"type":"state","focused":1,"windows":[{"id":1,"origin":"https://a.b/secret/path"}]})");
  host.Send(std::string(20000, '['));
  host.Send(std::string("\x00\x01\x02\xff", 4));
  host.Send(State(std::string(140000, 'x')));                 // over the size limit
  host.Write(EncodeFrame("") + EncodeFrame(State("b.example.test")));
  ASSERT_TRUE(WaitUntil([&] { return Updates() == 2; }));
  EXPECT_EQ(Update(1).second->FocusedHost(), "b.example.test");
  // The host validated: the agent end saw only valid messages.
  EXPECT_EQ(bridge_->stats().messages, 2u);
  EXPECT_EQ(bridge_->stats().malformed, 0u);

  // The browser closes the port: the host exits 0, the agent forgets the browser.
  host.CloseStdin();
  EXPECT_EQ(host.Wait(), 0);
  ASSERT_TRUE(WaitUntil([&] { return Updates() == 3; }));
  EXPECT_FALSE(Update(2).second);
}

TEST_F(NativeHostTest, AnUnframedStreamEndsTheHostWithoutACrash) {
  StartAgentEnd();
  HostProcess host(socket_);
  host.Send(State("a.example.test"));
  host.Write("\xff\xff\xff\xff garbage");  // a 4 GiB "length"
  EXPECT_EQ(host.Wait(), 1);
}

TEST_F(NativeHostTest, WaitsForTheAgentAndReconnects) {
  HostProcess host(socket_);  // no agent yet
  host.Send(State("a.example.test"));
  host.Send(State("b.example.test"));
  std::this_thread::sleep_for(milliseconds(200));
  StartAgentEnd();
  // The latest state arrives once the agent is there (retry <= 1 s).
  ASSERT_TRUE(WaitUntil([&] { return Updates() >= 1; }));
  EXPECT_EQ(Update(Updates() - 1).second->FocusedHost(), "b.example.test");
  // The agent restarts: the host re-sends its latest state to the new one.
  bridge_->Stop();
  bridge_.reset();
  {
    absl::MutexLock l(&mu_);
    updates_.clear();
  }
  StartAgentEnd();
  ASSERT_TRUE(WaitUntil([&] { return Updates() >= 1; }, seconds(15)));
  EXPECT_EQ(Update(0).second->FocusedHost(), "b.example.test");
  host.Send(State("c.example.test"));
  ASSERT_TRUE(WaitUntil([&] { return Updates() >= 2; }));
  EXPECT_EQ(Update(Updates() - 1).second->FocusedHost(), "c.example.test");
}

// The administrator's opt-in, end to end through the real host: the
// extension's path and title reach the agent only when its --web-detail
// allows them; by default they are removed and counted (a tampered extension
// cannot send more than the agent accepts).
TEST_F(NativeHostTest, PathAndTitleOnlyWhenTheAgentAllowsThem) {
  const std::string detailed =
      R"({"v":1,"type":"state","focused":1,"windows":[{"id":1,)"
      R"("origin":"https://crm.example.test","path":"/accounts/42","title":"Acme Corp"}]})";
  StartAgentEnd();  // default: origin only
  {
    HostProcess host(socket_);
    host.Send(detailed);
    ASSERT_TRUE(WaitUntil([&] { return Updates() == 1; }));
    ASSERT_TRUE(Update(0).second);
    EXPECT_EQ(Update(0).second->FocusedHost(), "crm.example.test");
    EXPECT_EQ(Update(0).second->windows.at(0).path, "");
    EXPECT_EQ(Update(0).second->windows.at(0).title, "");
    EXPECT_EQ(bridge_->stats().details_dropped, 2u);
    EXPECT_EQ(bridge_->stats().malformed, 0u);
    // An oversize path is refused by the host already (the agent never sees it).
    host.Send(R"({"v":1,"type":"state","focused":1,"windows":[{"id":1,)"
              R"("origin":"https://x.example.test","path":"/)" +
              std::string(kMaxWebPathBytes, 'p') + R"("}]})");
    host.Send(State("after.example.test"));
    ASSERT_TRUE(WaitUntil([&] { return Updates() == 2; }));
    EXPECT_EQ(Update(1).second->FocusedHost(), "after.example.test");
    host.CloseStdin();
    EXPECT_EQ(host.Wait(), 0);
  }
  bridge_->Stop();
  bridge_.reset();
  {
    absl::MutexLock l(&mu_);
    updates_.clear();
  }
  StartAgentEnd({.path = true, .title = false});
  {
    HostProcess host(socket_);
    host.Send(detailed);
    ASSERT_TRUE(WaitUntil([&] { return Updates() == 1; }));
    EXPECT_EQ(Update(0).second->windows.at(0).path, "/accounts/42");
    EXPECT_EQ(Update(0).second->windows.at(0).title, "");
    EXPECT_EQ(bridge_->stats().details_dropped, 1u);
    // Titles are not allowed here: removed whatever their length.
    host.Send(R"({"v":1,"type":"state","focused":1,"windows":[{"id":1,)"
              R"("origin":"https://crm.example.test","path":"/b","title":")" +
              std::string(5000, 't') + R"("}]})");
    ASSERT_TRUE(WaitUntil([&] { return Updates() == 2; }));
    EXPECT_EQ(Update(1).second->windows.at(0).path, "/b");
    EXPECT_EQ(bridge_->stats().details_dropped, 2u);
  }
  bridge_->Stop();
  bridge_.reset();
  {
    absl::MutexLock l(&mu_);
    updates_.clear();
  }
  StartAgentEnd({.path = true, .title = true});
  HostProcess host(socket_);
  host.Send(R"({"v":1,"type":"state","focused":1,"windows":[{"id":1,)"
            R"("origin":"https://crm.example.test","path":"/b","title":")" +
            std::string(5000, 't') + R"("}]})");
  ASSERT_TRUE(WaitUntil([&] { return Updates() == 1; }));
  EXPECT_EQ(Update(0).second->windows.at(0).title, std::string(kMaxWebTitleBytes, 't'));
  EXPECT_EQ(WebPageDetail(*Update(0).second->Focused()).size(), kMaxWebTitleBytes);
  EXPECT_EQ(bridge_->stats().details_dropped, 0u);
}

int Connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST_F(NativeHostTest, TheAgentEndValidatesToo) {
  StartAgentEnd();
  const int fd = Connect(socket_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, EncodeFrame("{}") + EncodeFrame(std::string(200000, ' ')) +
                               EncodeFrame(State("ok.example.test")) +
                               EncodeFrame(State("bad_origin..x"))));
  ASSERT_TRUE(WaitUntil([&] {
    const BrowserBridgeStats s = bridge_->stats();
    return s.messages == 1 && s.malformed == 2 && s.oversize == 1;
  })) << bridge_->stats().malformed;
  EXPECT_EQ(Update(0).second->FocusedHost(), "ok.example.test");
  EXPECT_EQ(Update(0).first, getppid());  // this process's parent
  // A stream that is not framed: the connection is closed, the bridge serves on.
  ASSERT_TRUE(WriteAll(fd, "\xff\xff\xff\xf0"));
  ASSERT_TRUE(WaitUntil([&] { return bridge_->stats().broken_streams == 1; }));
  char c;
  EXPECT_EQ(read(fd, &c, 1), 0);  // closed by the agent
  close(fd);
  const int fd2 = Connect(socket_);
  ASSERT_GE(fd2, 0);
  ASSERT_TRUE(WriteAll(fd2, EncodeFrame(State("again.example.test"))));
  ASSERT_TRUE(WaitUntil([&] { return bridge_->stats().messages == 2; }));
  close(fd2);
}

TEST_F(NativeHostTest, RefusesOtherUsersAndUnsafeDirectories) {
  ASSERT_EQ(geteuid(), 0u) << "this test needs root to act as another user (CI runs as root)";
  StartAgentEnd();
  // Even with the file modes opened up, the peer check refuses another user.
  chmod(dir_.path().c_str(), 0755);
  chmod(dir_.File("run").c_str(), 0755);
  chmod(socket_.c_str(), 0666);
  // The child only makes system calls (this process has threads: no malloc
  // after fork).
  const std::string frame = EncodeFrame(State("evil.example.test"));
  const pid_t child = fork();
  if (child == 0) {
    if (setuid(65534) != 0) _exit(3);
    const int fd = Connect(socket_);
    if (fd < 0) _exit(4);
    (void)!send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    char c;
    _exit(read(fd, &c, 1) <= 0 ? 0 : 5);  // closed (or reset) by the agent
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_EQ(bridge_->stats().refused_peers, 1u);
  EXPECT_EQ(Updates(), 0u);
  bridge_->Stop();
  // A socket directory others can enter is refused.
  BrowserBridgeOptions o;
  o.socket_path = socket_;
  auto again = StartBrowserBridge(o, nullptr);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
}


// Another user's listener on the socket path (without $XDG_RUNTIME_DIR the
// path is under /tmp, where anyone may create /tmp/reclaim-<uid>/ first)
// never hears which sites this user visits: the host checks the listener's
// uid (SO_PEERCRED) and keeps retrying instead.
TEST_F(NativeHostTest, SendsNothingToAnotherUsersListener) {
  ASSERT_EQ(geteuid(), 0u) << "this test needs root to act as another user (CI runs as root)";
  chmod(dir_.path().c_str(), 0755);
  const std::string evil_dir = dir_.File("evil");
  ASSERT_EQ(mkdir(evil_dir.c_str(), 0777), 0);
  chmod(evil_dir.c_str(), 0777);
  const std::string path = evil_dir + "/browser.sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  // The child only makes system calls (no malloc after fork): it listens as
  // uid 65534 for 3 s and exits 5 if any connection brought data.
  const pid_t child = fork();
  if (child == 0) {
    if (setuid(65534) != 0) _exit(3);
    const int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(lfd, 16) != 0) {
      _exit(4);
    }
    (void)!write(ready[1], "r", 1);
    struct timespec start {};
    clock_gettime(CLOCK_MONOTONIC, &start);
    int connections = 0;
    for (;;) {
      struct timespec now {};
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec - start.tv_sec >= 3) break;
      pollfd p{lfd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const int c = accept(lfd, nullptr, nullptr);
      if (c < 0) continue;
      ++connections;
      pollfd q{c, POLLIN, 0};
      char buf[256];
      if (poll(&q, 1, 500) > 0 && read(c, buf, sizeof buf) > 0) _exit(5);
      close(c);
    }
    _exit(connections > 0 ? 0 : 6);
  }
  close(ready[1]);
  char r;
  ASSERT_EQ(read(ready[0], &r, 1), 1) << "the other user's listener did not start";
  close(ready[0]);
  HostProcess host(path);
  host.Send(State("private.example.test"));
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_NE(WEXITSTATUS(status), 5) << "another user's listener received the browsing state";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the host never connected";
}

}  // namespace
}  // namespace reclaim::agent
