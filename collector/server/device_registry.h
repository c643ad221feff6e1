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
// in step by Enroll/Revoke), so gRPC reactors never wait for SQLite. Several
// collectors sharing one database do not see each other's revocations until
// restarted (not supported yet).
//
// Thread-safe. Owned by the collector's main; must outlive the services.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
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

  /// Every enrolled device, ordered by device id.
  std::vector<DeviceCredentialInfo> List() const;
  DeviceRegistryStats stats() const;
  bool enrollment_enabled() const { return !secret_sha256_.empty(); }

 private:
  DeviceRegistry(std::unique_ptr<sqlite::Database> db, std::string secret_sha256,
                 const Clock& clock);
  absl::Status Load();
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
  struct Watcher {
    std::string device_id;
    std::function<void()> on_revoked;
  };
  std::map<std::int64_t, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  std::int64_t next_watcher_ ABSL_GUARDED_BY(mu_) = 1;
  DeviceRegistryStats stats_ ABSL_GUARDED_BY(mu_);
};

/// The SHA-256 of `data`, 32 raw bytes: common/crypto.h.
using ::reclaim::Sha256;

}  // namespace reclaim::collector
