// Which browser started a native messaging host, on Windows. Standard C++
// interface (the Win32 implementation browser_process_windows.cc is built
// into the Windows layer and tested under Wine). Linux reads the parent from
// /proc instead (agent/sources/proc_identity.h ParentPid).
#pragma once

#include <cstdint>

namespace reclaim::agent {

/// Windows: the process that started native host `host_pid`, i.e. the
/// browser process that owns the browser's top-level windows: the host's
/// parent, or when that is cmd.exe, cmd.exe's parent (Chrome and Edge start
/// a host through "cmd.exe /d /c" unless the NativeHostsExecutablesLaunchDirectly
/// policy makes them start it directly; learn.microsoft.com/deployedge/
/// microsoft-edge-browser-policies/nativehostsexecutableslaunchdirectly).
/// Parents from CreateToolhelp32Snapshot (PROCESSENTRY32W
/// th32ParentProcessID); a parent created after its child (its process id
/// was reused) is no parent. 0 when unknown.
std::int64_t BrowserProcessOfHost(std::int64_t host_pid);

}  // namespace reclaim::agent
