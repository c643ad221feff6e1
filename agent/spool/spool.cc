#include "agent/spool/spool.h"

#include <filesystem>
#include <random>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/numbers.h"
#include "common/log_format.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

constexpr int kSchemaVersion = 2;

std::string NewUuid() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  std::uint64_t hi = rng(), lo = rng();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;                        // version 4
  lo = (lo & ~(0xC000ULL << 48)) | (0x8000ULL << 48);        // variant 10
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xFFFF,
                         hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

// Opens the file and proves it is a usable database (a corrupt or foreign
// file fails here with kDataLoss).
absl::StatusOr<std::unique_ptr<sqlite::Database>> OpenChecked(const std::string& path) {
  ASSIGN_OR_RETURN(auto db, sqlite::Database::Open(path));
  RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  auto st = db->Prepare("PRAGMA quick_check");
  if (!st.ok()) return st.status();
  auto row = st->Step();
  if (!row.ok()) return row.status();
  if (*row && st->ColumnText(0) != "ok") {
    return absl::DataLossError(absl::StrCat("spool ", path, " fails its integrity check: ",
                                            st->ColumnText(0)));
  }
  return db;
}

}  // namespace

Spool::Spool(std::unique_ptr<sqlite::Database> db, SpoolOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), db_(std::move(db)) {}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(const SpoolOptions& options,
                                                   const Clock& clock) {
  if (options.path.empty()) return absl::InvalidArgumentError("spool path is empty");
  if (options.max_bytes <= 0) return absl::InvalidArgumentError("spool max_bytes must be > 0");
  auto db = OpenChecked(options.path);
  bool corrupt = false;
  if (!db.ok() && db.status().code() == absl::StatusCode::kDataLoss) {
    // Set the damaged file aside (never delete what may hold unsent usage) and
    // start a new agent instance.
    const std::string aside = absl::StrCat(options.path, ".corrupt-", clock.WallUtcMs());
    spdlog::error("spool {} is corrupt ({}); moved it to {} and starting a new spool",
                  options.path, db.status().message(), aside);
    std::error_code ec;
    std::filesystem::rename(options.path, aside, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("spool ", options.path,
                                                 " is corrupt and cannot be moved aside: ",
                                                 ec.message()));
    }
    for (const char* suffix : {"-wal", "-shm"}) {
      std::filesystem::rename(options.path + suffix, aside + suffix, ec);
    }
    corrupt = true;
    db = OpenChecked(options.path);
  }
  if (!db.ok()) return db.status();
  std::unique_ptr<Spool> spool(new Spool(std::move(*db), options, clock));
  RETURN_IF_ERROR(spool->Init(corrupt));
  return spool;
}

absl::Status Spool::Init(bool corrupt_before) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(const std::int64_t version, db_->QueryInt("PRAGMA user_version"));
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spool ", options_.path, " has schema version ", version,
        " from a newer agent; this agent understands up to ", kSchemaVersion));
  }
  if (version < 1) {
    ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
    RETURN_IF_ERROR(db_->Exec(R"sql(
      CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE outbox(
        seq INTEGER PRIMARY KEY,
        payload BLOB NOT NULL,
        intervals INTEGER NOT NULL,
        focus_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL);
      PRAGMA user_version = 1;
    )sql"));
    RETURN_IF_ERROR(SetMetaLocked("instance_id", NewUuid()));
    if (corrupt_before) RETURN_IF_ERROR(SetMetaLocked("corrupt_spools", "1"));
    RETURN_IF_ERROR(tx.Commit());
  }
  if (version < 2) {
    // Version 2: campaign prompts received from the collector and the
    // results to send back (resent until the collector acks each one).
    ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
    RETURN_IF_ERROR(db_->Exec(R"sql(
      CREATE TABLE prompts(
        command_id TEXT PRIMARY KEY,
        payload BLOB NOT NULL,
        expires_utc_ms INTEGER NOT NULL,
        received_utc_ms INTEGER NOT NULL,
        outcome TEXT NOT NULL DEFAULT '');
      CREATE TABLE command_results(
        id INTEGER PRIMARY KEY,
        command_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        completed_utc_ms INTEGER NOT NULL,
        UNIQUE(command_id, outcome));
      PRAGMA user_version = 2;
    )sql"));
    RETURN_IF_ERROR(tx.Commit());
  }
  return LoadLocked();
}

absl::Status Spool::LoadLocked() {
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT key, value FROM meta"));
  std::map<std::string, std::string> meta;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, st.Step());
    if (!row) break;
    meta[st.ColumnText(0)] = st.ColumnText(1);
  }
  const auto num = [&](const char* key) -> std::uint64_t {
    auto it = meta.find(key);
    std::uint64_t v = 0;
    if (it != meta.end() && !absl::SimpleAtoi(it->second, &v)) {
      spdlog::error("spool meta {} holds '{}', not a number; using 0", key, it->second);
    }
    return v;
  };
  instance_id_ = meta["instance_id"];
  if (instance_id_.empty()) return absl::DataLossError("spool has no instance id");
  last_seq_ = num("last_seq");
  acked_through_ = num("acked_through");
  drops_ = {num("dropped_batches"), num("dropped_intervals"), num("dropped_focus_ms"),
            num("corrupt_spools")};
  ASSIGN_OR_RETURN(auto agg, db_->Prepare("SELECT count(*), coalesce(sum(bytes), 0), "
                                          "coalesce(max(seq), 0) FROM outbox"));
  ASSIGN_OR_RETURN(const bool row, agg.Step());
  if (row) {
    pending_batches_ = agg.ColumnInt(0);
    pending_bytes_ = agg.ColumnInt(1);
    last_seq_ = std::max<std::uint64_t>(last_seq_, agg.ColumnInt(2));
  }
  return absl::OkStatus();
}

absl::Status Spool::SetMetaLocked(const std::string& key, const std::string& value) {
  ASSIGN_OR_RETURN(auto st, db_->Prepare(
                                "INSERT INTO meta(key, value) VALUES (?, ?) "
                                "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
  return st.Bind(1, key).Bind(2, value).Run();
}

absl::StatusOr<std::uint64_t> Spool::Append(const std::optional<SpoolBatch>& batch,
                                            const std::map<std::string, std::string>& meta) {
  absl::MutexLock l(&mu_);
  const std::int64_t bytes = batch ? static_cast<std::int64_t>(batch->payload.size()) : 0;
  if (bytes > options_.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("batch of ", bytes,
                                                   " bytes exceeds the spool cap of ",
                                                   options_.max_bytes, " bytes"));
  }
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  SpoolDropCounters drops = drops_;
  std::int64_t pending_batches = pending_batches_, pending_bytes = pending_bytes_;
  std::uint64_t seq = 0;
  if (batch) {
    // Oldest first until the new batch fits.
    if (pending_bytes + bytes > options_.max_bytes) {
      ASSIGN_OR_RETURN(auto oldest, db_->Prepare(
                                        "SELECT seq, intervals, focus_ms, bytes FROM outbox "
                                        "ORDER BY seq"));
      std::uint64_t drop_through = 0;
      while (pending_bytes + bytes > options_.max_bytes) {
        ASSIGN_OR_RETURN(const bool row, oldest.Step());
        if (!row) break;
        drop_through = oldest.ColumnInt(0);
        drops.dropped_batches += 1;
        drops.dropped_intervals += oldest.ColumnInt(1);
        drops.dropped_focus_ms += oldest.ColumnInt(2);
        pending_bytes -= oldest.ColumnInt(3);
        pending_batches -= 1;
      }
      oldest.Reset();
      ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM outbox WHERE seq <= ?"));
      RETURN_IF_ERROR(del.Bind(1, static_cast<std::int64_t>(drop_through)).Run());
      RETURN_IF_ERROR(SetMetaLocked("dropped_batches", std::to_string(drops.dropped_batches)));
      RETURN_IF_ERROR(
          SetMetaLocked("dropped_intervals", std::to_string(drops.dropped_intervals)));
      RETURN_IF_ERROR(SetMetaLocked("dropped_focus_ms", std::to_string(drops.dropped_focus_ms)));
    }
    seq = last_seq_ + 1;
    ASSIGN_OR_RETURN(auto ins, db_->Prepare("INSERT INTO outbox(seq, payload, intervals, "
                                            "focus_ms, bytes) VALUES (?, ?, ?, ?, ?)"));
    RETURN_IF_ERROR(ins.Bind(1, static_cast<std::int64_t>(seq))
                        .BindBlob(2, batch->payload)
                        .Bind(3, batch->intervals)
                        .Bind(4, batch->focus_ms)
                        .Bind(5, bytes)
                        .Run());
    RETURN_IF_ERROR(SetMetaLocked("last_seq", std::to_string(seq)));
    pending_batches += 1;
    pending_bytes += bytes;
  }
  for (const auto& [k, v] : meta) RETURN_IF_ERROR(SetMetaLocked(k, v));
  RETURN_IF_ERROR(tx.Commit());
  if (drops.dropped_batches != drops_.dropped_batches) {
    // Bounded logging: at most one line a minute while the cap bites.
    const UtcMs now = clock_.WallUtcMs();
    if (last_drop_log_utc_ms_ == 0 || now - last_drop_log_utc_ms_ >= 60'000 ||
        now < last_drop_log_utc_ms_) {
      last_drop_log_utc_ms_ = now;
      spdlog::warn("spool cap of {} bytes reached: dropping the oldest batches; {} batches "
                   "({} intervals, {} ms of focus time) dropped in total, reported to the "
                   "collector",
                   options_.max_bytes, drops.dropped_batches, drops.dropped_intervals,
                   drops.dropped_focus_ms);
    }
  }
  drops_ = drops;
  pending_batches_ = pending_batches;
  pending_bytes_ = pending_bytes;
  if (seq) last_seq_ = seq;
  return seq;
}

absl::StatusOr<std::vector<SpoolEntry>> Spool::ReadAfter(std::uint64_t after_seq, size_t max) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT seq, payload, intervals, focus_ms FROM outbox "
                                         "WHERE seq > ? ORDER BY seq LIMIT ?"));
  st.Bind(1, static_cast<std::int64_t>(after_seq)).Bind(2, static_cast<std::int64_t>(max));
  std::vector<SpoolEntry> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, st.Step());
    if (!row) break;
    out.push_back({static_cast<std::uint64_t>(st.ColumnInt(0)), st.ColumnBlob(1),
                   st.ColumnInt(2), st.ColumnInt(3)});
  }
  return out;
}

absl::Status Spool::AckThrough(std::uint64_t seq) {
  absl::MutexLock l(&mu_);
  if (seq <= acked_through_) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM outbox WHERE seq <= ?"));
  RETURN_IF_ERROR(del.Bind(1, static_cast<std::int64_t>(seq)).Run());
  RETURN_IF_ERROR(SetMetaLocked("acked_through", std::to_string(seq)));
  RETURN_IF_ERROR(tx.Commit());
  acked_through_ = seq;
  ASSIGN_OR_RETURN(auto agg, db_->Prepare("SELECT count(*), coalesce(sum(bytes), 0) FROM outbox"));
  ASSIGN_OR_RETURN(const bool row, agg.Step());
  if (row) {
    pending_batches_ = agg.ColumnInt(0);
    pending_bytes_ = agg.ColumnInt(1);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> Spool::GetMeta(const std::string& key) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT value FROM meta WHERE key = ?"));
  st.Bind(1, key);
  ASSIGN_OR_RETURN(const bool row, st.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(st.ColumnText(0));
}

SpoolDropCounters Spool::drop_counters() const {
  absl::MutexLock l(&mu_);
  return drops_;
}
std::uint64_t Spool::acked_through() const {
  absl::MutexLock l(&mu_);
  return acked_through_;
}
std::uint64_t Spool::last_seq() const {
  absl::MutexLock l(&mu_);
  return last_seq_;
}
std::int64_t Spool::pending_batches() const {
  absl::MutexLock l(&mu_);
  return pending_batches_;
}
std::int64_t Spool::pending_bytes() const {
  absl::MutexLock l(&mu_);
  return pending_bytes_;
}

// ---------------------------------------------------------------- prompts

absl::StatusOr<bool> Spool::StorePrompt(const SpoolPrompt& prompt) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(auto ins, db_->Prepare(
                                 "INSERT INTO prompts(command_id, payload, expires_utc_ms, "
                                 "received_utc_ms) VALUES(?,?,?,?) "
                                 "ON CONFLICT(command_id) DO NOTHING"));
  RETURN_IF_ERROR(ins.Bind(1, prompt.command_id)
                      .BindBlob(2, prompt.payload)
                      .Bind(3, prompt.expires_utc_ms)
                      .Bind(4, clock_.WallUtcMs())
                      .Run());
  const bool inserted = db_->Changes() > 0;
  if (inserted) RETURN_IF_ERROR(AddResultLocked(prompt.command_id, "delivered"));
  RETURN_IF_ERROR(tx.Commit());
  return inserted;
}

absl::StatusOr<std::vector<SpoolPrompt>> Spool::OpenPrompts() {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare(
                                "SELECT command_id, payload, expires_utc_ms, received_utc_ms "
                                "FROM prompts WHERE outcome = '' ORDER BY received_utc_ms, "
                                "command_id"));
  std::vector<SpoolPrompt> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, st.Step());
    if (!row) break;
    out.push_back(SpoolPrompt{.command_id = st.ColumnText(0),
                              .payload = st.ColumnBlob(1),
                              .expires_utc_ms = st.ColumnInt(2),
                              .received_utc_ms = st.ColumnInt(3)});
  }
  return out;
}

absl::Status Spool::AddResultLocked(const std::string& command_id, const std::string& outcome) {
  ASSIGN_OR_RETURN(auto ins, db_->Prepare(
                                 "INSERT INTO command_results(command_id, outcome, "
                                 "completed_utc_ms) VALUES(?,?,?) "
                                 "ON CONFLICT(command_id, outcome) DO NOTHING"));
  return ins.Bind(1, command_id).Bind(2, outcome).Bind(3, clock_.WallUtcMs()).Run();
}

absl::Status Spool::RecordPromptOutcome(const std::string& command_id, const std::string& outcome,
                                        bool final) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  RETURN_IF_ERROR(AddResultLocked(command_id, outcome));
  if (final) {
    ASSIGN_OR_RETURN(auto up,
                     db_->Prepare("UPDATE prompts SET outcome = ? WHERE command_id = ?"));
    RETURN_IF_ERROR(up.Bind(1, outcome).Bind(2, command_id).Run());
  }
  return tx.Commit();
}

absl::Status Spool::RemovePrompt(const std::string& command_id) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM prompts WHERE command_id = ?"));
  return del.Bind(1, command_id).Run();
}

absl::StatusOr<std::vector<SpoolCommandResult>> Spool::PendingResults() {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT command_id, outcome, completed_utc_ms FROM "
                                         "command_results ORDER BY id"));
  std::vector<SpoolCommandResult> out;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, st.Step());
    if (!row) break;
    out.push_back(SpoolCommandResult{.command_id = st.ColumnText(0),
                                     .outcome = st.ColumnText(1),
                                     .completed_utc_ms = st.ColumnInt(2)});
  }
  return out;
}

absl::Status Spool::AckResult(const std::string& command_id, const std::string& outcome) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(auto del, db_->Prepare(
                                 "DELETE FROM command_results WHERE command_id = ? AND outcome = ?"));
  RETURN_IF_ERROR(del.Bind(1, command_id).Bind(2, outcome).Run());
  // A prompt whose final result the collector has is done with.
  ASSIGN_OR_RETURN(auto done, db_->Prepare(
                                  "DELETE FROM prompts WHERE command_id = ? AND outcome = ?"));
  RETURN_IF_ERROR(done.Bind(1, command_id).Bind(2, outcome).Run());
  return tx.Commit();
}

}  // namespace reclaim::agent
