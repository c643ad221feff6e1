#include "agent/browser/browser_process.h"

#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <tlhelp32.h>

#include <cwctype>
#include <map>
#include <optional>
#include <string>

namespace reclaim::agent {
namespace {

struct ProcessEntry {
  DWORD parent = 0;
  std::wstring exe;  // lower case, no directory
};

std::map<DWORD, ProcessEntry> SnapshotProcesses() {
  std::map<DWORD, ProcessEntry> out;
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snap == INVALID_HANDLE_VALUE) return out;
  PROCESSENTRY32W e{};
  e.dwSize = sizeof(e);
  for (BOOL more = Process32FirstW(snap, &e); more; more = Process32NextW(snap, &e)) {
    ProcessEntry& p = out[e.th32ProcessID];
    p.parent = e.th32ParentProcessID;
    for (const wchar_t* c = e.szExeFile; *c != L'\0'; ++c) {
      p.exe.push_back(static_cast<wchar_t>(std::towlower(*c)));
    }
  }
  CloseHandle(snap);
  return out;
}

// The process's creation time (FILETIME ticks), if it can be queried.
std::optional<ULONGLONG> CreationTime(DWORD pid) {
  HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (h == nullptr) return std::nullopt;
  FILETIME created{}, exited{}, kernel{}, user{};
  const BOOL ok = GetProcessTimes(h, &created, &exited, &kernel, &user);
  CloseHandle(h);
  if (!ok) return std::nullopt;
  return (static_cast<ULONGLONG>(created.dwHighDateTime) << 32) | created.dwLowDateTime;
}

// The parent of `pid` per the snapshot, 0 when unknown or reused.
DWORD ParentOf(const std::map<DWORD, ProcessEntry>& processes, DWORD pid) {
  auto it = processes.find(pid);
  if (it == processes.end() || it->second.parent == 0) return 0;
  const DWORD parent = it->second.parent;
  if (processes.find(parent) == processes.end()) return 0;  // exited
  const std::optional<ULONGLONG> child_created = CreationTime(pid);
  const std::optional<ULONGLONG> parent_created = CreationTime(parent);
  if (child_created && parent_created && *parent_created > *child_created) return 0;
  return parent;
}

}  // namespace

std::int64_t BrowserProcessOfHost(std::int64_t host_pid) {
  if (host_pid <= 0 || host_pid > 0xFFFFFFFFLL) return 0;
  const std::map<DWORD, ProcessEntry> processes = SnapshotProcesses();
  DWORD pid = ParentOf(processes, static_cast<DWORD>(host_pid));
  // At most a couple of cmd.exe levels ("cmd /c" of a .bat that starts the exe).
  for (int depth = 0; depth < 3 && pid != 0; ++depth) {
    auto it = processes.find(pid);
    if (it == processes.end() || it->second.exe != L"cmd.exe") break;
    pid = ParentOf(processes, pid);
  }
  return pid;
}

}  // namespace reclaim::agent
