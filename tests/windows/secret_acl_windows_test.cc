// Owner-only secret files on Windows (common/secret_acl_windows.h), under
// Wine: the DACL rule on security descriptors built from SDDL (Everyone,
// Users, no DACL, a foreign owner fail naming the account; deny and
// inherit-only entries do not count); files: one written by
// WriteOwnerOnlyFile passes the check and reads back, one whose DACL lets
// Everyone read it (explicitly or inherited from its folder) fails it with a
// message naming the account, never the contents.
//
// Wine 8 keeps no file security descriptor of its own: it maps a DACL onto
// the Unix mode bits and back (owner, SYSTEM, Everyone), so on files it
// cannot show the written DACL's protected flag or its Administrators entry
// (checked on the descriptor built from OwnerOnlySddl instead), and a
// folder's inherited Users entry comes back as Everyone.
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

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "agent/sources/win32_strings_windows.h"
#include "common/secret_acl_windows.h"

namespace reclaim::secret_acl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::wstring Wide(const std::string& s) { return agent::WideFromUtf8(s); }
std::string Narrow(const std::wstring& w) { return agent::Utf8FromWide(w); }

std::string SidText(PSID sid) {
  wchar_t* text = nullptr;
  if (!ConvertSidToStringSidW(sid, &text)) return "?";
  std::string out = Narrow(text);
  LocalFree(text);
  return out;
}

/// The SIDs of the access-allowed entries of `dacl`, in order.
std::vector<std::string> AllowedSids(PACL dacl) {
  std::vector<std::string> sids;
  for (DWORD i = 0; dacl != nullptr && i < dacl->AceCount; ++i) {
    void* ace = nullptr;
    if (!GetAce(dacl, i, &ace)) break;
    if (static_cast<ACE_HEADER*>(ace)->AceType != ACCESS_ALLOWED_ACE_TYPE) continue;
    sids.push_back(SidText(&static_cast<ACCESS_ALLOWED_ACE*>(ace)->SidStart));
  }
  return sids;
}

/// A fresh folder under %TEMP% (owner-only itself, so only what a test puts
/// on a file decides), removed with its files afterwards.
class SecretAclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    me_ = CurrentUserSid();
    ASSERT_FALSE(me_.empty());
    wchar_t tmp[MAX_PATH + 1];
    ASSERT_GT(GetTempPathW(MAX_PATH + 1, tmp), 0u);
    std::random_device random;
    dir_ = Narrow(tmp) + "reclaim-secret-acl-" + std::to_string(random()) +
           std::to_string(GetCurrentProcessId());
    ASSERT_TRUE(MakeDir(dir_, OwnerOnlySddl(Wide(me_)))) << dir_;
  }
  void TearDown() override {
    WIN32_FIND_DATAW fd;
    HANDLE f = FindFirstFileW((Wide(dir_) + L"\\*").c_str(), &fd);
    if (f != INVALID_HANDLE_VALUE) {
      do {
        const std::wstring name = fd.cFileName;
        if (name == L"." || name == L"..") continue;
        const std::wstring full = Wide(dir_) + L"\\" + name;
        if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
          RemoveDirectoryW(full.c_str());
        } else {
          DeleteFileW(full.c_str());
        }
      } while (FindNextFileW(f, &fd));
      FindClose(f);
    }
    RemoveDirectoryW(Wide(dir_).c_str());
  }

  static bool MakeDir(const std::string& path, const std::wstring& sddl) {
    PSECURITY_DESCRIPTOR sd = nullptr;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd,
                                                              nullptr)) {
      return false;
    }
    SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), sd, FALSE};
    const bool ok = CreateDirectoryW(Wide(path).c_str(), &sa) != 0;
    LocalFree(sd);
    return ok;
  }

  /// Creates `path` holding `contents` with the security descriptor `sddl`
  /// (empty: the default, i.e. inherited from the folder).
  static void MakeFile(const std::string& path, const std::string& contents,
                       const std::wstring& sddl) {
    PSECURITY_DESCRIPTOR sd = nullptr;
    SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), nullptr, FALSE};
    if (!sddl.empty()) {
      ASSERT_TRUE(ConvertStringSecurityDescriptorToSecurityDescriptorW(
          sddl.c_str(), SDDL_REVISION_1, &sd, nullptr))
          << GetLastError();
      sa.lpSecurityDescriptor = sd;
    }
    HANDLE h = CreateFileW(Wide(path).c_str(), GENERIC_WRITE, 0, &sa, CREATE_NEW,
                           FILE_ATTRIBUTE_NORMAL, nullptr);
    if (sd != nullptr) LocalFree(sd);
    ASSERT_NE(h, INVALID_HANDLE_VALUE) << GetLastError();
    DWORD n = 0;
    ASSERT_TRUE(WriteFile(h, contents.data(), static_cast<DWORD>(contents.size()), &n, nullptr));
    CloseHandle(h);
  }

  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    WIN32_FIND_DATAW fd;
    HANDLE f = FindFirstFileW((Wide(dir_) + L"\\*").c_str(), &fd);
    if (f == INVALID_HANDLE_VALUE) return names;
    do {
      const std::wstring name = fd.cFileName;
      if (name != L"." && name != L"..") names.push_back(Narrow(name));
    } while (FindNextFileW(f, &fd));
    FindClose(f);
    return names;
  }

  std::string Path(const std::string& name) const { return dir_ + "\\" + name; }

  std::string me_;
  std::string dir_;
};

TEST_F(SecretAclTest, WrittenFileIsOwnerOnlyProtectedAndReadsBack) {
  const std::string path = Path("enrollment.secret");
  const Result w = WriteOwnerOnlyFile(path, "s3cret-value\n");
  ASSERT_TRUE(w.ok()) << w.message;
  EXPECT_THAT(Files(), ::testing::ElementsAre("enrollment.secret"));  // no temporary file left

  std::string contents;
  const Result r = ReadOwnerOnlyFile(path, "enrollment secret", 1024, &contents);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(contents, "s3cret-value\n");
  const Result c = CheckOwnerOnly(path, "enrollment secret");
  EXPECT_TRUE(c.ok()) << c.message;

  // The file's descriptor: owner = this user; the DACL grants this user and
  // nobody but SYSTEM and Administrators (Wine: see the top of this file).
  PSID owner = nullptr;
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  ASSERT_EQ(GetNamedSecurityInfoW(Wide(path).c_str(), SE_FILE_OBJECT,
                                  OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, &owner,
                                  nullptr, &dacl, nullptr, &sd),
            static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(SidText(owner), me_);
  const std::vector<std::string> grantees = AllowedSids(dacl);
  LocalFree(sd);
  EXPECT_THAT(grantees, ::testing::Contains(me_));
  EXPECT_THAT(grantees, ::testing::Each(::testing::AnyOf(me_, "S-1-5-18", "S-1-5-32-544")));
}

TEST_F(SecretAclTest, OwnerOnlySddlIsAProtectedDaclOfUserSystemAdministrators) {
  PSECURITY_DESCRIPTOR sd = nullptr;
  ASSERT_TRUE(ConvertStringSecurityDescriptorToSecurityDescriptorW(
      OwnerOnlySddl(Wide(me_)).c_str(), SDDL_REVISION_1, &sd, nullptr));
  SECURITY_DESCRIPTOR_CONTROL control = 0;
  DWORD revision = 0;
  ASSERT_TRUE(GetSecurityDescriptorControl(sd, &control, &revision));
  EXPECT_NE(control & SE_DACL_PROTECTED, 0);  // nothing inherited from the folder
  PSID owner = nullptr;
  BOOL defaulted = FALSE;
  ASSERT_TRUE(GetSecurityDescriptorOwner(sd, &owner, &defaulted));
  EXPECT_EQ(SidText(owner), me_);
  BOOL present = FALSE;
  PACL dacl = nullptr;
  ASSERT_TRUE(GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted));
  ASSERT_TRUE(present);
  EXPECT_THAT(AllowedSids(dacl), ::testing::ElementsAre(me_, "S-1-5-18", "S-1-5-32-544"));
  EXPECT_TRUE(CheckSecurityDescriptor(sd, "C:\\t", "token").ok());
  LocalFree(sd);

  // Written by the machine service (LocalSystem): SYSTEM and Administrators only.
  ASSERT_TRUE(ConvertStringSecurityDescriptorToSecurityDescriptorW(
      OwnerOnlySddl(L"S-1-5-18").c_str(), SDDL_REVISION_1, &sd, nullptr));
  ASSERT_TRUE(GetSecurityDescriptorOwner(sd, &owner, &defaulted));
  EXPECT_EQ(SidText(owner), "S-1-5-18");
  ASSERT_TRUE(GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted));
  EXPECT_THAT(AllowedSids(dacl), ::testing::ElementsAre("S-1-5-18", "S-1-5-32-544"));
  LocalFree(sd);
}

/// CheckSecurityDescriptor on the descriptor of `sddl` ("%ME%" = this user's SID).
Result CheckSddl(const std::string& me, std::wstring sddl) {
  const std::wstring wme = Wide(me);
  for (size_t at = sddl.find(L"%ME%"); at != std::wstring::npos; at = sddl.find(L"%ME%")) {
    sddl.replace(at, 4, wme);
  }
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd,
                                                            nullptr)) {
    ADD_FAILURE() << "bad SDDL " << Narrow(sddl) << ": " << GetLastError();
    return Result{Code::kInternal, "bad SDDL"};
  }
  Result r = CheckSecurityDescriptor(sd, "C:\\ProgramData\\Reclaim\\t", "token");
  LocalFree(sd);
  return r;
}

TEST_F(SecretAclTest, DescriptorRule) {
  // Passes: the owner, SYSTEM, Administrators; deny entries; entries only
  // for children (inherit-only); a file of SYSTEM's or of Administrators'.
  for (const wchar_t* ok : {L"O:%ME%D:P(A;;FA;;;%ME%)", L"O:%ME%D:P(A;;FA;;;%ME%)(A;;FA;;;SY)(A;;FA;;;BA)",
                            L"O:%ME%D:(D;;FA;;;WD)(A;;FA;;;%ME%)",
                            L"O:%ME%D:(A;;FA;;;%ME%)(A;OICIIO;FR;;;WD)",
                            L"O:SYD:P(A;;FA;;;SY)(A;;FA;;;BA)", L"O:BAD:P(A;;FA;;;BA)"}) {
    const Result r = CheckSddl(me_, ok);
    EXPECT_TRUE(r.ok()) << Narrow(ok) << ": " << r.message;
  }
  Result r = CheckSddl(me_, L"O:%ME%D:(A;;FA;;;%ME%)(A;;FR;;;WD)");
  EXPECT_EQ(r.code, Code::kFailedPrecondition);
  EXPECT_THAT(r.message, HasSubstr("grants access to Everyone (S-1-1-0)"));
  EXPECT_THAT(r.message, HasSubstr("icacls"));

  r = CheckSddl(me_, L"O:%ME%D:(A;;FA;;;%ME%)(A;;FR;;;BU)");
  EXPECT_EQ(r.code, Code::kFailedPrecondition);
  EXPECT_THAT(r.message, HasSubstr("S-1-5-32-545"));  // BUILTIN\Users

  // A NULL DACL (SDDL "D:NO_ACCESS_CONTROL"; Wine's SDDL parser makes that
  // an empty DACL, so it is built by hand): everyone has full access.
  SECURITY_DESCRIPTOR null_dacl;
  ASSERT_TRUE(InitializeSecurityDescriptor(&null_dacl, SECURITY_DESCRIPTOR_REVISION));
  PSID my_sid = nullptr;
  ASSERT_TRUE(ConvertStringSidToSidW(Wide(me_).c_str(), &my_sid));
  ASSERT_TRUE(SetSecurityDescriptorOwner(&null_dacl, my_sid, FALSE));
  ASSERT_TRUE(SetSecurityDescriptorDacl(&null_dacl, TRUE, nullptr, FALSE));
  r = CheckSecurityDescriptor(&null_dacl, "C:\\t", "token");
  LocalFree(my_sid);
  EXPECT_EQ(r.code, Code::kFailedPrecondition);
  EXPECT_THAT(r.message, HasSubstr("has no access control list: everyone has full access"));

  // Owned by another account (Users): that account's file, not ours.
  r = CheckSddl(me_, L"O:BUD:P(A;;FA;;;SY)");
  EXPECT_EQ(r.code, Code::kFailedPrecondition);
  EXPECT_THAT(r.message, HasSubstr("is owned by"));
  EXPECT_THAT(r.message, HasSubstr("S-1-5-32-545"));
  EXPECT_THAT(r.message, HasSubstr(me_));
}

TEST_F(SecretAclTest, EveryoneReadFailsNamingEveryoneNotTheSecret) {
  const std::string path = Path("leaky.secret");
  MakeFile(path, "leaky-secret-value", L"D:P(A;;FA;;;" + Wide(me_) + L")(A;;FR;;;WD)");
  std::string contents;
  const Result r = ReadOwnerOnlyFile(path, "LDAP bind password", 1024, &contents);
  EXPECT_EQ(r.code, Code::kFailedPrecondition);
  EXPECT_THAT(r.message, HasSubstr("LDAP bind password file " + path + " grants access to"));
  EXPECT_THAT(r.message, HasSubstr("S-1-1-0"));
  EXPECT_THAT(r.message, HasSubstr("only its owner, SYSTEM and Administrators"));
  EXPECT_THAT(r.message, Not(HasSubstr("leaky-secret-value")));
  EXPECT_TRUE(contents.empty());
  const Result c = CheckOwnerOnly(path, "LDAP bind password");
  EXPECT_EQ(c.code, Code::kFailedPrecondition);
  EXPECT_THAT(c.message, HasSubstr("S-1-1-0"));

  // Writing replaces the file and its DACL; then it passes.
  const Result w = WriteOwnerOnlyFile(path, "new-value");
  ASSERT_TRUE(w.ok()) << w.message;
  const Result again = ReadOwnerOnlyFile(path, "LDAP bind password", 1024, &contents);
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_EQ(contents, "new-value");
}

TEST_F(SecretAclTest, AccessInheritedFromTheFolderFails) {
  // A folder that lets Users read what is created in it (as %ProgramData%
  // does before the installer sets its ACL): a file created there with the
  // default descriptor inherits that entry.
  const std::string folder = Path("shared");
  ASSERT_TRUE(MakeDir(folder, L"D:P(A;OICI;FA;;;" + Wide(me_) + L")(A;OICI;FR;;;BU)"));
  const std::string path = folder + "\\client-key.pem";
  MakeFile(path, "key", L"");
  const Result c = CheckOwnerOnly(path, "client key");
  EXPECT_EQ(c.code, Code::kFailedPrecondition) << c.message;
  // Windows names BUILTIN\Users (S-1-5-32-545); Wine, which keeps Unix modes, Everyone.
  EXPECT_THAT(c.message, HasSubstr("client key file " + path + " grants access to"));
  DeleteFileW(Wide(path).c_str());
}

TEST_F(SecretAclTest, MissingFolderAndTooLargeAreClearErrors) {
  std::string contents;
  Result r = ReadOwnerOnlyFile(Path("absent"), "token", 1024, &contents);
  EXPECT_EQ(r.code, Code::kNotFound);
  EXPECT_THAT(r.message, HasSubstr("token file " + Path("absent") + " does not exist"));

  r = ReadOwnerOnlyFile(dir_, "token", 1024, &contents);
  EXPECT_EQ(r.code, Code::kFailedPrecondition);
  EXPECT_THAT(r.message, HasSubstr("is not a regular file"));

  const std::string big = Path("big.secret");
  ASSERT_TRUE(WriteOwnerOnlyFile(big, std::string(2000, 'k')).ok());
  r = ReadOwnerOnlyFile(big, "token", 1024, &contents);
  EXPECT_EQ(r.code, Code::kInvalidArgument);
  EXPECT_THAT(r.message, HasSubstr("is larger than 1024 bytes"));
  EXPECT_TRUE(contents.empty());

  // A folder that does not exist: the write fails, naming the file, and leaves nothing.
  const Result w = WriteOwnerOnlyFile(Path("no-such-folder\\x.secret"), "v");
  EXPECT_EQ(w.code, Code::kPermissionDenied);
  EXPECT_THAT(w.message, HasSubstr("cannot create " + Path("no-such-folder\\x.secret") + ".tmp."));
}

}  // namespace
}  // namespace reclaim::secret_acl
