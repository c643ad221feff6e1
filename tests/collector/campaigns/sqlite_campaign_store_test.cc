// SqliteCampaignStore: storage, launch, events and housekeeping.
#include "collector/campaigns/sqlite_campaign_store.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace reclaim::collector {
namespace {

constexpr std::int64_t kHour = 3600 * 1000;

class SqliteCampaignStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = SqliteCampaignStore::Open(dir_.File("collector.db"));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  Campaign MakeCampaign(const std::string& name = "visio") {
    Campaign c;
    c.name = name;
    c.sender_name = "IT Service Desk";
    c.question = "Do you still need Visio?";
    c.answer_wait_ms = 48 * kHour;
    auto created = store_->CreateCampaign(c, 1000);
    EXPECT_TRUE(created.ok()) << created.status();
    return *created;
  }
  reclaim::testing::TempDir dir_;
  std::unique_ptr<SqliteCampaignStore> store_;
};

TEST_F(SqliteCampaignStoreTest, CreateGetList) {
  const Campaign c = MakeCampaign();
  EXPECT_GT(c.id, 0);
  auto by_name = store_->GetCampaign("visio");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->id, c.id);
  EXPECT_EQ(by_name->answers, (std::vector<std::string>{"Yes", "No"}));
  EXPECT_EQ(by_name->postpone_delay_ms, 12 * kHour);
  EXPECT_EQ(by_name->created_utc_ms, 1000);
  EXPECT_EQ(store_->GetCampaign(std::to_string(c.id))->name, "visio");
  EXPECT_EQ(store_->GetCampaign("nope").status().code(), absl::StatusCode::kNotFound);
  Campaign dup = c;
  EXPECT_EQ(store_->CreateCampaign(dup, 2000).status().code(), absl::StatusCode::kAlreadyExists);
  Campaign bad = c;
  bad.name = "other";
  bad.answers = {"Only"};
  EXPECT_EQ(store_->CreateCampaign(bad, 2000).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListCampaigns()->size(), 1u);
}

TEST_F(SqliteCampaignStoreTest, LaunchIsIdempotentPerUser) {
  const Campaign c = MakeCampaign();
  auto rs = store_->Launch(c.id, {"EX\\a", "EX\\b"}, 5000);
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->size(), 2u);
  EXPECT_EQ((*rs)[0].state, ResponseState::kPending);
  EXPECT_EQ((*rs)[0].due_utc_ms, 5000 + 48 * kHour);
  ASSERT_TRUE(store_->Apply((*rs)[0].id, {.kind = ResponseEventKind::kDelivered,
                                          .at_utc_ms = 6000, .device_id = "d1"})
                  .ok());
  auto again = store_->Launch(c.id, {"EX\\a", "EX\\c"}, 7000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].state, ResponseState::kDelivered);  // kept
  EXPECT_EQ((*again)[0].launched_utc_ms, 5000);
  EXPECT_EQ(store_->ListResponses(c.id)->size(), 3u);
  EXPECT_EQ(store_->Launch(c.id + 100, {"x"}, 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteCampaignStoreTest, ApplyRecordsHistoryAndFirstAnswerWins) {
  const Campaign c = MakeCampaign();
  const Response r = (*store_->Launch(c.id, {"EX\\a"}, 0))[0];
  ASSERT_TRUE(store_->Apply(r.id, {.kind = ResponseEventKind::kDisplayed, .at_utc_ms = 10,
                                   .device_id = "d1"})
                  .ok());
  auto answered = store_->Apply(r.id, {.kind = ResponseEventKind::kAnswered, .at_utc_ms = 20,
                                       .device_id = "d1", .answer = "Yes"});
  ASSERT_TRUE(answered.ok()) << answered.status();
  EXPECT_EQ(answered->state, ResponseState::kAnswered);
  auto late = store_->Apply(r.id, {.kind = ResponseEventKind::kAnswered, .at_utc_ms = 30,
                                   .device_id = "d2", .answer = "No"});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  const Response stored = *store_->GetResponse(r.id);
  EXPECT_EQ(stored.answer, "Yes");
  EXPECT_EQ(stored.device_id, "d1");
  EXPECT_EQ(stored.displayed_utc_ms, 10);
  EXPECT_EQ(stored.finished_utc_ms, 20);
  auto events = store_->ListEvents(r.id);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].event.kind, ResponseEventKind::kDisplayed);
  EXPECT_EQ((*events)[1].state_after, ResponseState::kAnswered);
  EXPECT_EQ((*events)[1].event.answer, "Yes");
}

TEST_F(SqliteCampaignStoreTest, HousekeepTimesOutAndReopens) {
  const Campaign c = MakeCampaign();
  auto rs = *store_->Launch(c.id, {"EX\\a", "EX\\b", "EX\\c"}, 0);
  ASSERT_TRUE(store_->Apply(rs[1].id, {.kind = ResponseEventKind::kPostponed,
                                       .at_utc_ms = kHour, .device_id = "d"})
                  .ok());
  ASSERT_TRUE(store_->Apply(rs[2].id, {.kind = ResponseEventKind::kDeclined,
                                       .at_utc_ms = kHour, .device_id = "d"})
                  .ok());
  EXPECT_TRUE(store_->Housekeep(2 * kHour)->empty());
  EXPECT_TRUE(store_->Deliverable("EX\\b", 2 * kHour)->empty());
  auto reopened = store_->Housekeep(13 * kHour);
  ASSERT_TRUE(reopened.ok());
  ASSERT_EQ(reopened->size(), 1u);
  EXPECT_EQ((*reopened)[0].user, "EX\\b");
  EXPECT_EQ((*reopened)[0].state, ResponseState::kPending);
  auto deliverable = store_->Deliverable("EX\\b", 13 * kHour);
  ASSERT_EQ(deliverable->size(), 1u);
  EXPECT_EQ((*deliverable)[0].campaign.question, "Do you still need Visio?");

  auto timed_out = store_->Housekeep(48 * kHour);
  ASSERT_TRUE(timed_out.ok());
  EXPECT_EQ(timed_out->size(), 2u);  // a and b; c declined already
  auto all = store_->ListResponses(c.id);
  ASSERT_TRUE(all.ok());
  for (const Response& r : *all) {
    EXPECT_TRUE(IsFinal(r.state)) << r.user;
  }
  EXPECT_EQ(store_->GetResponse(rs[2].id)->state, ResponseState::kDeclined);
}

TEST_F(SqliteCampaignStoreTest, ExpireEndsOpenResponses) {
  const Campaign c = MakeCampaign();
  auto rs = *store_->Launch(c.id, {"EX\\a", "EX\\b"}, 0);
  ASSERT_TRUE(store_->Apply(rs[0].id, {.kind = ResponseEventKind::kAnswered, .at_utc_ms = 5,
                                       .device_id = "d", .answer = "No"})
                  .ok());
  EXPECT_EQ(*store_->Expire(c.id, 10), 1);
  EXPECT_EQ(store_->GetResponse(rs[1].id)->state, ResponseState::kExpired);
  EXPECT_EQ(store_->GetResponse(rs[0].id)->state, ResponseState::kAnswered);
}

TEST_F(SqliteCampaignStoreTest, ReopensAfterRestart) {
  const Campaign c = MakeCampaign();
  const Response r = (*store_->Launch(c.id, {"EX\\a"}, 0))[0];
  store_.reset();
  auto reopened = SqliteCampaignStore::Open(dir_.File("collector.db"));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->GetResponse(r.id)->user, "EX\\a");
}

}  // namespace
}  // namespace reclaim::collector
