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
/// A per-user service (Windows 10+: its template and each signed-in user's
/// instance, types with SERVICE_USER_SERVICE 0x40 or
/// SERVICE_USERSERVICE_INSTANCE 0x80) is never counted: it runs as the
/// signed-in user whatever account the SCM lists for it, and that user may
/// run code in it
/// (https://learn.microsoft.com/windows/application-management/per-user-services-in-windows).
IpcStatus IsLocalSystemServiceProcess(unsigned long pid, bool* is);

/// The decision of IsLocalSystemServiceProcess for one service of the pid:
/// `service_type` its SERVICE_STATUS_PROCESS.dwServiceType, `start_name`
/// QueryServiceConfigW's lpServiceStartName (may be null). True only for a
/// Win32 service that is no per-user service and names LocalSystem
/// ("LocalSystem", ".\\LocalSystem", "NT AUTHORITY\\SYSTEM", any case).
bool ServiceRunsAsLocalSystem(unsigned long service_type, const wchar_t* start_name);

}  // namespace reclaim::agent
