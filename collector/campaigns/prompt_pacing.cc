#include "collector/campaigns/prompt_pacing.h"

#include <algorithm>

namespace reclaim::collector {

std::int64_t PacingWindowMs(const PromptPacing& pacing) {
  return std::max(pacing.min_interval_ms, pacing.quiet_after_urgent_ms);
}

PacedPrompts PacePrompts(std::vector<DeliverablePrompt> candidates,
                         const std::vector<DeliverablePrompt>& displayed,
                         const PromptPacing& pacing, UtcMs now) {
  // The earliest time a new not-urgent prompt may go out: after every recent
  // display's window.
  UtcMs not_before = 0;
  for (const DeliverablePrompt& d : displayed) {
    const UtcMs at = d.response.displayed_utc_ms;
    if (at <= 0) continue;
    const std::int64_t window = d.campaign.priority == CampaignPriority::kUrgent
                                    ? pacing.quiet_after_urgent_ms
                                    : pacing.min_interval_ms;
    if (window > 0 && at + window > now) not_before = std::max(not_before, at + window);
  }
  PacedPrompts out;
  for (DeliverablePrompt& p : candidates) {
    const bool is_new = p.response.displayed_utc_ms == 0;
    if (p.campaign.priority == CampaignPriority::kNotUrgent && is_new && not_before > now) {
      out.held.push_back(std::move(p));
    } else {
      out.deliver.push_back(std::move(p));
    }
  }
  if (!out.held.empty()) out.held_until_utc_ms = not_before;
  return out;
}

}  // namespace reclaim::collector
