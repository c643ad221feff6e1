#include "collector/reclaim/connector_factory.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace reclaim::collector {

void ConnectorFactory::RegisterKind(const std::string& kind, ConnectorBuilder builder) {
  absl::MutexLock l(&mu_);
  builders_[kind] = std::move(builder);
}

absl::Status ConnectorFactory::AddConnector(const ConnectorConfig& config) {
  absl::MutexLock l(&mu_);
  if (config.name.empty()) return absl::InvalidArgumentError("connector name is empty");
  if (!builders_.contains(config.kind)) {
    std::vector<std::string> kinds;
    for (const auto& [k, b] : builders_) kinds.push_back(k);
    return absl::InvalidArgumentError(
        absl::StrCat("connector '", config.name, "': unknown kind '", config.kind,
                     "' (known: ", absl::StrJoin(kinds, ", "), ")"));
  }
  if (!connectors_.emplace(config.name, config).second) {
    return absl::InvalidArgumentError(absl::StrCat("connector '", config.name, "' is defined twice"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DirectoryConnector>> ConnectorFactory::Create(
    const std::string& name) const {
  ConnectorBuilder builder;
  ConnectorConfig config;
  {
    absl::MutexLock l(&mu_);
    const auto it = connectors_.find(name);
    if (it == connectors_.end()) {
      std::vector<std::string> names;
      for (const auto& [n, c] : connectors_) names.push_back(n);
      return absl::NotFoundError(absl::StrCat(
          "no connector named '", name, "' (configured: ",
          names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
    config = it->second;
    builder = builders_.at(config.kind);
  }
  return builder(config);
}

bool ConnectorFactory::Has(const std::string& name) const {
  absl::MutexLock l(&mu_);
  return connectors_.contains(name);
}

std::vector<std::string> ConnectorFactory::Names() const {
  absl::MutexLock l(&mu_);
  std::vector<std::string> out;
  for (const auto& [n, c] : connectors_) out.push_back(n);
  return out;
}

}  // namespace reclaim::collector
