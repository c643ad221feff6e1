// The Windows relay spawner (agent/local/relay_process_windows.cc) under
// Wine, with relay_child.exe standing in for reclaim-agent-service.exe and
// relay_parent.exe for the agent whose end must end the relay.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <shellapi.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/local/command_line_windows.h"
#include "agent/local/relay_process.h"
#include "agent/sources/win32_strings_windows.h"
#include "tests/testing/wait_for.h"

namespace reclaim::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::wstring ExeDirW() {
  wchar_t path[MAX_PATH];
  const DWORD n = GetModuleFileNameW(nullptr, path, MAX_PATH);
  std::wstring p(path, n);
  return p.substr(0, p.find_last_of(L"\\/") + 1);
}
std::string ExeDir() { return Utf8FromWide(ExeDirW()); }
std::string ChildExe() { return ExeDir() + "relay_child.exe"; }

// Reads until the end of stream (or `limit` bytes).
std::string ReadAll(LocalChannel& channel, std::size_t limit = 1 << 20) {
  std::string out;
  char buf[4096];
  while (out.size() < limit) {
    std::size_t n = 0;
    const IpcStatus s = channel.Read(buf, sizeof(buf), &n);
    if (!s.ok() || n == 0) break;
    out.append(buf, n);
  }
  return out;
}

std::string ReadExactly(LocalChannel& channel, std::size_t size) {
  std::string out;
  char buf[256];
  while (out.size() < size) {
    std::size_t n = 0;
    if (!channel.Read(buf, std::min(sizeof(buf), size - out.size()), &n).ok() || n == 0) break;
    out.append(buf, n);
  }
  return out;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == '\0') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  return out;
}

TEST(RelayProcessWindowsTest, RelayEchoesOnTheInheritedChannelAndExitsAtItsEnd) {
  auto spawner = MakeProcessRelaySpawner(ChildExe());
  EXPECT_EQ(spawner->program(), ChildExe());
  std::unique_ptr<RelayProcess> relay;
  const IpcStatus s = spawner->Spawn({"--fd", "{fd}", "echo"}, &relay);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_GT(relay->pid(), 0);
  auto channel = relay->TakeChannel();
  ASSERT_NE(channel, nullptr);
  const std::string hello = "hello relay, \xc3\xbc\n";
  ASSERT_TRUE(channel->WriteAll(hello.data(), hello.size(), seconds(10)).ok());
  EXPECT_EQ(ReadExactly(*channel, hello.size()), hello);
  channel.reset();  // the relay reads the end of stream and exits 0
  EXPECT_EQ(relay->Finish(seconds(20)), "exited with status 0");
  EXPECT_EQ(relay->Finish(seconds(0)), "exited with status 0");  // idempotent
  EXPECT_EQ(relay->pid(), 0);
}

TEST(RelayProcessWindowsTest, ExitStatusIsReported) {
  auto spawner = MakeProcessRelaySpawner(ChildExe());
  std::unique_ptr<RelayProcess> relay;
  ASSERT_TRUE(spawner->Spawn({"--fd", "{fd}", "exit", "7"}, &relay).ok());
  EXPECT_EQ(relay->Finish(seconds(20)), "exited with status 7");
}

TEST(RelayProcessWindowsTest, FinishTerminatesAHungRelay) {
  auto spawner = MakeProcessRelaySpawner(ChildExe());
  std::unique_ptr<RelayProcess> relay;
  ASSERT_TRUE(spawner->Spawn({"--fd", "{fd}", "hang"}, &relay).ok());
  auto channel = relay->TakeChannel();
  ASSERT_EQ(ReadExactly(*channel, 6), "ready\n");
  const DWORD pid = static_cast<DWORD>(relay->pid());
  HANDLE watch = OpenProcess(SYNCHRONIZE, FALSE, pid);
  ASSERT_NE(watch, nullptr) << Win32ErrorText(GetLastError());
  EXPECT_EQ(relay->Finish(milliseconds(200)), "terminated");
  EXPECT_EQ(WaitForSingleObject(watch, 0), WAIT_OBJECT_0) << "the relay still runs";
  CloseHandle(watch);
  EXPECT_EQ(relay->Finish(milliseconds(200)), "terminated");
  // Its end of the channel is gone with it.
  EXPECT_EQ(ReadAll(*channel), "");
}

// The probe writes to a handle value of ours in the child: only an
// inherited handle reaches our pipe.
std::string Probe(HANDLE theirs_to_try, bool plain_create_process, HANDLE read_end,
                  DWORD* leaked_bytes) {
  std::string answer;
  if (plain_create_process) {
    // The control: CreateProcessW with bInheritHandles and no handle list
    // hands the child every inheritable handle, so the probe does reach.
    std::unique_ptr<LocalChannel> mine, theirs;
    EXPECT_TRUE(LocalChannelPair(&mine, &theirs).ok());
    const std::string h = theirs->HandleForChild();
    std::wstring line = WindowsCommandLine(
        WideFromUtf8(ChildExe()),
        {L"--fd", WideFromUtf8(h), L"probe",
         std::to_wstring(reinterpret_cast<std::uintptr_t>(theirs_to_try))});
    STARTUPINFOW si = {};
    si.cb = sizeof(si);
    PROCESS_INFORMATION pi = {};
    EXPECT_TRUE(CreateProcessW(WideFromUtf8(ChildExe()).c_str(), line.data(), nullptr, nullptr,
                               TRUE, CREATE_NO_WINDOW, nullptr, nullptr, &si, &pi))
        << Win32ErrorText(GetLastError());
    theirs.reset();
    answer = ReadAll(*mine);
    WaitForSingleObject(pi.hProcess, 20000);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
  } else {
    auto spawner = MakeProcessRelaySpawner(ChildExe());
    std::unique_ptr<RelayProcess> relay;
    const IpcStatus s = spawner->Spawn(
        {"--fd", "{fd}", "probe",
         std::to_string(reinterpret_cast<std::uintptr_t>(theirs_to_try))},
        &relay);
    EXPECT_TRUE(s.ok()) << s.message;
    if (!s.ok()) return "";
    auto channel = relay->TakeChannel();
    answer = ReadAll(*channel);
    EXPECT_EQ(relay->Finish(seconds(20)), "exited with status 0");
  }
  *leaked_bytes = 0;
  EXPECT_TRUE(PeekNamedPipe(read_end, nullptr, 0, nullptr, leaked_bytes, nullptr));
  return answer;
}

TEST(RelayProcessWindowsTest, OnlyTheChannelIsInherited) {
  // An inheritable pipe of the "agent" that the relay must not get.
  SECURITY_ATTRIBUTES sa = {sizeof(sa), nullptr, TRUE};
  HANDLE read_end = nullptr, write_end = nullptr;
  ASSERT_TRUE(CreatePipe(&read_end, &write_end, &sa, 0));
  DWORD leaked = 0;
  EXPECT_EQ(Probe(write_end, /*plain_create_process=*/false, read_end, &leaked), "refused");
  EXPECT_EQ(leaked, 0u);
  // The control shows the probe would see an inherited handle.
  EXPECT_EQ(Probe(write_end, /*plain_create_process=*/true, read_end, &leaked), "wrote");
  EXPECT_EQ(leaked, 4u);
  CloseHandle(read_end);
  CloseHandle(write_end);
}

TEST(RelayProcessWindowsTest, RelayDiesWithTheAgentThroughTheJobObject) {
  const std::string pidfile =
      (fs::temp_directory_path() / ("reclaim-relay-parent-" + std::to_string(GetCurrentProcessId())))
          .string();
  fs::remove(pidfile);
  std::wstring parent = ExeDirW() + L"relay_parent.exe";
  std::wstring line = WindowsCommandLine(parent, {WideFromUtf8(ChildExe()), WideFromUtf8(pidfile)});
  STARTUPINFOW si = {};
  si.cb = sizeof(si);
  PROCESS_INFORMATION pi = {};
  ASSERT_TRUE(CreateProcessW(parent.c_str(), line.data(), nullptr, nullptr, FALSE, CREATE_NO_WINDOW,
                             nullptr, nullptr, &si, &pi))
      << Win32ErrorText(GetLastError());
  CloseHandle(pi.hThread);
  ASSERT_TRUE(testing::WaitFor([&] { return fs::exists(pidfile); }, seconds(30)))
      << "relay_parent.exe never started its relay";
  std::ifstream in(pidfile);
  DWORD relay_pid = 0;
  in >> relay_pid;
  in.close();
  fs::remove(pidfile);
  ASSERT_GT(relay_pid, 0u);
  HANDLE relay = OpenProcess(SYNCHRONIZE, FALSE, relay_pid);
  ASSERT_NE(relay, nullptr) << Win32ErrorText(GetLastError());
  EXPECT_EQ(WaitForSingleObject(relay, 0), WAIT_TIMEOUT) << "the relay should hang";
  // The agent is killed outright: no destructor, no Finish.
  ASSERT_TRUE(TerminateProcess(pi.hProcess, 9));
  WaitForSingleObject(pi.hProcess, 20000);
  CloseHandle(pi.hProcess);
  EXPECT_EQ(WaitForSingleObject(relay, 20000), WAIT_OBJECT_0)
      << "the relay outlived the agent (JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE)";
  CloseHandle(relay);
}

const std::vector<std::string>& AwkwardArguments() {
  static const std::vector<std::string> args = {
      "plain",
      "with space",
      "",
      "tab\there",
      "say \"hi\"",
      "\"",
      "back\\slash",
      "trailing\\",
      "C:\\Program Files\\Reclaim\\",
      "two\\\\",
      "a\\\"b",
      "a\\\\\"b",
      "\\\\server\\share",
      "--flag=\"x y\"",
      "new\nline",
  };
  return args;
}

TEST(RelayProcessWindowsTest, CommandLineRoundTripsThroughCommandLineToArgvW) {
  std::vector<std::wstring> wide;
  for (const auto& a : AwkwardArguments()) wide.push_back(WideFromUtf8(a));
  wide.push_back(L"Gr\u00fc\u00dfe \u00e0 \"tous\"\\");
  const std::wstring line = WindowsCommandLine(L"C:\\Program Files\\x\\relay.exe", wide);
  int argc = 0;
  wchar_t** argv = CommandLineToArgvW(line.c_str(), &argc);
  ASSERT_NE(argv, nullptr);
  ASSERT_EQ(argc, static_cast<int>(wide.size()) + 1) << Utf8FromWide(line);
  EXPECT_EQ(std::wstring(argv[0]), L"C:\\Program Files\\x\\relay.exe");
  for (std::size_t i = 0; i < wide.size(); ++i) {
    EXPECT_EQ(std::wstring(argv[i + 1]), wide[i]) << i << ": " << Utf8FromWide(line);
  }
  LocalFree(argv);
}

TEST(RelayProcessWindowsTest, ArgumentsReachTheRelayUnchanged) {
  std::vector<std::string> args = {"--fd", "{fd}", "args"};
  for (const auto& a : AwkwardArguments()) args.push_back(a);
  const std::string unicode = "Gr\xc3\xbc\xc3\x9f" "e \"{fd}\"\\";
  args.push_back(unicode);
  auto spawner = MakeProcessRelaySpawner(ChildExe());
  std::unique_ptr<RelayProcess> relay;
  ASSERT_TRUE(spawner->Spawn(args, &relay).ok());
  auto channel = relay->TakeChannel();
  const std::string out = ReadAll(*channel);
  EXPECT_EQ(relay->Finish(seconds(20)), "exited with status 0");
  const std::size_t sep = out.find('\1');
  ASSERT_NE(sep, std::string::npos) << out;
  const std::vector<std::string> shell = Split(out.substr(0, sep));
  const std::vector<std::string> crt = Split(out.substr(sep + 1));
  ASSERT_EQ(shell.size(), AwkwardArguments().size() + 1);
  ASSERT_EQ(crt.size(), AwkwardArguments().size() + 1);
  for (std::size_t i = 0; i < AwkwardArguments().size(); ++i) {
    EXPECT_EQ(shell[i], AwkwardArguments()[i]) << "CommandLineToArgvW, argument " << i;
    EXPECT_EQ(crt[i], AwkwardArguments()[i]) << "C runtime argv, argument " << i;
  }
  // "{fd}" is replaced inside an argument too; UTF-8 arrives as UTF-16
  // (the C runtime's narrow argv is in the ANSI code page, so only
  // CommandLineToArgvW's is compared for it).
  EXPECT_EQ(shell.back().substr(0, 9), "Gr\xc3\xbc\xc3\x9f" "e \"");
  EXPECT_EQ(shell.back().find("{fd}"), std::string::npos) << shell.back();
  EXPECT_EQ(shell.back().back(), '\\');
}

TEST(RelayProcessWindowsTest, MissingProgramIsUnavailableAndNamed) {
  auto spawner = MakeProcessRelaySpawner(ExeDir() + "no-such-relay.exe");
  std::unique_ptr<RelayProcess> relay;
  const IpcStatus s = spawner->Spawn({"--fd", "{fd}"}, &relay);
  EXPECT_EQ(s.code, kIpcUnavailable);
  EXPECT_NE(s.message.find("no-such-relay.exe"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("error 2"), std::string::npos) << s.message;  // ERROR_FILE_NOT_FOUND
  EXPECT_EQ(relay, nullptr);
}

TEST(RelayProcessWindowsTest, FindAgentServiceLooksAtTheEnvironmentThenBesideTheExecutable) {
  std::string path;
  ASSERT_TRUE(SetEnvironmentVariableW(L"RECLAIM_AGENT_SERVICE", WideFromUtf8(ChildExe()).c_str()));
  IpcStatus s = FindAgentService(&path);
  EXPECT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(path, ChildExe());
  ASSERT_TRUE(SetEnvironmentVariableW(L"RECLAIM_AGENT_SERVICE", L"C:\\nowhere\\svc.exe"));
  s = FindAgentService(&path);
  EXPECT_EQ(s.code, kIpcNotFound);
  EXPECT_NE(s.message.find("C:\\nowhere\\svc.exe"), std::string::npos) << s.message;

  ASSERT_TRUE(SetEnvironmentVariableW(L"RECLAIM_AGENT_SERVICE", nullptr));
  const fs::path dir = fs::path(ExeDirW());
  const fs::path beside = dir / "reclaim-agent-service.exe";
  const fs::path build = dir / "service" / "reclaim-agent-service.exe";
  ASSERT_FALSE(fs::exists(beside));
  ASSERT_FALSE(fs::exists(build));
  s = FindAgentService(&path);
  EXPECT_EQ(s.code, kIpcNotFound);
  EXPECT_NE(s.message.find(beside.string()), std::string::npos) << s.message;
  EXPECT_NE(s.message.find(build.string()), std::string::npos) << s.message;
  // The build tree's service\ directory, then the installed layout first.
  fs::create_directories(build.parent_path());
  std::ofstream(build).put('x');
  s = FindAgentService(&path);
  EXPECT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(path, build.string());
  std::ofstream(beside).put('x');
  s = FindAgentService(&path);
  EXPECT_EQ(path, beside.string());
  fs::remove(beside);
  fs::remove_all(build.parent_path());
}

}  // namespace
}  // namespace reclaim::agent
