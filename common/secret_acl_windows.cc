#include "common/secret_acl_windows.h"

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

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "agent/sources/win32_account_windows.h"
#include "agent/sources/win32_strings_windows.h"

namespace reclaim::secret_acl {
namespace {

Result Fail(Code code, std::string message) { return Result{code, std::move(message)}; }

/// UTF-16 of the UTF-8 path `s`; false when it is empty.
bool Widen(const std::string& s, std::wstring* out) {
  *out = agent::WideFromUtf8(s);
  return !out->empty();
}

std::string ErrorText(DWORD err) { return agent::Win32ErrorText(err); }

bool IsNotFound(DWORD err) {
  return err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND ||
         err == ERROR_INVALID_NAME || err == ERROR_BAD_NETPATH;
}

/// "Everyone (S-1-1-0)", "DOMAIN\\user (S-1-5-21-...)", or the SID alone.
std::string AccountName(PSID sid) {
  const agent::Win32Account account = agent::AccountOfSid(sid);
  if (account.name.empty()) return account.sid.empty() ? "an unreadable SID" : account.sid;
  const std::string name =
      account.domain.empty() ? account.name : account.domain + "\\" + account.name;
  return name + " (" + account.sid + ")";
}

struct WellKnownSid {
  BYTE bytes[SECURITY_MAX_SID_SIZE];
  explicit WellKnownSid(WELL_KNOWN_SID_TYPE type) {
    DWORD size = sizeof bytes;
    if (!CreateWellKnownSid(type, nullptr, bytes, &size)) bytes[0] = 0;
  }
  PSID sid() { return bytes[0] == 0 ? nullptr : static_cast<PSID>(bytes); }
};

bool Same(PSID a, PSID b) { return a != nullptr && b != nullptr && EqualSid(a, b); }

/// The rule of the header on an owner and a DACL read from `path`.
Result CheckDescriptor(PSID owner, PACL dacl, const std::string& path, std::string_view what) {
  const std::string file = std::string(what) + " file " + path;
  WellKnownSid system(WinLocalSystemSid);
  WellKnownSid admins(WinBuiltinAdministratorsSid);
  WellKnownSid owner_rights(WinCreatorOwnerRightsSid);
  DWORD error = 0;
  const std::vector<BYTE> me = agent::CurrentProcessTokenUser(&error);
  PSID my_sid = me.empty() ? nullptr : agent::TokenUserSid(me);
  if (owner == nullptr) {
    return Fail(Code::kFailedPrecondition, file + " has no owner");
  }
  if (!Same(owner, my_sid) && !Same(owner, system.sid()) && !Same(owner, admins.sid())) {
    return Fail(Code::kFailedPrecondition,
                file + " is owned by " + AccountName(owner) + ", not by this process's user (" +
                    (my_sid ? AccountName(my_sid) : std::string("unknown")) +
                    "), SYSTEM or Administrators");
  }
  const std::string fix = " (icacls \"" + path + "\" /inheritance:r, then /remove:g each other account)";
  if (dacl == nullptr) {
    return Fail(Code::kFailedPrecondition,
                file + " has no access control list: everyone has full access" + fix);
  }
  for (DWORD i = 0; i < dacl->AceCount; ++i) {
    void* ace = nullptr;
    if (!GetAce(dacl, i, &ace)) {
      return Fail(Code::kInternal, "cannot read the access control list of " + file + ": " +
                                       ErrorText(GetLastError()));
    }
    const auto* header = static_cast<const ACE_HEADER*>(ace);
    if ((header->AceFlags & INHERIT_ONLY_ACE) != 0) continue;  // not for the file itself
    switch (header->AceType) {
      case ACCESS_DENIED_ACE_TYPE:
      case ACCESS_DENIED_OBJECT_ACE_TYPE:
      case ACCESS_DENIED_CALLBACK_ACE_TYPE:
      case ACCESS_DENIED_CALLBACK_OBJECT_ACE_TYPE:
        continue;  // takes access away: harmless
      case ACCESS_ALLOWED_ACE_TYPE:
      case ACCESS_ALLOWED_CALLBACK_ACE_TYPE: {  // same layout
        const auto* allowed = static_cast<const ACCESS_ALLOWED_ACE*>(ace);
        PSID sid = const_cast<DWORD*>(&allowed->SidStart);
        if (allowed->Mask == 0 || Same(sid, owner) || Same(sid, system.sid()) ||
            Same(sid, admins.sid()) || Same(sid, owner_rights.sid())) {
          continue;
        }
        return Fail(Code::kFailedPrecondition,
                    file + " grants access to " + AccountName(sid) +
                        ": only its owner, SYSTEM and Administrators may have access" + fix);
      }
      default:
        // Object ACEs and the like do not appear on files; refuse what is not understood.
        return Fail(Code::kFailedPrecondition,
                    file + " has an access entry of type " + std::to_string(header->AceType) +
                        " that this check does not read" + fix);
    }
  }
  return Result{};
}

/// The owner and DACL of `sd`: false when unreadable.
bool OwnerAndDacl(PSECURITY_DESCRIPTOR sd, PSID* owner, PACL* dacl) {
  BOOL owner_defaulted = FALSE;
  BOOL present = FALSE;
  BOOL dacl_defaulted = FALSE;
  *owner = nullptr;
  *dacl = nullptr;
  if (!GetSecurityDescriptorOwner(sd, owner, &owner_defaulted)) return false;
  if (!GetSecurityDescriptorDacl(sd, &present, dacl, &dacl_defaulted)) return false;
  if (!present) *dacl = nullptr;  // no DACL: full access for everyone, as a NULL DACL
  return true;
}

struct HandleCloser {
  HANDLE h;
  ~HandleCloser() {
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
  }
};

}  // namespace

Result CheckSecurityDescriptor(const void* sd, const std::string& path, std::string_view what) {
  PSID owner = nullptr;
  PACL dacl = nullptr;
  if (sd == nullptr || !OwnerAndDacl(const_cast<void*>(sd), &owner, &dacl)) {
    return Fail(Code::kInternal, "cannot read the security descriptor of " + std::string(what) +
                                     " file " + path + ": " + ErrorText(GetLastError()));
  }
  return CheckDescriptor(owner, dacl, path, what);
}

std::wstring OwnerOnlySddl(const std::wstring& user_sid) {
  if (user_sid == L"S-1-5-18") return L"O:SYD:P(A;;FA;;;SY)(A;;FA;;;BA)";  // the machine service
  return L"O:" + user_sid + L"D:P(A;;FA;;;" + user_sid + L")(A;;FA;;;SY)(A;;FA;;;BA)";
}

std::string CurrentUserSid() {
  DWORD error = 0;
  const std::vector<BYTE> me = agent::CurrentProcessTokenUser(&error);
  return me.empty() ? std::string() : agent::AccountOfSid(agent::TokenUserSid(me)).sid;
}

void SecureWipe(void* p, size_t n) {
  if (p != nullptr && n > 0) SecureZeroMemory(p, n);
}

Result CheckOwnerOnly(const std::string& path, std::string_view what) {
  std::wstring wpath;
  if (path.empty() || !Widen(path, &wpath)) {
    return Fail(Code::kInvalidArgument, std::string(what) + " file path is empty");
  }
  PSID owner = nullptr;
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD err = GetNamedSecurityInfoW(wpath.c_str(), SE_FILE_OBJECT,
                                          OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                                          &owner, nullptr, &dacl, nullptr, &sd);
  if (err != ERROR_SUCCESS) {
    if (IsNotFound(err)) {
      return Fail(Code::kNotFound, std::string(what) + " file " + path + " does not exist");
    }
    return Fail(Code::kPermissionDenied, "cannot read the security of " + std::string(what) +
                                             " file " + path + ": " + ErrorText(err));
  }
  Result r = CheckDescriptor(owner, dacl, path, what);
  LocalFree(sd);
  return r;
}

Result ReadOwnerOnlyFile(const std::string& path, std::string_view what, size_t max_bytes,
                         std::string* contents) {
  contents->clear();
  const std::string file = std::string(what) + " file " + path;
  std::wstring wpath;
  if (path.empty() || !Widen(path, &wpath)) {
    return Fail(Code::kInvalidArgument, std::string(what) + " file path is empty");
  }
  const DWORD attrs = GetFileAttributesW(wpath.c_str());
  if (attrs == INVALID_FILE_ATTRIBUTES) {
    const DWORD err = GetLastError();
    if (IsNotFound(err)) return Fail(Code::kNotFound, file + " does not exist");
    return Fail(Code::kPermissionDenied, "cannot open " + file + ": " + ErrorText(err));
  }
  if ((attrs & FILE_ATTRIBUTE_DIRECTORY) != 0) {
    return Fail(Code::kFailedPrecondition, file + " is not a regular file");
  }
  // READ_CONTROL (part of GENERIC_READ) lets GetSecurityInfo read the DACL.
  HandleCloser h{CreateFileW(wpath.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                             FILE_ATTRIBUTE_NORMAL, nullptr)};
  if (h.h == INVALID_HANDLE_VALUE) {
    const DWORD err = GetLastError();
    if (IsNotFound(err)) return Fail(Code::kNotFound, file + " does not exist");
    return Fail(Code::kPermissionDenied, "cannot open " + file + ": " + ErrorText(err));
  }
  if (GetFileType(h.h) != FILE_TYPE_DISK) {
    return Fail(Code::kFailedPrecondition, file + " is not a regular file");
  }
  PSID owner = nullptr;
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD err = GetSecurityInfo(h.h, SE_FILE_OBJECT,
                                    OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                                    &owner, nullptr, &dacl, nullptr, &sd);
  if (err != ERROR_SUCCESS) {
    return Fail(Code::kPermissionDenied,
                "cannot read the security of " + file + ": " + ErrorText(err));
  }
  Result checked = CheckDescriptor(owner, dacl, path, what);
  LocalFree(sd);
  if (!checked.ok()) return checked;

  char buf[512];
  for (;;) {
    DWORD n = 0;
    if (!ReadFile(h.h, buf, sizeof buf, &n, nullptr)) {
      const DWORD read_err = GetLastError();
      SecureWipe(buf, sizeof buf);
      SecureWipe(contents->data(), contents->size());
      contents->clear();
      return Fail(Code::kPermissionDenied, "cannot read " + file + ": " + ErrorText(read_err));
    }
    if (n == 0) break;
    contents->append(buf, n);
    SecureWipe(buf, sizeof buf);
    if (contents->size() > max_bytes) {
      SecureWipe(contents->data(), contents->size());
      contents->clear();
      return Fail(Code::kInvalidArgument,
                  file + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return Result{};
}

Result WriteOwnerOnlyFile(const std::string& path, std::string_view contents) {
  std::wstring wpath;
  if (path.empty() || !Widen(path, &wpath)) {
    return Fail(Code::kInvalidArgument, "secret file path is empty");
  }
  const std::string user = CurrentUserSid();
  std::wstring wuser;
  if (user.empty() || !Widen(user, &wuser)) {
    return Fail(Code::kInternal, "cannot read this process's user: " + ErrorText(GetLastError()));
  }
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(OwnerOnlySddl(wuser).c_str(),
                                                            SDDL_REVISION_1, &sd, nullptr)) {
    return Fail(Code::kInternal,
                "cannot build the owner-only security descriptor: " + ErrorText(GetLastError()));
  }
  std::unique_ptr<void, decltype(&LocalFree)> sd_owner(sd, &LocalFree);
  SECURITY_ATTRIBUTES sa{};
  sa.nLength = sizeof sa;
  sa.lpSecurityDescriptor = sd;
  sa.bInheritHandle = FALSE;

  // A new file under a name nobody can guess (CREATE_NEW: never an existing
  // file another account created first), owner-only from its creation.
  std::random_device random;
  std::wstring wtmp;
  std::string tmp;
  HandleCloser h{INVALID_HANDLE_VALUE};
  DWORD err = ERROR_SUCCESS;
  for (int attempt = 0; attempt < 16 && h.h == INVALID_HANDLE_VALUE; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp.%08x%08x", random(), random());
    tmp = path + suffix;
    Widen(tmp, &wtmp);
    h.h = CreateFileW(wtmp.c_str(), GENERIC_WRITE, 0, &sa, CREATE_NEW, FILE_ATTRIBUTE_NORMAL,
                      nullptr);
    if (h.h == INVALID_HANDLE_VALUE) {
      err = GetLastError();
      if (err != ERROR_FILE_EXISTS && err != ERROR_ALREADY_EXISTS) break;
    }
  }
  if (h.h == INVALID_HANDLE_VALUE) {
    return Fail(Code::kPermissionDenied, "cannot create " + tmp + ": " + ErrorText(err));
  }
  auto fail = [&](const std::string& step) {
    const DWORD e = GetLastError();
    CloseHandle(h.h);
    h.h = INVALID_HANDLE_VALUE;
    DeleteFileW(wtmp.c_str());
    return Fail(Code::kInternal, step + ": " + ErrorText(e));
  };
  size_t off = 0;
  while (off < contents.size()) {
    const DWORD chunk = static_cast<DWORD>(std::min<size_t>(contents.size() - off, 1 << 20));
    DWORD n = 0;
    if (!WriteFile(h.h, contents.data() + off, chunk, &n, nullptr)) return fail("cannot write " + tmp);
    off += n;
  }
  if (!FlushFileBuffers(h.h)) return fail("cannot flush " + tmp);
  CloseHandle(h.h);
  h.h = INVALID_HANDLE_VALUE;
  if (!MoveFileExW(wtmp.c_str(), wpath.c_str(),
                   MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    const DWORD e = GetLastError();
    DeleteFileW(wtmp.c_str());
    return Fail(Code::kInternal, "cannot rename " + tmp + " to " + path + ": " + ErrorText(e));
  }
  return Result{};
}

}  // namespace reclaim::secret_acl
