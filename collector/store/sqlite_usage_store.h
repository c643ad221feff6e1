// The embedded SQLite implementation of UsageStore (the collector's default).
//
// Durability and concurrency: WAL journal, synchronous=FULL (a commit is on
// disk before Ingest returns, so the collector may ack as soon as it returns),
// a busy timeout, foreign keys on. One writer: a single read-write connection
// guarded by a mutex serves every write (RegisterAgent, Ingest, IngestMany,
// RecordDropped). Reports (QueryUsage, ListDevices, ListQuarantine) run on a
// second, query-only connection under its own mutex, so an admin report never
// stalls ingest (WAL lets a reader see the last committed state while the
// writer works).
//
// Schema (version kSchemaVersion, kept in PRAGMA user_version; migrations run
// at Open, each in its own transaction):
//   users        id, domain, login_name, sid, uid, upn, first/last_seen_utc_ms;
//                unique (lower(domain), lower(login_name)).
//   identities   id, the eight AppIdentity fields, display_key; unique on the
//                eight fields.
//   agents       id, device_id, agent_instance_id, hostname, agent_version,
//                os_version, user_id, acked_through_seq, first/last_seen_utc_ms,
//                dropped_batches/intervals/focus_ms, corrupt_spools,
//                quarantined_intervals; unique (device_id, agent_instance_id).
//   batches      (agent_id, seq) primary key: the exactly-once ledger, with
//                received_utc_ms, interval and quarantined counts. agent_id
//                stands for (device_id, agent_instance_id), one to one.
//   intervals    raw focus intervals: id, agent_id, user_id, identity_id,
//                start_utc_ms, duration_ms, continuation. The hot insert path:
//                no secondary index and no foreign-key clauses (agents,
//                batches, daily_usage and quarantine declare theirs); rows are
//                appended in arrival order.
//   daily_usage  (user_id, identity_id, day) primary key, day = UTC days since
//                1970-01-01; focus_ms, sessions, last_seen_utc_ms.
//   quarantine   id, agent_id, seq, idx, reason, detail, received_utc_ms;
//                capped at max_quarantine_rows (oldest deleted, counted).
//   focus_cover  (device_id, user_id, start_utc_ms) primary key, end_utc_ms:
//                the spans already credited per device and user (version 2).
//   store_counters  name primary key, value: quarantine_dropped,
//                overlap_clipped_ms, overlap_clipped_intervals (version 2).
//
// Overlap rule (when clip_overlaps is on): one user on one device has one foreground window at a time,
// so focus time of a (device_id, user) can never overlap itself. Of each
// interval only the part not yet covered for its (device_id, user) is
// stored and credited (split into pieces around covered spans, later pieces
// marked continuation); the rest is counted in overlap_clipped_ms and
// overlap_clipped_intervals. A replayed or forged overlapping interval (from
// the same or another agent instance of the device) thus cannot inflate
// usage, and an agent whose wall clock was stepped back loses only the
// doubly-stamped part. Different devices of one user may overlap (a user can
// keep a window in front on two machines).
//
// Rollup rules: an interval crossing UTC midnight is split across the days it
// touches, to the millisecond; a session is counted (on the start day) for
// each interval whose continuation flag is false; a day's last_seen_utc_ms is
// the latest end of focus within that day.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "collector/store/usage_store.h"
#include "common/sqlite.h"

namespace reclaim::collector {

/// Options for SqliteUsageStore::Open; every field documents its default.
struct SqliteUsageStoreOptions {
  /// Path of the database file; created with its schema when missing.
  /// Required (no default). ":memory:" is refused: reports use a second
  /// connection that must see the same database.
  std::string path;
  /// How long a statement waits for a lock held by another process, ms.
  /// Default 5000.
  int busy_timeout_ms = 5000;
  /// Cap on the database size, bytes (rounded down to whole pages, never below
  /// the current size); writes that would grow past it fail with
  /// kResourceExhausted, as on a full disk. 0 = no cap (SQLite's own limit).
  /// Default 0.
  std::int64_t max_size_bytes = 0;
  /// Most application identities whose row ids are cached in memory; the cache
  /// is emptied when it would grow past this. Default 100,000.
  std::size_t identity_cache_capacity = 100000;
  /// Most rows kept in the quarantine table; beyond it the oldest rows are
  /// deleted in the same transaction and counted (StoreCounters::
  /// quarantine_dropped). 0 = no cap. Default 100,000.
  std::int64_t max_quarantine_rows = 100000;
  /// Applies the overlap rule (file comment) when true. The collector turns
  /// it on (`--clip-overlapping-focus`, default true); off here so that
  /// tests of other rules may use overlapping fixtures. Coverage is recorded
  /// only while on. Default false.
  bool clip_overlaps = false;
  /// Longest interval the store is given, ms (ValidationLimits::
  /// max_duration_ms); bounds the overlap rule's look-back. Default 24 h.
  std::int64_t max_interval_ms = 24LL * 3600 * 1000;
};

/// UsageStore on SQLite. Owned by the collector; thread-safe (see the file
/// comment for the connection model).
class SqliteUsageStore final : public UsageStore {
 public:
  /// Schema version this code writes and understands (PRAGMA user_version).
  static constexpr int kSchemaVersion = 2;

  /// Opens (creating if missing) the store at `options.path` and migrates its
  /// schema to kSchemaVersion. Errors: kInvalidArgument for an empty or
  /// ":memory:" path; kFailedPrecondition when the file's schema is newer
  /// than kSchemaVersion (written by a newer collector: upgrade, do not
  /// retry); kDataLoss when the file is not an SQLite database or is
  /// corrupt; kUnavailable / kPermissionDenied when it cannot be opened.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SqliteUsageStore>> Open(
      const SqliteUsageStoreOptions& options);

  ~SqliteUsageStore() override;
  SqliteUsageStore(const SqliteUsageStore&) = delete;
  SqliteUsageStore& operator=(const SqliteUsageStore&) = delete;

  /// See UsageStore. Also refreshes the user's sid, uid and UPN (a non-empty
  /// reported value replaces the stored one). Errors: kInvalidArgument when
  /// device_id, agent_instance_id, user login or domain is empty; storage
  /// errors as below.
  [[nodiscard]] absl::StatusOr<std::uint64_t> RegisterAgent(const AgentInfo& agent,
                                                            UtcMs now) override;

  /// See UsageStore; same as IngestMany with one entry.
  [[nodiscard]] absl::StatusOr<std::vector<IngestResult>> Ingest(
      const AgentInfo& agent, std::span<const ValidatedBatch> batches, UtcMs now) override;

  /// See UsageStore. One transaction and one durable commit (one fsync) for
  /// the whole call, so callers should gather the batches that arrived from
  /// all streams during a short window and store them in one call. An agent
  /// instance not yet registered is registered on the way. Per interval the
  /// work is a row in a multi-row INSERT plus in-memory look-ups (identity,
  /// user and agent row ids are cached); per batch, one ledger INSERT; per
  /// agent entry, one UPDATE; the daily rollup is summed in memory and
  /// upserted once per (user, identity, day) touched, in key order.
  /// Errors (nothing is stored, in-memory caches are dropped): kInvalidArgument
  /// for a null agent, an agent with an empty key or user, or a seq of 0 or
  /// above 2^63-1 (checked before any write); kResourceExhausted when the disk
  /// (or max_size_bytes) is full; kUnavailable when the database is locked by
  /// another process past the busy timeout or on an I/O error; kDataLoss when
  /// the file is corrupt.
  [[nodiscard]] absl::StatusOr<std::vector<std::vector<IngestResult>>> IngestMany(
      std::span<const AgentBatches> work, UtcMs now) override;

  /// See UsageStore. Registers the instance when it is unknown. Counters above
  /// 2^63-1 are stored as 2^63-1. Errors as for RegisterAgent.
  [[nodiscard]] absl::Status RecordDropped(const AgentInfo& agent, const DropCounters& counters,
                                           UtcMs now) override;

  /// See UsageStore and UsageFilter. User match: "DOMAIN\\login" compares
  /// domain and login; any other text compares the login or the UPN.
  /// Application match: the display key contains the text, where '*' matches
  /// any run of characters ('%' and '_' are literal). Both are
  /// case-insensitive for ASCII letters only (SQLite's lower()). Rows are
  /// sorted by user ("DOMAIN\\login"), application, then day.
  [[nodiscard]] absl::StatusOr<std::vector<UsageRow>> QueryUsage(
      const UsageFilter& filter) override;

  /// Every agent instance, sorted by device_id then agent_instance_id.
  [[nodiscard]] absl::StatusOr<std::vector<DeviceRow>> ListDevices() override;

  /// See UsageStore. Errors: kInvalidArgument when `limit` < 0.
  [[nodiscard]] absl::StatusOr<std::vector<QuarantineRow>> ListQuarantine(int limit) override;
  [[nodiscard]] absl::StatusOr<StoreCounters> Counters() override;

  /// Current size of the database, bytes (page count times page size,
  /// including pages still in the WAL).
  [[nodiscard]] absl::StatusOr<std::int64_t> SizeBytes();

  /// Sets the size cap as SqliteUsageStoreOptions::max_size_bytes does (0 =
  /// no cap). Takes effect for the next write.
  [[nodiscard]] absl::Status SetMaxSizeBytes(std::int64_t bytes);

 private:
  struct Statements;
  // Key of the agent cache: (device_id, agent_instance_id).
  using AgentKey = std::pair<std::string, std::string>;
  // Key of the user cache: (lower(domain), lower(login_name)).
  using UserKey = std::pair<std::string, std::string>;
  struct IdentityHash {
    std::size_t operator()(const AppIdentityRecord& a) const;
  };
  struct IdentityEq {
    bool operator()(const AppIdentityRecord& a, const AppIdentityRecord& b) const;
  };

  SqliteUsageStore(SqliteUsageStoreOptions options, std::unique_ptr<sqlite::Database> writer,
                   std::unique_ptr<Statements> statements,
                   std::unique_ptr<sqlite::Database> reader);

  // Row id and stored acked_through_seq of an agent instance.
  struct AgentRow {
    std::int64_t id = 0;
    std::int64_t acked_through_seq = 0;
  };

  // The helpers below require mu_ and an open transaction. The *IdLocked ones
  // answer from the in-memory caches when they can; the Upsert*Locked ones
  // always write (refreshing the row from what the agent reported) and update
  // the caches.
  absl::StatusOr<std::int64_t> UpsertUserLocked(const UserInfo& user, UtcMs now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::int64_t> UserIdLocked(const UserInfo& user, UtcMs now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<AgentRow> UpsertAgentLocked(const AgentInfo& agent, UtcMs now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::int64_t> AgentIdLocked(const AgentInfo& agent, UtcMs now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::int64_t> IdentityIdLocked(const AppIdentityRecord& app)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The body of IngestMany, inside its transaction.
  absl::StatusOr<std::vector<std::vector<IngestResult>>> IngestLocked(
      std::span<const AgentBatches> work, UtcMs now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The parts of `iv` not covered by focus_cover for (device_id, user_id), in
  // time order; the first keeps iv's continuation flag, later ones are
  // continuations.
  absl::StatusOr<std::vector<IntervalRecord>> UncoveredPiecesLocked(const std::string& device_id,
                                                                    std::int64_t user_id,
                                                                    const IntervalRecord& iv)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AddCounterLocked(const char* name, std::int64_t delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets every cached row id (after a rollback they may name rows that no
  // longer exist).
  void DropCachesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SqliteUsageStoreOptions options_;

  absl::Mutex mu_;
  std::unique_ptr<sqlite::Database> db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Statements> st_ ABSL_GUARDED_BY(mu_);
  // SQLite's max_page_count before any cap, restored by SetMaxSizeBytes(0).
  std::int64_t default_max_page_count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<UserKey, std::int64_t> user_ids_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<AgentKey, std::int64_t> agent_ids_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<AppIdentityRecord, std::int64_t, IdentityHash, IdentityEq> identity_ids_
      ABSL_GUARDED_BY(mu_);

  absl::Mutex read_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::unique_ptr<sqlite::Database> reader_ ABSL_GUARDED_BY(read_mu_);
};

}  // namespace reclaim::collector
