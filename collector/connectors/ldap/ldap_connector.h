// The Active Directory connector: DirectoryConnector over LDAP v3 with
// OpenLDAP's libldap (kind "ad").
//
// - Transport: ldaps:// (TLS from the first byte) or ldap:// upgraded with
//   StartTLS (RFC 4513 section 3); the server certificate is always verified
//   (LDAP_OPT_X_TLS_DEMAND) against `ca_file`. Plain ldap:// only with
//   `allow_plaintext`, and then with a warning at every connect.
// - Authentication: simple bind (RFC 4513 section 5.1.3) as a service account;
//   the password is read from an owner-only file or an environment variable
//   at each connect and is never logged or put into a status message. An
//   empty password is refused (it would be an unauthenticated bind, which AD
//   accepts as anonymous).
// - Addressing: groups and users by objectGUID (`<GUID=...>` DNs, MS-ADTS
//   3.1.1.3.1.2.4 "Alternative Forms of DNs"), never by comparing DN strings.
//   Filters are built with RFC 4515 escaping (ldap_escape.h).
// - `member` is read with range retrieval (MS-ADTS 3.1.1.3.1.3.3):
//   "member;range=0-1499", then from the next index, until the server answers
//   "member;range=N-*"; values come with the extended-DN control
//   (1.2.840.113556.1.4.529) so each carries the member's GUID and SID.
// - Nested groups are expanded by the connector (breadth first, cycles
//   stopped), so each nested user names the group that holds them
//   (`via_group`); the in-chain rule (LDAP_MATCHING_RULE_IN_CHAIN,
//   1.2.840.113556.1.4.1941, MS-ADTS 3.1.1.3.4.4.3) finds the nested groups
//   of a group in one search when checking "still licensed through".
// - Users whose primaryGroupID is the group's RID are members without a
//   `member` value (MS-ADTS 3.1.1.1.10, "primary group"): listed as
//   kPrimaryGroup, and RemoveMember reports kNeedsManualAction without a
//   request.
// - Referral chasing is off (LDAP_OPT_REFERRALS); search references are
//   ignored. Searches over many objects are paged (RFC 2696).
//
// Status codes (see connector.h): kUnavailable (cannot reach the directory,
// timeout, busy; the message names the URI), kUnauthenticated (bind failed),
// kPermissionDenied (insufficient access rights), kNotFound, kInvalidArgument
// (bad reference or options), kFailedPrecondition (TLS verification failed,
// password file too open, protected group, server refused a change).
//
// Ownership and threads: one LdapConnector owns one LDAP connection; not
// thread-safe (one run uses it from one thread). A broken connection is
// dropped and reopened by the next call.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/connectors/connector.h"

namespace reclaim::collector {

/// How to reach and bind to the directory. Every field documents its default.
struct LdapConnectorOptions {
  /// One LDAP URI: "ldaps://dc1.example.com" (port 636 unless given) or
  /// "ldap://dc1.example.com" (389; StartTLS unless allow_plaintext).
  /// Required; default empty (an error).
  std::string uri;
  /// PEM file with the CA certificate(s) that issued the directory's
  /// certificate. Default empty: libldap's default trust store (TLS_CACERT in
  /// ldap.conf). The certificate is always verified and its name must match
  /// the URI's host.
  std::string ca_file;
  /// Lets an ldap:// URI stay unencrypted (no StartTLS): the bind password
  /// and all data cross the network in clear text. Default false. When true a
  /// warning is logged at each connect. Ignored for ldaps://.
  bool allow_plaintext = false;
  /// The service account for the simple bind: a DN
  /// ("CN=Reclaim Service,OU=Service,DC=example,DC=com") or a UPN
  /// ("svc-reclaim@example.com", which AD accepts). Required; default empty.
  std::string bind_dn;
  /// File holding the bind password (one trailing newline is ignored). It
  /// must be a regular file owned by this process's user (or root) with no
  /// permission bits for group or others (e.g. 0600 or 0400). Default empty.
  std::string password_file;
  /// Name of an environment variable holding the bind password, used when
  /// password_file is empty. Default empty. Exactly one of password_file and
  /// password_env must be set.
  std::string password_env;
  /// Base DN of user and group searches. Default empty: the server's
  /// defaultNamingContext (RootDSE).
  std::string base_dn;
  /// NetBIOS domain name ("EXAMPLE") put into DirectoryUser::domain and
  /// accepted by FindUser. Default empty: nETBIOSName of the domain's
  /// crossRef object under CN=Partitions of the configuration partition.
  std::string netbios_domain;
  /// TCP connect timeout (LDAP_OPT_NETWORK_TIMEOUT). Default 10 s.
  absl::Duration network_timeout = absl::Seconds(10);
  /// Limit for each LDAP operation: StartTLS, bind, search page, modify
  /// (LDAP_OPT_TIMEOUT). Default 30 s.
  absl::Duration operation_timeout = absl::Seconds(30);
  /// Values of `member` asked for per ranged read. Default 1500 (Windows'
  /// MaxValRange); servers may return fewer per read, which is handled.
  int member_range_size = 1500;
  /// Page size of paged searches (RFC 2696). Default 500 (AD's MaxPageSize
  /// is 1000).
  int page_size = 500;
  /// Member GUIDs resolved per search (an OR filter of objectGUID values).
  /// Default 100.
  int resolve_batch_size = 100;
};

/// Reads options from a connector's config section (text key/values, e.g.
/// the collector's `[connectors.NAME]` TOML table). Keys are the field
/// names above; `url` is accepted for `uri`; `allow_plaintext` is
/// "true"/"false"; timeouts are absl durations ("10s", "1m") or plain
/// seconds ("10"). Absent keys keep the field's default. Errors
/// (kInvalidArgument) name the key, never a value of a password key;
/// unknown keys are refused, listing the known ones. Does not check
/// consistency: LdapConnector::Create does.
[[nodiscard]] absl::StatusOr<LdapConnectorOptions> LdapConnectorOptionsFromSettings(
    const std::map<std::string, std::string>& settings);

/// DirectoryConnector for Active Directory (and Samba AD) over LDAP.
class LdapConnector final : public DirectoryConnector {
 public:
  /// Checks the options (URI scheme, bind DN, exactly one password source,
  /// positive sizes); does not connect. Errors: kInvalidArgument.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LdapConnector>> Create(
      LdapConnectorOptions options);

  ~LdapConnector() override;
  LdapConnector(const LdapConnector&) = delete;
  LdapConnector& operator=(const LdapConnector&) = delete;

  /// Connects, (StartTLS), binds, and reads the base DN and NetBIOS domain
  /// when not configured. Every other call connects on demand; call this to
  /// test a configuration. OK when already connected.
  [[nodiscard]] absl::Status Connect();

  /// The base DN in use (configured or read from the RootDSE); empty before
  /// the first successful Connect().
  const std::string& base_dn() const;
  /// The NetBIOS domain in use; empty when unknown.
  const std::string& netbios_domain() const;

  std::string kind() const override { return "ad"; }
  /// `ref`: an objectGUID ("6ecf3339-..."), an objectSid ("S-1-5-21-..."),
  /// a DN (anything with '='), or else a sAMAccountName, cn or displayName
  /// searched under the base DN. kNotFound for no match, kInvalidArgument
  /// when a name matches several groups.
  [[nodiscard]] absl::StatusOr<AuthorizationGroup> GetGroup(const std::string& ref) override;
  /// Direct members (ranged reads), users of nested groups (kNested,
  /// via_group = display name of the innermost group on the shortest path),
  /// users whose primary group is the group (kPrimaryGroup) or one of its
  /// nested groups (kNested). Computers, contacts and members outside the
  /// base DN (foreign security principals) are skipped with a log line.
  /// Sorted by sAMAccountName.
  [[nodiscard]] absl::StatusOr<std::vector<GroupMember>> ListMembers(
      const AuthorizationGroup& group) override;
  /// `login`: a sAMAccountName ("jdoe"), "DOMAIN\jdoe", or a UPN (contains
  /// '@'). `domain`, when not empty, must be this directory's NetBIOS or DNS
  /// domain name (case-insensitive), else kNotFound.
  [[nodiscard]] absl::StatusOr<DirectoryUser> FindUser(const std::string& login,
                                                       const std::string& domain) override;
  /// LDAP modify of `<GUID=group>` deleting the one `member` value
  /// `<GUID=user>`. kAlreadyRemoved when the server answers noSuchAttribute
  /// (16, OpenLDAP) or unwillingToPerform (53, Samba/AD) and the user's
  /// memberOf confirms they are not a direct member; kNeedsManualAction for
  /// the user's primary group (no request sent); kStillLicensedThrough when
  /// the user is still in a nested group of `group` afterwards.
  [[nodiscard]] absl::StatusOr<ChangeResult> RemoveMember(const AuthorizationGroup& group,
                                                          const DirectoryUser& user) override;
  /// LDAP modify adding `member: <GUID=user>`. kAlreadyMember on
  /// entryAlreadyExists (68) or when the group is the user's primary group.
  [[nodiscard]] absl::StatusOr<ChangeResult> AddMember(const AuthorizationGroup& group,
                                                       const DirectoryUser& user) override;

  struct Impl;  // libldap details, in ldap_connector.cc

 private:
  explicit LdapConnector(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace reclaim::collector
