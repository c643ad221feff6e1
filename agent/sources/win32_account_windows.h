// Accounts and SIDs for the Win32 layer: shared by the
// process layer (agent/platform/process_platform_windows.cc: the session
// user) and the local channel (agent/local/local_channel_windows.cc: the
// peer of a named pipe). Windows-only header (includes <windows.h>);
// implemented in win32_account_windows.cc.
//
// Sources: GetTokenInformation(TokenUser)
// (https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-gettokeninformation),
// ConvertSidToStringSidW
// (https://learn.microsoft.com/windows/win32/api/sddl/nf-sddl-convertsidtostringsidw),
// LookupAccountSidW: the account name (sAMAccountName for domain accounts)
// and its domain (NetBIOS name; the computer name for local accounts)
// (https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-lookupaccountsidw).
#pragma once

#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <string>
#include <vector>

namespace reclaim::agent {

/// A user account as Windows names it.
struct Win32Account {
  /// "S-1-5-21-..." (ConvertSidToStringSidW).
  std::string sid;
  /// LookupAccountSidW's name and domain; empty when the SID has no name
  /// (e.g. a deleted account or an unreachable domain controller).
  std::string name;
  std::string domain;
};

/// The TOKEN_USER structure of `token` (opened with TOKEN_QUERY) in the
/// buffer GetTokenInformation filled. Empty on failure, with `*error` set
/// to GetLastError().
std::vector<BYTE> TokenUserBuffer(HANDLE token, DWORD* error);

/// The user SID of `token_user` (a TokenUserBuffer() result).
inline PSID TokenUserSid(const std::vector<BYTE>& token_user) {
  return reinterpret_cast<const TOKEN_USER*>(token_user.data())->User.Sid;
}

/// The account of `sid`: its string form, and the name and domain
/// LookupAccountSidW gives (left empty when it fails).
Win32Account AccountOfSid(PSID sid);

/// The user of this process's token (TokenUser of OpenProcessToken). Empty
/// on failure, with `*error` set.
std::vector<BYTE> CurrentProcessTokenUser(DWORD* error);

}  // namespace reclaim::agent
