#include "common/sqlite_migrations.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace reclaim::sqlite {

absl::Status MigrateComponent(Database& db, const std::string& component,
                              std::span<const char* const> migrations, const std::string& path,
                              const std::string& label) {
  RETURN_IF_ERROR(db.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations(component TEXT PRIMARY KEY, "
      "version INTEGER NOT NULL) WITHOUT ROWID"));
  const auto current = [&]() -> absl::StatusOr<std::int64_t> {
    ASSIGN_OR_RETURN(Statement st,
                     db.Prepare("SELECT version FROM schema_migrations WHERE component=?"));
    st.Bind(1, std::string_view(component));
    ASSIGN_OR_RETURN(bool row, st.Step());
    const std::int64_t v = row ? st.ColumnInt(0) : 0;
    st.Reset();
    return v;
  };
  const auto target = static_cast<std::int64_t>(migrations.size());
  ASSIGN_OR_RETURN(std::int64_t version, current());
  if (version > target) {
    return absl::FailedPreconditionError(absl::StrCat(
        label, " schema in ", path, " has version ", version,
        ", newer than this collector understands (", target, "); run a newer collector"));
  }
  while (version < target) {
    ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    ASSIGN_OR_RETURN(version, current());  // another process may have migrated
    if (version >= target) break;
    const std::int64_t next = version + 1;
    RETURN_IF_ERROR(db.Exec(migrations[next - 1]));
    ASSIGN_OR_RETURN(Statement st,
                     db.Prepare("INSERT INTO schema_migrations(component, version) VALUES(?, ?) "
                                "ON CONFLICT(component) DO UPDATE SET version=excluded.version"));
    RETURN_IF_ERROR(st.Bind(1, std::string_view(component)).Bind(2, next).Run());
    RETURN_IF_ERROR(tx.Commit());
    spdlog::info("{} {}: migrated schema to version {}", label, path, next);
    version = next;
  }
  return absl::OkStatus();
}

}  // namespace reclaim::sqlite
