// The directory connector: how a reclamation run reads an authorization
// group and removes (or restores) one member, which releases (or re-grants)
// the license. Implementations: Active Directory over LDAP
// (collector/connectors/ldap/), Entra ID over Microsoft Graph (later).
//
// Contract for every implementation:
// - Members and groups are addressed by the directory's immutable id
//   (AD objectGUID, Entra object id), never by comparing names or DNs
//   (servers re-escape DNs; users get renamed).
// - RemoveMember/AddMember are idempotent: removing a member that is already
//   gone is kAlreadyRemoved (success), adding one that is present is
//   kAlreadyMember (success).
// - A member who keeps the license another way is reported, not counted as
//   reclaimed: kNeedsManualAction (the group is the user's primary group in
//   AD, so `member` does not list them) or kStillLicensedThrough (also a
//   member through a nested group).
// - Errors: kUnavailable (directory unreachable, busy: retry later),
//   kUnauthenticated / kPermissionDenied (bind or rights), kNotFound (no such
//   group or user), kFailedPrecondition (a group the connector must not change,
//   e.g. dynamic membership), kInvalidArgument (bad reference). No partial
//   effects on error.
// Implementations are not required to be thread-safe: one run uses one
// connector from one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace reclaim::collector {

/// A user as the directory knows it.
struct DirectoryUser {
  /// Immutable id: AD objectGUID as text ("c0a8...-..."), Entra object id.
  std::string object_id;
  /// AD sAMAccountName ("jdoe"); empty for cloud-only users.
  std::string sam_account_name;
  /// NetBIOS domain ("EXAMPLE") of sam_account_name; empty when unknown.
  std::string domain;
  /// userPrincipalName ("jdoe@example.com").
  std::string upn;
  /// objectSid as text ("S-1-5-21-...").
  std::string sid;
  /// Distinguished name, for display only (never compared).
  std::string dn;
  std::string display_name;
  /// False when the account is disabled.
  bool enabled = true;
};

/// How a user belongs to the group.
enum class MembershipKind {
  kDirect,        ///< A value of the group's `member` attribute (removable).
  kNested,        ///< Only through a nested group (`via_group` names it).
  kPrimaryGroup,  ///< AD primaryGroupID points at the group (not in `member`).
};

/// One member of an authorization group (users only; nested groups are
/// expanded to their users).
struct GroupMember {
  DirectoryUser user;
  MembershipKind kind = MembershipKind::kDirect;
  /// For kNested: display name (or DN) of the nested group the user is in.
  std::string via_group;
  /// Also a member through this nested group (display name) although kind
  /// is kDirect (or kPrimaryGroup): removing the direct membership will not
  /// release the license.
  std::optional<std::string> also_via_group;
};

/// The group itself.
struct AuthorizationGroup {
  std::string object_id;
  std::string display_name;
  std::string dn;
  std::int64_t direct_member_count = 0;
};

/// Result of one change.
enum class ChangeOutcome {
  kRemoved,
  kAlreadyRemoved,
  kAdded,
  kAlreadyMember,
  kNeedsManualAction,      ///< The group is the user's primary group.
  kStillLicensedThrough,   ///< Removed directly but still a member via `detail`.
};

struct ChangeResult {
  ChangeOutcome outcome = ChangeOutcome::kRemoved;
  /// Human-readable detail ("still licensed through CN=Design,...").
  std::string detail;
  /// The request as sent, for the audit log (no secrets), e.g.
  /// "LDAP modify <GUID=...>: delete member <GUID=...>".
  std::string request;
};

/// Name of an outcome ("removed", "already_removed", ...).
const char* ChangeOutcomeName(ChangeOutcome outcome);

class DirectoryConnector {
 public:
  virtual ~DirectoryConnector() = default;
  /// Connector kind, "ad" or "entra".
  virtual std::string kind() const = 0;
  /// Finds a group by reference: its object id, its DN, or its
  /// sAMAccountName / display name.
  [[nodiscard]] virtual absl::StatusOr<AuthorizationGroup> GetGroup(const std::string& ref) = 0;
  /// Every user member of the group (direct, nested, primary group), each
  /// once; a user both direct and nested is kDirect with also_via_group set.
  [[nodiscard]] virtual absl::StatusOr<std::vector<GroupMember>> ListMembers(
      const AuthorizationGroup& group) = 0;
  /// Finds a user by sAMAccountName (and domain, when given) or UPN.
  [[nodiscard]] virtual absl::StatusOr<DirectoryUser> FindUser(const std::string& login,
                                                               const std::string& domain) = 0;
  /// Removes the user's direct membership. Idempotent (see file comment).
  [[nodiscard]] virtual absl::StatusOr<ChangeResult> RemoveMember(const AuthorizationGroup& group,
                                                                  const DirectoryUser& user) = 0;
  /// Re-adds the user as a direct member (restore). Idempotent.
  [[nodiscard]] virtual absl::StatusOr<ChangeResult> AddMember(const AuthorizationGroup& group,
                                                               const DirectoryUser& user) = 0;
};

}  // namespace reclaim::collector
