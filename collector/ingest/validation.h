// Validation of what agents send (pure, no I/O). Each interval of a batch is
// checked on its own: valid ones are kept, invalid ones are quarantined with a
// reason, so one bad record never blocks an agent (the batch is still acked).
#pragma once

#include <chrono>
#include <cstdint>

#include "absl/status/status.h"
#include "collector/store/usage_store.h"
#include "common/clock.h"
#include "reclaim/v1/agent.pb.h"

namespace reclaim::collector {

/// Limits; every field documents its default.
struct ValidationLimits {
  /// Longest accepted interval. Default 24 h.
  std::int64_t max_duration_ms = 24LL * 3600 * 1000;
  /// How far an interval's end may lie in the future of the collector's clock
  /// (agents' clocks drift). Default 5 min.
  std::int64_t max_future_skew_ms = 5LL * 60 * 1000;
  /// Earliest accepted start: 2000-01-01T00:00:00Z.
  std::int64_t min_start_utc_ms = 946684800000LL;
  /// Intervals beyond this index in one batch are quarantined
  /// ("batch_too_large"). Default 10,000.
  int max_intervals_per_batch = 10000;
  /// Longest accepted exe_path, bytes. Default 4096.
  size_t max_path_bytes = 4096;
  /// Longest accepted value of any other identity string, bytes. Default 1024.
  size_t max_string_bytes = 1024;
};

/// Validates one batch against `limits` at collector time `now_utc_ms` (UTC ms).
/// Valid intervals are kept in their order; each invalid one is quarantined
/// with its index, one reason and the interval in one-line protobuf text
/// format (valid UTF-8, at most 4 KiB) as detail. Reasons, checked in this
/// order (the first that applies is reported):
///   "batch_too_large"       index >= max_intervals_per_batch;
///   "missing_app"           none of exe_path, exe_name, window_class,
///                           package_id, web_domain set (the fields DisplayKey
///                           uses; product name/version and title alone do
///                           not identify an application);
///   "invalid_utf8"          any identity string is not well-formed UTF-8;
///   "string_too_long"       exe_path > max_path_bytes or another identity
///                           string > max_string_bytes;
///   "duration_out_of_range" duration <= 0 or > max_duration_ms;
///   "start_out_of_range"    start before min_start_utc_ms;
///   "start_in_future"       start + duration beyond now + max_future_skew_ms.
/// The seq is copied as is: the caller refuses a batch with seq 0 (the store
/// returns kInvalidArgument for it).
ValidatedBatch ValidateBatch(const reclaim::v1::UsageBatch& batch,
                             const ValidationLimits& limits, UtcMs now_utc_ms);

/// Validates a Hello. Errors: kInvalidArgument naming the field ("Hello.user.domain
/// is missing"): device_id, agent_instance_id, user, user.login_name or
/// user.domain missing; any string not valid UTF-8; a string over its limit
/// (device_id 128 bytes, agent_instance_id 64, every other string 1024); a
/// control character (U+0000-U+001F, U+007F) in any string.
/// Messages never quote the field's value.
[[nodiscard]] absl::Status ValidateHello(const reclaim::v1::Hello& hello);

/// Converts a validated Hello.
AgentInfo ToAgentInfo(const reclaim::v1::Hello& hello);

/// Converts a DroppedDataReport.
DropCounters ToDropCounters(const reclaim::v1::DroppedDataReport& report);

}  // namespace reclaim::collector
