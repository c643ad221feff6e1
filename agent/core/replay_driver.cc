#include "agent/core/replay_driver.h"

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/core/batch_codec.h"
#include "common/backoff.h"
#include "common/log_format.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

// FNV-1a 64: a stable name for the script in the spool's metadata.
std::string ScriptKey(const std::string& text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return absl::StrFormat("replay.%016x", h);
}

absl::StatusOr<std::optional<std::int64_t>> GetNumber(Spool& spool, const std::string& key) {
  ASSIGN_OR_RETURN(std::optional<std::string> v, spool.GetMeta(key));
  if (!v) return std::optional<std::int64_t>();
  std::int64_t n = 0;
  if (!absl::SimpleAtoi(*v, &n)) {
    return absl::DataLossError(absl::StrCat("spool meta ", key, " is not a number: ", *v));
  }
  return std::optional<std::int64_t>(n);
}

}  // namespace

namespace {

absl::Status ReplayOnce(const Script& script, const std::string& script_text,
                        const ReplayOptions& options, Spool& spool, const Clock& clock,
                        const std::atomic<bool>& stop, const std::function<void()>& on_batch) {
  const std::string key = ScriptKey(script_text);
  const std::string cursor_key = key + ".cursor_ms";
  const std::string start_key = key + ".start_utc_ms";

  ASSIGN_OR_RETURN(std::optional<std::int64_t> stored_start, GetNumber(spool, start_key));
  UtcMs start_utc;
  if (stored_start) {
    start_utc = *stored_start;
  } else {
    start_utc = options.start_utc_ms.value_or(script.start_utc_ms.value_or(clock.WallUtcMs()));
    RETURN_IF_ERROR(spool.Append(std::nullopt, {{start_key, std::to_string(start_utc)}}).status());
  }
  ASSIGN_OR_RETURN(std::optional<std::int64_t> cursor, GetNumber(spool, cursor_key));
  const MonoTime resume_from{cursor.value_or(0)};
  if (resume_from >= script.end) {
    spdlog::info("script already replayed completely (cursor at its end)");
    return absl::OkStatus();
  }
  if (resume_from.count() > 0) {
    spdlog::info("resuming the replay at offset {} s", resume_from.count() / 1000.0);
  }
  ScriptReplay replay(script, options.meter, start_utc, resume_from);
  const MonoTime real_start = clock.Monotonic();
  const MonoTime step = options.meter.heartbeat;
  while (!replay.done() && !stop.load()) {
    MonoTime target = replay.now() + step;
    if (options.speed > 0) {
      const auto elapsed = clock.Monotonic() - real_start;
      const MonoTime allowed =
          resume_from + MonoTime(static_cast<std::int64_t>(elapsed.count() * options.speed));
      if (allowed < target) {
        // Wait (in small slices, so stop is honoured) until real time allows.
        std::this_thread::sleep_for(std::chrono::milliseconds(
            std::min<std::int64_t>(200, std::max<std::int64_t>(
                                            1, static_cast<std::int64_t>(
                                                   (target - allowed).count() / options.speed)))));
        continue;
      }
    }
    std::vector<FocusInterval> intervals = replay.AdvanceTo(target);
    std::optional<SpoolBatch> batch;
    if (!intervals.empty()) batch = EncodeBatch(intervals, clock.WallUtcMs());
    const std::int64_t cursor_ms = replay.done() ? script.end.count()
                                                 : replay.emitted_through().count();
    auto seq = spool.Append(batch, {{cursor_key, std::to_string(cursor_ms)}});
    if (!seq.ok()) {
      // Nothing of this step was stored; the cursor was not moved either, so
      // a later run replays the step again.
      return seq.status();
    }
    if (batch) on_batch();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunReplay(const Script& script, const std::string& script_text,
                       const ReplayOptions& options, Spool& spool, const Clock& clock,
                       const std::atomic<bool>& stop, const std::function<void()>& on_batch) {
  Backoff backoff(BackoffOptions{});
  while (true) {
    absl::Status s = ReplayOnce(script, script_text, options, spool, clock, stop, on_batch);
    if (s.ok() || stop.load()) return s;
    if (s.code() != absl::StatusCode::kResourceExhausted &&
        s.code() != absl::StatusCode::kUnavailable) {
      return s;
    }
    // Disk full or busy: nothing of the failed step was stored and the cursor
    // did not move; wait and resume from the stored cursor.
    const auto delay = backoff.NextDelay();
    spdlog::error("cannot store usage in the spool ({}); retrying in {} ms", s, delay.count());
    for (auto waited = std::chrono::milliseconds(0); waited < delay && !stop.load();
         waited += std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace reclaim::agent
