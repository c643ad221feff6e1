// The collector's "wait before you come back" hint on the agent's side.
//
// The collector ends an over-limit stream or enrollment with
// RESOURCE_EXHAUSTED and the trailing metadata "reclaim-retry-after-ms"
// (collector/server/services.h kRetryAfterMsMetadata). reclaim-agent-service
// reads it (RetryAfterFromTrailers, collector_link.h) and forwards it as
// LocalStreamEnd.retry_after_ms (proto/reclaim/v1/local.proto); the session's
// agent attaches it to the stream's end status as a payload, and the uplink
// engine waits at least that long (at most kMaxHonoredRetryAfter) before its
// next attempt instead of its own, possibly shorter, backoff.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"

namespace reclaim::agent {

/// The payload type URL of the hint in an absl::Status.
inline constexpr char kRetryAfterPayload[] = "type.reclaim.dev/reclaim.v1.RetryAfterMs";

/// The longest hint obeyed: a collector (or a relay) naming hours cannot
/// silence an agent for longer than this. 10 minutes.
inline constexpr std::chrono::milliseconds kMaxHonoredRetryAfter{10 * 60 * 1000};

/// `status` with the hint attached (nothing attached when `retry_after` <= 0
/// or `status` is OK).
inline absl::Status WithRetryAfter(absl::Status status, std::chrono::milliseconds retry_after) {
  if (!status.ok() && retry_after.count() > 0) {
    status.SetPayload(kRetryAfterPayload, absl::Cord(std::to_string(retry_after.count())));
  }
  return status;
}

/// The hint attached to `status`, capped at kMaxHonoredRetryAfter; zero when
/// none (or malformed).
inline std::chrono::milliseconds RetryAfterOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryAfterPayload);  // absl::optional<absl::Cord>
  std::int64_t ms = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &ms) || ms <= 0) {
    return std::chrono::milliseconds(0);
  }
  return std::min(std::chrono::milliseconds(ms), kMaxHonoredRetryAfter);
}

}  // namespace reclaim::agent
