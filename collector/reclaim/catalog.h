// The application catalog: an application ("Salesforce Lightning", "Visio",
// "GIMP") is a set of rules over the identities agents report. Matching is
// pure and applied at query time (the usage store keeps raw identities), so
// fixing a rule fixes history.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collector/store/usage_store.h"

namespace reclaim::collector {

/// What a rule looks at in a reported identity (AppIdentityRecord).
enum class RuleKind {
  kExe,      ///< "exe": file name of the executable (exe_name, or the last path component).
  kPath,     ///< "path": full executable path (exe_path).
  kPackage,  ///< "package": Flatpak app id or Snap name (package_id).
  kClass,    ///< "class": X11 WM_CLASS (window_class).
  kWeb,      ///< "web": web domain (web_domain), e.g. "*.lightning.force.com".
  kProduct,  ///< "product": Windows version-resource product name (product_name).
};

/// "exe", "path", ... Parse errors: kInvalidArgument listing the kinds.
const char* RuleKindName(RuleKind kind);
[[nodiscard]] absl::StatusOr<RuleKind> ParseRuleKind(const std::string& name);

/// One catalog rule: `pattern` is a glob over the field named by `kind`.
struct ApplicationRule {
  RuleKind kind = RuleKind::kExe;
  /// Glob: '*' matches any run of characters (also '/' and '.'), '?' exactly
  /// one; everything else literally. ASCII letters compare case-insensitively
  /// (Windows file names and DNS names are case-insensitive; on Linux a
  /// case-only difference between two applications is not worth a rule).
  std::string pattern;
  bool operator==(const ApplicationRule&) const = default;
};

/// Validates a rule. Errors: kInvalidArgument for an empty pattern, a
/// pattern over 1024 bytes, or a pattern that is only '*' (it would claim
/// every application).
[[nodiscard]] absl::Status ValidateRule(const ApplicationRule& rule);

/// An application of the catalog.
struct Application {
  std::int64_t id = 0;
  std::string name;
  /// License cost per seat and month in the currency's minor unit (cents);
  /// 0 = unknown.
  std::int64_t cost_cents_per_seat_month = 0;
  /// ISO 4217 code ("EUR", "USD"); empty when cost is unknown.
  std::string currency;
  std::vector<ApplicationRule> rules;
};

/// Glob match as described at ApplicationRule::pattern.
bool GlobMatch(const std::string& pattern, const std::string& text);

/// Whether `rule` matches `identity`. An empty identity field never matches.
bool RuleMatches(const ApplicationRule& rule, const AppIdentityRecord& identity);

/// Whether any of `app`'s rules matches `identity`.
bool ApplicationMatches(const Application& app, const AppIdentityRecord& identity);

}  // namespace reclaim::collector
