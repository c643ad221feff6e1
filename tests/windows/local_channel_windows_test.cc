// The Windows-only rules of agent/local/local_channel_windows.cc, under Wine:
// the client checks the server process's user before sending anything; the
// service pipe's default DACL; the first instance is never shared with a
// squatter. The portable expectations are in
// tests/agent/local/local_channel_test.cc (built here too).
//
// What Wine cannot show: every Wine process runs as the same user, with the
// same token, so a connection from ANOTHER user (refused by the DACL, told
// apart by PeerAtConnect/AttestPeer) and a real LocalSystem service cannot be
// exercised; the DACL is checked by reading it back instead. Wine does not
// enforce PIPE_REJECT_REMOTE_CLIENTS either (it has no remote pipes), and no
// public API reports the flag.
#include <gtest/gtest.h>

#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
// After windows.h:
#include <aclapi.h>
#include <sddl.h>

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "agent/local/local_channel.h"
#include "agent/local/service_account_windows.h"
#include "agent/platform/process_platform.h"

namespace reclaim::agent {
namespace {

std::string PipeName(const char* what) {
  static int n = 0;
  return "\\\\.\\pipe\\reclaim-channel-wtest-" + std::to_string(GetCurrentProcessId()) + "-" +
         what + "-" + std::to_string(n++);
}

std::wstring Wide(const std::string& s) { return std::wstring(s.begin(), s.end()); }

// Connects to `address` with `options` while the listener's Accept() is
// waiting (WaitNamedPipeW returns once an instance has a pending
// ConnectNamedPipe), so that the server gets the connection even when the
// client closes it at once. A connected client writes "hi". Returns the
// connect status and everything the server read until the end of stream.
std::pair<IpcStatus, std::string> ConnectWhileAccepting(LocalListener& listener,
                                                        const std::string& address,
                                                        const LocalConnectOptions& options) {
  auto accepted = std::async(std::launch::async, [&] {
    std::unique_ptr<ServerChannel> server;
    std::string got;
    IpcStatus s = listener.Accept(&server);
    if (!s.ok()) return "accept failed: " + s.message;
    char buf[64];
    for (;;) {
      std::size_t n = 0;
      s = server->Read(buf, sizeof buf, &n);
      if (!s.ok()) return got + "[read failed: " + s.message + "]";
      if (n == 0) return got;
      got.append(buf, n);
    }
  });
  EXPECT_TRUE(WaitNamedPipeW(Wide(address).c_str(), 10000)) << GetLastError();
  std::unique_ptr<LocalChannel> client;
  IpcStatus s = ConnectLocal(address, options, &client);
  if (s.ok()) {
    EXPECT_TRUE(client->WriteAll("hi", 2, std::chrono::milliseconds(5000)).ok());
  } else {
    EXPECT_TRUE(client == nullptr);
  }
  client.reset();
  if (accepted.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "the server never saw the connection end";
    listener.Interrupt();
  }
  return {s, accepted.get()};
}

TEST(LocalChannelWindowsTest, ServerOfAnotherUserIsRefusedBeforeAnythingIsSent) {
  const std::string address = PipeName("sid");
  std::unique_ptr<LocalListener> listener;
  ASSERT_TRUE(ListenLocal(address, LocalListenerOptions{}, &listener).ok());

  // The default: the server must be LocalSystem. Under Wine this process is
  // an ordinary user, so the check refuses it; the server saw a connection
  // that sent nothing.
  ASSERT_NE(CurrentPlatformUser().sid, "S-1-5-18");
  auto [s, server_read] = ConnectWhileAccepting(*listener, address, LocalConnectOptions{});
  EXPECT_EQ(s.code, kIpcPermissionDenied) << s.message;
  EXPECT_NE(s.message.find("S-1-5-18"), std::string::npos) << s.message;
  EXPECT_EQ(server_read, "") << "the refused client sent data";

  // Another user's SID, named explicitly: refused as well.
  LocalConnectOptions other;
  other.windows_server_sid = "S-1-5-21-1-2-3-1001";
  std::tie(s, server_read) = ConnectWhileAccepting(*listener, address, other);
  EXPECT_EQ(s.code, kIpcPermissionDenied) << s.message;
  EXPECT_EQ(server_read, "");

  // The current user ("self", the browser bridge's setting) and the current
  // user's SID written out are accepted; so is no check (tests only).
  for (const std::string& sid : {std::string("self"), CurrentPlatformUser().sid, std::string()}) {
    LocalConnectOptions o;
    o.windows_server_sid = sid;
    std::tie(s, server_read) = ConnectWhileAccepting(*listener, address, o);
    EXPECT_TRUE(s.ok()) << sid << ": " << s.message;
    EXPECT_EQ(server_read, "hi") << sid;
  }

  // A malformed SID is the caller's error.
  LocalConnectOptions bad;
  bad.windows_server_sid = "not-a-sid";
  std::unique_ptr<LocalChannel> client;
  EXPECT_EQ(ConnectLocal(address, bad, &client).code, kIpcInvalidArgument);
}

// The server check's fallback for LocalSystem (a standard user may not open
// a SYSTEM token, so on Windows the SCM is asked): Wine's PlugPlay service
// (plugplay.exe, configured as LocalSystem in Wine's registry) is one; this
// test process is no service.
TEST(LocalChannelWindowsTest, ScmTellsALocalSystemServiceProcess) {
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  ASSERT_NE(scm, nullptr) << GetLastError();
  SC_HANDLE service = OpenServiceW(scm, L"PlugPlay", SERVICE_QUERY_STATUS | SERVICE_START);
  ASSERT_NE(service, nullptr) << GetLastError();
  SERVICE_STATUS_PROCESS status{};
  DWORD bytes = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool started = false;
  for (;;) {
    ASSERT_TRUE(QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO,
                                     reinterpret_cast<BYTE*>(&status), sizeof status, &bytes));
    if (status.dwCurrentState == SERVICE_RUNNING && status.dwProcessId != 0) break;
    if (status.dwCurrentState == SERVICE_STOPPED && !started) {
      ASSERT_TRUE(StartServiceW(service, 0, nullptr)) << GetLastError();
      started = true;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "PlugPlay never ran";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the SCM has no wait call
  }
  CloseServiceHandle(service);
  CloseServiceHandle(scm);

  bool is = false;
  IpcStatus s = IsLocalSystemServiceProcess(status.dwProcessId, &is);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_TRUE(is) << "pid " << status.dwProcessId;
  s = IsLocalSystemServiceProcess(GetCurrentProcessId(), &is);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_FALSE(is);
}

// A per-user service (Windows 10+) runs as the signed-in user, whatever
// account the SCM lists for it, and that user may run code in it: its
// process must not pass the LocalSystem check (else a user who made their
// own per-user service create \\.\pipe\reclaim-agent-service while the
// machine service is down would receive the other users' sessions). Wine's
// SCM refuses these service types, so the decision is tested directly.
TEST(LocalChannelWindowsTest, PerUserServicesNeverVouchForLocalSystem) {
  EXPECT_TRUE(ServiceRunsAsLocalSystem(SERVICE_WIN32_OWN_PROCESS, L"LocalSystem"));
  EXPECT_TRUE(ServiceRunsAsLocalSystem(SERVICE_WIN32_SHARE_PROCESS, L"localsystem"));
  EXPECT_TRUE(ServiceRunsAsLocalSystem(SERVICE_WIN32_OWN_PROCESS, L"NT AUTHORITY\\SYSTEM"));
  // SERVICE_USER_OWN_PROCESS (0x50), SERVICE_USER_SHARE_PROCESS (0x60) and
  // their instances (| SERVICE_USERSERVICE_INSTANCE 0x80).
  for (const DWORD type : {0x50ul, 0x60ul, 0xd0ul, 0xe0ul}) {
    EXPECT_FALSE(ServiceRunsAsLocalSystem(type, L"LocalSystem")) << "type 0x" << std::hex << type;
  }
  EXPECT_FALSE(ServiceRunsAsLocalSystem(SERVICE_WIN32_OWN_PROCESS, L"NT AUTHORITY\\LocalService"));
  EXPECT_FALSE(ServiceRunsAsLocalSystem(SERVICE_WIN32_OWN_PROCESS, L".\\someone"));
  EXPECT_FALSE(ServiceRunsAsLocalSystem(SERVICE_WIN32_OWN_PROCESS, nullptr));
  EXPECT_FALSE(ServiceRunsAsLocalSystem(SERVICE_KERNEL_DRIVER, L"LocalSystem"));
}

// The ACE of `sid` with `type` in `dacl`, or null.
ACCESS_ALLOWED_ACE* FindAce(PACL dacl, const wchar_t* sid_text, BYTE type) {
  PSID sid = nullptr;
  if (!ConvertStringSidToSidW(sid_text, &sid)) return nullptr;
  ACCESS_ALLOWED_ACE* found = nullptr;
  for (DWORD i = 0; i < dacl->AceCount && found == nullptr; ++i) {
    void* ace = nullptr;
    if (!GetAce(dacl, i, &ace)) continue;
    auto* header = static_cast<ACE_HEADER*>(ace);
    // ACCESS_ALLOWED_ACE and ACCESS_DENIED_ACE have the same layout.
    auto* allowed = static_cast<ACCESS_ALLOWED_ACE*>(ace);
    if (header->AceType == type && EqualSid(reinterpret_cast<PSID>(&allowed->SidStart), sid)) {
      found = allowed;
    }
  }
  LocalFree(sid);
  return found;
}

TEST(LocalChannelWindowsTest, DefaultPipeDaclLetsUsersConnectButNotAddInstances) {
  // The documented default (local_channel.h) parses.
  PSECURITY_DESCRIPTOR parsed = nullptr;
  ASSERT_TRUE(ConvertStringSecurityDescriptorToSecurityDescriptorW(
      L"D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x12018b;;;AU)", SDDL_REVISION_1, &parsed,
      nullptr));
  LocalFree(parsed);

  const std::string address = PipeName("dacl");
  std::unique_ptr<LocalListener> listener;
  ASSERT_TRUE(ListenLocal(address, LocalListenerOptions{}, &listener).ok());
  // A client that may read the DACL (READ_CONTROL, which AU has).
  HANDLE h = CreateFileW(Wide(address).c_str(), READ_CONTROL | FILE_READ_DATA, 0, nullptr,
                         OPEN_EXISTING, 0, nullptr);
  ASSERT_NE(h, INVALID_HANDLE_VALUE) << GetLastError();
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD rc = GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr,
                                   &dacl, nullptr, &sd);
  ASSERT_EQ(rc, static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_NE(dacl, nullptr);

  ACCESS_ALLOWED_ACE* users = FindAce(dacl, L"S-1-5-11", ACCESS_ALLOWED_ACE_TYPE);  // AU
  ASSERT_NE(users, nullptr) << "no allow entry for Authenticated Users";
  EXPECT_EQ(users->Mask & FILE_CREATE_PIPE_INSTANCE, 0u) << std::hex << users->Mask;
  EXPECT_EQ(users->Mask & (FILE_READ_DATA | FILE_WRITE_DATA),
            static_cast<DWORD>(FILE_READ_DATA | FILE_WRITE_DATA));
  EXPECT_NE(FindAce(dacl, L"S-1-5-2", ACCESS_DENIED_ACE_TYPE), nullptr)  // NU: network logons
      << "network logons not denied";
  EXPECT_NE(FindAce(dacl, L"S-1-5-18", ACCESS_ALLOWED_ACE_TYPE), nullptr);  // SY
  LocalFree(sd);

  // The instance is a byte-mode server end.
  std::unique_ptr<ServerChannel> server;
  ASSERT_TRUE(listener->Accept(&server).ok());
  DWORD flags = 0;
  ASSERT_TRUE(GetNamedPipeInfo(h, &flags, nullptr, nullptr, nullptr));
  EXPECT_EQ(flags & PIPE_TYPE_MESSAGE, 0u);
  EXPECT_EQ(flags & PIPE_SERVER_END, 0u);  // h is the client end
  CloseHandle(h);
}

TEST(LocalChannelWindowsTest, CustomSddlIsApplied) {
  // The browser bridge's kind: only the current user (and SYSTEM).
  const std::string me = CurrentPlatformUser().sid;
  ASSERT_FALSE(me.empty());
  LocalListenerOptions options;
  options.windows_sddl = "D:P(A;;GA;;;SY)(A;;GA;;;" + me + ")";
  const std::string address = PipeName("sddl");
  std::unique_ptr<LocalListener> listener;
  IpcStatus s = ListenLocal(address, options, &listener);
  ASSERT_TRUE(s.ok()) << s.message;
  HANDLE h =
      CreateFileW(Wide(address).c_str(), READ_CONTROL, 0, nullptr, OPEN_EXISTING, 0, nullptr);
  ASSERT_NE(h, INVALID_HANDLE_VALUE) << GetLastError();
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  ASSERT_EQ(GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr, &dacl,
                            nullptr, &sd),
            static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_NE(FindAce(dacl, Wide(me).c_str(), ACCESS_ALLOWED_ACE_TYPE), nullptr);
  EXPECT_EQ(FindAce(dacl, L"S-1-5-11", ACCESS_ALLOWED_ACE_TYPE), nullptr);  // no AU
  LocalFree(sd);
  CloseHandle(h);

  // A malformed SDDL is refused with the text named.
  options.windows_sddl = "D:(nonsense";
  std::unique_ptr<LocalListener> bad;
  s = ListenLocal(PipeName("bad"), options, &bad);
  EXPECT_EQ(s.code, kIpcInvalidArgument) << s.message;
}

TEST(LocalChannelWindowsTest, SquattedPipeNameIsRefused) {
  // Another process created the name first (without our DACL): ListenLocal's
  // FILE_FLAG_FIRST_PIPE_INSTANCE refuses to join it.
  const std::string address = PipeName("squat");
  HANDLE squatter = CreateNamedPipeW(Wide(address).c_str(), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE,
                                     PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, nullptr);
  ASSERT_NE(squatter, INVALID_HANDLE_VALUE);
  std::unique_ptr<LocalListener> listener;
  IpcStatus s = ListenLocal(address, LocalListenerOptions{}, &listener);
  EXPECT_EQ(s.code, kIpcFailedPrecondition) << s.message;
  CloseHandle(squatter);
}

TEST(LocalChannelWindowsTest, MalformedAddressesAreInvalidArguments) {
  std::unique_ptr<LocalListener> listener;
  std::unique_ptr<LocalChannel> client;
  EXPECT_EQ(ListenLocal("C:\\temp\\x", LocalListenerOptions{}, &listener).code,
            kIpcInvalidArgument);
  EXPECT_EQ(ListenLocal("\\\\.\\pipe\\a\\b", LocalListenerOptions{}, &listener).code,
            kIpcInvalidArgument);
  EXPECT_EQ(
      ListenLocal("\\\\.\\pipe\\" + std::string(300, 'x'), LocalListenerOptions{}, &listener).code,
      kIpcInvalidArgument);
  EXPECT_EQ(ConnectLocal("\\\\server\\pipe\\x", LocalConnectOptions{}, &client).code,
            kIpcInvalidArgument);
  EXPECT_EQ(DefaultServiceAddress(), "\\\\.\\pipe\\reclaim-agent-service");
}

TEST(LocalChannelWindowsTest, ShutdownWriteFailsLaterWrites) {
  std::unique_ptr<LocalChannel> a, b;
  ASSERT_TRUE(LocalChannelPair(&a, &b).ok());
  a->ShutdownWrite();
  EXPECT_EQ(a->WriteAll("x", 1, std::chrono::milliseconds(1000)).code, kIpcFailedPrecondition);
  // Reading goes on.
  ASSERT_TRUE(b->WriteAll("y", 1, std::chrono::milliseconds(1000)).ok());
  char c = 0;
  std::size_t n = 0;
  ASSERT_TRUE(a->Read(&c, 1, &n).ok());
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(c, 'y');
}

TEST(LocalChannelWindowsTest, AdoptRefusesAHandleThatIsNotAPipe) {
  HANDLE event = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ASSERT_NE(event, nullptr);
  std::unique_ptr<LocalChannel> ch;
  IpcStatus s = AdoptInheritedChannel(std::to_string(reinterpret_cast<std::uintptr_t>(event)), &ch);
  EXPECT_EQ(s.code, kIpcInvalidArgument) << s.message;
  EXPECT_TRUE(ch == nullptr);
  CloseHandle(event);
}

}  // namespace
}  // namespace reclaim::agent
