#include "collector/server/device_registry.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/crypto.h"
#include "common/log_format.h"
#include "common/secret_file.h"
#include "common/sqlite_migrations.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

constexpr char kComponent[] = "device_registry";
// kMigrations[v - 1] takes the table from version v - 1 to v.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE device_credentials(
  token_sha256 BLOB PRIMARY KEY,
  device_id TEXT NOT NULL,
  hostname TEXT NOT NULL DEFAULT '',
  enrolled_utc_ms INTEGER NOT NULL,
  revoked_utc_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX device_credentials_by_device ON device_credentials(device_id);
)sql",
    // Version 2: a counter every Enroll and Revoke increments, so collectors
    // sharing the database notice each other's changes (Refresh).
    R"sql(
CREATE TABLE device_registry_generation(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL
);
INSERT INTO device_registry_generation(id, generation) VALUES(1, 0);
)sql",
};

constexpr char kSelectGeneration[] =
    "SELECT generation FROM device_registry_generation WHERE id = 1";

absl::Status ValidateDeviceId(absl::string_view id) {
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("device id must be 1 to 128 bytes, got ", id.size()));
  }
  if (!IsValidUtf8(std::string_view(id.data(), id.size()))) {
    return absl::InvalidArgumentError("device id is not valid UTF-8");
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("device id contains a control character");
    }
  }
  return absl::OkStatus();
}

// Folds one credential row into its device's summary.
void Fold(DeviceCredentialInfo& d, const std::string& hostname, UtcMs enrolled, UtcMs revoked) {
  if (enrolled >= d.enrolled_utc_ms) {
    d.enrolled_utc_ms = enrolled;
    d.hostname = hostname;
  }
  if (revoked == 0) {
    ++d.valid_credentials;
    d.revoked_utc_ms = 0;
  } else if (d.valid_credentials == 0) {
    d.revoked_utc_ms = std::max(d.revoked_utc_ms, revoked);
  }
}

}  // namespace

DeviceRegistry::DeviceRegistry(std::unique_ptr<sqlite::Database> db, std::string secret_sha256,
                               const Clock& clock)
    : secret_sha256_(std::move(secret_sha256)), clock_(clock), db_(std::move(db)) {}

DeviceRegistry::~DeviceRegistry() { StopWatching(); }

absl::StatusOr<std::unique_ptr<DeviceRegistry>> DeviceRegistry::Open(
    const std::string& db_path, std::string enrollment_secret, const Clock& clock) {
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db,
                   sqlite::Database::Open(db_path, /*create=*/true));
  RETURN_IF_ERROR(sqlite::MigrateComponent(*db, kComponent, kMigrations, db_path,
                                           "device registry"));
  std::string secret_hash = enrollment_secret.empty() ? "" : Sha256(enrollment_secret);
  WipeSecret(enrollment_secret);
  std::unique_ptr<DeviceRegistry> r(new DeviceRegistry(std::move(db), std::move(secret_hash),
                                                       clock));
  RETURN_IF_ERROR(r->Load());
  return r;
}

absl::StatusOr<DeviceRegistry::Snapshot> DeviceRegistry::ReadLocked() {
  Snapshot snap;
  // The counter first: a write between the two reads makes the next
  // Refresh read again, never miss it.
  ASSIGN_OR_RETURN(snap.generation, db_->QueryInt(kSelectGeneration));
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("SELECT device_id, token_sha256, hostname, enrolled_utc_ms, "
                                "revoked_utc_ms FROM device_credentials"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    const std::string id = st.ColumnText(0);
    DeviceCredentialInfo& d = snap.devices[id];
    d.device_id = id;
    Fold(d, st.ColumnText(2), st.ColumnInt(3), st.ColumnInt(4));
    if (st.ColumnInt(4) == 0) snap.device_by_hash[st.ColumnBlob(1)] = id;
  }
  return snap;
}

absl::Status DeviceRegistry::Load() {
  absl::MutexLock w(&write_mu_);
  ASSIGN_OR_RETURN(Snapshot snap, ReadLocked());
  generation_ = snap.generation;
  absl::MutexLock l(&mu_);
  devices_ = std::move(snap.devices);
  device_by_hash_ = std::move(snap.device_by_hash);
  return absl::OkStatus();
}

absl::StatusOr<std::int64_t> DeviceRegistry::BumpGenerationLocked() {
  RETURN_IF_ERROR(db_->Exec(
      "UPDATE device_registry_generation SET generation = generation + 1 WHERE id = 1"));
  return db_->QueryInt(kSelectGeneration);
}

void DeviceRegistry::NoteOwnWriteLocked(std::int64_t generation) {
  if (generation == generation_ + 1) generation_ = generation;
}

absl::StatusOr<std::string> DeviceRegistry::Enroll(absl::string_view device_id,
                                                   absl::string_view secret,
                                                   absl::string_view hostname) {
  if (!enrollment_enabled()) {
    return absl::FailedPreconditionError(
        "enrollment is not configured on this collector (no enrollment secret)");
  }
  const std::string given = Sha256(secret);
  if (!ConstantTimeEquals(given, secret_sha256_)) {
    absl::MutexLock l(&mu_);
    ++stats_.enrollments_refused;
    return absl::UnauthenticatedError("wrong enrollment secret");
  }
  RETURN_IF_ERROR(ValidateDeviceId(device_id));
  std::string host = SanitizeUtf8(std::string_view(hostname.data(), hostname.size()), 255);
  for (char& c : host) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // logs and terminals
  }
  ASSIGN_OR_RETURN(std::string raw, RandomBytes(32));
  std::string token = absl::BytesToHexString(raw);
  WipeSecret(raw);
  const std::string hash = Sha256(token);
  const UtcMs now = clock_.WallUtcMs();

  {
    absl::MutexLock w(&write_mu_);
    ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     db_->Prepare("INSERT INTO device_credentials(device_id, token_sha256, "
                                  "hostname, enrolled_utc_ms, revoked_utc_ms) "
                                  "VALUES(?, ?, ?, ?, 0)"));
    st.Bind(1, std::string_view(device_id.data(), device_id.size()));
    st.BindBlob(2, hash);
    st.Bind(3, host);
    st.Bind(4, static_cast<std::int64_t>(now));
    RETURN_IF_ERROR(st.Run());
    ASSIGN_OR_RETURN(const std::int64_t generation, BumpGenerationLocked());
    RETURN_IF_ERROR(tx.Commit());
    NoteOwnWriteLocked(generation);
    absl::MutexLock l(&mu_);
    const std::string id(device_id);
    DeviceCredentialInfo& d = devices_[id];
    d.device_id = id;
    Fold(d, host, now, 0);
    device_by_hash_[hash] = id;
    ++stats_.enrollments;
    spdlog::info("device {} ({}) enrolled ({} valid credential(s))", id, host,
                 d.valid_credentials);
  }
  return token;
}

absl::StatusOr<DeviceRegistry::Attachment> DeviceRegistry::Attach(
    absl::string_view token, std::function<void()> on_revoked) {
  const std::string hash = Sha256(token);
  absl::MutexLock l(&mu_);
  auto it = device_by_hash_.find(hash);
  if (token.empty() || it == device_by_hash_.end()) {
    ++stats_.authentications_refused;
    return absl::UnauthenticatedError(
        token.empty() ? "no device credential presented; enroll this device with the "
                        "enrollment secret"
                      : "device credential unknown or revoked; enroll this device again with "
                        "the enrollment secret");
  }
  const std::int64_t id = next_watcher_++;
  watchers_[id] = {it->second, hash, std::move(on_revoked)};
  return Attachment{.device_id = it->second, .id = id};
}

void DeviceRegistry::Detach(std::int64_t id) {
  std::function<void()> dropped;  // destroyed outside the lock
  absl::MutexLock l(&mu_);
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return;
  dropped = std::move(it->second.on_revoked);
  watchers_.erase(it);
}

std::vector<std::function<void()>> DeviceRegistry::TakeWatchersLocked(
    const std::string& device_id) {
  std::vector<std::function<void()>> out;
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->second.device_id == device_id) {
      out.push_back(std::move(it->second.on_revoked));
      it = watchers_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

absl::StatusOr<std::pair<DeviceCredentialInfo, int>> DeviceRegistry::Revoke(
    absl::string_view device_id) {
  const std::string id(device_id);
  std::vector<std::function<void()>> ended;
  DeviceCredentialInfo info;
  {
    absl::MutexLock w(&write_mu_);
    {
      absl::MutexLock l(&mu_);
      if (devices_.count(id) == 0) {
        return absl::NotFoundError(absl::StrCat("device '", id, "' has never enrolled"));
      }
    }
    const UtcMs now = clock_.WallUtcMs();
    ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     db_->Prepare("UPDATE device_credentials SET revoked_utc_ms = ? "
                                  "WHERE device_id = ? AND revoked_utc_ms = 0"));
    st.Bind(1, static_cast<std::int64_t>(now));
    st.Bind(2, id);
    RETURN_IF_ERROR(st.Run());
    ASSIGN_OR_RETURN(const std::int64_t generation, BumpGenerationLocked());
    RETURN_IF_ERROR(tx.Commit());
    NoteOwnWriteLocked(generation);
    absl::MutexLock l(&mu_);
    DeviceCredentialInfo& d = devices_[id];
    if (d.valid_credentials > 0) {
      d.valid_credentials = 0;
      d.revoked_utc_ms = now;
      ++stats_.revocations;
    }
    for (auto it = device_by_hash_.begin(); it != device_by_hash_.end();) {
      it = it->second == id ? device_by_hash_.erase(it) : std::next(it);
    }
    ended = TakeWatchersLocked(id);
    info = d;
  }
  spdlog::warn("device {} revoked: {} open stream(s) ended", id, ended.size());
  for (auto& f : ended) f();
  return std::make_pair(info, static_cast<int>(ended.size()));
}

absl::StatusOr<int> DeviceRegistry::Refresh() {
  std::vector<std::function<void()>> ended;
  std::vector<std::string> revoked;  // devices revoked elsewhere
  {
    absl::MutexLock w(&write_mu_);
    ASSIGN_OR_RETURN(const std::int64_t generation, db_->QueryInt(kSelectGeneration));
    if (generation == generation_) return 0;
    ASSIGN_OR_RETURN(Snapshot snap, ReadLocked());
    generation_ = snap.generation;
    absl::MutexLock l(&mu_);
    for (const auto& [id, before] : devices_) {
      auto now = snap.devices.find(id);
      if (before.valid_credentials > 0 &&
          (now == snap.devices.end() || now->second.valid_credentials < before.valid_credentials)) {
        revoked.push_back(id);
      }
    }
    devices_ = std::move(snap.devices);
    device_by_hash_ = std::move(snap.device_by_hash);
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      if (device_by_hash_.count(it->second.token_sha256) == 0) {
        ended.push_back(std::move(it->second.on_revoked));
        it = watchers_.erase(it);
      } else {
        ++it;
      }
    }
    ++stats_.reloads;
    stats_.streams_ended_by_remote_revocation += ended.size();
  }
  for (const std::string& id : revoked) {
    spdlog::warn("device {}: credential(s) revoked by another collector sharing the database",
                 id);
  }
  if (!ended.empty()) {
    spdlog::warn("{} open stream(s) ended: their credentials were revoked by another collector",
                 ended.size());
  }
  for (auto& f : ended) f();
  return static_cast<int>(ended.size());
}

void DeviceRegistry::StartWatching(std::chrono::milliseconds interval) {
  absl::MutexLock l(&watch_mu_);
  if (watch_thread_.joinable()) return;
  watch_stop_ = false;
  watch_thread_ = std::thread([this, interval] { WatchLoop(interval); });
}

void DeviceRegistry::StopWatching() {
  {
    absl::MutexLock l(&watch_mu_);
    watch_stop_ = true;
  }
  if (watch_thread_.joinable()) watch_thread_.join();
}

void DeviceRegistry::WatchLoop(std::chrono::milliseconds interval) {
  pthread_setname_np(pthread_self(), "device-watch");
  bool failing = false;
  while (true) {
    {
      absl::MutexLock l(&watch_mu_);
      if (watch_mu_.AwaitWithTimeout(absl::Condition(&watch_stop_), absl::FromChrono(interval))) {
        return;
      }
    }
    absl::StatusOr<int> r = Refresh();
    if (!r.ok() && !failing) {
      spdlog::warn("cannot check the device registry for changes by other collectors (will "
                   "retry every {} ms): {}",
                   interval.count(), r.status());
    } else if (r.ok() && failing) {
      spdlog::info("device registry check works again");
    }
    failing = !r.ok();
  }
}

std::vector<DeviceCredentialInfo> DeviceRegistry::List() const {
  absl::MutexLock l(&mu_);
  std::vector<DeviceCredentialInfo> out;
  for (const auto& [id, info] : devices_) out.push_back(info);
  return out;
}

DeviceRegistryStats DeviceRegistry::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

}  // namespace reclaim::collector
