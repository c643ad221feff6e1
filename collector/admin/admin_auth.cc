#include "collector/admin/admin_auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/reclaim/audit.h"
#include "common/crypto.h"
#include "common/secret_file.h"
#include "common/sqlite_migrations.h"
#include "common/status_macros.h"
#include "common/utc_day.h"

namespace reclaim::collector {
namespace {

constexpr char kComponent[] = "admin_tokens";

// Only hashes are stored. Revoked rows stay (who had access when), so a name
// is unique among active tokens only.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE admin_tokens(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  token_sha256 TEXT NOT NULL UNIQUE,
  created_utc_ms INTEGER NOT NULL,
  revoked_utc_ms INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX admin_tokens_active_name ON admin_tokens(name) WHERE revoked_utc_ms = 0;
)sql",
};

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != '@' && c != '-') {
      return false;
    }
  }
  return true;
}

AdminTokenRecord ReadRecord(const sqlite::Statement& st) {
  AdminTokenRecord r;
  r.id = st.ColumnInt(0);
  r.name = st.ColumnText(1);
  auto role = ParseAdminRole(st.ColumnText(2));
  r.role = role.ok() ? *role : AdminRole::kViewer;
  r.created_utc_ms = st.ColumnInt(3);
  r.revoked_utc_ms = st.ColumnInt(4);
  return r;
}

constexpr char kColumns[] = "id, name, role, created_utc_ms, revoked_utc_ms";

}  // namespace

std::string AdminActor(const AdminCaller& caller, absl::string_view peer) {
  return absl::StrCat("admin:", caller.name, "(", AdminRoleName(caller.role), ")@", peer);
}

absl::StatusOr<AdminCaller> AuthorizeAdminCall(
    AdminAuthenticator& auth, absl::string_view method,
    const std::optional<absl::string_view>& authorization) {
  const std::optional<AdminRole> need = AdminRpcMinimumRole(method);
  if (!need) {
    return absl::PermissionDeniedError(absl::StrCat(
        "admin RPC ", method, " is missing from the authorization table; nobody may call it"));
  }
  if (!authorization) {
    return absl::UnauthenticatedError(
        "no admin token: reclaimctl needs --token-file FILE (owner-only) or "
        "RECLAIM_ADMIN_TOKEN; an administrator creates tokens with `reclaim-collector "
        "admin-token create --name NAME --role viewer|operator|admin`");
  }
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(*authorization, kBearer) ||
      authorization->size() == kBearer.size()) {
    return absl::UnauthenticatedError(
        "malformed authorization metadata (expected 'Bearer <admin token>')");
  }
  ASSIGN_OR_RETURN(AdminCaller caller, auth.Authenticate(authorization->substr(kBearer.size())));
  if (!RoleAllows(caller.role, *need)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "admin token '", caller.name, "' has role ", AdminRoleName(caller.role), "; ", method,
        " needs role ", AdminRoleName(*need),
        *need == AdminRole::kAdmin ? "" : " or higher"));
  }
  return caller;
}

absl::StatusOr<std::string> GenerateAdminToken() {
  ASSIGN_OR_RETURN(std::string bytes, RandomBytes(32));
  std::string encoded;
  absl::WebSafeBase64Escape(bytes, &encoded);
  WipeSecret(bytes);
  return absl::StrCat(kAdminTokenPrefix, encoded);
}

absl::StatusOr<std::unique_ptr<SqliteAdminTokenStore>> SqliteAdminTokenStore::Open(
    const std::string& path, int busy_timeout_ms) {
  if (path.empty() || path == ":memory:") {
    return absl::InvalidArgumentError("the admin token store needs a database file path");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db,
                   sqlite::Database::Open(path, /*create=*/true, busy_timeout_ms));
  RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  static_assert(std::size(kMigrations) == kSchemaVersion);
  RETURN_IF_ERROR(sqlite::MigrateComponent(*db, kComponent, kMigrations, path,
                                           "admin token store"));
  return std::unique_ptr<SqliteAdminTokenStore>(new SqliteAdminTokenStore(std::move(db)));
}

absl::StatusOr<IssuedAdminToken> SqliteAdminTokenStore::Create(const std::string& name,
                                                               AdminRole role, UtcMs now) {
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(
        "admin token name must be 1-64 characters of A-Z a-z 0-9 . _ @ -");
  }
  ASSIGN_OR_RETURN(std::string token, GenerateAdminToken());
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("INSERT INTO admin_tokens(name, role, token_sha256, "
                                "created_utc_ms) VALUES(?, ?, ?, ?)"));
  const std::string hash = Sha256Hex(token);
  absl::Status s = st.Bind(1, std::string_view(name))
                       .Bind(2, std::string_view(AdminRoleName(role)))
                       .Bind(3, std::string_view(hash))
                       .Bind(4, static_cast<std::int64_t>(now))
                       .Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "an active admin token named '", name, "' exists; revoke it first or pick another name"));
  }
  RETURN_IF_ERROR(s);
  IssuedAdminToken out;
  out.record.id = db_->LastInsertRowId();
  out.record.name = name;
  out.record.role = role;
  out.record.created_utc_ms = now;
  out.token = std::move(token);
  return out;
}

absl::StatusOr<std::vector<AdminTokenRecord>> SqliteAdminTokenStore::List() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kColumns,
                                             " FROM admin_tokens ORDER BY id")));
  std::vector<AdminTokenRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadRecord(st));
  }
  return out;
}

absl::StatusOr<AdminTokenRecord> SqliteAdminTokenStore::Revoke(const std::string& name,
                                                               UtcMs now) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("UPDATE admin_tokens SET revoked_utc_ms=? "
                                             "WHERE name=? AND revoked_utc_ms=0 RETURNING ",
                                             kColumns)));
  st.Bind(1, static_cast<std::int64_t>(now)).Bind(2, std::string_view(name));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("no active admin token named '", name, "'"));
  }
  AdminTokenRecord r = ReadRecord(st);
  st.Reset();
  return r;
}

absl::StatusOr<AdminCaller> SqliteAdminTokenStore::Authenticate(absl::string_view token) {
  // Looked up by hash: the comparison is on hashes of attacker input, so it
  // needs no constant-time compare.
  const std::string hash = Sha256Hex(std::string(token));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kColumns,
                                             " FROM admin_tokens WHERE token_sha256=?")));
  st.Bind(1, std::string_view(hash));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) {
    return absl::UnauthenticatedError(
        "unknown admin token (mistyped, forged, or made for another collector)");
  }
  const AdminTokenRecord r = ReadRecord(st);
  st.Reset();
  if (r.revoked_utc_ms != 0) {
    return absl::UnauthenticatedError(absl::StrCat("admin token '", r.name, "' was revoked at ",
                                                   FormatUtcMs(r.revoked_utc_ms)));
  }
  return AdminCaller{.name = r.name, .role = r.role};
}

}  // namespace reclaim::collector
