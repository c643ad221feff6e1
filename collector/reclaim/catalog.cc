#include "collector/reclaim/catalog.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace reclaim::collector {

const char* RuleKindName(RuleKind kind) {
  switch (kind) {
    case RuleKind::kExe: return "exe";
    case RuleKind::kPath: return "path";
    case RuleKind::kPackage: return "package";
    case RuleKind::kClass: return "class";
    case RuleKind::kWeb: return "web";
    case RuleKind::kProduct: return "product";
  }
  return "?";
}

absl::StatusOr<RuleKind> ParseRuleKind(const std::string& name) {
  for (RuleKind k : {RuleKind::kExe, RuleKind::kPath, RuleKind::kPackage, RuleKind::kClass,
                     RuleKind::kWeb, RuleKind::kProduct}) {
    if (absl::AsciiStrToLower(name) == RuleKindName(k)) return k;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown rule kind '", name, "' (expected exe, path, package, class, web or product)"));
}

absl::Status ValidateRule(const ApplicationRule& rule) {
  if (rule.pattern.empty()) return absl::InvalidArgumentError("rule pattern is empty");
  if (rule.pattern.size() > 1024) {
    return absl::InvalidArgumentError("rule pattern is longer than 1024 bytes");
  }
  if (rule.pattern.find_first_not_of('*') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("rule pattern '", rule.pattern, "' would match every application"));
  }
  return absl::OkStatus();
}

bool GlobMatch(const std::string& pattern, const std::string& text) {
  // Iterative glob with single-star backtracking: O(|p| * |t|) worst case.
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() &&
               (pattern[p] == '?' ||
                absl::ascii_tolower(static_cast<unsigned char>(pattern[p])) ==
                    absl::ascii_tolower(static_cast<unsigned char>(text[t])))) {
      ++p;
      ++t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {
std::string ExeName(const AppIdentityRecord& id) {
  if (!id.exe_name.empty()) return id.exe_name;
  const size_t slash = id.exe_path.find_last_of("/\\");
  return slash == std::string::npos ? id.exe_path : id.exe_path.substr(slash + 1);
}
}  // namespace

bool RuleMatches(const ApplicationRule& rule, const AppIdentityRecord& id) {
  std::string field;
  switch (rule.kind) {
    case RuleKind::kExe: field = ExeName(id); break;
    case RuleKind::kPath: field = id.exe_path; break;
    case RuleKind::kPackage: field = id.package_id; break;
    case RuleKind::kClass: field = id.window_class; break;
    case RuleKind::kWeb: field = id.web_domain; break;
    case RuleKind::kProduct: field = id.product_name; break;
  }
  return !field.empty() && GlobMatch(rule.pattern, field);
}

bool ApplicationMatches(const Application& app, const AppIdentityRecord& id) {
  for (const ApplicationRule& r : app.rules) {
    if (RuleMatches(r, id)) return true;
  }
  return false;
}

}  // namespace reclaim::collector
