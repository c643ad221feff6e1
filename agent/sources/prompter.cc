// What both ConsentPrompter twins share (prompter.h). Standard C++ only.

#include "agent/sources/prompter.h"

namespace reclaim::agent {

std::string PromptOutcomeName(const PromptRequest& req, const PromptReply& reply) {
  switch (reply.outcome) {
    case PromptReply::Outcome::kAnswered:
      if (reply.answer >= 0 && reply.answer < static_cast<int>(req.answers.size())) {
        return "answered:" + req.answers[reply.answer];
      }
      return "failed";
    case PromptReply::Outcome::kPostponed: return "postponed";
    case PromptReply::Outcome::kDeclined: return "declined";
    case PromptReply::Outcome::kTimedOut: return "timed_out";
    case PromptReply::Outcome::kCancelled: return "cancelled";
    case PromptReply::Outcome::kFailed: return "failed";
  }
  return "failed";
}

namespace {

std::string CheckAnswers(const std::vector<std::string>& answers, const std::string& postpone,
                         const std::string& decline) {
  if (answers.empty()) return "a prompt needs at least one answer";
  for (const std::string& a : answers) {
    if (a.empty()) return "a prompt has an empty answer";
    if (a == postpone || a == decline) {
      return "an answer has the label of the postpone or decline button";
    }
  }
  return "";
}

}  // namespace

std::string CheckPromptRequest(const PromptRequest& req) {
  if (req.question.empty()) return "a prompt needs a question";
  return CheckAnswers(req.answers, req.postpone_label, req.decline_label);
}

std::string CheckPromptRequest(const CombinedPromptRequest& req) {
  if (req.intro.empty()) return "a combined prompt needs an introduction";
  if (req.items.empty()) return "a combined prompt needs at least one item";
  for (const CombinedPromptRequest::Item& item : req.items) {
    if (item.label.empty()) return "a combined prompt has an item without a label";
    std::string e = CheckAnswers(item.answers, req.postpone_label, req.decline_label);
    if (!e.empty()) return e;
  }
  return "";
}

}  // namespace reclaim::agent
