#include "collector/server/enrollment_limits.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/log_format.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

// The entry new peers share once max_tracked_peers are tracked.
constexpr char kOverflowKey[] = "(overflow: too many peers tracked)";
// At most one full sweep per this interval once the table is at its cap.
constexpr std::chrono::milliseconds kCapSweepInterval{1000};

double PerSecond(double per_minute) { return per_minute / 60.0; }
double PerSecondFromHour(double per_hour) { return per_hour / 3600.0; }

}  // namespace

absl::Status ValidateEnrollmentLimitsOptions(const EnrollmentLimitsOptions& o) {
  const std::pair<const char*, double> values[] = {
      {"enroll attempts per minute", o.attempts_per_minute},
      {"enroll attempts burst", o.attempts_burst},
      {"enroll failures per hour", o.failures_per_hour},
      {"enroll failures burst", o.failures_burst}};
  for (const auto& [name, v] : values) {
    if (!(v >= 0)) return absl::InvalidArgumentError(absl::StrCat(name, " must be >= 0"));
  }
  if (o.attempts_per_minute > 0 && o.attempts_burst < 1) {
    return absl::InvalidArgumentError("enroll attempts burst must be >= 1 when the rate is set");
  }
  if (o.failures_per_hour > 0 && o.failures_burst < 1) {
    return absl::InvalidArgumentError("enroll failures burst must be >= 1 when the rate is set");
  }
  if (o.max_tracked_peers < 1) {
    return absl::InvalidArgumentError("max tracked peers must be >= 1");
  }
  return absl::OkStatus();
}

std::string EnrollmentPeerKey(absl::string_view peer) {
  if (absl::StartsWith(peer, "unix:") || absl::StartsWith(peer, "unix-abstract:")) {
    return "unix";
  }
  const bool v4 = absl::ConsumePrefix(&peer, "ipv4:");
  const bool v6 = !v4 && absl::ConsumePrefix(&peer, "ipv6:");
  if (v4 || v6) {
    // Host and port: the port follows the last ':'; an IPv6 host is in
    // brackets, plain or URI-escaped (%5B ... %5D).
    const size_t colon = peer.rfind(':');
    std::string host(colon == absl::string_view::npos ? peer : peer.substr(0, colon));
    host = absl::StrReplaceAll(host, {{"%5B", ""}, {"%5b", ""}, {"%5D", ""}, {"%5d", ""},
                                      {"[", ""}, {"]", ""}});
    if (const size_t zone = host.find('%'); zone != std::string::npos) host.resize(zone);
    unsigned char a[16];
    if (v4 && inet_pton(AF_INET, host.c_str(), a) == 1) {
      char out[INET_ADDRSTRLEN];
      return inet_ntop(AF_INET, a, out, sizeof(out));
    }
    if (v6 && inet_pton(AF_INET6, host.c_str(), a) == 1) {
      static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      if (std::memcmp(a, kMapped, sizeof(kMapped)) == 0) {
        char out[INET_ADDRSTRLEN];
        return inet_ntop(AF_INET, a + 12, out, sizeof(out));
      }
      std::memset(a + 8, 0, 8);  // the /64 prefix
      char out[INET6_ADDRSTRLEN];
      return absl::StrCat(inet_ntop(AF_INET6, a, out, sizeof(out)), "/64");
    }
  }
  return std::string(peer.substr(0, 64));
}

EnrollmentLimits::EnrollmentLimits(const Clock& clock, EnrollmentLimitsOptions options)
    : clock_(clock), options_(options) {}

void EnrollmentLimits::RefillLocked(Peer& p, MonoTime now) const {
  p.attempts.Refill(now, PerSecond(options_.attempts_per_minute), options_.attempts_burst);
  p.failures.Refill(now, PerSecondFromHour(options_.failures_per_hour), options_.failures_burst);
}

bool EnrollmentLimits::IdleLocked(const Peer& p) const {
  return p.attempts.tokens >= options_.attempts_burst &&
         p.failures.tokens >= options_.failures_burst;
}

EnrollmentLimits::Peer& EnrollmentLimits::PeerLocked(const std::string& key, MonoTime now) {
  if (auto it = peers_.find(key); it != peers_.end()) return it->second;
  // Amortised: sweep when the table doubled since the last sweep, and at the
  // cap at most once per kCapSweepInterval.
  const bool at_cap = peers_.size() >= options_.max_tracked_peers;
  if ((peers_.size() >= 64 && peers_.size() >= 2 * swept_size_) ||
      (at_cap && now - swept_at_ >= kCapSweepInterval)) {
    for (auto it = peers_.begin(); it != peers_.end();) {
      RefillLocked(it->second, now);
      if (IdleLocked(it->second)) {
        peers_.erase(it++);
      } else {
        ++it;
      }
    }
    swept_size_ = peers_.size();
    swept_at_ = now;
  }
  const std::string& k = peers_.size() >= options_.max_tracked_peers ? kOverflowKey : key;
  auto [it, inserted] = peers_.try_emplace(k);
  if (inserted) {
    it->second.attempts = {options_.attempts_burst, now};
    it->second.failures = {options_.failures_burst, now};
  }
  return it->second;
}

EnrollmentAdmission EnrollmentLimits::Admit(absl::string_view grpc_peer) {
  const std::string key = EnrollmentPeerKey(grpc_peer);
  absl::MutexLock l(&mu_);
  const MonoTime now = clock_.Monotonic();
  Peer& p = PeerLocked(key, now);
  RefillLocked(p, now);
  const double attempt_rate = PerSecond(options_.attempts_per_minute);
  const double failure_rate = PerSecondFromHour(options_.failures_per_hour);
  const bool attempts_ok = attempt_rate <= 0 || p.attempts.tokens >= 1;
  const bool failures_ok = failure_rate <= 0 || p.failures.tokens >= 1;
  if (attempts_ok && failures_ok) {
    if (attempt_rate > 0) p.attempts.tokens -= 1;
    return {};
  }
  EnrollmentAdmission refused;
  refused.retry_after = std::max({std::chrono::milliseconds(1),
                                  p.attempts.TimeUntil(1, attempt_rate),
                                  p.failures.TimeUntil(1, failure_rate)});
  refused.reason = failures_ok ? kLimitEnrollRate : kLimitEnrollFailures;
  refused.status = absl::ResourceExhaustedError(
      failures_ok
          ? absl::StrCat("too many enrollment attempts from this address: the limit is ",
                         options_.attempts_per_minute, " per minute (burst ",
                         options_.attempts_burst, "); retry in ", refused.retry_after.count(),
                         " ms")
          : absl::StrCat("too many failed enrollment attempts (wrong enrollment secret) from "
                         "this address: the limit is ",
                         options_.failures_per_hour, " per hour (burst ",
                         options_.failures_burst, "); retry in ", refused.retry_after.count(),
                         " ms"));
  ++p.unlogged_refusals;
  if (!p.logged || now - p.logged_at >= options_.log_interval) {
    spdlog::warn("enrollment from {} refused: {} ({} attempt(s) refused since the last such "
                 "line; logged at most every {} s per address)",
                 key, refused.status.message(), p.unlogged_refusals,
                 options_.log_interval.count() / 1000);
    p.logged = true;
    p.logged_at = now;
    p.unlogged_refusals = 0;
  }
  return refused;
}

void EnrollmentLimits::RecordFailure(absl::string_view grpc_peer) {
  const std::string key = EnrollmentPeerKey(grpc_peer);
  absl::MutexLock l(&mu_);
  const MonoTime now = clock_.Monotonic();
  Peer& p = PeerLocked(key, now);
  RefillLocked(p, now);
  if (options_.failures_per_hour > 0) p.failures.tokens -= 1;
}

size_t EnrollmentLimits::TrackedPeers() const {
  absl::MutexLock l(&mu_);
  return peers_.size();
}

}  // namespace reclaim::collector
