// Reclamation evaluation: which members of an authorization group would be
// removed, and why. Pure: plain values in, plain values out, no I/O and no
// clock reads (the caller passes `now`). The reclaimer gathers the evidence
// (directory sync + usage store) and records the result.
//
// Rules, applied to each member in this order (the first that applies
// decides):
//   1. excluded        the member is listed in the policy's exclusions
//                      (user, or member of an excluded group)        -> kept
//   2. not direct      member only through a nested group: removing them
//                      from this group is impossible; the seat is held
//                      by the nested group                            -> kept, reported
//   3. in grace        first seen in the group less than grace_days ago
//                      (exactly grace_days ago is past grace)        -> kept
//   4. answered yes    answered "yes, I need it" to the campaign     -> kept
//   5. used            focus time in the window >= threshold         -> kept
//   6. no data         no metered device at all                      -> never removed
//   7. low coverage    devices reported for less than min_coverage of
//                      the window (e.g. agent installed last week)    -> "no data", never removed
//   8. otherwise       candidate (focus time < threshold)
// Candidates are ordered by focus time, then last use (never used first,
// then oldest), then object id; the first max_removals_per_run stay
// candidates, the rest are kOverCap (removed by a later run).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collector/connectors/connector.h"
#include "common/clock.h"

namespace reclaim::collector {

/// The evaluation parameters of a policy; every field documents its default.
struct EvaluationRules {
  /// Look-back window, whole UTC days ending with the day of `now`. Default 90.
  std::int64_t lookback_days = 90;
  /// Focus time in the window below which a member is a candidate, ms.
  /// Default 5 min.
  std::int64_t threshold_ms = 5 * 60 * 1000;
  /// Members first seen in the group less than this long ago are kept, days.
  /// Default 30.
  std::int64_t grace_days = 30;
  /// Share of the window (0..1) the member's devices must have reported for;
  /// below it the member is "no data". Default 0.5.
  double min_coverage = 0.5;
  /// Most candidates per run (>= 1). Default 10.
  std::int64_t max_removals_per_run = 10;
};

/// A member's answer to the policy's campaign.
enum class Answer { kNone, kYes, kNo };
const char* AnswerName(Answer a);

/// Everything known about one member, gathered by the caller.
struct MemberEvidence {
  GroupMember member;
  /// When the directory sync first saw the user in the group, UTC ms.
  UtcMs first_seen_in_group_utc_ms = 0;
  /// Non-empty when excluded: the matching exclusion ("user:jdoe",
  /// "group:Executives").
  std::string excluded_by;
  /// Focus time on the application's identities within the window, ms.
  std::int64_t focus_ms = 0;
  /// End of the latest focus interval on the application (any time, not only
  /// the window), UTC ms; 0 = never.
  UtcMs last_use_utc_ms = 0;
  /// Metered devices (agent instances) of the matched endpoint users.
  std::int64_t devices = 0;
  /// Share of the window covered by reports from those devices, 0..1.
  double coverage = 0;
  Answer answer = Answer::kNone;
  /// The matched endpoint users as their agents name them ("DOMAIN\\login",
  /// the campaign store's user key): who an ask-for-permission run asks.
  std::vector<std::string> endpoint_users;
};

/// The outcome for one member.
enum class Decision {
  kCandidate,      ///< Would be removed by this run.
  kOverCap,        ///< A candidate beyond the per-run cap.
  kUsed,           ///< Focus time at or above the threshold.
  kNoData,         ///< No metered device, or coverage too low: never removed.
  kInGrace,
  kAnsweredYes,
  kExcluded,
  kNotDirect,      ///< Only a member through a nested group.
};
/// "candidate", "over_cap", "used", "no_data", "in_grace", "answered_yes",
/// "excluded", "not_direct".
const char* DecisionName(Decision d);

struct MemberDecision {
  MemberEvidence evidence;
  Decision decision = Decision::kNoData;
  /// Human-readable why, e.g. "focus 0s < threshold 5m in 90 days".
  std::string reason;
};

struct EvaluationResult {
  /// One per member, candidates first (in removal order), then the others
  /// ordered by object id.
  std::vector<MemberDecision> members;
  std::int64_t candidates = 0;  ///< kCandidate count.
  std::int64_t over_cap = 0;
  std::int64_t no_data = 0;
};

/// Evaluates `members` at `now` (UTC ms). Pure and deterministic.
EvaluationResult Evaluate(const EvaluationRules& rules, const std::vector<MemberEvidence>& members,
                          UtcMs now);

/// Coverage of a window of UTC days [first_day, last_day] by reporting spans
/// (each [first, last] UTC days, inclusive, possibly overlapping): the share
/// of window days inside at least one span, 0..1. Pure.
struct DaySpan {
  std::int64_t first_day = 0;
  std::int64_t last_day = 0;
};
double WindowCoverage(std::int64_t first_day, std::int64_t last_day, std::vector<DaySpan> spans);

/// "1h 02m", "4m 10s", "0s": a compact duration for reasons and tables.
std::string ShortDuration(std::int64_t ms);

}  // namespace reclaim::collector
