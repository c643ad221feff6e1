// A real Active Directory for tests: Samba 4 AD DC provisioned and seeded by
// start-samba-ad.sh (see that script for the domain, the seed data and the
// credentials), running in its own network namespace.
//
// How a test binary uses it:
//   int main(...) / or simply link reclaim_samba_fixture_main, which does:
//     ::testing::AddGlobalTestEnvironment(new reclaim::testing::SambaAdEnvironment);
//   then in tests: const SambaAd& ad = SambaAdEnvironment::Get();
//
// SambaAd::Start runs the script in fixture mode with a pipe on its stdin,
// waits for "READY", reads the env file, and moves the calling thread into
// the DC's network namespace with setns(2). Call it before the process starts
// any thread: threads and child processes created afterwards (an LDAP client,
// ldapsearch, a collector binary started by an integration test) inherit the
// namespace and reach the DC at 127.0.0.1:389/636. The destructor moves the
// thread back and closes the pipe; the script then stops samba and deletes
// the namespace. If the test process dies instead (crash, CTest timeout),
// the pipe closes just the same and the script tears down; samba also has
// PR_SET_PDEATHSIG on the script.
//
// Needs root and the tools in deploy/install-deps.sh. Start() returns an
// error (never a skip) when anything is missing.
//
// Not thread-safe; one SambaAd per process.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace reclaim::testing {

/// Where the DC is and how to log in; the values of samba-ad.env.
struct SambaAdInfo {
  std::string netns;          ///< network namespace ("reclaim-ad-<pid>")
  std::string ldap_uri;       ///< "ldap://127.0.0.1"
  std::string ldaps_uri;      ///< "ldaps://127.0.0.1"
  std::string base_dn;        ///< "DC=example,DC=test"
  std::string domain;         ///< "EXAMPLE"
  std::string realm;          ///< "EXAMPLE.TEST"
  std::string ca_file;        ///< PEM of the CA that issued the DC's certificate
  std::string wrong_ca_file;  ///< PEM of an unrelated CA
  std::string admin_dn;
  std::string admin_password;
  std::string service_upn;  ///< svc-reclaim@example.test (Account Operator)
  std::string service_password;
  std::string reader_upn;  ///< reader@example.test (no write rights)
  std::string reader_password;
  std::string sam_ldb;     ///< the DC's sam.ldb (ldbsearch works while it runs)
  std::string log_file;    ///< samba's output
  int big_group_size = 0;  ///< members of "Big Group"
  /// Every variable of the env file (RECLAIM_AD_*).
  std::map<std::string, std::string> env;
};

/// Result of a helper command.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

struct SambaAdOptions {
  /// start-samba-ad.sh. Default: the source tree's (compile definition).
  std::string script;
  /// Tarball cache. Default: <build dir>/samba-cache (compile definition).
  std::string cache_dir;
  /// Seconds to wait for READY (a cold cache takes ~15 s). Default 180.
  int start_timeout_s = 180;
};

class SambaAd {
 public:
  /// Starts the DC and joins its network namespace (see file comment).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SambaAd>> Start(
      const SambaAdOptions& options = {});
  ~SambaAd();
  SambaAd(const SambaAd&) = delete;
  SambaAd& operator=(const SambaAd&) = delete;

  const SambaAdInfo& info() const { return info_; }

  /// Runs argv (PATH lookup) inside the namespace with `stdin_data` on its
  /// standard input, LDAPTLS_CACERT set to the test CA, and waits for it.
  CommandResult Run(const std::vector<std::string>& argv, const std::string& stdin_data = "") const;

  /// ldapsearch as Administrator over LDAPS (-LLL, no line wrapping);
  /// returns the LDIF, or an error with ldapsearch's stderr.
  absl::StatusOr<std::string> AdminSearch(const std::string& base, const std::string& filter,
                                          const std::vector<std::string>& attrs,
                                          const std::string& scope = "sub") const;
  /// ldapmodify as Administrator over LDAPS with `ldif`.
  absl::Status AdminModify(const std::string& ldif) const;

  /// sAMAccountNames of the users whose `memberOf` names the group with this
  /// sAMAccountName (direct members, as the directory itself reports them),
  /// sorted. Uses ldapsearch, independent of the connector under test.
  absl::StatusOr<std::vector<std::string>> DirectMemberSams(const std::string& group_sam) const;

  /// The group's DN (from ldapsearch).
  absl::StatusOr<std::string> GroupDn(const std::string& group_sam) const;

 private:
  SambaAd() = default;

  SambaAdInfo info_;
  std::string state_dir_;
  pid_t script_pid_ = -1;
  int script_stdin_ = -1;  // write end; closing it stops the DC
  int original_netns_ = -1;
};

/// A GoogleTest environment that starts one DC for the whole test binary.
/// Register it at namespace scope in the test file:
///   const auto* const kSambaEnv =
///       ::testing::AddGlobalTestEnvironment(new reclaim::testing::SambaAdEnvironment);
/// A DC that cannot start is a test failure (never a skip): SetUp records a
/// failure, and Get() returns nullptr so each test's ASSERT fails with
/// StartError().
class SambaAdEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
  /// The running DC, or nullptr if it did not start.
  static SambaAd* Get();
  /// Why it did not start (OK while it runs).
  static absl::Status StartError();
};

}  // namespace reclaim::testing
