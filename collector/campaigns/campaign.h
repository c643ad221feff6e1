// Consent campaigns: the pure model. A campaign asks users on their screen a
// question ("Do you still need Visio?") with a single answer; each (campaign,
// user) pair has one Response that moves through a small state machine:
//
//   pending -> delivered -> displayed -> answered | declined | postponed
//                                        | timed_out | expired
//   postponed -> pending (again, once the postpone delay has passed)
//   any open state -> timed_out (answer wait over) | expired (campaign over)
//
// "Open" states are pending, delivered, displayed and postponed; the others
// are final. Everything here is pure (plain values in, plain values out):
// storage lives in sqlite_campaign_store.*, delivery in the agent service.
// Thread-compatible value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"

namespace reclaim::collector {

/// Urgent prompts are shown at once; not-urgent ones (the default, and what
/// license reclamation uses) wait for a good moment on the endpoint.
enum class CampaignPriority { kNotUrgent, kUrgent };

const char* CampaignPriorityName(CampaignPriority p);  // "not_urgent" / "urgent"
absl::StatusOr<CampaignPriority> ParseCampaignPriority(const std::string& name);

/// A campaign's definition.
struct Campaign {
  /// Store-assigned id (0 before creation).
  std::int64_t id = 0;
  /// Unique, non-empty name ("visio-2026-q4").
  std::string name;
  /// Shown as the prompt's sender ("IT Service Desk"). Required.
  std::string sender_name;
  /// Optional image (path or URL) shown beside the sender; empty = none.
  std::string sender_image;
  /// The question, UTF-8. Required.
  std::string question;
  /// The possible answers, single choice. Default {"Yes", "No"}.
  std::vector<std::string> answers = {"Yes", "No"};
  /// Default kNotUrgent.
  CampaignPriority priority = CampaignPriority::kNotUrgent;
  /// How long an answer is awaited after a response is launched, ms. After
  /// that an open response becomes timed_out. Default 7 days.
  std::int64_t answer_wait_ms = 7LL * 24 * 3600 * 1000;
  /// How long a postponed prompt waits before it is asked again, ms.
  /// Default 12 h.
  std::int64_t postpone_delay_ms = 12LL * 3600 * 1000;
  /// Reclamation policy that launched the campaign; 0 = launched by hand.
  std::int64_t policy_id = 0;
  /// Application the question is about (for combining reclamation questions
  /// into one prompt); empty for free-form campaigns.
  std::string application;
  UtcMs created_utc_ms = 0;
};

/// Checks a definition before it is stored. Errors: kInvalidArgument naming
/// the field (empty name/sender/question, fewer than two answers, an empty or
/// duplicate answer, non-positive durations).
absl::Status ValidateCampaign(const Campaign& c);

/// Name prefix of the campaigns ask-for-permission runs make
/// ("reclaim-run-<run id>", collector/reclaim/reclaimer.cc). A run adopts an
/// existing campaign of its name (idempotent launch after a crash), so the
/// admin API refuses names with this prefix.
inline constexpr char kRunCampaignPrefix[] = "reclaim-run-";

enum class ResponseState {
  kPending,
  kDelivered,
  kDisplayed,
  kAnswered,
  kDeclined,
  kPostponed,
  kTimedOut,
  kExpired,
};

const char* ResponseStateName(ResponseState s);  // "pending", "timed_out", ...
absl::StatusOr<ResponseState> ParseResponseState(const std::string& name);
/// True for answered, declined, timed_out and expired.
bool IsFinal(ResponseState s);

/// One user's response to one campaign.
struct Response {
  /// Store-assigned id, unique in the deployment (0 before storage). The
  /// prompt's command id is derived from it.
  std::int64_t id = 0;
  std::int64_t campaign_id = 0;
  /// The user as the usage store names it: "DOMAIN\login".
  std::string user;
  ResponseState state = ResponseState::kPending;
  /// The chosen answer (one of Campaign::answers) when answered.
  std::string answer;
  /// Device that delivered / displayed / answered it last; empty before.
  std::string device_id;
  UtcMs launched_utc_ms = 0;
  /// When an open response times out: launched + answer_wait.
  UtcMs due_utc_ms = 0;
  UtcMs delivered_utc_ms = 0;
  UtcMs displayed_utc_ms = 0;
  /// When a final state was reached (answered, declined, timed out, expired).
  UtcMs finished_utc_ms = 0;
  /// When a postponed response becomes pending again.
  UtcMs postponed_until_utc_ms = 0;
  /// How many times the user chose "Remind me later".
  int postpone_count = 0;
  UtcMs updated_utc_ms = 0;
};

/// What happened to a response.
enum class ResponseEventKind {
  kDelivered,  // an agent received the prompt (device)
  kDisplayed,  // an agent showed it on screen (device)
  kAnswered,   // the user chose `answer` (device)
  kDeclined,   // the user closed the prompt (device)
  kPostponed,  // "Remind me later" (device)
  kTimedOut,   // the answer wait is over
  kExpired,    // the campaign was ended before an answer
  kReopen,     // a postponed response's delay passed: ask again
};

const char* ResponseEventKindName(ResponseEventKind k);  // "delivered", "reopen", ...

struct ResponseEvent {
  ResponseEventKind kind;
  UtcMs at_utc_ms = 0;
  std::string device_id;
  std::string answer;
};

/// Starts a response: pending, due at now + campaign.answer_wait_ms.
Response NewResponse(const Campaign& c, const std::string& user, UtcMs now);

/// Applies `event` to `r` for campaign `c`. Rules:
///  - a final response never changes: any event on it returns
///    kFailedPrecondition (the first answer wins; late answers from another
///    device are reported, not applied);
///  - delivered/displayed move forward only (displayed after delivered is
///    fine, delivered after displayed keeps displayed and is OK);
///  - answered needs an answer among c.answers (else kInvalidArgument) and
///    is accepted from every open state, postponed included (the user may
///    answer the copy still shown on another device);
///  - postponed sets postponed_until = at + c.postpone_delay_ms (capped at
///    due_utc_ms) and counts; reopen needs postponed and at >= postponed_until;
///  - timed_out needs at >= due_utc_ms; expired is always allowed on open.
absl::StatusOr<Response> ApplyEvent(const Campaign& c, Response r, const ResponseEvent& event);

/// The housekeeping due at `now` for one open response: kTimedOut when past
/// due, kReopen when a postponement ended, none otherwise. Pure; the store
/// applies it with ApplyEvent.
std::optional<ResponseEventKind> DueEvent(const Response& r, UtcMs now);

/// Whether an agent should be sent the prompt for `r` now: open and not
/// waiting out a postponement.
bool ShouldDeliver(const Response& r, UtcMs now);

}  // namespace reclaim::collector
