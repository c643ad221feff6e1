#include "collector/server/agent_limits.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace reclaim::collector {

absl::Status ValidateAgentLimitsOptions(const AgentLimitsOptions& o) {
  if (o.max_streams_per_device < 0) {
    return absl::InvalidArgumentError("max_streams_per_device must be >= 0");
  }
  if (o.max_streams_per_user < 0) {
    return absl::InvalidArgumentError("max_streams_per_user must be >= 0");
  }
  const std::pair<const char*, double> values[] = {{"intervals_per_s", o.intervals_per_s},
                                                   {"intervals_burst", o.intervals_burst},
                                                   {"bytes_per_s", o.bytes_per_s},
                                                   {"bytes_burst", o.bytes_burst}};
  for (const auto& [name, v] : values) {
    if (!(v >= 0)) return absl::InvalidArgumentError(absl::StrCat(name, " must be >= 0"));
  }
  if (o.intervals_per_s > 0 && o.intervals_burst < 1) {
    return absl::InvalidArgumentError("intervals_burst must be >= 1 when intervals_per_s is set");
  }
  if (o.bytes_per_s > 0 && o.bytes_burst < 1) {
    return absl::InvalidArgumentError("bytes_burst must be >= 1 when bytes_per_s is set");
  }
  return absl::OkStatus();
}

AgentLimits::AgentLimits(const Clock& clock, AgentLimitsOptions options)
    : clock_(clock), options_(options) {}

std::string AgentLimits::DeviceKey(absl::string_view device_id) {
  return absl::StrCat("d", device_id);
}

std::string AgentLimits::UserKey(absl::string_view device_id, absl::string_view user) {
  return absl::StrCat("u", device_id, "\n", user);
}

AgentLimits::Device& AgentLimits::DeviceLocked(const std::string& key) {
  auto it = devices_.find(key);
  if (it != devices_.end()) return it->second;
  const MonoTime now = clock_.Monotonic();
  Device& d = devices_[key];
  d.intervals = {options_.intervals_burst, now};
  d.bytes = {options_.bytes_burst, now};
  return d;
}

void AgentLimits::RefillLocked(Device& d, MonoTime now) {
  d.intervals.Refill(now, options_.intervals_per_s, options_.intervals_burst);
  d.bytes.Refill(now, options_.bytes_per_s, options_.bytes_burst);
}

bool AgentLimits::IdleLocked(const Device& d) const {
  return d.streams == 0 && d.intervals.tokens >= options_.intervals_burst &&
         d.bytes.tokens >= options_.bytes_burst;
}

void AgentLimits::ForgetIdleLocked(MonoTime now) {
  // Amortised: sweep when the table doubled since the last sweep.
  if (devices_.size() < 64 || devices_.size() < 2 * swept_size_) return;
  for (auto it = devices_.begin(); it != devices_.end();) {
    RefillLocked(it->second, now);
    if (IdleLocked(it->second)) {
      devices_.erase(it++);
    } else {
      ++it;
    }
  }
  swept_size_ = devices_.size();
}

absl::Status AgentLimits::AcquireStream(absl::string_view device_id, absl::string_view user) {
  absl::MutexLock l(&mu_);
  ForgetIdleLocked(clock_.Monotonic());
  const std::string device_key = DeviceKey(device_id);
  const std::string user_key = UserKey(device_id, user);
  // node_hash_map: references stay valid while entries are added.
  Device& d = DeviceLocked(device_key);
  Device& u = DeviceLocked(user_key);
  if (options_.max_streams_per_device > 0 && d.streams >= options_.max_streams_per_device) {
    ++counters_[kLimitTooManyStreams];
    return absl::ResourceExhaustedError(
        absl::StrCat("device already has ", d.streams,
                     " open streams, the limit (max_streams_per_device) is ",
                     options_.max_streams_per_device, "; retry later"));
  }
  if (options_.max_streams_per_user > 0 && u.streams >= options_.max_streams_per_user) {
    ++counters_[kLimitTooManyStreams];
    return absl::ResourceExhaustedError(
        absl::StrCat("this user already has ", u.streams,
                     " open streams on this device, the limit (max_streams_per_user) is ",
                     options_.max_streams_per_user, "; retry later"));
  }
  ++d.streams;
  ++u.streams;
  return absl::OkStatus();
}

void AgentLimits::ReleaseLocked(const std::string& key) {
  auto it = devices_.find(key);
  if (it == devices_.end() || it->second.streams == 0) return;
  --it->second.streams;
  RefillLocked(it->second, clock_.Monotonic());
  if (IdleLocked(it->second)) devices_.erase(it);
}

void AgentLimits::ReleaseStream(absl::string_view device_id, absl::string_view user) {
  absl::MutexLock l(&mu_);
  ReleaseLocked(DeviceKey(device_id));
  ReleaseLocked(UserKey(device_id, user));
}

absl::Status AgentLimits::ChargeBatch(absl::string_view device_id, absl::string_view user,
                                      std::int64_t intervals, std::int64_t bytes,
                                      std::chrono::milliseconds* retry_after) {
  absl::MutexLock l(&mu_);
  ForgetIdleLocked(clock_.Monotonic());
  Device& d = DeviceLocked(UserKey(device_id, user));
  RefillLocked(d, clock_.Monotonic());
  const double ni = static_cast<double>(std::max<std::int64_t>(intervals, 0));
  const double nb = static_cast<double>(std::max<std::int64_t>(bytes, 0));
  // Admitted when the bucket holds the cost or is full (see the header).
  const bool intervals_ok = options_.intervals_per_s <= 0 || d.intervals.tokens >= ni ||
                            d.intervals.tokens >= options_.intervals_burst;
  const bool bytes_ok = options_.bytes_per_s <= 0 || d.bytes.tokens >= nb ||
                        d.bytes.tokens >= options_.bytes_burst;
  if (!intervals_ok || !bytes_ok) {
    // The batch passes once each bucket holds its cost, or is full.
    const std::chrono::milliseconds wait = std::max(
        {std::chrono::milliseconds(1),
         d.intervals.TimeUntil(std::min(ni, options_.intervals_burst), options_.intervals_per_s),
         d.bytes.TimeUntil(std::min(nb, options_.bytes_burst), options_.bytes_per_s)});
    if (retry_after != nullptr) *retry_after = wait;
    ++counters_[intervals_ok ? kLimitRateBytes : kLimitRateIntervals];
    return absl::ResourceExhaustedError(
        intervals_ok
            ? absl::StrCat("this user of the device is over the rate limit of ", options_.bytes_per_s,
                           " bytes/s (bytes_per_s, burst ", options_.bytes_burst,
                           "); the batch was not stored: retry in ", wait.count(), " ms")
            : absl::StrCat("this user of the device is over the rate limit of ", options_.intervals_per_s,
                           " intervals/s (intervals_per_s, burst ", options_.intervals_burst,
                           "); the batch was not stored: retry in ", wait.count(), " ms"));
  }
  if (options_.intervals_per_s > 0) d.intervals.tokens -= ni;
  if (options_.bytes_per_s > 0) d.bytes.tokens -= nb;
  return absl::OkStatus();
}

void AgentLimits::Count(absl::string_view reason) {
  absl::MutexLock l(&mu_);
  auto it = counters_.find(reason);
  if (it == counters_.end()) it = counters_.emplace(std::string(reason), 0).first;
  ++it->second;
}

std::map<std::string, std::uint64_t> AgentLimits::Counters() const {
  absl::MutexLock l(&mu_);
  return {counters_.begin(), counters_.end()};
}

size_t AgentLimits::TrackedDevices() const {
  absl::MutexLock l(&mu_);
  return devices_.size();
}

std::string EscapeForLog(absl::string_view value, size_t max_bytes) {
  if (value.size() <= max_bytes) return absl::CHexEscape(value);
  return absl::StrCat(absl::CHexEscape(value.substr(0, max_bytes)), "...(", value.size(),
                      " bytes)");
}

}  // namespace reclaim::collector
