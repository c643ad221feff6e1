// Per-user prompt pacing on the collector (prompt_pacing.h) across devices:
// a real SQLite campaign store, the PromptRouter with two devices of one user
// subscribed, the CampaignHousekeeper pushing held prompts when due, all on a
// manual clock. Launches go through PublishDeliverable as the admin service
// and the reclaimer do.
#include "collector/campaigns/prompt_pacing.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>

#include "collector/campaigns/campaign_housekeeper.h"
#include "collector/campaigns/prompt_router.h"
#include "collector/campaigns/sqlite_campaign_store.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::collector {
namespace {

constexpr std::int64_t kMinute = 60 * 1000;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr char kUser[] = "EX\\jdoe";

class PromptPacingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = SqliteCampaignStore::Open(dir_.File("c.db"));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    for (const char* dev : {"dev1", "dev2"}) {
      router_.Subscribe(kUser, dev, [this, dev](const PromptCommand& c) {
        if (c.kind == PromptCommand::Kind::kShow) shown_[dev].push_back(c.campaign.name);
      });
    }
  }

  Campaign Create(const std::string& name, CampaignPriority priority) {
    Campaign c;
    c.name = name;
    c.sender_name = "IT";
    c.question = "Do you still need " + name + "?";
    c.priority = priority;
    c.answer_wait_ms = 7 * 24 * kHour;
    c.application = name;
    auto created = store_->CreateCampaign(c, clock_.WallUtcMs());
    EXPECT_TRUE(created.ok()) << created.status();
    return *created;
  }

  // Launches `c` for the user and pushes it, as AdminService::LaunchCampaign.
  std::int64_t Launch(const Campaign& c) {
    auto rs = store_->Launch(c.id, {kUser}, clock_.WallUtcMs());
    EXPECT_TRUE(rs.ok()) << rs.status();
    auto n = router_.PublishDeliverable(*store_, kUser, clock_.WallUtcMs(), c.id);
    EXPECT_TRUE(n.ok()) << n.status();
    return (*rs)[0].id;
  }

  void Report(std::int64_t response_id, ResponseEventKind kind, const std::string& device,
              const std::string& answer = "") {
    auto r = store_->Apply(response_id, {.kind = kind, .at_utc_ms = clock_.WallUtcMs(),
                                         .device_id = device, .answer = answer});
    ASSERT_TRUE(r.ok()) << r.status();
  }

  void Advance(std::int64_t ms) { clock_.Advance(std::chrono::milliseconds(ms)); }

  std::vector<std::string> Shown(const std::string& dev) { return shown_[dev]; }

  reclaim::testing::TempDir dir_;
  ManualClock clock_{MonoTime{0}, 1'700'000'000'000};
  std::unique_ptr<SqliteCampaignStore> store_;
  PromptRouter router_;  // default pacing: 6 h, 20 min
  std::map<std::string, std::vector<std::string>> shown_;
};

using V = std::vector<std::string>;

TEST_F(PromptPacingTest, NotUrgentOfAnotherCampaignWaitsSixHoursAcrossDevices) {
  CampaignHousekeeper hk(*store_, router_, clock_);
  const std::int64_t a = Launch(Create("visio", CampaignPriority::kNotUrgent));
  EXPECT_EQ(Shown("dev1"), V{"visio"});
  EXPECT_EQ(Shown("dev2"), V{"visio"});
  Report(a, ResponseEventKind::kDisplayed, "dev1");
  Report(a, ResponseEventKind::kAnswered, "dev1", "Yes");
  shown_.clear();

  Advance(1 * kHour);
  const Campaign project = Create("project", CampaignPriority::kNotUrgent);
  const std::int64_t b = Launch(project);
  EXPECT_TRUE(Shown("dev1").empty());
  EXPECT_TRUE(Shown("dev2").empty());
  EXPECT_EQ(store_->GetResponse(b)->state, ResponseState::kPending);
  ASSERT_TRUE(router_.NextHoldDue().has_value());
  EXPECT_EQ(*router_.NextHoldDue(), clock_.WallUtcMs() + 5 * kHour);
  // An agent connecting meanwhile does not get it either.
  auto paced = router_.Paced(*store_, kUser, clock_.WallUtcMs());
  ASSERT_TRUE(paced.ok());
  EXPECT_TRUE(paced->empty());

  Advance(5 * kHour - 1);
  ASSERT_TRUE(hk.RunOnce().ok());
  EXPECT_TRUE(Shown("dev2").empty());
  Advance(1);  // 6 h after visio was displayed
  ASSERT_TRUE(hk.RunOnce().ok());
  EXPECT_EQ(Shown("dev1"), V{"project"});
  EXPECT_EQ(Shown("dev2"), V{"project"});
  EXPECT_FALSE(router_.NextHoldDue().has_value());
}

TEST_F(PromptPacingTest, UrgentIsNeverHeld) {
  const std::int64_t a = Launch(Create("visio", CampaignPriority::kNotUrgent));
  Report(a, ResponseEventKind::kDisplayed, "dev1");
  shown_.clear();
  Advance(10 * kMinute);
  Launch(Create("outage", CampaignPriority::kUrgent));
  EXPECT_EQ(Shown("dev1"), V{"outage"});
  EXPECT_EQ(Shown("dev2"), V{"outage"});
  EXPECT_FALSE(router_.NextHoldDue().has_value());
}

TEST_F(PromptPacingTest, NotUrgentWaitsTwentyMinutesAfterAnUrgentOne) {
  CampaignHousekeeper hk(*store_, router_, clock_);
  const std::int64_t u = Launch(Create("outage", CampaignPriority::kUrgent));
  Report(u, ResponseEventKind::kDisplayed, "dev2");
  Report(u, ResponseEventKind::kAnswered, "dev2", "No");
  shown_.clear();
  Advance(5 * kMinute);
  const std::int64_t b = Launch(Create("visio", CampaignPriority::kNotUrgent));
  EXPECT_TRUE(Shown("dev1").empty());
  EXPECT_EQ(*router_.NextHoldDue(), clock_.WallUtcMs() + 15 * kMinute);
  Advance(15 * kMinute - 1);
  ASSERT_TRUE(hk.RunOnce().ok());
  EXPECT_TRUE(Shown("dev1").empty());
  Advance(1);
  ASSERT_TRUE(hk.RunOnce().ok());
  EXPECT_EQ(Shown("dev1"), V{"visio"});
  EXPECT_EQ(store_->GetResponse(b)->state, ResponseState::kPending);
}

TEST_F(PromptPacingTest, SeveralPendingGoOutTogether) {
  const Campaign visio = Create("visio", CampaignPriority::kNotUrgent);
  const Campaign project = Create("project", CampaignPriority::kNotUrgent);
  ASSERT_TRUE(store_->Launch(visio.id, {kUser}, clock_.WallUtcMs()).ok());
  ASSERT_TRUE(store_->Launch(project.id, {kUser}, clock_.WallUtcMs()).ok());
  // An agent connecting gets both, so it can combine them in one dialog.
  auto paced = router_.Paced(*store_, kUser, clock_.WallUtcMs());
  ASSERT_TRUE(paced.ok()) << paced.status();
  std::set<std::string> names;
  for (const DeliverablePrompt& p : *paced) names.insert(p.campaign.name);
  EXPECT_EQ(names, (std::set<std::string>{"visio", "project"}));
  // Both pushed, neither held.
  auto n = router_.PublishDeliverable(*store_, kUser, clock_.WallUtcMs());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4);  // 2 prompts x 2 devices
  EXPECT_EQ(Shown("dev1"), (V{"visio", "project"}));
  EXPECT_FALSE(router_.NextHoldDue().has_value());
}

TEST_F(PromptPacingTest, HeldPromptsAreDeliveredTogetherWhenDue) {
  CampaignHousekeeper hk(*store_, router_, clock_);
  const std::int64_t a = Launch(Create("visio", CampaignPriority::kNotUrgent));
  Report(a, ResponseEventKind::kDisplayed, "dev1");
  shown_.clear();
  Launch(Create("project", CampaignPriority::kNotUrgent));
  Advance(kHour);
  Launch(Create("autocad", CampaignPriority::kNotUrgent));
  EXPECT_TRUE(Shown("dev2").empty());
  Advance(5 * kHour);
  ASSERT_TRUE(hk.RunOnce().ok());
  // visio is still open (displayed, never held: already shown), so it comes too.
  EXPECT_EQ(Shown("dev2"), (V{"visio", "project", "autocad"}));
}

TEST_F(PromptPacingTest, ReaskAfterPostponementIsNotANewPrompt) {
  CampaignHousekeeper hk(*store_, router_, clock_);
  Campaign c;
  c.name = "visio";
  c.sender_name = "IT";
  c.question = "Still need Visio?";
  c.postpone_delay_ms = 2 * kHour;  // shorter than the 6 h pacing
  c = *store_->CreateCampaign(c, clock_.WallUtcMs());
  const std::int64_t a = Launch(c);
  Report(a, ResponseEventKind::kDisplayed, "dev1");
  Report(a, ResponseEventKind::kPostponed, "dev1");
  shown_.clear();
  Advance(2 * kHour);
  ASSERT_TRUE(hk.RunOnce().ok());
  EXPECT_EQ(Shown("dev2"), V{"visio"});
  EXPECT_FALSE(router_.NextHoldDue().has_value());
}

TEST(PacePromptsTest, ZeroWindowsHoldNothing) {
  DeliverablePrompt shown;
  shown.campaign.id = 1;
  shown.response.displayed_utc_ms = 1000;
  DeliverablePrompt fresh;
  fresh.campaign.id = 2;
  const PacedPrompts p = PacePrompts({fresh}, {shown}, {.min_interval_ms = 0,
                                                        .quiet_after_urgent_ms = 0}, 2000);
  EXPECT_EQ(p.deliver.size(), 1u);
  EXPECT_TRUE(p.held.empty());
  EXPECT_EQ(p.held_until_utc_ms, 0);
  const PacedPrompts q = PacePrompts({fresh}, {shown}, {}, 2000);
  EXPECT_TRUE(q.deliver.empty());
  EXPECT_EQ(q.held_until_utc_ms, 1000 + 6 * kHour);
}

}  // namespace
}  // namespace reclaim::collector
