// The spool's campaign prompts and command results (schema version 2).
#include <gtest/gtest.h>

#include "agent/spool/spool.h"
#include "common/sqlite.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::agent {
namespace {

class SpoolPromptsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Spool> OpenSpool() {
    auto s = Spool::Open({.path = dir_.File("spool.db")}, clock_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static std::vector<std::string> Results(Spool& s) {
    auto r = s.PendingResults();
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> out;
    for (const auto& x : *r) out.push_back(x.command_id + " " + x.outcome);
    return out;
  }
  reclaim::testing::TempDir dir_;
  ManualClock clock_{MonoTime{0}, 1'700'000'000'000};
};

TEST_F(SpoolPromptsTest, StoredOnceWithItsDeliveredResult) {
  auto s = OpenSpool();
  ASSERT_TRUE(*s->StorePrompt({.command_id = "prompt-1", .payload = std::string("a\0b", 3),
                               .expires_utc_ms = 5}));
  EXPECT_FALSE(*s->StorePrompt({.command_id = "prompt-1", .payload = "other"}));
  auto open = s->OpenPrompts();
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].payload, std::string("a\0b", 3));
  EXPECT_EQ((*open)[0].expires_utc_ms, 5);
  EXPECT_EQ((*open)[0].received_utc_ms, 1'700'000'000'000);
  EXPECT_EQ(Results(*s), (std::vector<std::string>{"prompt-1 delivered"}));
}

TEST_F(SpoolPromptsTest, OutcomesSurviveRestartUntilAcked) {
  {
    auto s = OpenSpool();
    ASSERT_TRUE(s->StorePrompt({.command_id = "prompt-1", .payload = "p"}).ok());
    ASSERT_TRUE(s->RecordPromptOutcome("prompt-1", "displayed", false).ok());
    ASSERT_TRUE(s->RecordPromptOutcome("prompt-1", "answered:No", true).ok());
    ASSERT_TRUE(s->RecordPromptOutcome("prompt-1", "answered:No", true).ok());  // idempotent
    EXPECT_TRUE(s->OpenPrompts()->empty());
  }
  auto s = OpenSpool();
  EXPECT_EQ(Results(*s), (std::vector<std::string>{"prompt-1 delivered", "prompt-1 displayed",
                                                   "prompt-1 answered:No"}));
  ASSERT_TRUE(s->AckResult("prompt-1", "delivered").ok());
  ASSERT_TRUE(s->AckResult("prompt-1", "displayed").ok());
  ASSERT_TRUE(s->AckResult("prompt-1", "answered:No").ok());
  EXPECT_TRUE(Results(*s).empty());
  // The prompt is gone for good: storing it again is a new prompt.
  EXPECT_TRUE(*s->StorePrompt({.command_id = "prompt-1", .payload = "p"}));
}

TEST_F(SpoolPromptsTest, OpenPromptSurvivesRestartAndWithdrawRemovesIt) {
  {
    auto s = OpenSpool();
    ASSERT_TRUE(s->StorePrompt({.command_id = "prompt-7", .payload = "p7"}).ok());
    ASSERT_TRUE(s->StorePrompt({.command_id = "prompt-8", .payload = "p8"}).ok());
  }
  auto s = OpenSpool();
  ASSERT_EQ(s->OpenPrompts()->size(), 2u);
  ASSERT_TRUE(s->RemovePrompt("prompt-7").ok());
  auto open = s->OpenPrompts();
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].command_id, "prompt-8");
}

TEST_F(SpoolPromptsTest, VersionOneSpoolIsMigratedKeepingItsBatchesAndInstance) {
  {
    auto db = sqlite::Database::Open(dir_.File("spool.db"));
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec(R"sql(
      CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE outbox(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL,
        intervals INTEGER NOT NULL, focus_ms INTEGER NOT NULL, bytes INTEGER NOT NULL);
      INSERT INTO meta VALUES('instance_id', 'old-instance');
      INSERT INTO meta VALUES('last_seq', '3');
      INSERT INTO outbox VALUES(3, 'batch', 1, 10, 5);
      PRAGMA user_version = 1;)sql").ok());
  }
  auto s = OpenSpool();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->instance_id(), "old-instance");
  EXPECT_EQ(s->ReadAfter(0, 10)->size(), 1u);
  EXPECT_TRUE(*s->StorePrompt({.command_id = "prompt-1", .payload = "p"}));
}

}  // namespace
}  // namespace reclaim::agent
