// Device identity: agent enrollment, device credentials and their revocation.
//
// An agent enrolls once with the deployment's enrollment secret and receives
// a device credential: 256 random bits from OpenSSL's CSPRNG (RAND_bytes),
// hex-encoded. The collector stores only the credential's SHA-256, bound to
// the device id, in the table `device_credentials` of its database (schema
// component "device registry", common/sqlite_migrations.h). A device may hold
// several credentials (one per agent: every user session of a shared machine
// runs its own agent under the machine's device id). Every agent stream
// presents a credential; Attach() authenticates it and registers the stream,
// so that Revoke(), which voids all of the device's credentials, ends the
// device's open streams at once.
//
// Authentication reads an in-memory copy of the table (loaded at Open, kept
// in step by Enroll/Revoke), so gRPC reactors never wait for SQLite.
//
// Several collectors sharing one database: every Enroll and Revoke also
// increments a generation counter in the same transaction (table
// `device_registry_generation`). Refresh() reads the counter and, when
// another collector changed it, reloads the table: credentials enrolled
// elsewhere authenticate from then on, and the streams attached here under a
// credential revoked elsewhere are ended at once (their on_revoked is
// called). StartWatching() runs Refresh() every interval on a thread of the
// registry's own, so a revocation reaches every collector within about one
// interval; the reload costs one read of the table per change elsewhere
// (enrollments and revocations are rare), an unchanged counter one indexed
// read of one row.
//
// Thread-safe. Owned by the collector's main; must outlive the services.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/sqlite.h"

namespace reclaim::collector {

/// One device's credentials as the administrator sees them (never a token).
struct DeviceCredentialInfo {
  std::string device_id;
  std::string hostname;      ///< As given at the latest enrollment.
  UtcMs enrolled_utc_ms = 0;  ///< The latest enrollment.
  UtcMs revoked_utc_ms = 0;  ///< 0 while the device holds a valid credential.
  int valid_credentials = 0;
};

/// Counters.
struct DeviceRegistryStats {
  std::uint64_t enrollments = 0;
  std::uint64_t enrollments_refused = 0;  ///< Wrong enrollment secret.
  std::uint64_t authentications_refused = 0;  ///< Missing, unknown or revoked credential.
  std::uint64_t revocations = 0;
  /// Reloads after another collector enrolled or revoked (Refresh).
  std::uint64_t reloads = 0;
  /// Streams ended here because another collector revoked their credential.
  std::uint64_t streams_ended_by_remote_revocation = 0;
};

class DeviceRegistry {
 public:
  /// The outcome of a successful Attach.
  struct Attachment {
    std::string device_id;
    std::int64_t id = 0;  ///< For Detach.
  };

  /// Opens (creating or migrating) the table in the SQLite database at
  /// `db_path` and loads it. An empty `enrollment_secret` disables Enroll
  /// (FAILED_PRECONDITION); existing credentials still authenticate.
  /// `clock` must outlive the registry. Errors: from common/sqlite.h.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<DeviceRegistry>> Open(
      const std::string& db_path, std::string enrollment_secret, const Clock& clock);
  ~DeviceRegistry();

  /// Checks `secret` (constant time) and issues a new credential for
  /// `device_id` (other credentials of the device, valid or revoked, stay as
  /// they are). Returns the token (64 hex characters), which is not stored.
  /// Errors:
  /// kFailedPrecondition (enrollment disabled), kUnauthenticated (wrong
  /// secret), kInvalidArgument (device id empty, over 128 bytes, not UTF-8 or
  /// with control characters), SQLite errors (kUnavailable: retry).
  [[nodiscard]] absl::StatusOr<std::string> Enroll(absl::string_view device_id,
                                                   absl::string_view secret,
                                                   absl::string_view hostname);

  /// Authenticates `token` and registers `on_revoked`, which is called once
  /// (on the revoking thread, without the registry's lock held) when the
  /// device's credentials are revoked. Errors: kUnauthenticated
  /// (missing, unknown or revoked credential; the message names no token).
  [[nodiscard]] absl::StatusOr<Attachment> Attach(absl::string_view token,
                                                  std::function<void()> on_revoked);
  /// Unregisters an attachment (a finished stream). Idempotent.
  void Detach(std::int64_t id);

  /// Revokes all of `device_id`'s credentials and ends its attached streams.
  /// Returns the device and the number of streams told to end. Revoking a
  /// revoked device is not an error. Errors: kNotFound (never enrolled),
  /// SQLite errors.
  [[nodiscard]] absl::StatusOr<std::pair<DeviceCredentialInfo, int>> Revoke(
      absl::string_view device_id);

  /// Reloads the table when another collector sharing the database enrolled
  /// or revoked since the last load (see the file comment), ending the
  /// streams attached under credentials revoked there. Returns the number of
  /// streams ended. Errors: SQLite errors (kUnavailable while the database
  /// is locked: retry); nothing changes then.
  [[nodiscard]] absl::StatusOr<int> Refresh();
  /// Runs Refresh() every `interval` on a thread owned by the registry
  /// until StopWatching() or destruction (errors are logged, once per
  /// failure streak). Calling it again while watching does nothing.
  void StartWatching(std::chrono::milliseconds interval);
  /// Stops and joins the thread of StartWatching. Idempotent.
  void StopWatching();

  /// Every enrolled device, ordered by device id.
  std::vector<DeviceCredentialInfo> List() const;
  DeviceRegistryStats stats() const;
  bool enrollment_enabled() const { return !secret_sha256_.empty(); }

 private:
  DeviceRegistry(std::unique_ptr<sqlite::Database> db, std::string secret_sha256,
                 const Clock& clock);
  // The table's devices and valid credentials, read from the database.
  struct Snapshot {
    std::map<std::string, DeviceCredentialInfo> devices;
    std::map<std::string, std::string> device_by_hash;  // valid only
    std::int64_t generation = 0;
  };
  absl::StatusOr<Snapshot> ReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status Load();
  // Increments the generation counter (in the caller's transaction) and
  // returns its new value; after the commit, NoteOwnWriteLocked(value).
  absl::StatusOr<std::int64_t> BumpGenerationLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Our own committed write took the counter to `generation`: it is seen,
  // unless another collector wrote since our last load (then the next
  // Refresh reloads).
  void NoteOwnWriteLocked(std::int64_t generation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void WatchLoop(std::chrono::milliseconds interval);
  // Removes and returns the callbacks of `device_id`'s attachments.
  std::vector<std::function<void()>> TakeWatchersLocked(const std::string& device_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string secret_sha256_;  // empty: enrollment disabled
  const Clock& clock_;
  // Writers (Enroll, Revoke) take write_mu_ for the database, then mu_ for
  // the in-memory state; Attach takes mu_ only.
  absl::Mutex write_mu_;
  std::unique_ptr<sqlite::Database> db_ ABSL_GUARDED_BY(write_mu_);
  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::map<std::string, DeviceCredentialInfo> devices_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> device_by_hash_ ABSL_GUARDED_BY(mu_);  // valid only
  // The generation counter as of our last load or own write.
  std::int64_t generation_ ABSL_GUARDED_BY(write_mu_) = 0;
  struct Watcher {
    std::string device_id;
    std::string token_sha256;
    std::function<void()> on_revoked;
  };
  std::map<std::int64_t, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  std::int64_t next_watcher_ ABSL_GUARDED_BY(mu_) = 1;
  DeviceRegistryStats stats_ ABSL_GUARDED_BY(mu_);

  // The watching thread (StartWatching).
  absl::Mutex watch_mu_;
  bool watch_stop_ ABSL_GUARDED_BY(watch_mu_) = false;
  std::thread watch_thread_;
};

/// The SHA-256 of `data`, 32 raw bytes: common/crypto.h.
using ::reclaim::Sha256;

}  // namespace reclaim::collector
