// The pure response state machine (collector/campaigns/campaign.h).
#include "collector/campaigns/campaign.h"

#include <gtest/gtest.h>

namespace reclaim::collector {
namespace {

constexpr std::int64_t kHour = 3600 * 1000;

Campaign Visio() {
  Campaign c;
  c.id = 7;
  c.name = "visio";
  c.sender_name = "IT";
  c.question = "Do you still need Visio?";
  c.answer_wait_ms = 72 * kHour;
  return c;
}

ResponseEvent Ev(ResponseEventKind k, UtcMs at, std::string device = "",
                 std::string answer = "") {
  return ResponseEvent{.kind = k, .at_utc_ms = at, .device_id = device, .answer = answer};
}

TEST(CampaignTest, DefaultsAndValidation) {
  Campaign c = Visio();
  EXPECT_EQ(c.answers, (std::vector<std::string>{"Yes", "No"}));
  EXPECT_EQ(c.priority, CampaignPriority::kNotUrgent);
  EXPECT_EQ(c.postpone_delay_ms, 12 * kHour);
  EXPECT_TRUE(ValidateCampaign(c).ok());
  Campaign bad = c;
  bad.answers = {"Yes"};
  EXPECT_EQ(ValidateCampaign(bad).code(), absl::StatusCode::kInvalidArgument);
  bad.answers = {"Yes", "Yes"};
  EXPECT_EQ(ValidateCampaign(bad).code(), absl::StatusCode::kInvalidArgument);
  bad = c;
  bad.question.clear();
  EXPECT_EQ(ValidateCampaign(bad).code(), absl::StatusCode::kInvalidArgument);
  // Answers an agent cannot show, and control characters (log and terminal
  // injection): refused when the campaign is made, not on every desktop.
  for (const std::vector<std::string>& answers :
       std::vector<std::vector<std::string>>{{"Yes|keep", "No"},
                                             {"Yes", "No\x1f"},
                                             {"Yes", "No\n"},
                                             {"Close", "Keep"},
                                             {"Yes", "Remind me later"},
                                             {"Send", "No"}}) {
    bad = c;
    bad.answers = answers;
    EXPECT_EQ(ValidateCampaign(bad).code(), absl::StatusCode::kInvalidArgument) << answers[0];
  }
  bad = c;
  bad.sender_name = "IT\x1b[31m";
  EXPECT_EQ(ValidateCampaign(bad).code(), absl::StatusCode::kInvalidArgument);
  bad = c;
  bad.name = "a\nb";
  EXPECT_EQ(ValidateCampaign(bad).code(), absl::StatusCode::kInvalidArgument);
  bad = c;
  bad.question = "Line one\rfake";
  EXPECT_EQ(ValidateCampaign(bad).code(), absl::StatusCode::kInvalidArgument);
  Campaign ok = c;
  ok.question = "Do you still need Visio?\n\tIt costs 45 EUR a month.";
  ok.answers = {"Yes, keep it", "No", "Closed project"};
  EXPECT_TRUE(ValidateCampaign(ok).ok()) << ValidateCampaign(ok);
  bad = c;
  bad.answer_wait_ms = 0;
  EXPECT_EQ(ValidateCampaign(bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseCampaignPriority("urgent"), CampaignPriority::kUrgent);
  EXPECT_FALSE(ParseCampaignPriority("soon").ok());
}

TEST(CampaignTest, StateNamesRoundTrip) {
  for (ResponseState s : {ResponseState::kPending, ResponseState::kDelivered,
                          ResponseState::kDisplayed, ResponseState::kAnswered,
                          ResponseState::kDeclined, ResponseState::kPostponed,
                          ResponseState::kTimedOut, ResponseState::kExpired}) {
    EXPECT_EQ(*ParseResponseState(ResponseStateName(s)), s);
  }
  EXPECT_FALSE(ParseResponseState("gone").ok());
}

TEST(CampaignTest, PendingDeliveredDisplayedAnswered) {
  const Campaign c = Visio();
  Response r = NewResponse(c, "EXAMPLE\\jdoe", 1000);
  EXPECT_EQ(r.state, ResponseState::kPending);
  EXPECT_EQ(r.due_utc_ms, 1000 + 72 * kHour);
  EXPECT_TRUE(ShouldDeliver(r, 2000));

  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kDelivered, 2000, "dev-a"));
  EXPECT_EQ(r.state, ResponseState::kDelivered);
  EXPECT_EQ(r.delivered_utc_ms, 2000);
  EXPECT_EQ(r.device_id, "dev-a");

  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kDisplayed, 3000, "dev-a"));
  EXPECT_EQ(r.state, ResponseState::kDisplayed);
  EXPECT_EQ(r.displayed_utc_ms, 3000);
  // A late "delivered" from another device does not move it back.
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kDelivered, 3500, "dev-b"));
  EXPECT_EQ(r.state, ResponseState::kDisplayed);
  EXPECT_EQ(r.device_id, "dev-a");

  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kAnswered, 4000, "dev-a", "No"));
  EXPECT_EQ(r.state, ResponseState::kAnswered);
  EXPECT_EQ(r.answer, "No");
  EXPECT_EQ(r.finished_utc_ms, 4000);
  EXPECT_TRUE(IsFinal(r.state));
  EXPECT_FALSE(ShouldDeliver(r, 5000));
  EXPECT_FALSE(DueEvent(r, r.due_utc_ms + 1).has_value());
}

TEST(CampaignTest, FirstAnswerWins) {
  const Campaign c = Visio();
  Response r = NewResponse(c, "u", 0);
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kAnswered, 10, "dev-a", "Yes"));
  auto second = ApplyEvent(c, r, Ev(ResponseEventKind::kAnswered, 11, "dev-b", "No"));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ApplyEvent(c, r, Ev(ResponseEventKind::kDeclined, 12)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ApplyEvent(c, r, Ev(ResponseEventKind::kExpired, 12)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CampaignTest, AnswerMustBeOneOfTheCampaigns) {
  const Campaign c = Visio();
  Response r = NewResponse(c, "u", 0);
  EXPECT_EQ(ApplyEvent(c, r, Ev(ResponseEventKind::kAnswered, 1, "d", "Maybe")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CampaignTest, Declined) {
  const Campaign c = Visio();
  Response r = NewResponse(c, "u", 0);
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kDisplayed, 5, "d"));
  EXPECT_EQ(r.delivered_utc_ms, 5);  // displayed implies delivered
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kDeclined, 6, "d"));
  EXPECT_EQ(r.state, ResponseState::kDeclined);
  EXPECT_EQ(r.finished_utc_ms, 6);
}

TEST(CampaignTest, PostponeThenReopenThenAnswer) {
  const Campaign c = Visio();
  Response r = NewResponse(c, "u", 0);
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kDisplayed, 100, "d"));
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kPostponed, 200, "d"));
  EXPECT_EQ(r.state, ResponseState::kPostponed);
  EXPECT_EQ(r.postponed_until_utc_ms, 200 + 12 * kHour);
  EXPECT_EQ(r.postpone_count, 1);
  EXPECT_FALSE(ShouldDeliver(r, 300));
  EXPECT_FALSE(DueEvent(r, 200 + 12 * kHour - 1).has_value());
  EXPECT_EQ(ApplyEvent(c, r, Ev(ResponseEventKind::kReopen, 300)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DueEvent(r, 200 + 12 * kHour), ResponseEventKind::kReopen);
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kReopen, 200 + 12 * kHour));
  EXPECT_EQ(r.state, ResponseState::kPending);
  EXPECT_TRUE(ShouldDeliver(r, 200 + 12 * kHour));
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kAnswered, 201 + 12 * kHour, "d", "Yes"));
  EXPECT_EQ(r.state, ResponseState::kAnswered);
  EXPECT_EQ(r.postpone_count, 1);
}

TEST(CampaignTest, PostponementIsCappedAtTheDueTime) {
  Campaign c = Visio();
  c.answer_wait_ms = 2 * kHour;
  Response r = NewResponse(c, "u", 0);
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kPostponed, kHour, "d"));
  EXPECT_EQ(r.postponed_until_utc_ms, 2 * kHour);
  // At the due time the wait is over: time-out wins over reopening.
  EXPECT_EQ(DueEvent(r, 2 * kHour), ResponseEventKind::kTimedOut);
}

TEST(CampaignTest, AnswerWhilePostponedFromAnotherDevice) {
  const Campaign c = Visio();
  Response r = NewResponse(c, "u", 0);
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kPostponed, 10, "dev-a"));
  EXPECT_EQ(ApplyEvent(c, r, Ev(ResponseEventKind::kDelivered, 11, "dev-b")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kAnswered, 12, "dev-b", "No"));
  EXPECT_EQ(r.state, ResponseState::kAnswered);
  EXPECT_EQ(r.device_id, "dev-b");
}

TEST(CampaignTest, TimeoutOnlyAfterDue) {
  const Campaign c = Visio();
  Response r = NewResponse(c, "u", 0);
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kDelivered, 1, "d"));
  EXPECT_FALSE(DueEvent(r, c.answer_wait_ms - 1).has_value());
  EXPECT_EQ(ApplyEvent(c, r, Ev(ResponseEventKind::kTimedOut, c.answer_wait_ms - 1))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(ShouldDeliver(r, c.answer_wait_ms));
  EXPECT_EQ(DueEvent(r, c.answer_wait_ms), ResponseEventKind::kTimedOut);
  r = *ApplyEvent(c, r, Ev(ResponseEventKind::kTimedOut, c.answer_wait_ms));
  EXPECT_EQ(r.state, ResponseState::kTimedOut);
  EXPECT_EQ(r.device_id, "d");  // the device that had it is kept
}

TEST(CampaignTest, ExpireFromEveryOpenState) {
  const Campaign c = Visio();
  for (ResponseEventKind before :
       {ResponseEventKind::kDelivered, ResponseEventKind::kDisplayed,
        ResponseEventKind::kPostponed}) {
    Response r = NewResponse(c, "u", 0);
    r = *ApplyEvent(c, r, Ev(before, 1, "d"));
    r = *ApplyEvent(c, r, Ev(ResponseEventKind::kExpired, 2));
    EXPECT_EQ(r.state, ResponseState::kExpired) << ResponseEventKindName(before);
  }
}

}  // namespace
}  // namespace reclaim::collector
