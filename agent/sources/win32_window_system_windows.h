// The real WindowSystem (window_identity.h) over Win32: GetWindowThreadProcessId,
// GetClassNameW, FindWindowExW, OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION)
// + QueryFullProcessImageNameW, GetPackageFamilyName (loaded at run time:
// Windows 8+), GetFileVersionInfoW / VerQueryValueW. Standard C++ types only.
#pragma once

#include <memory>

#include "agent/sources/window_identity.h"

namespace reclaim::agent {

/// Thread-compatible (one owner); caches version resources by path.
std::unique_ptr<WindowSystem> MakeWin32WindowSystem();

}  // namespace reclaim::agent
