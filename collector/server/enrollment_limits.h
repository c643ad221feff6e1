// Limits on agent enrollment (the Enroll RPC), per peer address: a token
// bucket on all attempts and one on failed attempts (wrong enrollment
// secret), so neither a flood of enrollments (each writes a credential row)
// nor guessing the secret can go fast.
//
// The peer is the address gRPC reports for the call: an IPv4 address, or the
// /64 prefix of an IPv6 address (one host commonly holds a whole /64, so
// limiting single IPv6 addresses would limit nothing); the port is ignored.
// Behind a load balancer or NAT every agent shares the balancer's address:
// raise the limits there (an agent refused retries later; nothing is lost).
//
// An attempt is admitted when the peer's attempt bucket holds a token and its
// failure bucket is not empty; it then takes an attempt token. A failed
// attempt (reported with RecordFailure once the secret was checked) takes a
// failure token too. A refusal names the limit and says how long until the
// next attempt would be admitted. Refusals are logged once per peer and log
// interval (with the number refused since the last line), not per attempt.
//
// Memory is bounded: peers whose buckets are full again are forgotten (an
// amortised sweep), and beyond `max_tracked_peers` new peers share one
// overflow entry (still limited, together).
//
// Thread-safe; owned by the agent service. Time comes from the Clock's
// monotonic face.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "collector/server/token_bucket.h"
#include "common/clock.h"

namespace reclaim::collector {

/// Reasons counted in the agent channel's refusal counters (`reclaimctl
/// stats`), next to agent_limits.h's.
inline constexpr char kLimitEnrollRate[] = "enroll_rate_limited";
inline constexpr char kLimitEnrollFailures[] = "enroll_failures_limited";
inline constexpr char kLimitEnrollWrongSecret[] = "enroll_wrong_secret";

/// Enrollment limits per peer address; every field documents its default.
struct EnrollmentLimitsOptions {
  /// Sustained enrollment attempts per minute per peer address. 0 = no
  /// limit. Default 10.
  double attempts_per_minute = 10;
  /// Attempts a peer may make at once (bucket size). Default 20.
  double attempts_burst = 20;
  /// Sustained failed attempts (wrong enrollment secret) per hour per peer
  /// address; while a peer's failure bucket is empty all its attempts are
  /// refused. 0 = no limit. Default 30.
  double failures_per_hour = 30;
  /// Failed attempts a peer may make at once. Default 5.
  double failures_burst = 5;
  /// Peers tracked at once; beyond it, new peers share one entry. Default
  /// 100,000 (a few MB).
  size_t max_tracked_peers = 100000;
  /// Refusals of one peer are logged at most once per this interval.
  /// Default 60 s.
  std::chrono::milliseconds log_interval{60000};
};

/// Checks `options` (no negative rate or burst, no burst below 1 when its
/// rate is on, at least one tracked peer). Errors: kInvalidArgument naming
/// the option.
[[nodiscard]] absl::Status ValidateEnrollmentLimitsOptions(const EnrollmentLimitsOptions& options);

/// The address an enrollment is limited under, from gRPC's peer string
/// ("ipv4:192.0.2.7:51234" -> "192.0.2.7", "ipv6:[2001:db8:1:2::5]:443" or
/// its URI-escaped form -> "2001:db8:1:2::/64", IPv4-mapped IPv6 -> the IPv4
/// address, "unix:..." -> "unix"); anything else is kept as is (at most 64
/// bytes).
std::string EnrollmentPeerKey(absl::string_view grpc_peer);

/// The outcome of EnrollmentLimits::Admit.
struct EnrollmentAdmission {
  /// OK, or kResourceExhausted with a message naming the limit and ending
  /// "retry in N ms".
  absl::Status status;
  /// On refusal: kLimitEnrollRate or kLimitEnrollFailures; else null.
  const char* reason = nullptr;
  /// On refusal: time until an attempt would be admitted (at least 1 ms).
  std::chrono::milliseconds retry_after{0};
};

/// See the file comment. Thread-safe.
class EnrollmentLimits {
 public:
  /// `clock` must outlive this object. Precondition: options are valid
  /// (ValidateEnrollmentLimitsOptions).
  EnrollmentLimits(const Clock& clock, EnrollmentLimitsOptions options);
  EnrollmentLimits(const EnrollmentLimits&) = delete;
  EnrollmentLimits& operator=(const EnrollmentLimits&) = delete;

  /// Admits (and charges) one enrollment attempt from `grpc_peer`, or
  /// refuses it (nothing charged), logging the refusal at most once per
  /// peer and log interval.
  EnrollmentAdmission Admit(absl::string_view grpc_peer);
  /// Charges a failed attempt (wrong enrollment secret) of `grpc_peer`.
  void RecordFailure(absl::string_view grpc_peer);

  /// Peers with state (buckets not yet refilled).
  size_t TrackedPeers() const;

 private:
  struct Peer {
    TokenBucket attempts;
    TokenBucket failures;
    // Refusals since the last log line, and when that line was written
    // (`logged` is false until the first one).
    std::uint64_t unlogged_refusals = 0;
    MonoTime logged_at{0};
    bool logged = false;
  };
  Peer& PeerLocked(const std::string& key, MonoTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RefillLocked(Peer& p, MonoTime now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IdleLocked(const Peer& p) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const EnrollmentLimitsOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Peer> peers_ ABSL_GUARDED_BY(mu_);
  // peers_.size() and the time at the last sweep of idle peers.
  size_t swept_size_ ABSL_GUARDED_BY(mu_) = 0;
  MonoTime swept_at_ ABSL_GUARDED_BY(mu_){0};
};

}  // namespace reclaim::collector
