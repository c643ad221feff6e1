// When to show consent prompts: the pure core of the agent's prompt service
// (plain values in, plain values out; no clock, no I/O).
//
// Rules (issue 6):
//  - urgent prompts are shown as soon as the screen is not locked;
//  - not-urgent prompts wait while the user is idle, the screen is locked, a
//    full-screen window has the focus (_NET_WM_STATE_FULLSCREEN) or
//    do-not-disturb is on; at most one not-urgent prompt per
//    `min_not_urgent_interval` (default 6 h), none within
//    `quiet_after_urgent` (default 20 min) after an urgent one;
//  - several pending not-urgent reclamation questions (prompts naming an
//    application) are shown together as one prompt.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace reclaim::agent {

/// Options; every field documents its default.
struct PromptPolicyOptions {
  /// At most one not-urgent prompt per this long. Default 6 h.
  std::chrono::milliseconds min_not_urgent_interval{6 * 3600 * 1000LL};
  /// No not-urgent prompt this long after an urgent one. Default 20 min.
  std::chrono::milliseconds quiet_after_urgent{20 * 60 * 1000LL};
  /// Most reclamation questions combined in one dialog; the rest wait for
  /// the next one (soonest expiry first). The zenity form grows about 40 px
  /// per application: 60 made a 2481 px tall window on an 800 px screen,
  /// its buttons out of reach; 15 fit a 768 px laptop screen. Default 15.
  std::size_t max_combined_questions = 15;
};

/// What the desktop is doing now.
struct DesktopState {
  bool idle = false;
  bool locked = false;
  bool fullscreen = false;
  bool do_not_disturb = false;
};

/// A prompt waiting in the spool.
struct PendingPromptInfo {
  std::string command_id;
  bool urgent = false;
  /// Application the question is about; empty for a free-form campaign.
  std::string application;
  /// Expiry, ms since the epoch (UTC); 0 = never.
  std::int64_t expires_utc_ms = 0;
};

/// When prompts were last shown, ms since the epoch (UTC); 0 = never.
struct PromptHistory {
  std::int64_t last_not_urgent_utc_ms = 0;
  std::int64_t last_urgent_utc_ms = 0;
};

struct PromptDecision {
  /// Prompts to show now as one dialog (empty: nothing now). All urgent, or
  /// all not urgent.
  std::vector<std::string> show;
  bool urgent = false;
  /// When to look again at the latest (0: only when something changes);
  /// ms since the epoch (UTC).
  std::int64_t recheck_at_utc_ms = 0;
};

/// Decides what to show at `now_utc_ms`. Expired prompts are never shown.
/// Urgent prompts go one at a time, oldest (first in `pending`) first.
PromptDecision DecidePrompts(const std::vector<PendingPromptInfo>& pending,
                             const DesktopState& desktop, const PromptHistory& history,
                             std::int64_t now_utc_ms, const PromptPolicyOptions& options = {});

}  // namespace reclaim::agent
