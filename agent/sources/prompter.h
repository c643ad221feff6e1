// ConsentPrompter: asks the user of this desktop session a campaign's
// question ("Do you still need Visio?") in a real dialog window and returns
// what the user did: chose an answer, asked to be reminded later, closed the
// dialog, or let it time out.
//
// Platform twins: prompter_linux.cc (zenity, a GTK dialog; chosen over a
// notification daemon because daemons are unreliable for answers -- see
// ../shared/RECIPES.md "Prompts on a Linux desktop"). The Windows layer has
// its own window (agent/windows/prompter.h, class Prompter); this interface
// adds "Remind me later" and the sender and is named apart so both can be
// linked into one agent until they are unified.
//
// The dialog is a window of a child process of the agent, so the focus
// source must not meter it (it is not the user's application).
//
// Standard C++ only in this header.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace reclaim::agent {

/// One question. Strings are UTF-8.
struct PromptRequest {
  /// Who asks ("IT Service Desk"); the dialog's title. Required.
  std::string sender_name;
  /// The question; may contain line breaks. Required.
  std::string question;
  /// Single-choice answers, at least one ({"Yes", "No"}); the first is the
  /// default (Return).
  std::vector<std::string> answers;
  /// Label of the postpone button. Default "Remind me later".
  std::string postpone_label = "Remind me later";
  /// Label of the decline button (closing the window declines too).
  /// Default "Close".
  std::string decline_label = "Close";
  /// No answer within this time: kTimedOut. At least 1 s. Default 10 min.
  std::chrono::seconds timeout{600};
};

struct PromptReply {
  enum class Outcome {
    kAnswered,   ///< `answer` is the index of the chosen answer.
    kPostponed,  ///< "Remind me later".
    kDeclined,   ///< The decline button, Escape or the close box.
    kTimedOut,   ///< The timeout passed.
    kCancelled,  ///< Cancel() took the dialog down (prompt withdrawn).
    kFailed,     ///< The dialog could not be shown; `error` says why.
  };
  Outcome outcome = Outcome::kFailed;
  int answer = -1;
  std::string error;
};

/// "answered:<answer>", "postponed", "declined", "timed_out", "cancelled" or
/// "failed" -- the first three are CommandResult outcomes (agent.proto).
std::string PromptOutcomeName(const PromptRequest& req, const PromptReply& reply);

/// Shows prompts, one at a time. Ask() blocks the calling thread until an
/// outcome; Cancel() may be called from any thread and makes a running Ask()
/// return kCancelled. Thread-safe.
class ConsentPrompter {
 public:
  virtual ~ConsentPrompter() = default;
  virtual PromptReply Ask(const PromptRequest& request) = 0;
  virtual void Cancel() = 0;
};

/// Options of the Linux prompter; every field documents its default.
struct ZenityPrompterOptions {
  /// The dialog program (zenity 3.x: --question with --extra-button).
  /// Default "zenity" (searched in PATH).
  std::string program = "zenity";
  /// Called with the dialog process's pid once it started (tests find its
  /// window with it). Default none.
  std::function<void(int pid)> on_started;
};

/// The Linux prompter: a zenity question dialog on the session's display
/// ($DISPLAY / $XAUTHORITY of this process). The first answer is the OK
/// button, further answers and "Remind me later" are extra buttons, the
/// decline button is the cancel button.
std::unique_ptr<ConsentPrompter> MakeZenityPrompter(ZenityPrompterOptions options = {});

}  // namespace reclaim::agent
