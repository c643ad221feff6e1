// Which account the Service Control Manager runs a service process as: the
// fallback of ConnectLocal's server check (local_channel_windows.cc) for a
// LocalSystem server whose process token a standard user may not open
// (a SYSTEM token grants TOKEN_QUERY to SYSTEM and Administrators only).
// Windows-only; implemented in local_channel_windows.cc.
#pragma once

#include "agent/local/local_channel.h"

namespace reclaim::agent {

/// Sets `*is` to whether process `pid` runs an active Win32 service whose
/// configured account is LocalSystem, as the SCM says:
/// EnumServicesStatusExW(SC_ENUM_PROCESS_INFO) for the services of the pid
/// (https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-enumservicesstatusexw),
/// QueryServiceConfigW's lpServiceStartName "LocalSystem"
/// (https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-queryserviceconfigw).
/// Needs only SC_MANAGER_ENUMERATE_SERVICE and SERVICE_QUERY_CONFIG, which a
/// service's default security grants to authenticated users. Errors:
/// UNAVAILABLE naming the SCM call and the OS error.
IpcStatus IsLocalSystemServiceProcess(unsigned long pid, bool* is);

}  // namespace reclaim::agent
