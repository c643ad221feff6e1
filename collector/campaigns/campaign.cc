#include "collector/campaigns/campaign.h"

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace reclaim::collector {

const char* CampaignPriorityName(CampaignPriority p) {
  return p == CampaignPriority::kUrgent ? "urgent" : "not_urgent";
}

absl::StatusOr<CampaignPriority> ParseCampaignPriority(const std::string& name) {
  if (name == "urgent") return CampaignPriority::kUrgent;
  if (name == "not_urgent" || name == "not-urgent") return CampaignPriority::kNotUrgent;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown priority '", name, "' (urgent or not_urgent)"));
}

namespace {

// A control character (C0 or DEL), except the line feed and tab a question
// may hold when `text_block`.
bool HasControl(const std::string& s, bool text_block) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (text_block && (c == '\n' || c == '\t')) continue;
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// Labels of the agents' own dialog buttons (agent/sources/prompter.h): an
// answer with one of them cannot be told apart and the agent refuses the
// prompt.
constexpr const char* kAgentButtonLabels[] = {"Remind me later", "Close", "Send"};

}  // namespace

absl::Status ValidateCampaign(const Campaign& c) {
  if (c.name.empty()) return absl::InvalidArgumentError("campaign name is empty");
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"name", &c.name},
        {"sender_name", &c.sender_name},
        {"application", &c.application}}) {
    if (HasControl(*value, /*text_block=*/false)) {
      return absl::InvalidArgumentError(
          absl::StrCat("campaign ", field, " has a control character"));
    }
  }
  if (HasControl(c.question, /*text_block=*/true)) {
    return absl::InvalidArgumentError(
        "campaign question has a control character (only line feeds and tabs are allowed)");
  }
  if (c.sender_name.empty()) return absl::InvalidArgumentError("campaign sender_name is empty");
  if (c.question.empty()) return absl::InvalidArgumentError("campaign question is empty");
  if (c.answers.size() < 2) {
    return absl::InvalidArgumentError("a campaign needs at least two answers");
  }
  std::set<std::string> seen;
  for (const std::string& a : c.answers) {
    if (a.empty()) return absl::InvalidArgumentError("a campaign answer is empty");
    // The combined dialog (zenity --combo-values) splits answers at '|': an
    // agent refused the whole dialog, so one such campaign kept every
    // reclamation question on that desktop from being shown.
    if (a.find('|') != std::string::npos || HasControl(a, /*text_block=*/false)) {
      return absl::InvalidArgumentError(
          absl::StrCat("campaign answer '", absl::CHexEscape(a),
                       "' has '|' or a control character, which agents cannot show"));
    }
    for (const char* label : kAgentButtonLabels) {
      if (a == label) {
        return absl::InvalidArgumentError(absl::StrCat(
            "campaign answer '", a, "' is the label of a button the agent's dialog adds itself"));
      }
    }
    if (!seen.insert(a).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate answer '", a, "'"));
    }
  }
  if (c.answer_wait_ms <= 0) return absl::InvalidArgumentError("answer_wait must be positive");
  if (c.postpone_delay_ms <= 0) {
    return absl::InvalidArgumentError("postpone_delay must be positive");
  }
  return absl::OkStatus();
}

namespace {
constexpr ResponseState kAllStates[] = {
    ResponseState::kPending,  ResponseState::kDelivered, ResponseState::kDisplayed,
    ResponseState::kAnswered, ResponseState::kDeclined,  ResponseState::kPostponed,
    ResponseState::kTimedOut, ResponseState::kExpired};
}  // namespace

const char* ResponseStateName(ResponseState s) {
  switch (s) {
    case ResponseState::kPending: return "pending";
    case ResponseState::kDelivered: return "delivered";
    case ResponseState::kDisplayed: return "displayed";
    case ResponseState::kAnswered: return "answered";
    case ResponseState::kDeclined: return "declined";
    case ResponseState::kPostponed: return "postponed";
    case ResponseState::kTimedOut: return "timed_out";
    case ResponseState::kExpired: return "expired";
  }
  return "?";
}

absl::StatusOr<ResponseState> ParseResponseState(const std::string& name) {
  for (ResponseState s : kAllStates) {
    if (name == ResponseStateName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown response state '", name, "'"));
}

bool IsFinal(ResponseState s) {
  return s == ResponseState::kAnswered || s == ResponseState::kDeclined ||
         s == ResponseState::kTimedOut || s == ResponseState::kExpired;
}

const char* ResponseEventKindName(ResponseEventKind k) {
  switch (k) {
    case ResponseEventKind::kDelivered: return "delivered";
    case ResponseEventKind::kDisplayed: return "displayed";
    case ResponseEventKind::kAnswered: return "answered";
    case ResponseEventKind::kDeclined: return "declined";
    case ResponseEventKind::kPostponed: return "postponed";
    case ResponseEventKind::kTimedOut: return "timed_out";
    case ResponseEventKind::kExpired: return "expired";
    case ResponseEventKind::kReopen: return "reopen";
  }
  return "?";
}

Response NewResponse(const Campaign& c, const std::string& user, UtcMs now) {
  Response r;
  r.campaign_id = c.id;
  r.user = user;
  r.state = ResponseState::kPending;
  r.launched_utc_ms = now;
  r.due_utc_ms = now + c.answer_wait_ms;
  r.updated_utc_ms = now;
  return r;
}

absl::StatusOr<Response> ApplyEvent(const Campaign& c, Response r, const ResponseEvent& e) {
  if (IsFinal(r.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("response of ", r.user, " is already ", ResponseStateName(r.state)));
  }
  const auto finish = [&](ResponseState s) {
    r.state = s;
    r.finished_utc_ms = e.at_utc_ms;
    if (!e.device_id.empty()) r.device_id = e.device_id;
  };
  switch (e.kind) {
    case ResponseEventKind::kDelivered:
      if (r.state == ResponseState::kPostponed) {
        return absl::FailedPreconditionError("a postponed response is not delivered");
      }
      if (r.state == ResponseState::kPending) {
        r.state = ResponseState::kDelivered;
        r.delivered_utc_ms = e.at_utc_ms;
        r.device_id = e.device_id;
      }
      break;
    case ResponseEventKind::kDisplayed:
      if (r.state == ResponseState::kPostponed) {
        return absl::FailedPreconditionError("a postponed response is not displayed");
      }
      if (r.state != ResponseState::kDisplayed) {
        if (r.delivered_utc_ms == 0) r.delivered_utc_ms = e.at_utc_ms;
        r.state = ResponseState::kDisplayed;
        r.displayed_utc_ms = e.at_utc_ms;
        r.device_id = e.device_id;
      }
      break;
    case ResponseEventKind::kAnswered:
      if (std::find(c.answers.begin(), c.answers.end(), e.answer) == c.answers.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", e.answer, "' is not an answer of campaign ", c.name));
      }
      r.answer = e.answer;
      finish(ResponseState::kAnswered);
      break;
    case ResponseEventKind::kDeclined:
      finish(ResponseState::kDeclined);
      break;
    case ResponseEventKind::kPostponed:
      if (r.state == ResponseState::kPostponed) break;  // a second device's "later"
      r.state = ResponseState::kPostponed;
      r.postponed_until_utc_ms = std::min(e.at_utc_ms + c.postpone_delay_ms, r.due_utc_ms);
      ++r.postpone_count;
      if (!e.device_id.empty()) r.device_id = e.device_id;
      break;
    case ResponseEventKind::kReopen:
      if (r.state != ResponseState::kPostponed) {
        return absl::FailedPreconditionError("only a postponed response reopens");
      }
      if (e.at_utc_ms < r.postponed_until_utc_ms) {
        return absl::FailedPreconditionError("the postponement has not ended");
      }
      r.state = ResponseState::kPending;
      r.postponed_until_utc_ms = 0;
      break;
    case ResponseEventKind::kTimedOut:
      if (e.at_utc_ms < r.due_utc_ms) {
        return absl::FailedPreconditionError("the answer wait is not over");
      }
      finish(ResponseState::kTimedOut);
      break;
    case ResponseEventKind::kExpired:
      finish(ResponseState::kExpired);
      break;
  }
  r.updated_utc_ms = e.at_utc_ms;
  return r;
}

std::optional<ResponseEventKind> DueEvent(const Response& r, UtcMs now) {
  if (IsFinal(r.state)) return std::nullopt;
  if (now >= r.due_utc_ms) return ResponseEventKind::kTimedOut;
  if (r.state == ResponseState::kPostponed && now >= r.postponed_until_utc_ms) {
    return ResponseEventKind::kReopen;
  }
  return std::nullopt;
}

bool ShouldDeliver(const Response& r, UtcMs now) {
  if (IsFinal(r.state) || now >= r.due_utc_ms) return false;
  return r.state != ResponseState::kPostponed;
}

}  // namespace reclaim::collector
