// CampaignHousekeeper: time-outs and re-asks after a postponement reach the
// user's agents (through the PromptRouter), driven by a manual clock.
#include "collector/campaigns/campaign_housekeeper.h"

#include <gtest/gtest.h>

#include "collector/campaigns/sqlite_campaign_store.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::collector {
namespace {

constexpr std::int64_t kHour = 3600 * 1000;

TEST(CampaignHousekeeperTest, ReopensPostponedAndWithdrawsTimedOut) {
  reclaim::testing::TempDir dir;
  auto store = SqliteCampaignStore::Open(dir.File("c.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  ManualClock clock(MonoTime{0}, 1'700'000'000'000);
  PromptRouter router;
  std::vector<PromptCommand> seen;
  router.Subscribe("EX\\a", "dev", [&](const PromptCommand& c) { seen.push_back(c); });
  Campaign c;
  c.name = "visio";
  c.sender_name = "IT";
  c.question = "Still need Visio?";
  c.answer_wait_ms = 24 * kHour;
  c = *(*store)->CreateCampaign(c, clock.WallUtcMs());
  const Response r = (*(*store)->Launch(c.id, {"EX\\a"}, clock.WallUtcMs()))[0];
  ASSERT_TRUE((*store)->Apply(r.id, {.kind = ResponseEventKind::kPostponed,
                                     .at_utc_ms = clock.WallUtcMs(), .device_id = "dev",
                                     .answer = {}})
                  .ok());
  CampaignHousekeeper hk(**store, router, clock);
  EXPECT_EQ(*hk.RunOnce(), 0);
  EXPECT_TRUE(seen.empty());

  clock.Advance(std::chrono::hours(12));
  EXPECT_EQ(*hk.RunOnce(), 1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, PromptCommand::Kind::kShow);
  EXPECT_EQ(seen[0].command_id, PromptCommandId(r.id));
  EXPECT_EQ(seen[0].campaign.question, "Still need Visio?");

  clock.Advance(std::chrono::hours(12));
  EXPECT_EQ(*hk.RunOnce(), 1);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].kind, PromptCommand::Kind::kWithdraw);
  EXPECT_EQ(seen[1].reason, "timed_out");
  EXPECT_EQ((*store)->GetResponse(r.id)->state, ResponseState::kTimedOut);
}

TEST(CampaignHousekeeperTest, ThreadStartsAndStopsPromptly) {
  reclaim::testing::TempDir dir;
  auto store = SqliteCampaignStore::Open(dir.File("c.db"));
  ASSERT_TRUE(store.ok());
  ManualClock clock;
  PromptRouter router;
  CampaignHousekeeper hk(**store, router, clock, {.interval = std::chrono::hours(1)});
  hk.Start();
  const auto t0 = std::chrono::steady_clock::now();
  hk.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace reclaim::collector
