// The agent's spool: a SQLite outbox of usage batches, the local source of
// truth between the meter and the collector (store-and-forward, as osquery's
// buffered log forwarder).
//
// - WAL journal, synchronous=FULL: an Append that returned OK survives a power
//   cut.
// - Each batch gets the next sequence number of this spool's agent instance
//   (a random id made when the spool is created); seq never repeats.
// - A batch is deleted only by AckThrough(), after the collector acknowledged it.
// - Size cap: when the stored payload would exceed max_bytes, the oldest batches
//   are dropped first and the exact number of batches, intervals and focus ms
//   dropped is added to cumulative counters, persisted in the same transaction
//   and reported to the collector.
// - A spool file that SQLite finds corrupt is set aside (renamed, never
//   deleted) and a new spool with a new instance id is started; the event is
//   counted in DropCounters::corrupt_spools and logged as an error.
// - Key/value metadata (e.g. a replay cursor) can be written in the same
//   transaction as a batch, so both survive a crash together or not at all.
// - Campaign prompts (schema version 2): a received prompt is stored before
//   anything acts on it, together with its "delivered" result; results
//   ("displayed", "answered:<answer>", ...) wait in command_results until the
//   collector acks each one, so a restart or an outage loses nothing. Payloads
//   are opaque here (an encoded reclaim.v1.Command).
//
// Thread-safe: one connection guarded by a mutex (the meter thread appends,
// the uplink reads and acks).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/sqlite.h"

namespace reclaim::agent {

/// Options; every field documents its default.
struct SpoolOptions {
  /// Path of the SQLite file. Required.
  std::string path;
  /// Cap on the stored batch payloads, bytes. Default 64 MiB.
  std::int64_t max_bytes = 64LL << 20;
};

/// Cumulative data-loss counters of this agent instance.
struct SpoolDropCounters {
  std::uint64_t dropped_batches = 0;
  std::uint64_t dropped_intervals = 0;
  std::uint64_t dropped_focus_ms = 0;
  std::uint64_t corrupt_spools = 0;
  bool operator==(const SpoolDropCounters&) const = default;
};

/// One stored batch.
struct SpoolEntry {
  std::uint64_t seq = 0;
  /// Encoded batch (an encoded reclaim.v1.UsageBatch without its seq).
  std::string payload;
  std::int64_t intervals = 0;
  std::int64_t focus_ms = 0;
};

/// A campaign prompt received from the collector.
struct SpoolPrompt {
  /// The collector's command id ("prompt-<n>"); unique.
  std::string command_id;
  /// Encoded reclaim.v1.Command.
  std::string payload;
  /// When the prompt stops being valid, ms since the epoch (UTC); 0 = never.
  std::int64_t expires_utc_ms = 0;
  /// When this agent stored it (UTC ms); set by the spool.
  std::int64_t received_utc_ms = 0;
};

/// A result waiting for the collector's CommandResultAck.
struct SpoolCommandResult {
  std::string command_id;
  /// "delivered", "displayed", "answered:<answer>", "declined", "postponed".
  std::string outcome;
  std::int64_t completed_utc_ms = 0;
};

/// What one Append adds.
struct SpoolBatch {
  std::string payload;
  std::int64_t intervals = 0;
  std::int64_t focus_ms = 0;
};

class Spool {
 public:
  /// Opens or creates the spool; `clock` must outlive it. A corrupt file is set aside as
  /// "<path>.corrupt-<utc ms>" and replaced (logged as an error). Errors:
  /// kUnavailable / kPermissionDenied when the file cannot be opened or
  /// created at all; kFailedPrecondition for a spool from a newer agent.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Spool>> Open(const SpoolOptions& options,
                                                                   const Clock& clock);

  /// Random id of this spool's agent instance (UUID text).
  const std::string& instance_id() const { return instance_id_; }

  /// Stores a batch (if `batch` is set) and writes `meta` key/values, in one
  /// durable transaction. Returns the batch's seq (0 when no batch). Drops the
  /// oldest batches first if the cap requires it. Errors: kResourceExhausted
  /// when the disk is full (nothing is written; the caller keeps its data and
  /// retries), kInvalidArgument for a batch larger than the cap itself.
  [[nodiscard]] absl::StatusOr<std::uint64_t> Append(
      const std::optional<SpoolBatch>& batch,
      const std::map<std::string, std::string>& meta = {});

  /// Up to `max` batches with seq > `after_seq`, in seq order.
  [[nodiscard]] absl::StatusOr<std::vector<SpoolEntry>> ReadAfter(std::uint64_t after_seq,
                                                                  size_t max);

  /// Deletes every batch with seq <= `seq` (the collector stored them).
  [[nodiscard]] absl::Status AckThrough(std::uint64_t seq);

  /// A metadata value, or nullopt.
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> GetMeta(const std::string& key);

  /// Stores a received prompt and queues its "delivered" result, in one
  /// transaction. Returns false (and changes nothing) when a prompt with that
  /// command id is already stored (the collector may send it twice).
  [[nodiscard]] absl::StatusOr<bool> StorePrompt(const SpoolPrompt& prompt);
  /// Prompts without a final outcome yet, oldest first.
  [[nodiscard]] absl::StatusOr<std::vector<SpoolPrompt>> OpenPrompts();
  /// Queues a result for the collector; with `final` the prompt is closed
  /// (kept until the collector acks that result). Idempotent per
  /// (command_id, outcome).
  [[nodiscard]] absl::Status RecordPromptOutcome(const std::string& command_id,
                                                 const std::string& outcome, bool final);
  /// Forgets a prompt (withdrawn by the collector). Queued results stay.
  [[nodiscard]] absl::Status RemovePrompt(const std::string& command_id);
  /// Results not yet acknowledged, oldest first.
  [[nodiscard]] absl::StatusOr<std::vector<SpoolCommandResult>> PendingResults();
  /// The collector applied this result: delete it (and its prompt when it
  /// was the final one).
  [[nodiscard]] absl::Status AckResult(const std::string& command_id, const std::string& outcome);

  SpoolDropCounters drop_counters() const;
  /// Highest seq the collector acknowledged.
  std::uint64_t acked_through() const;
  /// Highest seq assigned so far.
  std::uint64_t last_seq() const;
  /// Batches and payload bytes currently stored.
  std::int64_t pending_batches() const;
  std::int64_t pending_bytes() const;

 private:
  Spool(std::unique_ptr<sqlite::Database> db, SpoolOptions options, const Clock& clock);
  [[nodiscard]] absl::Status Init(bool corrupt_before);
  [[nodiscard]] absl::Status SetMetaLocked(const std::string& key, const std::string& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  [[nodiscard]] absl::Status LoadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  [[nodiscard]] absl::Status AddResultLocked(const std::string& command_id,
                                             const std::string& outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SpoolOptions options_;
  const Clock& clock_;
  std::string instance_id_;
  mutable absl::Mutex mu_;
  std::unique_ptr<sqlite::Database> db_ ABSL_GUARDED_BY(mu_);
  SpoolDropCounters drops_ ABSL_GUARDED_BY(mu_);
  std::uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t acked_through_ ABSL_GUARDED_BY(mu_) = 0;
  std::int64_t pending_batches_ ABSL_GUARDED_BY(mu_) = 0;
  std::int64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  UtcMs last_drop_log_utc_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace reclaim::agent
