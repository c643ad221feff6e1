// Table-driven tests of every evaluation rule (collector/reclaim/evaluation.h).
#include "collector/reclaim/evaluation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace reclaim::collector {
namespace {

using ::testing::HasSubstr;

constexpr std::int64_t kDay = 86400000;
constexpr UtcMs kNow = 1796000000000;  // 2026-11-30

// A member past grace, fully covered, with one device and no usage: a
// candidate unless a case changes something.
MemberEvidence Base(const std::string& id = "u1") {
  MemberEvidence e;
  e.member.user.object_id = id;
  e.member.user.sam_account_name = id;
  e.member.kind = MembershipKind::kDirect;
  e.first_seen_in_group_utc_ms = kNow - 365 * kDay;
  e.devices = 1;
  e.coverage = 1.0;
  return e;
}

struct Case {
  const char* name;
  std::function<void(MemberEvidence&)> tweak;
  Decision want;
  const char* reason;
};

TEST(EvaluationTest, EveryRule) {
  const EvaluationRules rules;  // 90 days, 5 min, 30 days grace, 50 %, cap 10
  const Case cases[] = {
      {"no usage", [](MemberEvidence&) {}, Decision::kCandidate, "focus 0s < threshold 5m 00s"},
      {"just under threshold", [](MemberEvidence& e) { e.focus_ms = 5 * 60000 - 1; },
       Decision::kCandidate, "focus 4m 59s"},
      {"exactly threshold", [](MemberEvidence& e) { e.focus_ms = 5 * 60000; }, Decision::kUsed,
       ">= threshold"},
      {"above threshold", [](MemberEvidence& e) { e.focus_ms = 3600000; }, Decision::kUsed,
       "focus 1h 00m"},
      {"grace: added 1 ms short of 30 days",
       [](MemberEvidence& e) { e.first_seen_in_group_utc_ms = kNow - 30 * kDay + 1; },
       Decision::kInGrace, "29 of 30 grace days"},
      {"grace: exactly 30 days ago",
       [](MemberEvidence& e) { e.first_seen_in_group_utc_ms = kNow - 30 * kDay; },
       Decision::kCandidate, "focus 0s"},
      {"excluded user", [](MemberEvidence& e) { e.excluded_by = "user:jdoe"; },
       Decision::kExcluded, "excluded by user:jdoe"},
      {"excluded group", [](MemberEvidence& e) { e.excluded_by = "group:Executives"; },
       Decision::kExcluded, "group:Executives"},
      {"answered yes", [](MemberEvidence& e) { e.answer = Answer::kYes; },
       Decision::kAnsweredYes, "answered yes"},
      {"answered no", [](MemberEvidence& e) { e.answer = Answer::kNo; }, Decision::kCandidate,
       "focus 0s"},
      {"no data: no device",
       [](MemberEvidence& e) {
         e.devices = 0;
         e.coverage = 0;
       },
       Decision::kNoData, "no metered device"},
      {"low coverage: just under", [](MemberEvidence& e) { e.coverage = 0.499; },
       Decision::kNoData, "49% of the window"},
      {"coverage exactly the minimum", [](MemberEvidence& e) { e.coverage = 0.5; },
       Decision::kCandidate, "focus 0s"},
      {"used beats low coverage",
       [](MemberEvidence& e) {
         e.coverage = 0.1;
         e.focus_ms = 600000;
       },
       Decision::kUsed, ">= threshold"},
      {"nested only",
       [](MemberEvidence& e) {
         e.member.kind = MembershipKind::kNested;
         e.member.via_group = "Design";
       },
       Decision::kNotDirect, "nested group Design"},
      {"primary group is still a candidate (connector reports manual action)",
       [](MemberEvidence& e) { e.member.kind = MembershipKind::kPrimaryGroup; },
       Decision::kCandidate, "focus 0s"},
      {"exclusion beats everything",
       [](MemberEvidence& e) {
         e.excluded_by = "user:x";
         e.devices = 0;
       },
       Decision::kExcluded, "excluded"},
      {"grace beats no data",
       [](MemberEvidence& e) {
         e.first_seen_in_group_utc_ms = kNow;
         e.devices = 0;
       },
       Decision::kInGrace, "grace"},
  };
  for (const Case& c : cases) {
    MemberEvidence e = Base();
    c.tweak(e);
    EvaluationResult r = Evaluate(rules, {e}, kNow);
    ASSERT_EQ(r.members.size(), 1u) << c.name;
    EXPECT_EQ(DecisionName(r.members[0].decision), std::string(DecisionName(c.want))) << c.name;
    EXPECT_THAT(r.members[0].reason, HasSubstr(c.reason)) << c.name;
    EXPECT_EQ(r.candidates, c.want == Decision::kCandidate ? 1 : 0) << c.name;
    EXPECT_EQ(r.no_data, c.want == Decision::kNoData ? 1 : 0) << c.name;
  }
}

TEST(EvaluationTest, CapKeepsTheLeastUsedAndDefersTheRest) {
  EvaluationRules rules;
  rules.max_removals_per_run = 2;
  std::vector<MemberEvidence> members;
  for (int i = 0; i < 5; ++i) {
    MemberEvidence e = Base("u" + std::to_string(i));
    e.focus_ms = (4 - i) * 1000;  // u4 least used
    members.push_back(e);
  }
  members[3].focus_ms = members[4].focus_ms;  // tie on focus: last use decides
  members[3].last_use_utc_ms = kNow - 10 * kDay;
  members[4].last_use_utc_ms = kNow - 20 * kDay;
  MemberEvidence used = Base("used");
  used.focus_ms = 3600000;
  members.push_back(used);
  EvaluationResult r = Evaluate(rules, members, kNow);
  ASSERT_EQ(r.members.size(), 6u);
  EXPECT_EQ(r.candidates, 2);
  EXPECT_EQ(r.over_cap, 3);
  EXPECT_EQ(r.members[0].evidence.member.user.object_id, "u4");  // older last use first
  EXPECT_EQ(r.members[1].evidence.member.user.object_id, "u3");
  EXPECT_EQ(r.members[0].decision, Decision::kCandidate);
  EXPECT_EQ(r.members[1].decision, Decision::kCandidate);
  for (int i = 2; i < 5; ++i) {
    EXPECT_EQ(r.members[i].decision, Decision::kOverCap);
    EXPECT_THAT(r.members[i].reason, HasSubstr("per-run cap of 2"));
  }
  EXPECT_EQ(r.members[5].decision, Decision::kUsed);
}

TEST(EvaluationTest, EmptyGroup) {
  EvaluationResult r = Evaluate(EvaluationRules{}, {}, kNow);
  EXPECT_TRUE(r.members.empty());
  EXPECT_EQ(r.candidates, 0);
}

TEST(WindowCoverageTest, Table) {
  // Window of 10 days: [100, 109].
  struct Case {
    std::vector<DaySpan> spans;
    double want;
  } cases[] = {
      {{}, 0.0},
      {{{100, 109}}, 1.0},
      {{{0, 1000}}, 1.0},
      {{{105, 200}}, 0.5},       // agent installed mid-window
      {{{50, 101}}, 0.2},        // device retired early in the window
      {{{100, 104}, {103, 106}}, 0.7},  // overlapping spans count once
      {{{100, 100}, {109, 109}}, 0.2},
      {{{110, 120}}, 0.0},
  };
  for (const Case& c : cases) {
    EXPECT_DOUBLE_EQ(WindowCoverage(100, 109, c.spans), c.want);
  }
}

}  // namespace
}  // namespace reclaim::collector
