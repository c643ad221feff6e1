// Prompter: asks the user of this desktop session a campaign's consent
// question ("Do you still need Visio?") and returns the answer.
//
// The agent runs in the user's session (a Windows service in session 0 can
// show nothing to the user), so it shows the prompt itself.
//
// Windows implementation (prompt_dialog_windows.cc): a small top-level window
// of our own (class "ReclaimConsentPrompt") with the message, one button per
// answer (control ids kFirstAnswerId + index), a countdown and a timeout. Why
// not a task dialog or a message box: MessageBox cannot label its buttons
// with the campaign's answers nor time out (MessageBoxTimeout is
// undocumented); TaskDialogIndirect needs comctl32 v6, which needs an
// activation-context manifest in every executable that hosts the library, and
// has no timeout of its own either (a TDN_TIMER callback would be needed).
// Our window has any number of labelled answers, works the same under Wine,
// and its windows are the agent's own, which the focus source never meters.
//
// Standard C++ only in this header.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace reclaim::agent {

/// One question. Strings are UTF-8.
struct ConsentPrompt {
  std::string title;    ///< Window caption, e.g. "Reclaim: licence review".
  std::string message;  ///< The question; may contain line breaks.
  /// Button labels, in order, at least one, e.g. {"Keep Visio", "Remove it"}.
  std::vector<std::string> answers;
  /// Index of the answer that Enter chooses; -1: none. Default -1.
  int default_answer = -1;
  /// No answer within this time: kTimedOut. 0 = wait forever. Default 0.
  std::chrono::milliseconds timeout{0};
};

struct PromptResult {
  enum class Outcome {
    kAnswered,   ///< `answer` is the index of the chosen answer.
    kTimedOut,   ///< The timeout passed without an answer.
    kDismissed,  ///< Closed (Escape, the close box, Alt+F4, session end).
    kFailed,     ///< The dialog could not be shown (no desktop, bad prompt).
  };
  Outcome outcome = Outcome::kFailed;
  int answer = -1;
};

/// The first answer button's control id; answer i has kFirstAnswerId + i.
inline constexpr int kFirstAnswerId = 1000;

/// Shows prompts. Ask() blocks the calling thread (which runs the dialog's
/// message loop) until an outcome; one prompt at a time per Prompter.
class Prompter {
 public:
  virtual ~Prompter() = default;
  virtual PromptResult Ask(const ConsentPrompt& prompt) = 0;
};

/// The platform's prompter (the dialog above on Windows).
std::unique_ptr<Prompter> MakePrompter();

}  // namespace reclaim::agent
