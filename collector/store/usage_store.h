// The collector's usage store: agents, ingested batches (the exactly-once
// ledger), raw focus intervals, the daily rollup per (user, application
// identity, UTC day), quarantined intervals and data-loss counters.
//
// An interface with a SQLite implementation (the embedded default, see
// sqlite_usage_store.h) and, later, a PostgreSQL one. Implementations are
// thread-safe; writes are serialised internally (one writer).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"

namespace reclaim::collector {

/// The session user as an agent reported it (reclaim.v1.SessionUser).
struct UserInfo {
  std::string login_name;
  std::string domain;
  std::string sid;
  std::optional<std::uint32_t> uid;
  std::string upn;
};

/// Cumulative data-loss counters of one agent instance (reclaim.v1.DroppedDataReport).
struct DropCounters {
  std::uint64_t dropped_batches = 0;
  std::uint64_t dropped_intervals = 0;
  std::uint64_t dropped_focus_ms = 0;
  std::uint64_t corrupt_spools = 0;
  bool operator==(const DropCounters&) const = default;
};

/// One agent instance's stream, from its Hello.
struct AgentInfo {
  std::string device_id;
  std::string agent_instance_id;
  std::string agent_version;
  std::string os_version;
  std::string hostname;
  UserInfo user;
};

/// Application identity as reported (reclaim.v1.AppIdentity).
struct AppIdentityRecord {
  std::string exe_path;
  std::string exe_name;
  std::string window_class;
  std::string package_id;
  std::string product_name;
  std::string product_version;
  std::string web_domain;
  std::string window_title;
};

/// Display key of an identity, used in reports and filters:
/// "web:<web_domain>" if set (the site is what a web application licence
/// covers), else "pkg:<package_id>" if set, else
/// "exe:<exe_path>" (or "exe:<exe_name>"), else "class:<window_class>";
/// a window class is appended as " [<class>]" for exe identities. Empty when
/// none of those fields is set (validation quarantines such intervals as
/// "missing_app").
std::string DisplayKey(const AppIdentityRecord& app);

/// A validated focus interval.
struct IntervalRecord {
  AppIdentityRecord app;
  UtcMs start_utc_ms = 0;
  std::int64_t active_duration_ms = 0;
  bool continuation = false;
};

/// An interval refused by validation.
struct QuarantineRecord {
  std::uint32_t index = 0;   ///< Position in its batch.
  std::string reason;        ///< Machine-readable reason ("start_in_future", ...).
  std::string detail;        ///< The refused interval as text, at most 4 KiB.
};

/// A batch after validation, ready to store.
struct ValidatedBatch {
  std::uint64_t seq = 0;
  std::vector<IntervalRecord> intervals;
  std::vector<QuarantineRecord> quarantined;
};

/// What happened to one batch.
enum class IngestResult { kStored, kDuplicate };

/// Filter for usage queries. Days are UTC days since 1970-01-01.
struct UsageFilter {
  std::string user;         ///< "DOMAIN\\login", "login" or UPN; empty = all.
  std::string application;  ///< Case-insensitive substring/glob of DisplayKey; empty = all.
  std::optional<std::int64_t> since_day;
  std::optional<std::int64_t> until_day;
  bool by_day = false;
};

/// One usage report row.
struct UsageRow {
  std::string user;         ///< "DOMAIN\\login".
  std::string upn;
  std::string application;  ///< DisplayKey.
  std::optional<std::int64_t> day;  ///< UTC day (days since epoch) when by_day.
  std::int64_t focus_ms = 0;
  std::int64_t sessions = 0;
  UtcMs last_seen_utc_ms = 0;
};

/// One agent instance as the collector knows it.
struct DeviceRow {
  AgentInfo agent;
  std::uint64_t acked_through_seq = 0;
  UtcMs last_seen_utc_ms = 0;
  DropCounters dropped;
  std::uint64_t quarantined_intervals = 0;
};

/// One quarantined interval.
struct QuarantineRow {
  std::string device_id;
  std::string agent_instance_id;
  std::uint64_t seq = 0;
  QuarantineRecord record;
  UtcMs received_utc_ms = 0;
};

/// The store's persistent data-protection counters.
struct StoreCounters {
  /// Quarantine rows deleted by the quarantine cap (oldest first).
  std::uint64_t quarantine_dropped = 0;
  /// Focus time not credited because it overlapped focus time already stored
  /// for the same device and user, ms; and the intervals concerned.
  std::uint64_t overlap_clipped_ms = 0;
  std::uint64_t overlap_clipped_intervals = 0;
};

/// Storage for usage. All methods are thread-safe.
class UsageStore {
 public:
  virtual ~UsageStore() = default;

  /// Records (or refreshes) an agent instance from its Hello and returns the
  /// highest seq stored for it (0 if none), which the collector acks at once.
  [[nodiscard]] virtual absl::StatusOr<std::uint64_t> RegisterAgent(
      const AgentInfo& agent, UtcMs now) = 0;

  /// Stores batches of one agent instance atomically, in one transaction
  /// (group commit), durably before returning. A batch whose seq is already
  /// stored for the instance is skipped (kDuplicate) and changes nothing.
  /// Returns one result per batch, in order. Errors leave nothing stored.
  [[nodiscard]] virtual absl::StatusOr<std::vector<IngestResult>> Ingest(
      const AgentInfo& agent, std::span<const ValidatedBatch> batches, UtcMs now) = 0;

  /// Ingest for several agent instances in one transaction. Results are per
  /// batch, in the order given.
  struct AgentBatches {
    const AgentInfo* agent;
    std::span<const ValidatedBatch> batches;
  };
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::vector<IngestResult>>> IngestMany(
      std::span<const AgentBatches> work, UtcMs now) = 0;

  /// Raises the instance's data-loss counters to `counters` (field-wise max:
  /// the agent's counters are cumulative, so reports are idempotent).
  [[nodiscard]] virtual absl::Status RecordDropped(const AgentInfo& agent,
                                                   const DropCounters& counters,
                                                   UtcMs now) = 0;

  /// Focus time from the daily rollup matching `filter`, one row per (user,
  /// application) summed over the day range, or per (user, application, day)
  /// when by_day; sorted by user, application, then day.
  [[nodiscard]] virtual absl::StatusOr<std::vector<UsageRow>> QueryUsage(
      const UsageFilter& filter) = 0;
  /// Every agent instance known, with its delivery state and counters.
  [[nodiscard]] virtual absl::StatusOr<std::vector<DeviceRow>> ListDevices() = 0;
  /// Quarantined intervals, newest first, at most `limit`.
  [[nodiscard]] virtual absl::StatusOr<std::vector<QuarantineRow>> ListQuarantine(
      int limit) = 0;
  /// Persistent counters; a store that keeps none returns zeros.
  [[nodiscard]] virtual absl::StatusOr<StoreCounters> Counters() { return StoreCounters{}; }
};

}  // namespace reclaim::collector
