// A thin RAII layer over the SQLite C API that reports errors as absl::Status.
//
// A Database is one connection; it is not thread-safe and belongs to one
// owning thread (or is guarded by its owner's mutex). Statements belong to
// their Database and must not outlive it.
//
// Status codes: SQLITE_BUSY/LOCKED -> kUnavailable (retry later);
// SQLITE_FULL/IOERR -> kResourceExhausted / kUnavailable (disk trouble);
// SQLITE_CORRUPT/NOTADB -> kDataLoss; constraint violations -> kAlreadyExists;
// anything else -> kInternal. Messages carry SQLite's own error text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace reclaim::sqlite {

/// Maps an SQLite result code (and the connection's message) to a Status.
absl::Status ToStatus(int rc, sqlite3* db, std::string_view context);

class Statement;

/// One SQLite connection.
class Database {
 public:
  /// Opens (creating if `create`) the database file at `path` (":memory:" for
  /// an in-memory one) with a busy timeout. Errors: kDataLoss if the file is
  /// not a database; kUnavailable/kPermissionDenied style errors otherwise.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Database>> Open(
      const std::string& path, bool create = true, int busy_timeout_ms = 5000);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// Runs one or more SQL statements that return no rows.
  [[nodiscard]] absl::Status Exec(std::string_view sql);
  /// Compiles one statement.
  [[nodiscard]] absl::StatusOr<Statement> Prepare(std::string_view sql);
  /// Reads a single integer (e.g. "PRAGMA user_version").
  [[nodiscard]] absl::StatusOr<std::int64_t> QueryInt(std::string_view sql);
  /// Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t Changes() const;
  std::int64_t LastInsertRowId() const;

  sqlite3* raw() const { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

/// A prepared statement. Bind indexes start at 1, column indexes at 0.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept;
  ~Statement();

  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);

  /// Steps once. Returns true when a row is available, false when done.
  [[nodiscard]] absl::StatusOr<bool> Step();
  /// Steps to completion, expecting no rows, then resets.
  [[nodiscard]] absl::Status Run();
  /// Resets for re-execution and clears bindings.
  void Reset();

  std::int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;
  std::string ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

/// A transaction that rolls back unless Commit() succeeded.
class Transaction {
 public:
  /// Starts BEGIN IMMEDIATE (takes the write lock at once).
  [[nodiscard]] static absl::StatusOr<Transaction> Begin(Database& db);
  Transaction(Transaction&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  [[nodiscard]] absl::Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;
};

}  // namespace reclaim::sqlite
