// local_channel.h on the platform it is built for: the same expectations on
// Linux (UNIX sockets, local_channel_linux.cc) and, built with mingw-w64,
// under Wine (named pipes, local_channel_windows.cc; tests/windows). The
// Windows-only checks (the server's user, the pipe's DACL) are in
// tests/windows/local_channel_windows_test.cc.
//
// Under Wine every process runs as the same user, so these tests show the
// peer is the current user; that another user is told apart (and refused)
// cannot be shown there.
#include "agent/local/local_channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/platform/process_platform.h"

#if defined(_WIN32)
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#else
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "tests/testing/temp_dir.h"
#include "tests/testing/wait_for.h"
extern char** environ;
#endif

namespace reclaim::agent {
namespace {

using std::chrono::milliseconds;

// A fresh local address per call: a pipe name (Windows) or a socket path in
// a temporary directory of the test (Linux).
class Addresses {
 public:
  std::string Next() {
    const int n = count_++;
#if defined(_WIN32)
    return "\\\\.\\pipe\\reclaim-channel-test-" + std::to_string(GetCurrentProcessId()) + "-" +
           std::to_string(n);
#else
    return dir_.File("s" + std::to_string(n) + ".sock");
#endif
  }

 private:
  int count_ = 0;
#if !defined(_WIN32)
  testing::TempDir dir_;
#endif
};

// The server is this process: accept it on Windows ("self"); ignored on Linux.
LocalConnectOptions SelfServer() {
  LocalConnectOptions o;
  o.windows_server_sid = "self";
  return o;
}

// A listener with one accepted connection and its client end.
struct Connected {
  std::unique_ptr<LocalListener> listener;
  std::unique_ptr<ServerChannel> server;
  std::unique_ptr<LocalChannel> client;
};

Connected Connect(Addresses& addresses) {
  Connected c;
  const std::string address = addresses.Next();
  IpcStatus s = ListenLocal(address, LocalListenerOptions{}, &c.listener);
  EXPECT_TRUE(s.ok()) << s.message;
  if (!s.ok()) return c;
  s = ConnectLocal(address, SelfServer(), &c.client);
  EXPECT_TRUE(s.ok()) << s.message;
  if (!s.ok()) return c;
  s = c.listener->Accept(&c.server);
  EXPECT_TRUE(s.ok()) << s.message;
  return c;
}

// Reads exactly `n` bytes (fewer only at end of stream or on an error).
std::string ReadN(LocalChannel& ch, std::size_t n, IpcStatus* status = nullptr) {
  std::string out;
  std::vector<char> buf(64 << 10);
  while (out.size() < n) {
    std::size_t got = 0;
    IpcStatus s = ch.Read(buf.data(), std::min(buf.size(), n - out.size()), &got);
    if (!s.ok()) {
      if (status != nullptr) *status = s;
      ADD_FAILURE() << "read: " << s.message;
      break;
    }
    if (got == 0) break;
    out.append(buf.data(), got);
  }
  return out;
}

// Reads until end of stream.
IpcStatus ReadToEnd(LocalChannel& ch, std::string* out) {
  std::vector<char> buf(64 << 10);
  for (;;) {
    std::size_t got = 0;
    IpcStatus s = ch.Read(buf.data(), buf.size(), &got);
    if (!s.ok() || got == 0) return s;
    out->append(buf.data(), got);
  }
}

IpcStatus Write(LocalChannel& ch, const std::string& data, milliseconds timeout = milliseconds(0)) {
  return ch.WriteAll(data.data(), data.size(), timeout);
}

// Bytes that differ from position to position (a shifted or lost buffer shows).
std::string Pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

TEST(LocalChannelTest, EchoesBothWays) {
  Addresses addresses;
  Connected c = Connect(addresses);
  ASSERT_TRUE(c.server && c.client);
  ASSERT_TRUE(Write(*c.client, "hello service").ok());
  EXPECT_EQ(ReadN(*c.server, 13), "hello service");
  ASSERT_TRUE(Write(*c.server, "hello agent").ok());
  EXPECT_EQ(ReadN(*c.client, 11), "hello agent");
  EXPECT_FALSE(c.client->Describe().empty());
  EXPECT_EQ(c.listener->address().empty(), false);
}

TEST(LocalChannelTest, LargeWritesCrossTheBuffersIntact) {
  Addresses addresses;
  Connected c = Connect(addresses);
  ASSERT_TRUE(c.server && c.client);
  const std::string up = Pattern(6 << 20, 1);  // several times any pipe/socket buffer
  const std::string down = Pattern(5 << 20, 2);
  // Both directions at once: each side writes while its peer reads.
  auto server_reads = std::async(std::launch::async, [&] { return ReadN(*c.server, up.size()); });
  auto client_reads = std::async(std::launch::async, [&] { return ReadN(*c.client, down.size()); });
  auto server_writes = std::async(std::launch::async, [&] { return Write(*c.server, down); });
  IpcStatus s = Write(*c.client, up, milliseconds(60000));
  EXPECT_TRUE(s.ok()) << s.message;
  s = server_writes.get();
  EXPECT_TRUE(s.ok()) << s.message;
  EXPECT_TRUE(server_reads.get() == up);
  EXPECT_TRUE(client_reads.get() == down);
}

TEST(LocalChannelTest, PeerCloseIsEndOfStreamAfterItsData) {
  Addresses addresses;
  Connected c = Connect(addresses);
  ASSERT_TRUE(c.server && c.client);
  ASSERT_TRUE(Write(*c.client, "last words").ok());
  c.client.reset();  // closes the client's end
  std::string got;
  IpcStatus s = ReadToEnd(*c.server, &got);
  EXPECT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(got, "last words");
  // And later reads stay at the end.
  char b;
  std::size_t n = 7;
  EXPECT_TRUE(c.server->Read(&b, 1, &n).ok());
  EXPECT_EQ(n, 0u);
  // Writing to a closed peer fails (and raises no SIGPIPE).
  s = Write(*c.server, std::string(200000, 'x'), milliseconds(5000));
  EXPECT_EQ(s.code, kIpcUnavailable) << s.message;
}

TEST(LocalChannelTest, ServerCloseIsEndOfStreamForTheClient) {
  Addresses addresses;
  Connected c = Connect(addresses);
  ASSERT_TRUE(c.server && c.client);
  ASSERT_TRUE(Write(*c.server, "bye").ok());
  c.server.reset();
  std::string got;
  IpcStatus s = ReadToEnd(*c.client, &got);
  EXPECT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(got, "bye");
}

TEST(LocalChannelTest, ShutdownFromAnotherThreadUnblocksRead) {
  Addresses addresses;
  Connected c = Connect(addresses);
  ASSERT_TRUE(c.server && c.client);
  std::promise<void> reading;
  auto blocked = std::async(std::launch::async, [&] {
    char buf[16];
    std::size_t n = 99;
    reading.set_value();
    IpcStatus s = c.server->Read(buf, sizeof buf, &n);
    return std::make_pair(s, n);
  });
  reading.get_future().wait();
  // Give the reader time to block in the OS (it returns at once either way).
  EXPECT_EQ(blocked.wait_for(milliseconds(200)), std::future_status::timeout);
  c.server->Shutdown();
  ASSERT_EQ(blocked.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "Read() still blocked after Shutdown()";
  auto [s, n] = blocked.get();
  // End of stream (or UNAVAILABLE: local_channel.h allows either).
  EXPECT_TRUE((s.ok() && n == 0) || s.code == kIpcUnavailable) << s.code << " " << s.message;
  // Later calls: end of stream / UNAVAILABLE; writes UNAVAILABLE.
  char b;
  std::size_t later = 5;
  s = c.server->Read(&b, 1, &later);
  EXPECT_TRUE((s.ok() && later == 0) || s.code == kIpcUnavailable) << s.message;
  EXPECT_EQ(Write(*c.server, "x").code, kIpcUnavailable);
  c.server->Shutdown();  // idempotent
  // The peer sees the end of stream.
  std::string got;
  s = ReadToEnd(*c.client, &got);
  EXPECT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(got, "");
}

TEST(LocalChannelTest, WriteAllTimesOutWhenThePeerNeverReads) {
  Addresses addresses;
  Connected c = Connect(addresses);
  ASSERT_TRUE(c.server && c.client);
  const auto start = std::chrono::steady_clock::now();
  IpcStatus s = Write(*c.client, Pattern(8 << 20, 3), milliseconds(300));
  EXPECT_EQ(s.code, kIpcDeadlineExceeded) << s.message;
  EXPECT_FALSE(s.message.empty());
  // It gave up (not after the whole buffer drained, which never happens here).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

void ExpectCurrentUser(const LocalPeer& peer) {
  const PlatformUser me = CurrentPlatformUser();
#if defined(_WIN32)
  ASSERT_FALSE(me.sid.empty());
  EXPECT_EQ(peer.key, me.sid);
  EXPECT_EQ(peer.sid, me.sid);
  EXPECT_EQ(peer.domain, me.domain);
  EXPECT_FALSE(peer.uid.has_value());
#else
  ASSERT_TRUE(me.uid.has_value());
  EXPECT_EQ(peer.key, "uid:" + std::to_string(*me.uid));
  ASSERT_TRUE(peer.uid.has_value());
  EXPECT_EQ(*peer.uid, *me.uid);
  EXPECT_EQ(peer.sid, "");
#endif
  EXPECT_EQ(peer.login_name, me.login_name);
  EXPECT_EQ(peer.pid, CurrentProcessId());  // the client is this process
}

TEST(LocalChannelTest, PeerAtConnectAndAttestedPeerAreTheCurrentUser) {
  Addresses addresses;
  Connected c = Connect(addresses);
  ASSERT_TRUE(c.server && c.client);
  LocalPeer at_connect;
  IpcStatus s = c.server->PeerAtConnect(&at_connect);
  ASSERT_TRUE(s.ok()) << s.message;
  ExpectCurrentUser(at_connect);

  ASSERT_TRUE(Write(*c.client, "H").ok());
  ASSERT_EQ(ReadN(*c.server, 1), "H");
  LocalPeer attested;
  s = c.server->AttestPeer(&attested);
  ASSERT_TRUE(s.ok()) << s.message;
  ExpectCurrentUser(attested);
  EXPECT_EQ(attested.key, at_connect.key);
}

TEST(LocalChannelTest, AttestPeerBeforeAnyRead) {
  Addresses addresses;
  Connected c = Connect(addresses);
  ASSERT_TRUE(c.server && c.client);
  LocalPeer peer;
  IpcStatus s = c.server->AttestPeer(&peer);
#if defined(_WIN32)
  // The named-pipe file system impersonates the last message read: none yet.
  EXPECT_EQ(s.code, kIpcFailedPrecondition) << s.message;
#else
  // SO_PEERCRED holds the credentials of connect(2): known from the start.
  ASSERT_TRUE(s.ok()) << s.message;
  ExpectCurrentUser(peer);
#endif
}

TEST(LocalChannelTest, SecondListenerOnALiveAddressIsRefused) {
  Addresses addresses;
  const std::string address = addresses.Next();
  std::unique_ptr<LocalListener> first, second;
  ASSERT_TRUE(ListenLocal(address, LocalListenerOptions{}, &first).ok());
  IpcStatus s = ListenLocal(address, LocalListenerOptions{}, &second);
  EXPECT_EQ(s.code, kIpcFailedPrecondition) << s.message;
  EXPECT_TRUE(second == nullptr);
  // The first one still works. (On Linux the refused listener found the
  // address live by connecting to it: that empty connection comes first.)
  std::unique_ptr<LocalChannel> client;
  ASSERT_TRUE(ConnectLocal(address, SelfServer(), &client).ok());
  ASSERT_TRUE(Write(*client, "ok").ok());
  std::string got;
  for (int i = 0; i < 3 && got.empty(); ++i) {
    std::unique_ptr<ServerChannel> server;
    ASSERT_TRUE(first->Accept(&server).ok());
    got = ReadN(*server, 2);
  }
  EXPECT_EQ(got, "ok");
}

TEST(LocalChannelTest, ConnectToNothingIsUnavailable) {
  Addresses addresses;
  std::unique_ptr<LocalChannel> client;
  IpcStatus s = ConnectLocal(addresses.Next(), SelfServer(), &client);
  EXPECT_EQ(s.code, kIpcUnavailable) << s.message;
  EXPECT_TRUE(client == nullptr);
  EXPECT_FALSE(s.message.empty());
}

TEST(LocalChannelTest, InterruptEndsABlockedAccept) {
  Addresses addresses;
  std::unique_ptr<LocalListener> listener;
  ASSERT_TRUE(ListenLocal(addresses.Next(), LocalListenerOptions{}, &listener).ok());
  auto accepting = std::async(std::launch::async, [&] {
    std::unique_ptr<ServerChannel> ch;
    return listener->Accept(&ch);
  });
  EXPECT_EQ(accepting.wait_for(milliseconds(200)), std::future_status::timeout);
  listener->Interrupt();
  ASSERT_EQ(accepting.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(accepting.get().code, kIpcUnavailable);
  std::unique_ptr<ServerChannel> ch;
  EXPECT_EQ(listener->Accept(&ch).code, kIpcUnavailable);  // and every later one
}

TEST(LocalChannelTest, ChannelPairIsConnected) {
  std::unique_ptr<LocalChannel> a, b;
  IpcStatus s = LocalChannelPair(&a, &b);
  ASSERT_TRUE(s.ok()) << s.message;
  ASSERT_TRUE(Write(*a, "ping").ok());
  EXPECT_EQ(ReadN(*b, 4), "ping");
  ASSERT_TRUE(Write(*b, "pong").ok());
  EXPECT_EQ(ReadN(*a, 4), "pong");
  b.reset();
  std::string rest;
  EXPECT_TRUE(ReadToEnd(*a, &rest).ok());
  EXPECT_EQ(rest, "");
}

TEST(LocalChannelTest, AdoptRejectsWhatIsNotAChannel) {
  std::unique_ptr<LocalChannel> ch;
  EXPECT_EQ(AdoptInheritedChannel("", &ch).code, kIpcInvalidArgument);
  EXPECT_EQ(AdoptInheritedChannel("12x", &ch).code, kIpcInvalidArgument);
  EXPECT_EQ(AdoptInheritedChannel("-3", &ch).code, kIpcInvalidArgument);
  EXPECT_TRUE(ch == nullptr);
}

// The echo child (local_channel_echo_child.cc) beside this test binary.
std::string EchoChildPath() {
#if defined(_WIN32)
  wchar_t self[MAX_PATH];
  const DWORD n = GetModuleFileNameW(nullptr, self, MAX_PATH);
  std::wstring path(self, n);
  path = path.substr(0, path.find_last_of(L"\\/") + 1) + L"local_channel_echo_child.exe";
  return std::string(path.begin(), path.end());  // ASCII build paths
#else
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
          "local_channel_echo_child")
      .string();
#endif
}

// The echo child given the channel of `handle_text` (HandleForChild()'s):
// Windows passes the inheritable handle's value, Linux the descriptor as fd
// 3. Wait() returns its exit status (-1 when it did not end within 60 s).
class Child {
 public:
  bool Start(const std::string& handle_text, std::string* error) {
    const std::string program = EchoChildPath();
#if defined(_WIN32)
    std::wstring cmd = L"\"" + std::wstring(program.begin(), program.end()) + L"\" " +
                       std::wstring(handle_text.begin(), handle_text.end());
    STARTUPINFOW si{};
    si.cb = sizeof si;
    PROCESS_INFORMATION pi{};
    // bInheritHandles: the channel's end made inheritable by HandleForChild().
    if (!CreateProcessW(nullptr, cmd.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si,
                        &pi)) {
      *error = program + ": CreateProcessW error " + std::to_string(GetLastError());
      return false;
    }
    CloseHandle(pi.hThread);
    process_ = pi.hProcess;
    return true;
#else
    // As the relay spawner does: the descriptor (close-on-exec) becomes the
    // child's fd 3, the only inheritable copy.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, std::stoi(handle_text), 3);
    std::string fd3 = "3";
    std::vector<char*> argv = {const_cast<char*>(program.c_str()), fd3.data(), nullptr};
    const int rc = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      *error = program + ": posix_spawn: " + std::strerror(rc);
      return false;
    }
    return true;
#endif
  }
  int Wait() {
#if defined(_WIN32)
    if (process_ == nullptr) return -1;
    DWORD code = 0;
    if (WaitForSingleObject(process_, 60000) != WAIT_OBJECT_0) {
      TerminateProcess(process_, 99);
      WaitForSingleObject(process_, INFINITE);
      CloseHandle(process_);
      process_ = nullptr;
      return -1;
    }
    GetExitCodeProcess(process_, &code);
    CloseHandle(process_);
    process_ = nullptr;
    return static_cast<int>(code);
#else
    if (pid_ <= 0) return -1;
    int status = 0;
    // waitpid has no timeout: the suite's one polling wait.
    if (!testing::WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
                          std::chrono::seconds(60))) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = 0;
      return -1;
    }
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
#endif
  }
  ~Child() { Wait(); }

 private:
#if defined(_WIN32)
  HANDLE process_ = nullptr;
#else
  pid_t pid_ = 0;
#endif
};

TEST(LocalChannelTest, ChildProcessEchoesOverAnInheritedChannel) {
  std::unique_ptr<LocalChannel> mine, theirs;
  ASSERT_TRUE(LocalChannelPair(&mine, &theirs).ok());
  const std::string handle_text = theirs->HandleForChild();
  ASSERT_FALSE(handle_text.empty());
  Child child;
  std::string error;
  ASSERT_TRUE(child.Start(handle_text, &error)) << error;
  theirs.reset();                                  // the child holds its own copy now
  const std::string message = Pattern(300000, 4);  // more than one pipe buffer
  auto echoed = std::async(std::launch::async, [&] { return ReadN(*mine, message.size()); });
  IpcStatus s = Write(*mine, message, milliseconds(30000));
  EXPECT_TRUE(s.ok()) << s.message;
  EXPECT_TRUE(echoed.get() == message);
  mine->Shutdown();  // the child reads the end of stream and exits 0
  EXPECT_EQ(child.Wait(), 0);
}

}  // namespace
}  // namespace reclaim::agent
