// win32_account_windows.h: sources of behaviour are named in the header.
#include "agent/sources/win32_account_windows.h"

#include <sddl.h>

#include "agent/sources/win32_strings_windows.h"

namespace reclaim::agent {

std::vector<BYTE> TokenUserBuffer(HANDLE token, DWORD* error) {
  std::vector<BYTE> buf;
  DWORD bytes = 0;
  GetTokenInformation(token, TokenUser, nullptr, 0, &bytes);
  if (bytes == 0) {
    *error = GetLastError();
    return buf;
  }
  buf.resize(bytes);
  if (!GetTokenInformation(token, TokenUser, buf.data(), bytes, &bytes)) {
    *error = GetLastError();
    buf.clear();
  }
  return buf;
}

Win32Account AccountOfSid(PSID sid) {
  Win32Account account;
  LPWSTR sid_text = nullptr;
  if (ConvertSidToStringSidW(sid, &sid_text)) {
    account.sid = Utf8FromWide(sid_text);
    LocalFree(sid_text);
  }
  wchar_t name[256] = {}, domain[256] = {};
  DWORD name_len = 256, domain_len = 256;
  SID_NAME_USE use;
  if (LookupAccountSidW(nullptr, sid, name, &name_len, domain, &domain_len, &use)) {
    account.name = Utf8FromWide(name);
    account.domain = Utf8FromWide(domain);
  }
  return account;
}

std::vector<BYTE> CurrentProcessTokenUser(DWORD* error) {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
    *error = GetLastError();
    return {};
  }
  std::vector<BYTE> out = TokenUserBuffer(token, error);
  CloseHandle(token);
  return out;
}

}  // namespace reclaim::agent
