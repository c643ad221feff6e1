// The pure prompt timing policy (agent/core/prompt_policy.h).
#include "agent/core/prompt_policy.h"

#include <gtest/gtest.h>

namespace reclaim::agent {
namespace {

constexpr std::int64_t kMin = 60 * 1000;
constexpr std::int64_t kHour = 60 * kMin;
constexpr std::int64_t kNow = 1'700'000'000'000;

PendingPromptInfo P(std::string id, bool urgent = false, std::string app = "",
                    std::int64_t expires = 0) {
  return {std::move(id), urgent, std::move(app), expires};
}

TEST(PromptPolicyTest, NotUrgentShownWhenTheUserIsThere) {
  auto d = DecidePrompts({P("a")}, {}, {}, kNow);
  EXPECT_EQ(d.show, (std::vector<std::string>{"a"}));
  EXPECT_FALSE(d.urgent);
}

TEST(PromptPolicyTest, NotUrgentWaitsForIdleLockedFullscreenAndDnd) {
  for (DesktopState s : {DesktopState{.idle = true}, DesktopState{.locked = true},
                         DesktopState{.fullscreen = true},
                         DesktopState{.do_not_disturb = true}}) {
    auto d = DecidePrompts({P("a")}, s, {}, kNow);
    EXPECT_TRUE(d.show.empty());
    EXPECT_EQ(d.recheck_at_utc_ms, 0);  // re-decided when the desktop changes
  }
}

TEST(PromptPolicyTest, UrgentGoesFirstAndIgnoresFullscreenButNotTheLock) {
  const std::vector<PendingPromptInfo> pending = {P("a"), P("u1", true), P("u2", true)};
  auto d = DecidePrompts(pending, {.fullscreen = true}, {}, kNow);
  EXPECT_EQ(d.show, (std::vector<std::string>{"u1"}));
  EXPECT_TRUE(d.urgent);
  EXPECT_TRUE(DecidePrompts(pending, {.locked = true}, {}, kNow).show.empty());
}

TEST(PromptPolicyTest, AtMostOneNotUrgentPerSixHours) {
  const PromptHistory h{.last_not_urgent_utc_ms = kNow - 5 * kHour};
  auto d = DecidePrompts({P("a")}, {}, h, kNow);
  EXPECT_TRUE(d.show.empty());
  EXPECT_EQ(d.recheck_at_utc_ms, kNow + kHour);
  EXPECT_EQ(DecidePrompts({P("a")}, {}, h, kNow + kHour).show.size(), 1u);
  PromptPolicyOptions o;
  o.min_not_urgent_interval = std::chrono::hours(1);  // configurable
  EXPECT_EQ(DecidePrompts({P("a")}, {}, h, kNow, o).show.size(), 1u);
}

TEST(PromptPolicyTest, QuietTwentyMinutesAfterAnUrgentOne) {
  const PromptHistory h{.last_urgent_utc_ms = kNow - 10 * kMin};
  auto d = DecidePrompts({P("a")}, {}, h, kNow);
  EXPECT_TRUE(d.show.empty());
  EXPECT_EQ(d.recheck_at_utc_ms, kNow + 10 * kMin);
  // ...which does not hold back another urgent one.
  EXPECT_EQ(DecidePrompts({P("u", true)}, {}, h, kNow).show.size(), 1u);
}

TEST(PromptPolicyTest, ReclamationQuestionsAreCombined) {
  auto d = DecidePrompts({P("visio", false, "Visio"), P("free"), P("acrobat", false, "Acrobat")},
                         {}, {}, kNow);
  EXPECT_EQ(d.show, (std::vector<std::string>{"visio", "acrobat"}));
  // A free-form question first in line goes alone.
  d = DecidePrompts({P("free"), P("visio", false, "Visio")}, {}, {}, kNow);
  EXPECT_EQ(d.show, (std::vector<std::string>{"free"}));
}

// Many pending reclamation questions: one dialog holds at most
// max_combined_questions (a taller one put its buttons off the screen), the
// ones expiring soonest first; the rest come in a later dialog.
TEST(PromptPolicyTest, CombinedDialogHoldsAtMostMaxQuestionsSoonestExpiryFirst) {
  std::vector<PendingPromptInfo> pending;
  for (int i = 0; i < 60; ++i) {
    pending.push_back(P("q" + std::to_string(i), false, "App " + std::to_string(i),
                        i % 2 == 0 ? 0 : kNow + 1000 * (100 - i)));
  }
  auto d = DecidePrompts(pending, {}, {}, kNow);
  ASSERT_EQ(d.show.size(), 15u);
  // Odd ones expire, q59 soonest; prompts that never expire come last.
  EXPECT_EQ(d.show.front(), "q59");
  EXPECT_EQ(d.show.back(), "q31");
  PromptPolicyOptions o;
  o.max_combined_questions = 3;
  std::vector<PendingPromptInfo> never;
  for (const char* id : {"a", "b", "c", "d"}) never.push_back(P(id, false, "X"));
  EXPECT_EQ(DecidePrompts(never, {}, {}, kNow, o).show, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(PromptPolicyTest, ExpiredPromptsAreNeverShown) {
  EXPECT_TRUE(DecidePrompts({P("a", false, "", kNow), P("u", true, "", kNow - 1)}, {}, {}, kNow)
                  .show.empty());
}

}  // namespace
}  // namespace reclaim::agent
