#include "collector/store/sqlite_usage_store.h"

#include <algorithm>
#include <array>
#include <limits>
#include <tuple>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

constexpr std::int64_t kMsPerDay = 24LL * 3600 * 1000;
// Names in store_counters.
constexpr char kCounterQuarantineDropped[] = "quarantine_dropped";
constexpr char kCounterOverlapClippedMs[] = "overlap_clipped_ms";
constexpr char kCounterOverlapClippedIntervals[] = "overlap_clipped_intervals";
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
// Rows per multi-row INSERT into intervals (6 parameters each, far below
// SQLite's 32766-parameter limit).
constexpr size_t kIntervalsPerInsert = 32;

// Migrations: kMigrations[v - 1] takes the schema from version v - 1 to v.
// Never edit a released step; append a new one and raise kSchemaVersion.
constexpr const char* kMigrations[] = {
    // Version 1.
    R"sql(
CREATE TABLE users(
  id INTEGER PRIMARY KEY,
  domain TEXT NOT NULL,
  login_name TEXT NOT NULL,
  sid TEXT NOT NULL DEFAULT '',
  uid INTEGER,
  upn TEXT NOT NULL DEFAULT '',
  first_seen_utc_ms INTEGER NOT NULL,
  last_seen_utc_ms INTEGER NOT NULL);
CREATE UNIQUE INDEX users_by_name ON users(lower(domain), lower(login_name));
CREATE INDEX users_by_upn ON users(lower(upn));

CREATE TABLE identities(
  id INTEGER PRIMARY KEY,
  exe_path TEXT NOT NULL,
  exe_name TEXT NOT NULL,
  window_class TEXT NOT NULL,
  package_id TEXT NOT NULL,
  product_name TEXT NOT NULL,
  product_version TEXT NOT NULL,
  web_domain TEXT NOT NULL,
  window_title TEXT NOT NULL,
  display_key TEXT NOT NULL,
  UNIQUE(exe_path, exe_name, window_class, package_id, product_name, product_version,
         web_domain, window_title));

CREATE TABLE agents(
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  agent_instance_id TEXT NOT NULL,
  hostname TEXT NOT NULL DEFAULT '',
  agent_version TEXT NOT NULL DEFAULT '',
  os_version TEXT NOT NULL DEFAULT '',
  user_id INTEGER NOT NULL REFERENCES users(id),
  acked_through_seq INTEGER NOT NULL DEFAULT 0,
  first_seen_utc_ms INTEGER NOT NULL,
  last_seen_utc_ms INTEGER NOT NULL,
  dropped_batches INTEGER NOT NULL DEFAULT 0,
  dropped_intervals INTEGER NOT NULL DEFAULT 0,
  dropped_focus_ms INTEGER NOT NULL DEFAULT 0,
  corrupt_spools INTEGER NOT NULL DEFAULT 0,
  quarantined_intervals INTEGER NOT NULL DEFAULT 0,
  UNIQUE(device_id, agent_instance_id));

CREATE TABLE batches(
  agent_id INTEGER NOT NULL REFERENCES agents(id),
  seq INTEGER NOT NULL,
  received_utc_ms INTEGER NOT NULL,
  intervals INTEGER NOT NULL,
  quarantined INTEGER NOT NULL,
  PRIMARY KEY(agent_id, seq)) WITHOUT ROWID;

-- The hot insert path: no secondary index and no REFERENCES clauses (each
-- would cost an index probe per row; with them ingest measured ~40% of the
-- bare insert rate, without ~60%). Its ids come from rows this code writes
-- in the same transaction.
CREATE TABLE intervals(
  id INTEGER PRIMARY KEY,
  agent_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  identity_id INTEGER NOT NULL,
  start_utc_ms INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  continuation INTEGER NOT NULL);

CREATE TABLE daily_usage(
  user_id INTEGER NOT NULL REFERENCES users(id),
  identity_id INTEGER NOT NULL REFERENCES identities(id),
  day INTEGER NOT NULL,
  focus_ms INTEGER NOT NULL,
  sessions INTEGER NOT NULL,
  last_seen_utc_ms INTEGER NOT NULL,
  PRIMARY KEY(user_id, identity_id, day)) WITHOUT ROWID;

CREATE TABLE quarantine(
  id INTEGER PRIMARY KEY,
  agent_id INTEGER NOT NULL REFERENCES agents(id),
  seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  received_utc_ms INTEGER NOT NULL);
)sql",
    // Version 2: the overlap rule's coverage per (device, user) and the
    // store's persistent counters. Coverage is backfilled from the stored
    // intervals (overlaps stored before this version stay counted).
    R"sql(
CREATE TABLE focus_cover(
  device_id TEXT NOT NULL,
  user_id INTEGER NOT NULL,
  start_utc_ms INTEGER NOT NULL,
  end_utc_ms INTEGER NOT NULL,
  PRIMARY KEY(device_id, user_id, start_utc_ms)) WITHOUT ROWID;
INSERT OR IGNORE INTO focus_cover(device_id, user_id, start_utc_ms, end_utc_ms)
  SELECT a.device_id, i.user_id, i.start_utc_ms, i.start_utc_ms + i.duration_ms
  FROM intervals i JOIN agents a ON a.id = i.agent_id;
CREATE TABLE store_counters(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL) WITHOUT ROWID;
)sql",
};
static_assert(std::size(kMigrations) == SqliteUsageStore::kSchemaVersion);

// Prefixes a status message with `context`, keeping the code.
absl::Status Annotate(const absl::Status& s, const std::string& context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
}

// Resets a statement when leaving a scope, so a statement that returned rows
// (or failed) never holds the database.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite::Statement& st) : st_(st) {}
  ~ResetOnExit() { st_.Reset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite::Statement& st_;
};

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t ClampToInt64(std::uint64_t v) {
  return v > static_cast<std::uint64_t>(kInt64Max) ? kInt64Max : static_cast<std::int64_t>(v);
}

absl::Status CheckAgent(const AgentInfo& agent) {
  if (agent.device_id.empty()) return absl::InvalidArgumentError("agent device_id is empty");
  if (agent.agent_instance_id.empty()) {
    return absl::InvalidArgumentError("agent agent_instance_id is empty");
  }
  if (agent.user.login_name.empty() || agent.user.domain.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("agent ", agent.device_id, "/",
                                                   agent.agent_instance_id,
                                                   ": user login_name or domain is empty"));
  }
  return absl::OkStatus();
}

// Sets the connection-level pragmas every connection of the store needs.
absl::Status ConfigureConnection(sqlite::Database& db) {
  ASSIGN_OR_RETURN(sqlite::Statement mode, db.Prepare("PRAGMA journal_mode=WAL"));
  ASSIGN_OR_RETURN(bool has_row, mode.Step());
  const std::string journal = has_row ? absl::AsciiStrToLower(mode.ColumnText(0)) : "";
  mode.Reset();
  if (journal != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot switch to WAL journal mode (got '", journal, "')"));
  }
  RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys=ON"));
  return absl::OkStatus();
}

// Brings the schema to kSchemaVersion, one transaction per step.
absl::Status Migrate(sqlite::Database& db, const std::string& path) {
  ASSIGN_OR_RETURN(std::int64_t version, db.QueryInt("PRAGMA user_version"));
  if (version > SqliteUsageStore::kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("usage store ", path, " has schema version ", version,
                     ", newer than this collector understands (", SqliteUsageStore::kSchemaVersion,
                     "); run a newer collector"));
  }
  if (version == 0) {
    ASSIGN_OR_RETURN(std::int64_t objects, db.QueryInt("SELECT count(*) FROM sqlite_master"));
    if (objects != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " is an SQLite database but not a Reclaim usage store (no schema version)"));
    }
  }
  while (version < SqliteUsageStore::kSchemaVersion) {
    ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(db));
    // Another process may have migrated while this one waited for the lock.
    ASSIGN_OR_RETURN(version, db.QueryInt("PRAGMA user_version"));
    if (version >= SqliteUsageStore::kSchemaVersion) break;
    const std::int64_t next = version + 1;
    RETURN_IF_ERROR(db.Exec(kMigrations[next - 1]));
    RETURN_IF_ERROR(db.Exec(absl::StrCat("PRAGMA user_version=", next)));
    RETURN_IF_ERROR(tx.Commit());
    spdlog::info("usage store {}: migrated schema to version {}", path, next);
    version = next;
  }
  return absl::OkStatus();
}

// In-memory rollup of one IngestMany call: (user, identity, UTC day) ->
// usage. Consecutive intervals usually hit the same entry, which is found
// without hashing.
class Rollup {
 public:
  using Key = std::tuple<std::int64_t, std::int64_t, std::int64_t>;  // user, identity, day
  struct Usage {
    std::int64_t focus_ms = 0;
    std::int64_t sessions = 0;
    UtcMs last_seen_utc_ms = std::numeric_limits<std::int64_t>::min();
  };

  // Adds one interval (duration > 0), split at UTC midnights; a session is
  // counted on the start day unless the interval continues the previous one.
  void Add(std::int64_t user_id, std::int64_t identity_id, const IntervalRecord& iv) {
    if (iv.active_duration_ms <= 0) return;
    const UtcMs start = iv.start_utc_ms;
    const UtcMs end = start + iv.active_duration_ms;
    const std::int64_t first_day = FloorDiv(start, kMsPerDay);
    const std::int64_t last_day = FloorDiv(end - 1, kMsPerDay);
    for (std::int64_t day = first_day; day <= last_day; ++day) {
      const UtcMs piece_start = std::max(start, day * kMsPerDay);
      const UtcMs piece_end = std::min(end, (day + 1) * kMsPerDay);
      Usage& u = At(Key{user_id, identity_id, day});
      u.focus_ms += piece_end - piece_start;
      if (day == first_day && !iv.continuation) ++u.sessions;
      u.last_seen_utc_ms = std::max(u.last_seen_utc_ms, piece_end);
    }
  }

  // The entries in key order, so that the upserts walk the primary key of
  // daily_usage in order (sequential page access). Call once, after the
  // last Add.
  const std::vector<std::pair<Key, Usage>>& Sorted() {
    std::sort(entries_.begin(), entries_.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    index_.clear();
    last_ = kNone;
    return entries_;
  }

 private:
  static constexpr size_t kNone = std::numeric_limits<size_t>::max();

  Usage& At(const Key& key) {
    if (last_ != kNone && entries_[last_].first == key) return entries_[last_].second;
    const auto [it, inserted] = index_.try_emplace(key, entries_.size());
    if (inserted) entries_.emplace_back(key, Usage{});
    last_ = it->second;
    return entries_[last_].second;
  }

  absl::flat_hash_map<Key, size_t> index_;
  std::vector<std::pair<Key, Usage>> entries_;
  size_t last_ = kNone;
};

// Appends raw interval rows, kIntervalsPerInsert per INSERT statement: one
// statement step per row costs about as much as the row itself, so this
// halves SQLite's per-row overhead. Rows keep their order.
class IntervalWriter {
 public:
  IntervalWriter(sqlite::Statement& one_row, sqlite::Statement& many_rows)
      : one_row_(one_row), many_rows_(many_rows) {}

  absl::Status Add(std::int64_t agent_id, std::int64_t user_id, std::int64_t identity_id,
                   const IntervalRecord& iv) {
    rows_[size_++] = Row{agent_id,
                         user_id,
                         identity_id,
                         iv.start_utc_ms,
                         iv.active_duration_ms,
                         iv.continuation ? 1 : 0};
    if (size_ < kIntervalsPerInsert) return absl::OkStatus();
    int index = 1;
    for (const Row& r : rows_) {
      for (std::int64_t v : r) many_rows_.Bind(index++, v);
    }
    size_ = 0;
    return many_rows_.Run();
  }

  // Writes the rows still buffered. Call before the transaction commits.
  absl::Status Flush() {
    for (size_t i = 0; i < size_; ++i) {
      int index = 1;
      for (std::int64_t v : rows_[i]) one_row_.Bind(index++, v);
      RETURN_IF_ERROR(one_row_.Run());
    }
    size_ = 0;
    return absl::OkStatus();
  }

 private:
  using Row = std::array<std::int64_t, 6>;
  sqlite::Statement& one_row_;
  sqlite::Statement& many_rows_;
  std::array<Row, kIntervalsPerInsert> rows_;
  size_t size_ = 0;
};

// SQL LIKE pattern (ESCAPE '\') for "contains `text`, '*' matches anything".
std::string ContainsPattern(std::string_view text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '*') {
      out.push_back('%');
    } else {
      if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
  }
  out.push_back('%');
  return out;
}

}  // namespace

// Prepared once at Open; used only under mu_.
struct SqliteUsageStore::Statements {
  sqlite::Statement upsert_user;
  sqlite::Statement upsert_agent;
  sqlite::Statement select_identity;
  sqlite::Statement insert_identity;
  sqlite::Statement insert_batch;
  sqlite::Statement insert_interval;
  sqlite::Statement insert_intervals_multi;  // kIntervalsPerInsert rows.
  sqlite::Statement insert_quarantine;
  sqlite::Statement update_agent_after_ingest;
  sqlite::Statement upsert_daily;
  sqlite::Statement record_dropped;
  sqlite::Statement select_cover;
  sqlite::Statement insert_cover;
  sqlite::Statement trim_quarantine;
  sqlite::Statement add_counter;

  static absl::StatusOr<std::unique_ptr<Statements>> Prepare(sqlite::Database& db) {
    auto s = std::make_unique<Statements>();
    ASSIGN_OR_RETURN(s->upsert_user, db.Prepare(R"sql(
INSERT INTO users(domain, login_name, sid, uid, upn, first_seen_utc_ms, last_seen_utc_ms)
VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)
ON CONFLICT(lower(domain), lower(login_name)) DO UPDATE SET
  sid = CASE WHEN excluded.sid <> '' THEN excluded.sid ELSE sid END,
  uid = coalesce(excluded.uid, uid),
  upn = CASE WHEN excluded.upn <> '' THEN excluded.upn ELSE upn END,
  last_seen_utc_ms = max(last_seen_utc_ms, excluded.last_seen_utc_ms)
RETURNING id)sql"));
    ASSIGN_OR_RETURN(s->upsert_agent, db.Prepare(R"sql(
INSERT INTO agents(device_id, agent_instance_id, hostname, agent_version, os_version, user_id,
                   first_seen_utc_ms, last_seen_utc_ms)
VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
ON CONFLICT(device_id, agent_instance_id) DO UPDATE SET
  hostname = excluded.hostname,
  agent_version = excluded.agent_version,
  os_version = excluded.os_version,
  user_id = excluded.user_id,
  last_seen_utc_ms = max(last_seen_utc_ms, excluded.last_seen_utc_ms)
RETURNING id, acked_through_seq)sql"));
    ASSIGN_OR_RETURN(s->select_identity, db.Prepare(R"sql(
SELECT id FROM identities WHERE exe_path = ?1 AND exe_name = ?2 AND window_class = ?3
  AND package_id = ?4 AND product_name = ?5 AND product_version = ?6 AND web_domain = ?7
  AND window_title = ?8)sql"));
    ASSIGN_OR_RETURN(s->insert_identity, db.Prepare(R"sql(
INSERT INTO identities(exe_path, exe_name, window_class, package_id, product_name,
                       product_version, web_domain, window_title, display_key)
VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql"));
    ASSIGN_OR_RETURN(s->insert_batch, db.Prepare(R"sql(
INSERT INTO batches(agent_id, seq, received_utc_ms, intervals, quarantined)
VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING)sql"));
    ASSIGN_OR_RETURN(s->insert_interval, db.Prepare(R"sql(
INSERT INTO intervals(agent_id, user_id, identity_id, start_utc_ms, duration_ms, continuation)
VALUES(?1, ?2, ?3, ?4, ?5, ?6))sql"));
    std::string multi =
        "INSERT INTO intervals(agent_id, user_id, identity_id, start_utc_ms, duration_ms, "
        "continuation) VALUES (?,?,?,?,?,?)";
    for (size_t i = 1; i < kIntervalsPerInsert; ++i) multi += ",(?,?,?,?,?,?)";
    ASSIGN_OR_RETURN(s->insert_intervals_multi, db.Prepare(multi));
    ASSIGN_OR_RETURN(s->insert_quarantine, db.Prepare(R"sql(
INSERT INTO quarantine(agent_id, seq, idx, reason, detail, received_utc_ms)
VALUES(?1, ?2, ?3, ?4, ?5, ?6))sql"));
    ASSIGN_OR_RETURN(s->update_agent_after_ingest, db.Prepare(R"sql(
UPDATE agents SET acked_through_seq = max(acked_through_seq, ?2),
                  last_seen_utc_ms = max(last_seen_utc_ms, ?3),
                  quarantined_intervals = quarantined_intervals + ?4
WHERE id = ?1)sql"));
    ASSIGN_OR_RETURN(s->upsert_daily, db.Prepare(R"sql(
INSERT INTO daily_usage(user_id, identity_id, day, focus_ms, sessions, last_seen_utc_ms)
VALUES(?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT(user_id, identity_id, day) DO UPDATE SET
  focus_ms = focus_ms + excluded.focus_ms,
  sessions = sessions + excluded.sessions,
  last_seen_utc_ms = max(last_seen_utc_ms, excluded.last_seen_utc_ms))sql"));
    ASSIGN_OR_RETURN(s->record_dropped, db.Prepare(R"sql(
UPDATE agents SET dropped_batches = max(dropped_batches, ?2),
                  dropped_intervals = max(dropped_intervals, ?3),
                  dropped_focus_ms = max(dropped_focus_ms, ?4),
                  corrupt_spools = max(corrupt_spools, ?5),
                  last_seen_utc_ms = max(last_seen_utc_ms, ?6)
WHERE id = ?1)sql"));
    // Covered spans of (device, user) that may overlap [?3, ?4): a span
    // lasts at most ?5 ms (the longest interval), so the scan of the primary
    // key is bounded.
    ASSIGN_OR_RETURN(s->select_cover, db.Prepare(R"sql(
SELECT start_utc_ms, end_utc_ms FROM focus_cover
WHERE device_id = ?1 AND user_id = ?2 AND start_utc_ms > ?3 - ?5 AND start_utc_ms < ?4
  AND end_utc_ms > ?3
ORDER BY start_utc_ms)sql"));
    ASSIGN_OR_RETURN(s->insert_cover, db.Prepare(R"sql(
INSERT INTO focus_cover(device_id, user_id, start_utc_ms, end_utc_ms)
VALUES(?1, ?2, ?3, ?4))sql"));
    // Rows are only ever deleted here, oldest first, so ids stay dense and
    // this keeps the newest ?1 rows.
    ASSIGN_OR_RETURN(s->trim_quarantine, db.Prepare(R"sql(
DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?1)sql"));
    ASSIGN_OR_RETURN(s->add_counter, db.Prepare(R"sql(
INSERT INTO store_counters(name, value) VALUES(?1, ?2)
ON CONFLICT(name) DO UPDATE SET value = value + excluded.value)sql"));
    return s;
  }
};

std::size_t SqliteUsageStore::IdentityHash::operator()(const AppIdentityRecord& a) const {
  return absl::HashOf(a.exe_path, a.exe_name, a.window_class, a.package_id, a.product_name,
                      a.product_version, a.web_domain, a.window_title);
}

bool SqliteUsageStore::IdentityEq::operator()(const AppIdentityRecord& a,
                                              const AppIdentityRecord& b) const {
  return a.exe_path == b.exe_path && a.exe_name == b.exe_name && a.window_class == b.window_class &&
         a.package_id == b.package_id && a.product_name == b.product_name &&
         a.product_version == b.product_version && a.web_domain == b.web_domain &&
         a.window_title == b.window_title;
}

absl::StatusOr<std::unique_ptr<SqliteUsageStore>> SqliteUsageStore::Open(
    const SqliteUsageStoreOptions& options) {
  if (options.path.empty() || options.path == ":memory:") {
    return absl::InvalidArgumentError("usage store path must name a file");
  }
  if (options.max_size_bytes < 0) {
    return absl::InvalidArgumentError("max_size_bytes must be >= 0");
  }
  const std::string context = absl::StrCat("opening usage store ", options.path);
  auto writer = sqlite::Database::Open(options.path, /*create=*/true, options.busy_timeout_ms);
  if (!writer.ok()) return Annotate(writer.status(), context);
  RETURN_IF_ERROR(Annotate(ConfigureConnection(**writer), context));
  RETURN_IF_ERROR(Annotate(Migrate(**writer, options.path), context));
  auto statements = Statements::Prepare(**writer);
  if (!statements.ok()) return Annotate(statements.status(), context);

  auto reader = sqlite::Database::Open(options.path, /*create=*/false, options.busy_timeout_ms);
  if (!reader.ok()) return Annotate(reader.status(), context);
  RETURN_IF_ERROR(Annotate((*reader)->Exec("PRAGMA query_only=ON"), context));

  std::unique_ptr<SqliteUsageStore> store(new SqliteUsageStore(
      options, *std::move(writer), *std::move(statements), *std::move(reader)));
  {
    absl::MutexLock l(&store->mu_);
    auto default_max = store->db_->QueryInt("PRAGMA max_page_count");
    if (!default_max.ok()) return Annotate(default_max.status(), context);
    store->default_max_page_count_ = *default_max;
  }
  if (options.max_size_bytes > 0) {
    RETURN_IF_ERROR(Annotate(store->SetMaxSizeBytes(options.max_size_bytes), context));
  }
  spdlog::info("usage store {} open (schema version {})", options.path, kSchemaVersion);
  return store;
}

SqliteUsageStore::SqliteUsageStore(SqliteUsageStoreOptions options,
                                   std::unique_ptr<sqlite::Database> writer,
                                   std::unique_ptr<Statements> statements,
                                   std::unique_ptr<sqlite::Database> reader)
    : options_(std::move(options)),
      db_(std::move(writer)),
      st_(std::move(statements)),
      reader_(std::move(reader)) {}

SqliteUsageStore::~SqliteUsageStore() {
  absl::MutexLock l(&mu_);
  st_.reset();  // Statements before their connection.
}

void SqliteUsageStore::DropCachesLocked() {
  user_ids_.clear();
  agent_ids_.clear();
  identity_ids_.clear();
}

absl::StatusOr<std::int64_t> SqliteUsageStore::UpsertUserLocked(const UserInfo& user, UtcMs now) {
  sqlite::Statement& st = st_->upsert_user;
  ResetOnExit reset(st);
  st.Bind(1, user.domain).Bind(2, user.login_name).Bind(3, user.sid);
  if (user.uid.has_value()) {
    st.Bind(4, static_cast<std::int64_t>(*user.uid));
  } else {
    st.BindNull(4);
  }
  st.Bind(5, user.upn).Bind(6, now);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::InternalError("user upsert returned no id");
  const std::int64_t id = st.ColumnInt(0);
  user_ids_[UserKey{absl::AsciiStrToLower(user.domain), absl::AsciiStrToLower(user.login_name)}] =
      id;
  return id;
}

absl::StatusOr<std::int64_t> SqliteUsageStore::UserIdLocked(const UserInfo& user, UtcMs now) {
  auto it = user_ids_.find(
      UserKey{absl::AsciiStrToLower(user.domain), absl::AsciiStrToLower(user.login_name)});
  if (it != user_ids_.end()) return it->second;
  return UpsertUserLocked(user, now);
}

absl::StatusOr<SqliteUsageStore::AgentRow> SqliteUsageStore::UpsertAgentLocked(
    const AgentInfo& agent, UtcMs now) {
  ASSIGN_OR_RETURN(const std::int64_t user_id, UpsertUserLocked(agent.user, now));
  sqlite::Statement& st = st_->upsert_agent;
  ResetOnExit reset(st);
  st.Bind(1, agent.device_id)
      .Bind(2, agent.agent_instance_id)
      .Bind(3, agent.hostname)
      .Bind(4, agent.agent_version)
      .Bind(5, agent.os_version)
      .Bind(6, user_id)
      .Bind(7, now);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::InternalError("agent upsert returned no id");
  AgentRow out{st.ColumnInt(0), st.ColumnInt(1)};
  agent_ids_[AgentKey{agent.device_id, agent.agent_instance_id}] = out.id;
  return out;
}

absl::StatusOr<std::int64_t> SqliteUsageStore::AgentIdLocked(const AgentInfo& agent, UtcMs now) {
  auto it = agent_ids_.find(AgentKey{agent.device_id, agent.agent_instance_id});
  if (it != agent_ids_.end()) return it->second;
  ASSIGN_OR_RETURN(AgentRow row, UpsertAgentLocked(agent, now));
  return row.id;
}

absl::StatusOr<std::int64_t> SqliteUsageStore::IdentityIdLocked(const AppIdentityRecord& app) {
  auto it = identity_ids_.find(app);
  if (it != identity_ids_.end()) return it->second;
  const auto bind_fields = [&app](sqlite::Statement& st) {
    st.Bind(1, app.exe_path)
        .Bind(2, app.exe_name)
        .Bind(3, app.window_class)
        .Bind(4, app.package_id)
        .Bind(5, app.product_name)
        .Bind(6, app.product_version)
        .Bind(7, app.web_domain)
        .Bind(8, app.window_title);
  };
  std::int64_t id = 0;
  {
    sqlite::Statement& select = st_->select_identity;
    ResetOnExit reset(select);
    bind_fields(select);
    ASSIGN_OR_RETURN(bool found, select.Step());
    if (found) id = select.ColumnInt(0);
  }
  if (id == 0) {
    sqlite::Statement& insert = st_->insert_identity;
    bind_fields(insert);
    insert.Bind(9, DisplayKey(app));
    RETURN_IF_ERROR(insert.Run());
    id = db_->LastInsertRowId();
  }
  if (identity_ids_.size() >= options_.identity_cache_capacity) identity_ids_.clear();
  identity_ids_.emplace(app, id);
  return id;
}

absl::StatusOr<std::uint64_t> SqliteUsageStore::RegisterAgent(const AgentInfo& agent, UtcMs now) {
  RETURN_IF_ERROR(CheckAgent(agent));
  absl::MutexLock l(&mu_);
  const std::string context =
      absl::StrCat("registering agent ", agent.device_id, "/", agent.agent_instance_id);
  absl::Status status;
  {
    auto tx = sqlite::Transaction::Begin(*db_);
    if (!tx.ok()) return Annotate(tx.status(), context);
    auto row = UpsertAgentLocked(agent, now);
    status = row.ok() ? tx->Commit() : row.status();
    if (status.ok()) return static_cast<std::uint64_t>(row->acked_through_seq);
  }
  DropCachesLocked();
  return Annotate(status, context);
}

absl::StatusOr<std::vector<IngestResult>> SqliteUsageStore::Ingest(
    const AgentInfo& agent, std::span<const ValidatedBatch> batches, UtcMs now) {
  const AgentBatches work[] = {{&agent, batches}};
  ASSIGN_OR_RETURN(auto results, IngestMany(work, now));
  return std::move(results.front());
}

absl::StatusOr<std::vector<std::vector<IngestResult>>> SqliteUsageStore::IngestMany(
    std::span<const AgentBatches> work, UtcMs now) {
  // Refuse bad input before writing anything.
  for (const AgentBatches& w : work) {
    if (w.agent == nullptr) return absl::InvalidArgumentError("IngestMany: null agent");
    RETURN_IF_ERROR(CheckAgent(*w.agent));
    for (const ValidatedBatch& b : w.batches) {
      if (b.seq == 0 || b.seq > static_cast<std::uint64_t>(kInt64Max)) {
        return absl::InvalidArgumentError(absl::StrCat("agent ", w.agent->device_id, "/",
                                                       w.agent->agent_instance_id, ": batch seq ",
                                                       b.seq, " out of range [1, 2^63-1]"));
      }
    }
  }
  if (work.empty()) return std::vector<std::vector<IngestResult>>();
  absl::MutexLock l(&mu_);
  absl::Status status;
  {
    auto tx = sqlite::Transaction::Begin(*db_);
    if (!tx.ok()) return Annotate(tx.status(), "ingest");
    auto results = IngestLocked(work, now);
    status = results.ok() ? tx->Commit() : results.status();
    if (status.ok()) return results;
  }  // The transaction rolls back here.
  DropCachesLocked();
  spdlog::warn("usage store: ingest of {} agent stream(s) failed, nothing stored: {}", work.size(),
               status.ToString());
  return Annotate(status, "ingest");
}

absl::StatusOr<std::vector<std::vector<IngestResult>>> SqliteUsageStore::IngestLocked(
    std::span<const AgentBatches> work, UtcMs now) {
  std::vector<std::vector<IngestResult>> results;
  results.reserve(work.size());
  std::int64_t overlap_ms = 0;
  std::int64_t overlap_intervals = 0;
  std::int64_t quarantine_rows = 0;
  Rollup rollup;
  IntervalWriter intervals(st_->insert_interval, st_->insert_intervals_multi);
  Statements& st = *st_;
  for (const AgentBatches& w : work) {
    const AgentInfo& agent = *w.agent;
    ASSIGN_OR_RETURN(const std::int64_t agent_id, AgentIdLocked(agent, now));
    ASSIGN_OR_RETURN(const std::int64_t user_id, UserIdLocked(agent.user, now));
    std::vector<IngestResult>& out = results.emplace_back();
    out.reserve(w.batches.size());
    std::int64_t max_seq = 0;
    std::int64_t quarantined = 0;
    bool stored_any = false;
    for (const ValidatedBatch& b : w.batches) {
      const auto seq = static_cast<std::int64_t>(b.seq);
      RETURN_IF_ERROR(st.insert_batch.Bind(1, agent_id)
                          .Bind(2, seq)
                          .Bind(3, now)
                          .Bind(4, static_cast<std::int64_t>(b.intervals.size()))
                          .Bind(5, static_cast<std::int64_t>(b.quarantined.size()))
                          .Run());
      if (db_->Changes() == 0) {
        out.push_back(IngestResult::kDuplicate);
        continue;
      }
      out.push_back(IngestResult::kStored);
      stored_any = true;
      max_seq = std::max(max_seq, seq);
      // Consecutive intervals usually share an identity: skip the hash look-up.
      const AppIdentityRecord* last_app = nullptr;
      std::int64_t identity_id = 0;
      for (const IntervalRecord& iv : b.intervals) {
        if (last_app == nullptr || !IdentityEq()(*last_app, iv.app)) {
          ASSIGN_OR_RETURN(identity_id, IdentityIdLocked(iv.app));
          last_app = &iv.app;
        }
        // The overlap rule (see the header): only the part of the interval
        // not yet covered for (device, user) is credited.
        ASSIGN_OR_RETURN(const std::vector<IntervalRecord> pieces,
                         UncoveredPiecesLocked(agent.device_id, user_id, iv));
        std::int64_t credited = 0;
        for (const IntervalRecord& piece : pieces) {
          RETURN_IF_ERROR(intervals.Add(agent_id, user_id, identity_id, piece));
          rollup.Add(user_id, identity_id, piece);
          credited += piece.active_duration_ms;
          if (!options_.clip_overlaps) continue;
          RETURN_IF_ERROR(st.insert_cover.Bind(1, agent.device_id)
                              .Bind(2, user_id)
                              .Bind(3, piece.start_utc_ms)
                              .Bind(4, piece.start_utc_ms + piece.active_duration_ms)
                              .Run());
        }
        if (credited < iv.active_duration_ms) {
          overlap_ms += iv.active_duration_ms - credited;
          ++overlap_intervals;
        }
      }
      for (const QuarantineRecord& q : b.quarantined) {
        RETURN_IF_ERROR(st.insert_quarantine.Bind(1, agent_id)
                            .Bind(2, seq)
                            .Bind(3, std::int64_t{q.index})
                            .Bind(4, q.reason)
                            .Bind(5, q.detail)
                            .Bind(6, now)
                            .Run());
      }
      quarantined += static_cast<std::int64_t>(b.quarantined.size());
    }
    quarantine_rows += quarantined;
    if (stored_any) {
      RETURN_IF_ERROR(st.update_agent_after_ingest.Bind(1, agent_id)
                          .Bind(2, max_seq)
                          .Bind(3, now)
                          .Bind(4, quarantined)
                          .Run());
    }
  }
  RETURN_IF_ERROR(intervals.Flush());
  if (overlap_intervals > 0) {
    RETURN_IF_ERROR(AddCounterLocked(kCounterOverlapClippedMs, overlap_ms));
    RETURN_IF_ERROR(AddCounterLocked(kCounterOverlapClippedIntervals, overlap_intervals));
  }
  if (quarantine_rows > 0 && options_.max_quarantine_rows > 0) {
    RETURN_IF_ERROR(st.trim_quarantine.Bind(1, options_.max_quarantine_rows).Run());
    const std::int64_t dropped = db_->Changes();
    if (dropped > 0) {
      spdlog::warn("usage store: quarantine over its cap of {} rows: dropped the oldest {}",
                   options_.max_quarantine_rows, dropped);
      RETURN_IF_ERROR(AddCounterLocked(kCounterQuarantineDropped, dropped));
    }
  }
  for (const auto& [key, usage] : rollup.Sorted()) {
    const auto& [user_id, identity_id, day] = key;
    RETURN_IF_ERROR(st.upsert_daily.Bind(1, user_id)
                        .Bind(2, identity_id)
                        .Bind(3, day)
                        .Bind(4, usage.focus_ms)
                        .Bind(5, usage.sessions)
                        .Bind(6, usage.last_seen_utc_ms)
                        .Run());
  }
  return results;
}

absl::StatusOr<std::vector<IntervalRecord>> SqliteUsageStore::UncoveredPiecesLocked(
    const std::string& device_id, std::int64_t user_id, const IntervalRecord& iv) {
  const UtcMs start = iv.start_utc_ms;
  const UtcMs end = start + iv.active_duration_ms;
  if (!options_.clip_overlaps) return std::vector<IntervalRecord>{iv};
  Statements& st = *st_;
  ResetOnExit reset(st.select_cover);
  st.select_cover.Bind(1, device_id)
      .Bind(2, user_id)
      .Bind(3, start)
      .Bind(4, end)
      .Bind(5, options_.max_interval_ms);
  std::vector<IntervalRecord> pieces;
  UtcMs cursor = start;  // everything before it is covered or credited
  auto add_piece = [&](UtcMs from, UtcMs to) {
    IntervalRecord& p = pieces.emplace_back();
    p.app = iv.app;
    p.start_utc_ms = from;
    p.active_duration_ms = to - from;
    // Later pieces continue the same focus session.
    p.continuation = pieces.size() > 1 || iv.continuation;
  };
  while (cursor < end) {
    ASSIGN_OR_RETURN(const bool has_row, st.select_cover.Step());
    if (!has_row) break;
    const UtcMs cover_start = st.select_cover.ColumnInt(0);
    const UtcMs cover_end = st.select_cover.ColumnInt(1);
    if (cover_start > cursor) add_piece(cursor, std::min(cover_start, end));
    cursor = std::max(cursor, cover_end);
  }
  if (cursor < end) add_piece(cursor, end);
  return pieces;
}

absl::Status SqliteUsageStore::AddCounterLocked(const char* name, std::int64_t delta) {
  return st_->add_counter.Bind(1, std::string(name)).Bind(2, delta).Run();
}

absl::StatusOr<StoreCounters> SqliteUsageStore::Counters() {
  absl::MutexLock l(&read_mu_);
  auto st = reader_->Prepare("SELECT name, value FROM store_counters");
  if (!st.ok()) return Annotate(st.status(), "reading counters");
  StoreCounters c;
  while (true) {
    auto has_row = st->Step();
    if (!has_row.ok()) return Annotate(has_row.status(), "reading counters");
    if (!*has_row) break;
    const std::string name = st->ColumnText(0);
    const auto value = static_cast<std::uint64_t>(std::max<std::int64_t>(0, st->ColumnInt(1)));
    if (name == kCounterQuarantineDropped) c.quarantine_dropped = value;
    if (name == kCounterOverlapClippedMs) c.overlap_clipped_ms = value;
    if (name == kCounterOverlapClippedIntervals) c.overlap_clipped_intervals = value;
  }
  return c;
}

absl::Status SqliteUsageStore::RecordDropped(const AgentInfo& agent, const DropCounters& counters,
                                             UtcMs now) {
  RETURN_IF_ERROR(CheckAgent(agent));
  absl::MutexLock l(&mu_);
  const std::string context =
      absl::StrCat("recording dropped data of ", agent.device_id, "/", agent.agent_instance_id);
  absl::Status status;
  {
    auto tx = sqlite::Transaction::Begin(*db_);
    if (!tx.ok()) return Annotate(tx.status(), context);
    auto agent_id = AgentIdLocked(agent, now);
    status = agent_id.status();
    if (status.ok()) {
      status = st_->record_dropped.Bind(1, *agent_id)
                   .Bind(2, ClampToInt64(counters.dropped_batches))
                   .Bind(3, ClampToInt64(counters.dropped_intervals))
                   .Bind(4, ClampToInt64(counters.dropped_focus_ms))
                   .Bind(5, ClampToInt64(counters.corrupt_spools))
                   .Bind(6, now)
                   .Run();
    }
    if (status.ok()) status = tx->Commit();
    if (status.ok()) return status;
  }
  DropCachesLocked();
  return Annotate(status, context);
}

absl::StatusOr<std::vector<UsageRow>> SqliteUsageStore::QueryUsage(const UsageFilter& filter) {
  std::string sql =
      absl::StrCat("SELECT u.domain || '\\' || u.login_name AS user_key, u.upn, i.display_key, ",
                   filter.by_day ? "d.day" : "NULL",
                   ", sum(d.focus_ms), sum(d.sessions), max(d.last_seen_utc_ms)"
                   " FROM daily_usage d JOIN users u ON u.id = d.user_id"
                   " JOIN identities i ON i.id = d.identity_id WHERE 1");
  // Bound values, in order of their '?'.
  std::vector<std::string> texts;
  std::vector<std::int64_t> days;
  if (!filter.user.empty()) {
    const std::string user = absl::AsciiStrToLower(filter.user);
    const size_t slash = user.find('\\');
    if (slash != std::string::npos) {
      absl::StrAppend(&sql, " AND lower(u.domain) = ? AND lower(u.login_name) = ?");
      texts.push_back(user.substr(0, slash));
      texts.push_back(user.substr(slash + 1));
    } else {
      absl::StrAppend(&sql, " AND (lower(u.login_name) = ? OR lower(u.upn) = ?)");
      texts.push_back(user);
      texts.push_back(user);
    }
  }
  if (!filter.application.empty()) {
    absl::StrAppend(&sql, " AND i.display_key LIKE ? ESCAPE '\\'");
    texts.push_back(ContainsPattern(filter.application));
  }
  if (filter.since_day.has_value()) {
    absl::StrAppend(&sql, " AND d.day >= ?");
    days.push_back(*filter.since_day);
  }
  if (filter.until_day.has_value()) {
    absl::StrAppend(&sql, " AND d.day <= ?");
    days.push_back(*filter.until_day);
  }
  absl::StrAppend(&sql, " GROUP BY u.id, i.display_key", filter.by_day ? ", d.day" : "",
                  " ORDER BY user_key, i.display_key", filter.by_day ? ", d.day" : "");

  absl::MutexLock l(&read_mu_);
  auto st = reader_->Prepare(sql);
  if (!st.ok()) return Annotate(st.status(), "querying usage");
  int index = 1;
  for (const std::string& t : texts) st->Bind(index++, t);
  for (std::int64_t d : days) st->Bind(index++, d);
  std::vector<UsageRow> rows;
  while (true) {
    auto has_row = st->Step();
    if (!has_row.ok()) return Annotate(has_row.status(), "querying usage");
    if (!*has_row) break;
    UsageRow& r = rows.emplace_back();
    r.user = st->ColumnText(0);
    r.upn = st->ColumnText(1);
    r.application = st->ColumnText(2);
    if (filter.by_day) r.day = st->ColumnInt(3);
    r.focus_ms = st->ColumnInt(4);
    r.sessions = st->ColumnInt(5);
    r.last_seen_utc_ms = st->ColumnInt(6);
  }
  return rows;
}

absl::StatusOr<std::vector<DeviceRow>> SqliteUsageStore::ListDevices() {
  absl::MutexLock l(&read_mu_);
  auto st = reader_->Prepare(R"sql(
SELECT a.device_id, a.agent_instance_id, a.agent_version, a.os_version, a.hostname,
       u.login_name, u.domain, u.sid, u.uid, u.upn,
       a.acked_through_seq, a.last_seen_utc_ms, a.dropped_batches, a.dropped_intervals,
       a.dropped_focus_ms, a.corrupt_spools, a.quarantined_intervals
FROM agents a JOIN users u ON u.id = a.user_id
ORDER BY a.device_id, a.agent_instance_id)sql");
  if (!st.ok()) return Annotate(st.status(), "listing devices");
  std::vector<DeviceRow> rows;
  while (true) {
    auto has_row = st->Step();
    if (!has_row.ok()) return Annotate(has_row.status(), "listing devices");
    if (!*has_row) break;
    DeviceRow& r = rows.emplace_back();
    r.agent.device_id = st->ColumnText(0);
    r.agent.agent_instance_id = st->ColumnText(1);
    r.agent.agent_version = st->ColumnText(2);
    r.agent.os_version = st->ColumnText(3);
    r.agent.hostname = st->ColumnText(4);
    r.agent.user.login_name = st->ColumnText(5);
    r.agent.user.domain = st->ColumnText(6);
    r.agent.user.sid = st->ColumnText(7);
    if (!st->ColumnIsNull(8)) r.agent.user.uid = static_cast<std::uint32_t>(st->ColumnInt(8));
    r.agent.user.upn = st->ColumnText(9);
    r.acked_through_seq = static_cast<std::uint64_t>(st->ColumnInt(10));
    r.last_seen_utc_ms = st->ColumnInt(11);
    r.dropped.dropped_batches = static_cast<std::uint64_t>(st->ColumnInt(12));
    r.dropped.dropped_intervals = static_cast<std::uint64_t>(st->ColumnInt(13));
    r.dropped.dropped_focus_ms = static_cast<std::uint64_t>(st->ColumnInt(14));
    r.dropped.corrupt_spools = static_cast<std::uint64_t>(st->ColumnInt(15));
    r.quarantined_intervals = static_cast<std::uint64_t>(st->ColumnInt(16));
  }
  return rows;
}

absl::StatusOr<std::vector<QuarantineRow>> SqliteUsageStore::ListQuarantine(int limit) {
  if (limit < 0) return absl::InvalidArgumentError("ListQuarantine: limit must be >= 0");
  absl::MutexLock l(&read_mu_);
  auto st = reader_->Prepare(R"sql(
SELECT a.device_id, a.agent_instance_id, q.seq, q.idx, q.reason, q.detail, q.received_utc_ms
FROM quarantine q JOIN agents a ON a.id = q.agent_id
ORDER BY q.id DESC LIMIT ?1)sql");
  if (!st.ok()) return Annotate(st.status(), "listing quarantine");
  st->Bind(1, std::int64_t{limit});
  std::vector<QuarantineRow> rows;
  while (true) {
    auto has_row = st->Step();
    if (!has_row.ok()) return Annotate(has_row.status(), "listing quarantine");
    if (!*has_row) break;
    QuarantineRow& r = rows.emplace_back();
    r.device_id = st->ColumnText(0);
    r.agent_instance_id = st->ColumnText(1);
    r.seq = static_cast<std::uint64_t>(st->ColumnInt(2));
    r.record.index = static_cast<std::uint32_t>(st->ColumnInt(3));
    r.record.reason = st->ColumnText(4);
    r.record.detail = st->ColumnText(5);
    r.received_utc_ms = st->ColumnInt(6);
  }
  return rows;
}

absl::StatusOr<std::int64_t> SqliteUsageStore::SizeBytes() {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(const std::int64_t pages, db_->QueryInt("PRAGMA page_count"));
  ASSIGN_OR_RETURN(const std::int64_t page_size, db_->QueryInt("PRAGMA page_size"));
  return pages * page_size;
}

absl::Status SqliteUsageStore::SetMaxSizeBytes(std::int64_t bytes) {
  if (bytes < 0) return absl::InvalidArgumentError("max size must be >= 0");
  absl::MutexLock l(&mu_);
  std::int64_t pages = default_max_page_count_;
  if (bytes > 0) {
    ASSIGN_OR_RETURN(const std::int64_t page_size, db_->QueryInt("PRAGMA page_size"));
    pages = std::max<std::int64_t>(1, bytes / page_size);
  }
  // SQLite never sets the cap below the current page count.
  ASSIGN_OR_RETURN(const std::int64_t set,
                   db_->QueryInt(absl::StrCat("PRAGMA max_page_count=", pages)));
  spdlog::info("usage store {}: size cap {} pages", options_.path, set);
  return absl::OkStatus();
}

}  // namespace reclaim::collector
