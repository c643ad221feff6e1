// Per-user pacing of consent prompts across devices, on the collector (issue
// 6: "at most one not-urgent prompt per user per 6 h; no not-urgent prompt
// within 20 min after an urgent one"). The agent applies the same rule to
// what it shows (agent/core/prompt_policy.h), but only for its own device;
// here the rule spans every device of the user, because it looks at the
// display times the agents report back (Response::displayed_utc_ms).
//
// The rule, applied when prompts are pushed to a user's agents:
//  - urgent prompts are never held;
//  - a not-urgent prompt that was never displayed to the user is held back
//    (stays pending, not pushed) while another response of the same user
//    was displayed less than min_interval_ms ago (a not-urgent one) or less
//    than quiet_after_urgent_ms ago (an urgent one), on any device;
//  - a prompt that was already displayed once (a re-ask after "Remind me
//    later", or the copy for a second device) is not a new prompt: it is
//    never held by this rule (the agent's own rule may still wait);
//  - several not-urgent prompts that are not held go out together, so the
//    agent can combine them into one dialog.
// Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <vector>

#include "collector/campaigns/campaign_store.h"

namespace reclaim::collector {

/// Collector options (reclaim-collector --prompt-min-interval,
/// --prompt-quiet-after-urgent; same meaning as the agent's flags).
struct PromptPacing {
  /// Minimum time between two different not-urgent prompts of one user, ms.
  /// Default 6 h. 0 disables.
  std::int64_t min_interval_ms = 6LL * 3600 * 1000;
  /// No new not-urgent prompt this long after an urgent one was displayed,
  /// ms. Default 20 min. 0 disables.
  std::int64_t quiet_after_urgent_ms = 20LL * 60 * 1000;
};

/// What to push now, and what waits.
struct PacedPrompts {
  std::vector<DeliverablePrompt> deliver;
  std::vector<DeliverablePrompt> held;
  /// When the held prompts may go out (UTC ms); 0 when none is held.
  UtcMs held_until_utc_ms = 0;
};

/// Splits `candidates` (CampaignStore::Deliverable) by the rule above.
/// `displayed`: the user's responses with a display time (any state), e.g.
/// CampaignStore::DisplayedSince(user, now - max window).
PacedPrompts PacePrompts(std::vector<DeliverablePrompt> candidates,
                         const std::vector<DeliverablePrompt>& displayed,
                         const PromptPacing& pacing, UtcMs now);

/// How far back PacePrompts looks: max of the two windows.
std::int64_t PacingWindowMs(const PromptPacing& pacing);

}  // namespace reclaim::collector
