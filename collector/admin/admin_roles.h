// Admin roles and the one table that says which role each admin RPC needs.
//
// Roles are ordered: viewer < operator < admin; a role may call every RPC
// whose minimum role is at or below it.
//   viewer:   read only (usage, devices, quarantine, catalog, policies, runs,
//             audit and its verification, kill-switch state, campaigns).
//   operator: + evaluations, dry runs and real runs, restores, campaigns
//             (create, launch, expire).
//   admin:    + catalog and policy changes, the kill switch, device
//             revocation.
// Pure: no gRPC, no I/O.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace reclaim::collector {

/// An admin token's role. Numeric order is privilege order.
enum class AdminRole { kViewer = 1, kOperator = 2, kAdmin = 3 };

/// "viewer", "operator", "admin".
const char* AdminRoleName(AdminRole role);

/// Parses a role name (case-sensitive). Errors: kInvalidArgument naming the
/// valid roles.
[[nodiscard]] absl::StatusOr<AdminRole> ParseAdminRole(absl::string_view name);

/// True when `have` may do what needs `need`.
inline bool RoleAllows(AdminRole have, AdminRole need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}

/// Every reclaim.v1.AdminService method (short name, "StartRun") with the
/// least role allowed to call it. A unit test checks that it names exactly
/// the methods of the service's descriptor, so a new RPC cannot be added
/// without deciding its role.
const std::vector<std::pair<std::string, AdminRole>>& AdminRpcRoles();

/// The least role for `method` ("StartRun"), or nullopt for a method not in
/// the table (the caller must then refuse: fail closed).
std::optional<AdminRole> AdminRpcMinimumRole(absl::string_view method);

}  // namespace reclaim::collector
