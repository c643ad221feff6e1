#include "agent/core/prompt_policy.h"

#include <algorithm>
#include <cstdint>

namespace reclaim::agent {

PromptDecision DecidePrompts(const std::vector<PendingPromptInfo>& pending,
                             const DesktopState& desktop, const PromptHistory& history,
                             std::int64_t now, const PromptPolicyOptions& options) {
  PromptDecision d;
  const auto live = [now](const PendingPromptInfo& p) {
    return p.expires_utc_ms == 0 || p.expires_utc_ms > now;
  };
  if (desktop.locked) return d;  // a prompt behind the lock screen reaches no one
  for (const PendingPromptInfo& p : pending) {
    if (p.urgent && live(p)) {
      d.show = {p.command_id};
      d.urgent = true;
      return d;
    }
  }
  std::vector<const PendingPromptInfo*> waiting;
  for (const PendingPromptInfo& p : pending) {
    if (!p.urgent && live(p)) waiting.push_back(&p);
  }
  if (waiting.empty()) return d;
  if (desktop.idle || desktop.fullscreen || desktop.do_not_disturb) return d;  // on change
  std::int64_t not_before = 0;
  if (history.last_not_urgent_utc_ms > 0) {
    not_before = history.last_not_urgent_utc_ms + options.min_not_urgent_interval.count();
  }
  if (history.last_urgent_utc_ms > 0) {
    not_before = std::max(not_before,
                          history.last_urgent_utc_ms + options.quiet_after_urgent.count());
  }
  if (now < not_before) {
    d.recheck_at_utc_ms = not_before;
    return d;
  }
  // Reclamation questions (naming an application) go together; a free-form
  // campaign's question goes alone.
  const PendingPromptInfo* first = waiting.front();
  if (first->application.empty()) {
    d.show = {first->command_id};
  } else {
    std::vector<const PendingPromptInfo*> questions;
    for (const PendingPromptInfo* p : waiting) {
      if (!p->application.empty()) questions.push_back(p);
    }
    const auto expiry = [](const PendingPromptInfo* p) {
      return p->expires_utc_ms == 0 ? INT64_MAX : p->expires_utc_ms;
    };
    std::stable_sort(questions.begin(), questions.end(),
                     [&](const PendingPromptInfo* a, const PendingPromptInfo* b) {
                       return expiry(a) < expiry(b);
                     });
    const std::size_t n = std::min(questions.size(), std::max<std::size_t>(
                                                         options.max_combined_questions, 1));
    for (std::size_t i = 0; i < n; ++i) d.show.push_back(questions[i]->command_id);
  }
  return d;
}

}  // namespace reclaim::agent
