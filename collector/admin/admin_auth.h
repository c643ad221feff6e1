// Admin API authentication and authorization, without gRPC: bearer tokens
// (random 256-bit, "rcat_" + 43 base64url characters) of which the collector
// stores only SHA-256 hashes, each with a name and a role; and the check
// every admin RPC runs first (AuthorizeAdminCall).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "collector/admin/admin_roles.h"
#include "common/clock.h"
#include "common/sqlite.h"

namespace reclaim::collector {

/// Prefix of every admin token, so that a leaked token is recognisable
/// (secret scanners, our own test-suite log scan).
inline constexpr char kAdminTokenPrefix[] = "rcat_";

/// Who is calling: the token's name and role.
struct AdminCaller {
  std::string name;
  AdminRole role = AdminRole::kViewer;
};

/// The audit log's actor for an admin call: "admin:<name>(<role>)@<peer>",
/// e.g. "admin:alice(operator)@ipv4:127.0.0.1:53124".
std::string AdminActor(const AdminCaller& caller, absl::string_view peer);

/// Maps a presented token to its caller. Thread-safe implementations.
class AdminAuthenticator {
 public:
  virtual ~AdminAuthenticator() = default;
  /// Errors: kUnauthenticated (unknown or revoked token; the message never
  /// contains the token), kUnavailable / kInternal (store trouble).
  [[nodiscard]] virtual absl::StatusOr<AdminCaller> Authenticate(absl::string_view token) = 0;
};

/// The check at the top of every admin RPC. `method` is the short RPC name
/// ("StartRun"); `authorization` is the call's "authorization" metadata
/// ("Bearer <token>"), nullopt when absent. Errors: kUnauthenticated (no,
/// malformed, unknown or revoked token), kPermissionDenied (the token's
/// role is below the method's minimum role in AdminRpcRoles(), or the
/// method is missing from that table: fail closed). Messages name the
/// token's name, role and the role needed, never the token.
[[nodiscard]] absl::StatusOr<AdminCaller> AuthorizeAdminCall(
    AdminAuthenticator& auth, absl::string_view method,
    const std::optional<absl::string_view>& authorization);

/// One stored admin token (never the token itself).
struct AdminTokenRecord {
  std::int64_t id = 0;
  std::string name;
  AdminRole role = AdminRole::kViewer;
  UtcMs created_utc_ms = 0;
  /// 0 while active.
  UtcMs revoked_utc_ms = 0;
};

/// A new token: shown to the operator once, then only its hash is kept.
struct IssuedAdminToken {
  AdminTokenRecord record;
  std::string token;
};

/// Generates a token: kAdminTokenPrefix + base64url of 32 bytes from
/// OpenSSL's RAND_bytes. Errors: kInternal when the RNG fails.
[[nodiscard]] absl::StatusOr<std::string> GenerateAdminToken();

/// Admin tokens in the collector's SQLite database (table `admin_tokens`,
/// component "admin tokens" in schema_migrations). Thread-safe (one
/// connection under a mutex). Every Authenticate reads the table, so a
/// token revoked by another process (`reclaim-collector admin-token
/// revoke`) is refused from its next call on.
class SqliteAdminTokenStore final : public AdminAuthenticator {
 public:
  static constexpr int kSchemaVersion = 1;

  /// Opens `path` (the usage store must have created the file: it owns
  /// PRAGMA user_version). Errors: those of common/sqlite.h and migrations.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SqliteAdminTokenStore>> Open(
      const std::string& path, int busy_timeout_ms = 5000);

  /// Creates a token named `name` (1-64 characters of A-Z a-z 0-9 . _ @ -)
  /// with `role`. Errors: kInvalidArgument (bad name), kAlreadyExists (an
  /// active token has that name).
  [[nodiscard]] absl::StatusOr<IssuedAdminToken> Create(const std::string& name, AdminRole role,
                                                        UtcMs now);
  /// Every token, active and revoked, oldest first.
  [[nodiscard]] absl::StatusOr<std::vector<AdminTokenRecord>> List();
  /// Revokes the active token named `name`. Errors: kNotFound.
  [[nodiscard]] absl::StatusOr<AdminTokenRecord> Revoke(const std::string& name, UtcMs now);

  absl::StatusOr<AdminCaller> Authenticate(absl::string_view token) override;

 private:
  explicit SqliteAdminTokenStore(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
  absl::Mutex mu_;
  std::unique_ptr<sqlite::Database> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::collector
