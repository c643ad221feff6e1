#include "collector/reclaim/evaluation.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace reclaim::collector {

const char* AnswerName(Answer a) {
  switch (a) {
    case Answer::kNone: return "";
    case Answer::kYes: return "yes";
    case Answer::kNo: return "no";
  }
  return "";
}

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kCandidate: return "candidate";
    case Decision::kOverCap: return "over_cap";
    case Decision::kUsed: return "used";
    case Decision::kNoData: return "no_data";
    case Decision::kInGrace: return "in_grace";
    case Decision::kAnsweredYes: return "answered_yes";
    case Decision::kExcluded: return "excluded";
    case Decision::kNotDirect: return "not_direct";
  }
  return "?";
}

std::string ShortDuration(std::int64_t ms) {
  const std::int64_t s = ms / 1000;
  if (s >= 3600) return absl::StrFormat("%dh %02dm", s / 3600, (s / 60) % 60);
  if (s >= 60) return absl::StrFormat("%dm %02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

double WindowCoverage(std::int64_t first_day, std::int64_t last_day, std::vector<DaySpan> spans) {
  if (last_day < first_day) return 0;
  for (DaySpan& s : spans) {
    s.first_day = std::max(s.first_day, first_day);
    s.last_day = std::min(s.last_day, last_day);
  }
  std::erase_if(spans, [](const DaySpan& s) { return s.last_day < s.first_day; });
  std::sort(spans.begin(), spans.end(),
            [](const DaySpan& a, const DaySpan& b) { return a.first_day < b.first_day; });
  std::int64_t covered = 0;
  std::int64_t next_free = first_day;  // first day not yet counted
  for (const DaySpan& s : spans) {
    const std::int64_t from = std::max(s.first_day, next_free);
    if (s.last_day >= from) {
      covered += s.last_day - from + 1;
      next_free = s.last_day + 1;
    }
  }
  return static_cast<double>(covered) / static_cast<double>(last_day - first_day + 1);
}

EvaluationResult Evaluate(const EvaluationRules& rules, const std::vector<MemberEvidence>& members,
                          UtcMs now) {
  constexpr std::int64_t kMsPerDay = 86400000;
  EvaluationResult result;
  std::vector<MemberDecision> candidates, others;
  const std::string window = absl::StrCat(rules.lookback_days, " days");
  for (const MemberEvidence& e : members) {
    MemberDecision d;
    d.evidence = e;
    const std::int64_t in_group_ms = now - e.first_seen_in_group_utc_ms;
    if (!e.excluded_by.empty()) {
      d.decision = Decision::kExcluded;
      d.reason = absl::StrCat("excluded by ", e.excluded_by);
    } else if (e.member.kind == MembershipKind::kNested) {
      d.decision = Decision::kNotDirect;
      d.reason = absl::StrCat("member only through nested group ", e.member.via_group);
    } else if (in_group_ms < rules.grace_days * kMsPerDay) {
      d.decision = Decision::kInGrace;
      d.reason = absl::StrCat("in the group for ", in_group_ms / kMsPerDay, " of ",
                              rules.grace_days, " grace days");
    } else if (e.answer == Answer::kYes) {
      d.decision = Decision::kAnsweredYes;
      d.reason = "answered yes (still needs it)";
    } else if (e.focus_ms >= rules.threshold_ms) {
      d.decision = Decision::kUsed;
      d.reason = absl::StrCat("focus ", ShortDuration(e.focus_ms), " >= threshold ",
                              ShortDuration(rules.threshold_ms), " in ", window);
    } else if (e.devices == 0) {
      d.decision = Decision::kNoData;
      d.reason = "no data: no metered device";
    } else if (e.coverage < rules.min_coverage) {
      d.decision = Decision::kNoData;
      d.reason = absl::StrFormat("no data: devices reported for %.0f%% of the window (< %.0f%%)",
                                 std::floor(e.coverage * 100), rules.min_coverage * 100);
    } else {
      d.decision = Decision::kCandidate;
      d.reason = absl::StrCat("focus ", ShortDuration(e.focus_ms), " < threshold ",
                              ShortDuration(rules.threshold_ms), " in ", window);
    }
    if (d.decision == Decision::kNoData) ++result.no_data;
    (d.decision == Decision::kCandidate ? candidates : others).push_back(std::move(d));
  }
  std::sort(candidates.begin(), candidates.end(), [](const MemberDecision& a, const MemberDecision& b) {
    const MemberEvidence& x = a.evidence;
    const MemberEvidence& y = b.evidence;
    if (x.focus_ms != y.focus_ms) return x.focus_ms < y.focus_ms;
    if (x.last_use_utc_ms != y.last_use_utc_ms) return x.last_use_utc_ms < y.last_use_utc_ms;
    return x.member.user.object_id < y.member.user.object_id;
  });
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (static_cast<std::int64_t>(i) >= std::max<std::int64_t>(rules.max_removals_per_run, 0)) {
      candidates[i].decision = Decision::kOverCap;
      candidates[i].reason += absl::StrCat("; deferred: per-run cap of ",
                                           rules.max_removals_per_run, " reached");
      ++result.over_cap;
    } else {
      ++result.candidates;
    }
  }
  std::sort(others.begin(), others.end(), [](const MemberDecision& a, const MemberDecision& b) {
    return a.evidence.member.user.object_id < b.evidence.member.user.object_id;
  });
  result.members = std::move(candidates);
  for (MemberDecision& d : others) result.members.push_back(std::move(d));
  return result;
}

}  // namespace reclaim::collector
