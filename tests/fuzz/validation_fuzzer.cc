// Fuzz target: batch and Hello validation (collector/ingest/validation.h) on
// a reclaim.v1.AgentMessage decoded from the input, as the collector
// receives it. Input: 1 byte of max_intervals_per_batch (0 = the default),
// then the serialized AgentMessage.
// Properties: nothing crashes; every interval of a batch is either kept or
// quarantined, once, in order; quarantine details are valid UTF-8 and at most
// 4 KiB; kept intervals satisfy the documented limits; a Hello error names a
// field and never quotes a value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "collector/ingest/validation.h"
#include "common/utf8.h"
#include "reclaim/v1/agent.pb.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace reclaim::collector;
  if (size < 1) return 0;
  reclaim::v1::AgentMessage msg;
  if (!msg.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  ValidationLimits limits;
  if (data[0] != 0) limits.max_intervals_per_batch = data[0];
  constexpr reclaim::UtcMs kNow = 1795000000000;  // 2026-11-18

  if (msg.has_hello()) {
    const absl::Status s = ValidateHello(msg.hello());
    if (s.ok()) {
      (void)ToAgentInfo(msg.hello());
    } else {
      FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument);
      FUZZ_CHECK(reclaim::IsValidUtf8(std::string(s.message())));
    }
  }
  if (msg.has_batch()) {
    const reclaim::v1::UsageBatch& batch = msg.batch();
    const ValidatedBatch v = ValidateBatch(batch, limits, kNow);
    FUZZ_CHECK(v.seq == batch.seq());
    FUZZ_CHECK(v.intervals.size() + v.quarantined.size() ==
               static_cast<std::size_t>(batch.intervals_size()));
    std::int64_t last = -1;
    for (const QuarantineRecord& q : v.quarantined) {
      FUZZ_CHECK(static_cast<std::int64_t>(q.index) > last);
      last = q.index;
      FUZZ_CHECK(q.index < static_cast<std::uint32_t>(batch.intervals_size()));
      FUZZ_CHECK(!q.reason.empty());
      FUZZ_CHECK(q.detail.size() <= 4096);
      FUZZ_CHECK(reclaim::IsValidUtf8(q.detail));
    }
    for (const IntervalRecord& r : v.intervals) {
      FUZZ_CHECK(r.active_duration_ms > 0 && r.active_duration_ms <= limits.max_duration_ms);
      FUZZ_CHECK(r.start_utc_ms >= limits.min_start_utc_ms);
      FUZZ_CHECK(r.start_utc_ms + r.active_duration_ms <= kNow + limits.max_future_skew_ms);
      FUZZ_CHECK(r.app.exe_path.size() <= limits.max_path_bytes);
      FUZZ_CHECK(reclaim::IsValidUtf8(r.app.exe_path) && reclaim::IsValidUtf8(r.app.window_title));
    }
    FUZZ_CHECK(v.intervals.size() <= static_cast<std::size_t>(limits.max_intervals_per_batch));
  }
  if (msg.has_dropped()) (void)ToDropCounters(msg.dropped());
  return 0;
}
