// Schema migrations for one component of a shared SQLite database, recorded
// in `schema_migrations(component, version)` (PRAGMA user_version belongs to
// the usage store, which owns the file).
#pragma once

#include <span>
#include <string>

#include "absl/status/status.h"
#include "common/sqlite.h"

namespace reclaim::sqlite {

/// Brings `component` to version migrations.size(): migration i (0-based)
/// takes the schema from version i to i + 1, each in its own transaction that
/// re-reads the version first (another process may have migrated). `label`
/// names the component in messages ("campaign store"). Errors:
/// kFailedPrecondition when the database holds a newer version than this code
/// knows; SQLite errors from common/sqlite.h.
[[nodiscard]] absl::Status MigrateComponent(Database& db, const std::string& component,
                                            std::span<const char* const> migrations,
                                            const std::string& path, const std::string& label);

}  // namespace reclaim::sqlite
