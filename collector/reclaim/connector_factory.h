// Builds DirectoryConnectors by name from configuration. The collector's
// config names each connector and its kind:
//
//   [connectors.corp-ad]
//   kind = "ad"                # which builder makes it
//   url = "ldaps://dc1.example.com"   # every other key is kind-specific
//
// main.cc registers one builder per kind (RegisterKind) and adds the
// configured connectors (AddConnector); a run then Creates a fresh connector
// instance (connectors are not required to be thread-safe, so each run,
// dry run or restore gets its own).
//
// Hook for the LDAP connector: register kind "ad" with a builder that reads
// its settings (url, bind_dn, password_file, ca_file, base_dn, ...) from
// ConnectorConfig::settings and returns the LdapConnector.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/connectors/connector.h"

namespace reclaim::collector {

/// One configured connector.
struct ConnectorConfig {
  std::string name;  ///< Key under [connectors], referenced by policies.
  std::string kind;  ///< "ad", "entra", "file", ...
  /// Every other key of the section, as text (secrets are file paths or
  /// environment variable names, never the secret itself).
  std::map<std::string, std::string> settings;
};

/// Makes a connector from its config. Errors: kInvalidArgument for bad
/// settings; kUnavailable etc. when it must connect at once. Must be
/// thread-safe (called from admin RPC threads and the scheduler thread).
using ConnectorBuilder =
    std::function<absl::StatusOr<std::unique_ptr<DirectoryConnector>>(const ConnectorConfig&)>;

/// Thread-safe registry of builders and configured connectors.
class ConnectorFactory {
 public:
  /// Registers the builder of a kind (replaces an earlier one).
  void RegisterKind(const std::string& kind, ConnectorBuilder builder);
  /// Adds a configured connector. Errors: kInvalidArgument for an empty
  /// name, an unknown kind (listing the known kinds) or a duplicate name.
  [[nodiscard]] absl::Status AddConnector(const ConnectorConfig& config);
  /// A fresh instance of the named connector. Errors: kNotFound naming the
  /// configured connectors; the builder's errors.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<DirectoryConnector>> Create(
      const std::string& name) const;
  /// Whether a connector of that name is configured.
  bool Has(const std::string& name) const;
  /// Names of the configured connectors, sorted.
  std::vector<std::string> Names() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, ConnectorBuilder> builders_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ConnectorConfig> connectors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::collector
