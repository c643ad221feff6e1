#include "collector/admin/admin_roles.h"

#include "absl/strings/str_cat.h"

namespace reclaim::collector {

const char* AdminRoleName(AdminRole role) {
  switch (role) {
    case AdminRole::kViewer:
      return "viewer";
    case AdminRole::kOperator:
      return "operator";
    case AdminRole::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<AdminRole> ParseAdminRole(absl::string_view name) {
  for (AdminRole r : {AdminRole::kViewer, AdminRole::kOperator, AdminRole::kAdmin}) {
    if (name == AdminRoleName(r)) return r;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown admin role '", name, "' (use viewer, operator or admin)"));
}

const std::vector<std::pair<std::string, AdminRole>>& AdminRpcRoles() {
  using R = AdminRole;
  static const auto* const kTable = new std::vector<std::pair<std::string, AdminRole>>{
      // Usage and delivery reports.
      {"QueryUsage", R::kViewer},
      {"ListDevices", R::kViewer},
      {"ListQuarantine", R::kViewer},
      // Catalog: changing it changes what counts as use of a paid application.
      {"ListApplications", R::kViewer},
      {"AddApplication", R::kAdmin},
      {"AddApplicationRule", R::kAdmin},
      // Policies decide who may lose access: admin only.
      {"CreatePolicy", R::kAdmin},
      {"ListPolicies", R::kViewer},
      {"SetPolicyEnabled", R::kAdmin},
      // Evaluating asks the directory with the connector's service account.
      {"ListCandidates", R::kOperator},
      // Dry runs and real runs of existing (admin-made) policies.
      {"StartRun", R::kOperator},
      {"GetRun", R::kViewer},
      {"ListRuns", R::kViewer},
      {"ListAudit", R::kViewer},
      {"VerifyAudit", R::kViewer},
      // Undoing a removal gives access back; operators run removals, so they
      // may undo them.
      {"Restore", R::kOperator},
      // The kill switch stops or allows every real removal.
      {"SetKillSwitch", R::kAdmin},
      {"GetKillSwitch", R::kViewer},
      // Consent campaigns.
      {"CreateCampaign", R::kOperator},
      {"ListCampaigns", R::kViewer},
      {"ListCampaignResponses", R::kViewer},
      {"LaunchCampaign", R::kOperator},
      {"ExpireCampaign", R::kOperator},
      // Agent channel counters (input-limit refusals, ingest): read only.
      {"GetAgentChannelStats", R::kViewer},
      // Device credentials: revoking shuts a device out of uploading.
      {"RevokeDevice", R::kAdmin},
      {"ListDeviceCredentials", R::kViewer},
  };
  return *kTable;
}

std::optional<AdminRole> AdminRpcMinimumRole(absl::string_view method) {
  for (const auto& [name, role] : AdminRpcRoles()) {
    if (name == method) return role;
  }
  return std::nullopt;
}

}  // namespace reclaim::collector
