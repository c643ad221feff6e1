// The agent's prompt service: shows the campaign prompts waiting in the spool
// on this session's screen, when the prompt policy (prompt_policy.h) says so,
// and records what the user did in the spool for the uplink to send.
//
// Flow: the uplink stores a prompt (Spool::StorePrompt) and calls Wake(); the
// service's thread decides, records "displayed", runs the dialog
// (ConsentPrompter::Ask, blocking), records "answered:<a>" / "declined" /
// "postponed" as the prompt's final outcome and calls `notify_uplink`.
// Several pending reclamation questions go into one dialog
// (ConsentPrompter::AskCombined) with one answer per application; each
// campaign gets its own outcome. A dialog that timed out leaves the prompt
// open (shown again later; the collector times the response out at its due
// time); so does an application left without an answer in a combined
// dialog. A prompt withdrawn while on screen (gone from the spool at Wake())
// takes its dialog down. When prompts were last shown is kept in the spool's
// metadata, so the 6-hour rule holds across restarts. Desktop changes (idle,
// lock, full screen) call Wake() too (desktop_state.h), so a held-back
// prompt shows as soon as the reason is gone; do-not-disturb, which has no
// event, is asked only when a not-urgent prompt would show, and again every
// `recheck` while it holds one back; a prompt held back by the pacing rules
// is decided again when its time comes.
//
// Owns one thread ("prompts"), started by Start() and joined by Stop().
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/core/prompt_policy.h"
#include "agent/sources/prompter.h"
#include "agent/spool/spool.h"
#include "common/clock.h"

namespace reclaim::agent {

/// Options; every field documents its default.
struct PromptServiceOptions {
  PromptPolicyOptions policy;
  /// How long a dialog stays up without an answer. Default 10 min.
  std::chrono::seconds dialog_timeout{600};
  /// The desktop's state (idle, locked, full screen; do_not_disturb only as
  /// far as it is known without asking the desktop), asked before each
  /// decision; must be cheap. Default: always available.
  std::function<DesktopState()> desktop;
  /// The desktop's do-not-disturb (may ask it: a D-Bus call, gsettings),
  /// asked only when a not-urgent prompt would be shown now. Default: off.
  std::function<bool()> do_not_disturb;
  /// How often a prompt held back by do-not-disturb (which sends no event)
  /// is re-decided; also the wait after a dialog failed. Default 5 s.
  std::chrono::milliseconds recheck{5000};
  /// Longest wait between two decisions while prompts are pending (desktop
  /// events, new prompts and the pacing times wake it earlier). Default 60 s.
  std::chrono::milliseconds max_wait{60000};
  /// The text above a combined prompt's applications.
  std::string combined_intro =
      "You have not used these applications for a while.\n"
      "Do you still need them? Choose an answer for each one.";
};

class PromptService {
 public:
  /// `spool`, `prompter` and `clock` must outlive the service.
  PromptService(Spool& spool, ConsentPrompter& prompter, const Clock& clock,
                std::function<void()> notify_uplink, PromptServiceOptions options = {});
  ~PromptService();
  void Start();
  /// The spool's prompts changed: re-decide; cancel a dialog whose prompt
  /// was withdrawn. Cheap; any thread.
  void Wake();
  void Stop();

 private:
  void Run();
  void ShowOne(const std::string& command_id, const std::string& payload, bool urgent);
  void ShowCombined(const std::vector<std::string>& command_ids,
                    const std::vector<std::string>& payloads);
  // Records "displayed" for `ids` and when prompts were last shown; tells the
  // uplink. Sets showing_.
  void RecordDisplayed(const std::vector<std::string>& ids, bool urgent);
  void RecordFinal(const std::string& command_id, const std::string& outcome);
  // After a dialog that could not be shown: waits `recheck` (or Stop()).
  void WaitAfterFailure();

  Spool& spool_;
  ConsentPrompter& prompter_;
  const Clock& clock_;
  const std::function<void()> notify_uplink_;
  const PromptServiceOptions options_;
  std::thread thread_;
  absl::Mutex mu_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Run() returned
  std::vector<std::string> showing_ ABSL_GUARDED_BY(mu_);  // command ids on screen
};

}  // namespace reclaim::agent
