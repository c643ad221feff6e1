// Owner-only secret files on Windows (the Win32 half of common/secret_file.h,
// which adapts it in secret_file_windows.cc). Standard C++ and Win32 only, so
// that it is built and tested under Wine by the mingw-w64 layer build
// (tests/windows/secret_acl_windows_test.cc).
//
// "Owner-only" on Windows: the file's DACL allows access to nobody but the
// file's owner, SYSTEM (S-1-5-18) and the Administrators group
// (S-1-5-32-544), and the owner is this process's user, SYSTEM or
// Administrators (the POSIX rule "mode 0600/0400, owned by this user or
// root"). Deny entries and inherit-only entries do not matter; a missing
// (NULL) DACL means everyone has access. Access-control model:
// https://learn.microsoft.com/windows/win32/secauthz/dacls-and-aces
//
// Messages name the file and the account at fault, never the contents.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace reclaim::secret_acl {

/// What went wrong (mapped 1:1 onto absl::StatusCode by secret_file_windows.cc).
enum class Code {
  kOk,
  kNotFound,            // no such file or folder
  kPermissionDenied,    // cannot open, read or create
  kFailedPrecondition,  // not owner-only, wrong owner, not a regular file
  kInvalidArgument,     // empty path, file larger than allowed
  kInternal,            // write, flush or rename failed; a Win32 call failed
};

/// A result: `message` is empty when `code` is kOk.
struct Result {
  Code code = Code::kOk;
  std::string message;
  bool ok() const { return code == Code::kOk; }
};

/// SDDL of a file WriteOwnerOnlyFile creates for the user `user_sid`
/// ("S-1-5-21-..."): owner `user_sid`, protected DACL (nothing inherited)
/// with full access for `user_sid`, SYSTEM and Administrators. For SYSTEM
/// itself (the machine service's credential, ARCH: SYSTEM and
/// Administrators only) "O:SYD:P(A;;FA;;;SY)(A;;FA;;;BA)".
/// SDDL: https://learn.microsoft.com/windows/win32/secauthz/security-descriptor-string-format
std::wstring OwnerOnlySddl(const std::wstring& user_sid);

/// The SID of this process's user (token user) in string form, e.g.
/// "S-1-5-21-...-1001"; SYSTEM's is "S-1-5-18". Empty when the token cannot
/// be read.
std::string CurrentUserSid();

/// The owner-only rule above applied to the security descriptor `sd` (a
/// PSECURITY_DESCRIPTOR, as GetSecurityInfo returns or
/// ConvertStringSecurityDescriptorToSecurityDescriptorW builds) of the file
/// `path`; what ReadOwnerOnlyFile and CheckOwnerOnly check. kOk, or
/// kFailedPrecondition naming the owner or the account that has access and
/// how to fix it (icacls), e.g. "token file C:\t grants access to Everyone
/// (S-1-1-0): only its owner, SYSTEM and Administrators may have access (...)".
Result CheckSecurityDescriptor(const void* sd, const std::string& path, std::string_view what);

/// Reads the file at `path` (UTF-8) into `*contents` after checking, on the
/// opened handle (GetSecurityInfo, the handle twin of
/// GetNamedSecurityInfoW: the file checked is the file read), that it is a
/// regular file and owner-only. `what` names the secret in messages ("LDAP
/// bind password"). At most `max_bytes` bytes (kInvalidArgument beyond).
/// Buffers are wiped; `*contents` is left empty on error.
Result ReadOwnerOnlyFile(const std::string& path, std::string_view what, size_t max_bytes,
                         std::string* contents);

/// Checks by name (GetNamedSecurityInfoW) that the file or folder at `path`
/// is owner-only, as ReadOwnerOnlyFile does before reading.
Result CheckOwnerOnly(const std::string& path, std::string_view what);

/// Writes `contents` to `path` (UTF-8) atomically: a new file beside it
/// (CreateFileW CREATE_NEW with the security descriptor of OwnerOnlySddl()
/// for this process's user, so it is owner-only from its creation), written,
/// FlushFileBuffers, then MoveFileExW(MOVEFILE_REPLACE_EXISTING |
/// MOVEFILE_WRITE_THROUGH) over `path` (the moved file keeps its own DACL).
/// Errors: kPermissionDenied (cannot create), kInternal (write, flush,
/// rename), both with the path and the Windows error text; the temporary
/// file is deleted.
Result WriteOwnerOnlyFile(const std::string& path, std::string_view contents);

/// Overwrites `n` bytes at `p` (SecureZeroMemory: not optimised away).
void SecureWipe(void* p, size_t n);

}  // namespace reclaim::secret_acl
