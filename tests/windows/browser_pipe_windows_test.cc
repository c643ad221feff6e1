// agent/browser's Windows pieces that need only Win32 + std, under Wine (or
// Windows): the bridge's pipe name from this user's SID, its security
// descriptor (a protected DACL: only this user and SYSTEM, only this user
// may add pipe instances, network logons denied) checked ACE by ACE and with
// AccessCheck, a real pipe created with it, and which process started a
// native host, directly or through cmd.exe as Chrome and Edge start it.
// The bridge's listener and the host's connection through the real local
// channel (local_channel_windows.cc) with exactly the bridge's settings carry
// a native-messaging frame and attest this user. (The bridge and
// reclaim-native-host themselves need abseil: they are compiled for Windows
// by windows_agent_compile_test, not run here.)
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <cstring>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "agent/browser/browser_address.h"
#include "agent/browser/browser_process.h"
#include "agent/local/local_channel.h"
#include "agent/platform/process_platform.h"
#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

constexpr char kSystemSid[] = "S-1-5-18";
constexpr char kNetworkSid[] = "S-1-5-2";

std::wstring Wide(const std::string& s) {
  if (s.empty()) return {};
  const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(static_cast<std::size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), w.data(), n);
  return w;
}

// A security descriptor from SDDL, freed with LocalFree.
struct Sd {
  explicit Sd(const std::string& sddl) {
    ok = ConvertStringSecurityDescriptorToSecurityDescriptorW(Wide(sddl).c_str(), SDDL_REVISION_1,
                                                              &sd, nullptr) != FALSE;
  }
  ~Sd() {
    if (sd != nullptr) LocalFree(sd);
  }
  PSECURITY_DESCRIPTOR sd = nullptr;
  bool ok = false;
};

GENERIC_MAPPING FileMapping() {
  return {FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE, FILE_ALL_ACCESS};
}

struct Ace {
  std::string sid;
  bool allow = false;
  ACCESS_MASK mask = 0;  // generic rights mapped to file rights
};

std::vector<Ace> DaclOf(PSECURITY_DESCRIPTOR sd) {
  std::vector<Ace> out;
  BOOL present = FALSE, defaulted = FALSE;
  PACL dacl = nullptr;
  if (!GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) || !present || dacl == nullptr) {
    return out;
  }
  const GENERIC_MAPPING mapping = FileMapping();
  for (DWORD i = 0; i < dacl->AceCount; ++i) {
    void* raw = nullptr;
    if (!GetAce(dacl, i, &raw)) continue;
    const auto* header = static_cast<ACE_HEADER*>(raw);
    Ace ace;
    PSID sid = nullptr;
    if (header->AceType == ACCESS_ALLOWED_ACE_TYPE) {
      auto* a = static_cast<ACCESS_ALLOWED_ACE*>(raw);
      ace.allow = true;
      ace.mask = a->Mask;
      sid = &a->SidStart;
    } else if (header->AceType == ACCESS_DENIED_ACE_TYPE) {
      auto* a = static_cast<ACCESS_DENIED_ACE*>(raw);
      ace.mask = a->Mask;
      sid = &a->SidStart;
    } else {
      ace.sid = "<ace type " + std::to_string(header->AceType) + ">";
      out.push_back(ace);
      continue;
    }
    MapGenericMask(&ace.mask, const_cast<GENERIC_MAPPING*>(&mapping));
    char* text = nullptr;
    if (ConvertSidToStringSidA(sid, &text)) {
      ace.sid = text;
      LocalFree(text);
    }
    out.push_back(ace);
  }
  return out;
}

// Whether this process's token is granted `desired` by the pipe's DACL
// `sddl` (AccessCheck; the owner and group a real pipe gets from its
// creator's token are set to this user, as AccessCheck needs them).
bool Granted(const std::string& sddl, ACCESS_MASK desired) {
  const std::string sid = CurrentPlatformUser().sid;
  Sd sd_with_owner("O:" + sid + "G:" + sid + sddl);
  if (!sd_with_owner.ok) {
    ADD_FAILURE() << "bad SDDL " << sddl;
    return false;
  }
  PSECURITY_DESCRIPTOR sd = sd_with_owner.sd;
  HANDLE process_token = nullptr, token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_DUPLICATE | TOKEN_QUERY, &process_token)) {
    ADD_FAILURE() << "OpenProcessToken: " << GetLastError();
    return false;
  }
  const BOOL dup = DuplicateToken(process_token, SecurityImpersonation, &token);
  CloseHandle(process_token);
  if (!dup) {
    ADD_FAILURE() << "DuplicateToken: " << GetLastError();
    return false;
  }
  GENERIC_MAPPING mapping = FileMapping();
  PRIVILEGE_SET privileges{};
  DWORD privileges_size = sizeof(privileges);
  DWORD granted = 0;
  BOOL status = FALSE;
  const BOOL ok = AccessCheck(sd, token, desired, &mapping, &privileges, &privileges_size, &granted,
                              &status);
  CloseHandle(token);
  if (!ok) {
    ADD_FAILURE() << "AccessCheck: " << GetLastError();
    return false;
  }
  return status != FALSE && (granted & desired) == desired;
}

TEST(BrowserPipeWindowsTest, PipeNameIsThisUsersSid) {
  const std::string sid = CurrentPlatformUser().sid;
  ASSERT_TRUE(std::regex_match(sid, std::regex("S-1-5(-[0-9]+)+"))) << sid;
  const std::string name = DefaultBrowserAddress("", "", 0, sid);
  EXPECT_EQ(name, BrowserPipeName(sid));
  EXPECT_EQ(name, "\\\\.\\pipe\\reclaim-browser-" + sid);
  EXPECT_LE(name.size(), 256u);  // CreateNamedPipeW's limit
  // An explicit address (--browser-socket, $RECLAIM_BROWSER_SOCKET) wins.
  EXPECT_EQ(DefaultBrowserAddress("\\\\.\\pipe\\x", "", 0, sid), "\\\\.\\pipe\\x");
}

TEST(BrowserPipeWindowsTest, DaclAllowsOnlyThisUserAndSystem) {
  const std::string sid = CurrentPlatformUser().sid;
  Sd sd(BrowserPipeSddl(sid));
  ASSERT_TRUE(sd.ok) << BrowserPipeSddl(sid) << ": " << GetLastError();
  SECURITY_DESCRIPTOR_CONTROL control = 0;
  DWORD revision = 0;
  ASSERT_TRUE(GetSecurityDescriptorControl(sd.sd, &control, &revision));
  EXPECT_TRUE(control & SE_DACL_PROTECTED) << "inherited entries would widen the DACL";

  bool user_seen = false, system_seen = false, network_denied = false;
  for (const Ace& ace : DaclOf(sd.sd)) {
    if (!ace.allow) {
      if (ace.sid == kNetworkSid && (ace.mask & FILE_ALL_ACCESS) == FILE_ALL_ACCESS) {
        network_denied = true;
      }
      continue;
    }
    if (ace.sid == sid) {
      user_seen = true;
      EXPECT_EQ(ace.mask & (FILE_READ_DATA | FILE_WRITE_DATA | FILE_CREATE_PIPE_INSTANCE),
                static_cast<ACCESS_MASK>(FILE_READ_DATA | FILE_WRITE_DATA |
                                         FILE_CREATE_PIPE_INSTANCE));
    } else if (ace.sid == kSystemSid) {
      system_seen = true;
      EXPECT_EQ(ace.mask & (FILE_READ_DATA | FILE_WRITE_DATA),
                static_cast<ACCESS_MASK>(FILE_READ_DATA | FILE_WRITE_DATA));
      EXPECT_EQ(ace.mask & (FILE_CREATE_PIPE_INSTANCE | WRITE_DAC | WRITE_OWNER), 0u)
          << "SYSTEM may connect, not add instances or change the DACL";
    } else {
      ADD_FAILURE() << "the DACL also allows " << ace.sid << " (mask 0x" << std::hex << ace.mask
                    << ")";
    }
  }
  EXPECT_TRUE(user_seen);
  EXPECT_TRUE(system_seen);
  EXPECT_TRUE(network_denied);

  // The OS's own check: this user may connect and add instances ...
  EXPECT_TRUE(Granted(BrowserPipeSddl(sid),
                      FILE_READ_DATA | FILE_WRITE_DATA | FILE_CREATE_PIPE_INSTANCE));
  // ... and the same descriptor made for another user grants this one
  // nothing, whatever groups (Administrators, Users, ...) its token has.
  const std::string other = BrowserPipeSddl("S-1-5-21-1111111111-2222222222-3333333333-1001");
  EXPECT_FALSE(Granted(other, FILE_READ_DATA));
  EXPECT_FALSE(Granted(other, FILE_CREATE_PIPE_INSTANCE));
}

TEST(BrowserPipeWindowsTest, ARealPipeWithTheDaclCarriesBytes) {
  const std::string sid = CurrentPlatformUser().sid;
  // A unique name: tests may run while an agent of this user listens.
  const std::wstring name =
      Wide(BrowserPipeName(sid) + "-test-" + std::to_string(GetCurrentProcessId()));
  Sd sd(BrowserPipeSddl(sid));
  ASSERT_TRUE(sd.ok);
  SECURITY_ATTRIBUTES sa{sizeof(sa), sd.sd, FALSE};
  HANDLE server = CreateNamedPipeW(
      name.c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
      PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, &sa);
  ASSERT_NE(server, INVALID_HANDLE_VALUE) << GetLastError();
  // A client with exactly read + write data (no FILE_APPEND_DATA).
  HANDLE client = CreateFileW(name.c_str(), GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES,
                              0, nullptr, OPEN_EXISTING,
                              SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, nullptr);
  ASSERT_NE(client, INVALID_HANDLE_VALUE) << GetLastError();
  const BOOL connected = ConnectNamedPipe(server, nullptr);
  EXPECT_TRUE(connected || GetLastError() == ERROR_PIPE_CONNECTED);
  const char frame[] = "\x02\x00\x00\x00{}";
  DWORD n = 0;
  ASSERT_TRUE(WriteFile(client, frame, 6, &n, nullptr));
  char got[8] = {};
  ASSERT_TRUE(ReadFile(server, got, sizeof(got), &n, nullptr));
  EXPECT_EQ(std::string(got, n), std::string(frame, 6));
  CloseHandle(client);
  CloseHandle(server);
}

// The bridge's side (ListenLocal with BrowserPipeSddl, browser_bridge_windows.cc)
// and the host's (ConnectLocal with windows_server_sid "self",
// native_host_io_windows.cc): a frame crosses, both checks of the peer name
// this user.
TEST(BrowserPipeWindowsTest, TheHostsFramesReachTheBridgeAsThisUser) {
  const std::string sid = CurrentPlatformUser().sid;
  const std::string address =
      BrowserPipeName(sid) + "-channel-test-" + std::to_string(GetCurrentProcessId());
  LocalListenerOptions lo;
  lo.windows_sddl = BrowserPipeSddl(sid);
  std::unique_ptr<LocalListener> listener;
  const IpcStatus listened = ListenLocal(address, lo, &listener);
  ASSERT_TRUE(listened.ok()) << listened.message;

  std::string received;
  LocalPeer at_connect, attested;
  IpcStatus at_connect_status, attest_status;
  bool attest_called = false;
  std::thread bridge([&] {
    std::unique_ptr<ServerChannel> channel;
    if (!listener->Accept(&channel).ok()) return;
    at_connect_status = channel->PeerAtConnect(&at_connect);
    char buf[64];
    std::size_t n = 0;
    while (received.size() < 6 && channel->Read(buf, sizeof(buf), &n).ok() && n > 0) {
      received.append(buf, n);
      if (!attest_called) {  // after the first bytes, as the bridge does
        attest_called = true;
        attest_status = channel->AttestPeer(&attested);
      }
    }
  });

  LocalConnectOptions co;
  co.windows_server_sid = "self";
  std::unique_ptr<LocalChannel> host;
  const IpcStatus connected = ConnectLocal(address, co, &host);
  ASSERT_TRUE(connected.ok()) << connected.message;
  const std::uint32_t length = 2;
  std::string frame(4, '\0');
  std::memcpy(frame.data(), &length, 4);  // native byte order, as browsers frame
  frame += "{}";
  const IpcStatus written = host->WriteAll(frame.data(), frame.size(), std::chrono::seconds(5));
  EXPECT_TRUE(written.ok()) << written.message;
  bridge.join();
  host.reset();
  listener->Interrupt();

  EXPECT_EQ(received, frame);
  EXPECT_TRUE(at_connect_status.ok()) << at_connect_status.message;
  EXPECT_EQ(at_connect.key, sid);
  EXPECT_EQ(at_connect.pid, static_cast<std::int64_t>(GetCurrentProcessId()));
  EXPECT_TRUE(attest_called);
  EXPECT_TRUE(attest_status.ok()) << attest_status.message;
  EXPECT_EQ(attested.key, sid);
}

// What a stand-in host (browser_host_probe.exe, beside this test) says about
// itself when started by `command_line` from this process.
long long ProbeAnswer(const std::wstring& command_line) {
  SECURITY_ATTRIBUTES sa{sizeof(sa), nullptr, TRUE};
  HANDLE read_end = nullptr, write_end = nullptr;
  if (!CreatePipe(&read_end, &write_end, &sa, 0)) return -1;
  SetHandleInformation(read_end, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOW si{};
  si.cb = sizeof(si);
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdOutput = write_end;
  si.hStdError = write_end;
  si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  PROCESS_INFORMATION pi{};
  std::wstring cmd = command_line;
  const BOOL started = CreateProcessW(nullptr, cmd.data(), nullptr, nullptr, TRUE,
                                      CREATE_NO_WINDOW, nullptr, nullptr, &si, &pi);
  CloseHandle(write_end);
  if (!started) {
    ADD_FAILURE() << "CreateProcessW: " << GetLastError();
    CloseHandle(read_end);
    return -1;
  }
  std::string out;
  char buf[256];
  DWORD n = 0;
  while (ReadFile(read_end, buf, sizeof(buf), &n, nullptr) && n > 0) out.append(buf, n);
  WaitForSingleObject(pi.hProcess, 30000);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  CloseHandle(read_end);
  try {
    return std::stoll(out);
  } catch (...) {
    ADD_FAILURE() << "probe printed '" << out << "'";
    return -1;
  }
}

std::wstring ProbePath() {
  wchar_t self[MAX_PATH] = {};
  GetModuleFileNameW(nullptr, self, MAX_PATH);
  std::wstring dir(self);
  dir.resize(dir.find_last_of(L"\\/") + 1);
  return dir + L"browser_host_probe.exe";
}

TEST(BrowserProcessWindowsTest, TheBrowserIsTheHostsParent) {
  EXPECT_EQ(ProbeAnswer(L"\"" + ProbePath() + L"\""),
            static_cast<long long>(GetCurrentProcessId()));
}

TEST(BrowserProcessWindowsTest, CmdExeBetweenBrowserAndHostIsSkipped) {
  // Chrome's and Edge's way: "cmd.exe /d /s /c" around the manifest's path.
  EXPECT_EQ(ProbeAnswer(L"cmd.exe /d /s /c \"\"" + ProbePath() + L"\"\""),
            static_cast<long long>(GetCurrentProcessId()));
}

TEST(BrowserProcessWindowsTest, UnknownProcessesHaveNoBrowser) {
  EXPECT_EQ(BrowserProcessOfHost(0), 0);
  EXPECT_EQ(BrowserProcessOfHost(-5), 0);
  EXPECT_EQ(BrowserProcessOfHost(0x7FFFFFF0), 0);  // no such process
}

}  // namespace
}  // namespace reclaim::agent
