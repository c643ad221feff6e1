// Input limits on the agent channel that span streams: concurrent streams per
// device and per user of a device, and a rate limit per user of a device
// (token buckets on intervals/s and bytes/s), plus the refusal counters of
// every agent-channel limit, by reason.
//
// Why per user of a device: all sessions of a machine share the machine's
// device id (reclaim-agent-service presents one device credential for every
// local user), so per-device-only limits would let one local user use up the
// rate and the stream slots of everyone else on that machine.
//
// Pure C++ (no gRPC): the agent service (agent_service.cc) asks this object
// before it accepts a stream or a batch and turns a refusal into a gRPC status
// (RESOURCE_EXHAUSTED or INVALID_ARGUMENT with a message naming the limit).
//
// Which stream loses when a device opens too many: the NEW one is refused.
// Refusing it costs nothing (it has sent only its Hello), never interrupts a
// stream in the middle of a batch, and a flood of streams cannot churn a
// device's working streams; the agent backs off and retries. The cost: a
// stream whose peer vanished without a FIN keeps its slot until gRPC keepalive
// ends it (at most keepalive time + timeout, 80 s with the collector's
// defaults), so a crashed-and-restarted agent may be refused a few times
// first.
//
// The rate limit: each device has two token buckets (Wikipedia "Token bucket";
// the same shape as Envoy's local rate limit), refilled continuously at
// `*_per_s` up to `*_burst`. A batch costs its interval count and its size in
// bytes; it is admitted when both buckets hold its cost, or when a bucket is
// full (so a batch larger than the burst still gets through, the bucket then
// going into debt that must refill before the next batch): a legitimate agent
// can never be stuck forever, and the long-run rate stays bounded. A refused
// batch takes no tokens, and its refusal says how long until the batch would
// be admitted (the agent's earliest sensible retry). State of a device whose buckets have refilled and
// that has no open stream is forgotten (identical to a fresh device), so the
// table holds only devices that are active or were recently.
//
// Thread-safe; owned by the agent service. Time comes from the Clock's
// monotonic face.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "collector/server/token_bucket.h"
#include "common/clock.h"

namespace reclaim::collector {

/// Reasons counted by AgentLimits::Count (stable strings, shown by
/// `reclaimctl stats`).
inline constexpr char kLimitTooManyStreams[] = "too_many_streams";
inline constexpr char kLimitRateIntervals[] = "rate_limited_intervals";
inline constexpr char kLimitRateBytes[] = "rate_limited_bytes";
inline constexpr char kLimitUnparseable[] = "unparseable_message";
inline constexpr char kLimitBadHello[] = "bad_hello";
inline constexpr char kLimitProtocol[] = "protocol_error";
inline constexpr char kLimitCommandResultTooLong[] = "command_result_too_long";
inline constexpr char kLimitStringTooLong[] = "interval_string_too_long";
inline constexpr char kLimitBatchTooLarge[] = "batch_too_large";

/// Limits across streams; every field documents its default.
struct AgentLimitsOptions {
  /// Streams one device_id may hold open at once (one per user session; a
  /// terminal server with more concurrent sessions needs more). A stream
  /// beyond it is refused with RESOURCE_EXHAUSTED. 0 = no limit. Default 16.
  int max_streams_per_device = 64;
  /// Streams one user (Hello's domain\login) may hold open on one device at
  /// once, so that one user cannot take all of a shared machine's slots.
  /// 0 = no limit. Default 8 (reclaim-agent-service's own per-uid default).
  int max_streams_per_user = 8;
  /// Sustained focus intervals per second per user of a device. 0 = no
  /// limit. Default 1,000.
  double intervals_per_s = 1000;
  /// Interval burst per user of a device (bucket size). Default 20,000 (two
  /// full batches at the default batch limit).
  double intervals_burst = 20000;
  /// Sustained message bytes per second per user of a device. 0 = no limit.
  /// Default 256 KiB/s (a full 64 MiB agent spool drains in about 4 min).
  double bytes_per_s = 256 * 1024;
  /// Byte burst per user of a device. Default 8 MiB (two messages at the
  /// default message size limit).
  double bytes_burst = 8 * 1024 * 1024;
};

/// Checks `options` (no negative rate or burst, no burst below 1 when its
/// rate is on). Errors: kInvalidArgument naming the option.
[[nodiscard]] absl::Status ValidateAgentLimitsOptions(const AgentLimitsOptions& options);

/// See the file comment. Thread-safe.
class AgentLimits {
 public:
  /// `clock` must outlive this object. Precondition: options are valid
  /// (ValidateAgentLimitsOptions).
  AgentLimits(const Clock& clock, AgentLimitsOptions options);
  AgentLimits(const AgentLimits&) = delete;
  AgentLimits& operator=(const AgentLimits&) = delete;

  /// Takes a stream slot of `device_id` for `user` (the Hello's
  /// domain\login). Errors: kResourceExhausted naming the limit when the
  /// device already holds max_streams_per_device streams or the user
  /// max_streams_per_user streams on it (counted as kLimitTooManyStreams).
  /// Every OK must be paired with one ReleaseStream with the same arguments.
  [[nodiscard]] absl::Status AcquireStream(absl::string_view device_id, absl::string_view user);
  /// Gives back a slot taken by AcquireStream.
  void ReleaseStream(absl::string_view device_id, absl::string_view user);

  /// Charges one batch of `intervals` intervals and `bytes` message bytes to
  /// the buckets of `user` on `device_id`. Errors: kResourceExhausted naming the limit and
  /// ending "retry in N ms" (counted as kLimitRateIntervals or
  /// kLimitRateBytes); nothing is charged then, and `*retry_after` (when
  /// given) is set to the time until both buckets would admit this batch
  /// (at least 1 ms).
  [[nodiscard]] absl::Status ChargeBatch(absl::string_view device_id, absl::string_view user,
                                         std::int64_t intervals, std::int64_t bytes,
                                         std::chrono::milliseconds* retry_after = nullptr);

  /// Counts one refusal for `reason` (one of the kLimit* strings).
  void Count(absl::string_view reason);
  /// Refusals so far, by reason (only reasons counted at least once).
  std::map<std::string, std::uint64_t> Counters() const;
  /// Entries with state (a device's open streams; a user of a device with
  /// open streams or buckets not yet refilled).
  size_t TrackedDevices() const;

 private:
  // One table for both kinds of entry: a device (key "d" + id; only
  // `streams` is used) and a user of a device (key "u" + id + '\n' + user;
  // Hello fields carry no control characters, so keys cannot collide).
  struct Device {
    int streams = 0;
    TokenBucket intervals;
    TokenBucket bytes;
  };
  static std::string DeviceKey(absl::string_view device_id);
  static std::string UserKey(absl::string_view device_id, absl::string_view user);
  Device& DeviceLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RefillLocked(Device& d, MonoTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IdleLocked(const Device& d) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetIdleLocked(MonoTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const AgentLimitsOptions options_;
  mutable absl::Mutex mu_;
  absl::node_hash_map<std::string, Device> devices_ ABSL_GUARDED_BY(mu_);
  /// devices_.size() at the last sweep of idle devices.
  size_t swept_size_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::uint64_t, std::less<>> counters_ ABSL_GUARDED_BY(mu_);
};

/// `value` for a log line: at most `max_bytes` of it (cut marked "..."), with
/// control characters, quotes, backslashes and bytes >= 0x80 C-escaped, so an
/// agent cannot forge log lines or terminal output.
std::string EscapeForLog(absl::string_view value, size_t max_bytes = 128);

}  // namespace reclaim::collector
