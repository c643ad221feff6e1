// ConsentPrompter: asks the user of this desktop session a campaign's
// question ("Do you still need Visio?") in a real dialog window and returns
// what the user did: chose an answer, asked to be reminded later, closed the
// dialog, or let it time out. Several pending reclamation questions can be
// asked in one dialog with one answer per application (AskCombined).
//
// One interface, platform twins chosen in CMake:
//  - prompter_linux.cc: zenity (a GTK dialog in a child process; chosen over
//    a notification daemon because daemons are unreliable for answers -- see
//    ../shared/RECIPES.md "Prompts on a Linux desktop"). One question:
//    `zenity --question` with one button per answer; combined questions:
//    `zenity --forms` with a combo box per application.
//  - agent/windows/prompt_dialog_windows.cc: a small top-level window of
//    our own with one button per answer and a countdown (why not a task
//    dialog or a message box: see that file).
// prompter.cc (standard C++) holds what both share.
//
// The dialog is a window of the agent or of its child process, so the focus
// source must not meter it (it is not the user's application).
//
// Standard C++ only in this header (the Windows twin is built with mingw-w64).
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

/// Several questions in one dialog: one single-choice answer per item (the
/// pending reclamation questions of one user, one item per application).
struct CombinedPromptRequest {
  /// Who asks; the dialog's title. Required.
  std::string sender_name;
  /// Text above the items ("Do you still need these applications?").
  /// Required.
  std::string intro;
  struct Item {
    /// What the item is about, shown beside its choice ("Microsoft Visio").
    std::string label;
    /// Its answers, at least one.
    std::vector<std::string> answers;
  };
  /// At least one item.
  std::vector<Item> items;
  /// Label of the button that sends the chosen answers. Default "Send".
  std::string submit_label = "Send";
  /// Postpones every item. Default "Remind me later".
  std::string postpone_label = "Remind me later";
  /// Declines every item (closing the window too). Default "Close".
  std::string decline_label = "Close";
  /// No answer within this time: kTimedOut. At least 1 s. Default 10 min.
  std::chrono::seconds timeout{600};
};

/// `answers` has one entry per item: the index of the answer chosen for item
/// i, or -1 when it got none. Items without an answer take `outcome`
/// (postponed, declined, timed out, ...); with kAnswered such an item was
/// left empty by the user and stays open (asked again later).
struct CombinedPromptReply {
  PromptReply::Outcome outcome = PromptReply::Outcome::kFailed;
  std::vector<int> answers;
  std::string error;
};

/// "answered:<answer>", "postponed", "declined", "timed_out", "cancelled" or
/// "failed" -- the first three are CommandResult outcomes (agent.proto).
std::string PromptOutcomeName(const PromptRequest& req, const PromptReply& reply);

/// Checks a request before it is shown: a question (intro) and at least one
/// answer (item), no answer labelled like the postpone or decline button.
/// Returns an error text, empty when the request is fine.
std::string CheckPromptRequest(const PromptRequest& req);
std::string CheckPromptRequest(const CombinedPromptRequest& req);

/// Shows prompts, one dialog at a time. Ask() and AskCombined() block the
/// calling thread until an outcome; Cancel() may be called from any thread
/// and makes a running Ask()/AskCombined() return kCancelled. Thread-safe.
class ConsentPrompter {
 public:
  virtual ~ConsentPrompter() = default;
  virtual PromptReply Ask(const PromptRequest& request) = 0;
  virtual CombinedPromptReply AskCombined(const CombinedPromptRequest& request) = 0;
  /// Whether an item with these answers can be offered in AskCombined (the
  /// Linux dialog cannot offer an answer containing '|'); an item that cannot
  /// is asked on its own with Ask(). Default: every item can.
  virtual bool CanCombine(const std::vector<std::string>& answers) const {
    (void)answers;
    return true;
  }
  virtual void Cancel() = 0;
};

/// Options of the Linux prompter; every field documents its default.
struct ZenityPrompterOptions {
  /// The dialog program (zenity 3.x: --question and --forms with
  /// --extra-button). Default "zenity" (searched in PATH).
  std::string program = "zenity";
  /// Called with the dialog process's pid once it started (tests find its
  /// window with it). Default none.
  std::function<void(int pid)> on_started;
};

/// The Linux prompter: a zenity dialog on the session's display ($DISPLAY /
/// $XAUTHORITY of this process). One question: the first answer is the OK
/// button, further answers and "Remind me later" are extra buttons, the
/// decline button is the cancel button. Combined: a form with one combo box
/// per item (starting empty), the submit (OK) button, "Remind me later" and
/// the decline (cancel) button.
std::unique_ptr<ConsentPrompter> MakeZenityPrompter(ZenityPrompterOptions options = {});

/// The Windows prompter: the dialog of agent/windows/prompt_dialog_windows.cc
/// (class "ReclaimConsentPrompt"; answer i is the button with control id
/// kFirstAnswerId + i, then "Remind me later", then the decline button).
/// Combined: a drop-down list per item (control id 2000 + i, starting
/// empty), then the buttons submit, postpone, decline.
std::unique_ptr<ConsentPrompter> MakeWindowsPrompter();

/// The first answer button's control id in the Windows dialog; answer i has
/// kFirstAnswerId + i; the postpone and decline buttons follow the answers.
inline constexpr int kFirstAnswerId = 1000;

/// This platform's prompter for the session the agent runs in:
/// MakeZenityPrompter() on Linux, MakeWindowsPrompter() on Windows (defined
/// beside each).
std::unique_ptr<ConsentPrompter> MakeDesktopPrompter();

}  // namespace reclaim::agent
