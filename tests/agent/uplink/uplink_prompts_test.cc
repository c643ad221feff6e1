// Campaign prompts through the real uplink, spool and collector stack over
// loopback: a prompt is stored and reported delivered; an answer reaches the
// collector exactly once, also across an agent restart and a collector
// outage; a withdrawn prompt leaves the spool. The uplink runs as in direct
// mode: LocalUplink through reclaim-agent-service's relay (in a thread).
#include <gtest/gtest.h>

#include <atomic>
#include <functional>

#include "agent/local/local_uplink.h"
#include "agent/local/relay_connector.h"
#include "tests/agent/uplink/thread_relay.h"
#include "reclaim/v1/agent.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_collector.h"

namespace reclaim::agent {
namespace {

using collector::ResponseState;

AgentIdentity Identity(const std::string& device = "dev-prompt") {
  AgentIdentity id;
  id.device_id = device;
  id.agent_version = "0.1.0";
  id.hostname = "host1";
  id.user.login_name = "jdoe";
  id.user.domain = "EXAMPLE";
  return id;
}

// Polls `cond` until true or 20 s; returns its last value.
bool Eventually(const std::function<bool()>& cond) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class UplinkPromptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"));
    ASSERT_TRUE(collector_->ok());
    OpenSpool();
    collector::Campaign c;
    c.name = "visio";
    c.sender_name = "IT";
    c.question = "Do you still need Visio?";
    auto created = collector_->campaigns().CreateCampaign(c, 1);
    ASSERT_TRUE(created.ok()) << created.status();
    campaign_ = *created;
  }
  void OpenSpool() {
    spool_.reset();
    auto s = Spool::Open({.path = dir_.File("spool.db")}, clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    spool_ = std::move(*s);
  }
  std::unique_ptr<Uplink> StartUplink() {
    UplinkOptions o;
    o.backoff.initial = std::chrono::milliseconds(20);
    o.backoff.max = std::chrono::milliseconds(200);
    o.on_prompts_changed = [this] { ++prompt_changes_; };
    RelayConnectorOptions r;
    r.collector = collector_->target();
    auto u = MakeLocalUplink(
        *spool_, Identity(), o,
        MakeRelayConnector(std::make_unique<testing::ThreadRelaySpawner>(collector_->target()), r));
    u->Start();
    return u;
  }
  // Launches for EXAMPLE\jdoe and publishes to connected streams, as the
  // admin API does. Returns the response id.
  std::int64_t Launch() {
    auto rs = collector_->campaigns().Launch(campaign_.id, {"EXAMPLE\\jdoe"},
                                             clock_.WallUtcMs());
    EXPECT_TRUE(rs.ok()) << rs.status();
    collector_->router().Publish("EXAMPLE\\jdoe",
                                 collector::ShowCommand(campaign_, (*rs)[0]));
    return (*rs)[0].id;
  }
  collector::Response Stored(std::int64_t id) { return *collector_->campaigns().GetResponse(id); }

  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<testing::TestCollector> collector_;
  std::unique_ptr<Spool> spool_;
  collector::Campaign campaign_;
  std::atomic<int> prompt_changes_{0};
};

TEST_F(UplinkPromptsTest, PromptIsStoredReportedDeliveredAndAnswered) {
  auto uplink = StartUplink();
  ASSERT_TRUE(Eventually([&] { return collector_->router().StreamsOf("EXAMPLE\\jdoe") == 1; }));
  const std::int64_t id = Launch();
  const std::string cid = "prompt-" + std::to_string(id);
  ASSERT_TRUE(Eventually([&] { return spool_->OpenPrompts()->size() == 1; }));
  EXPECT_TRUE(Eventually([&] { return prompt_changes_.load() >= 1; }));
  reclaim::v1::Command cmd;
  ASSERT_TRUE(cmd.ParseFromString((*spool_->OpenPrompts())[0].payload));
  EXPECT_EQ(cmd.consent_prompt().question(), "Do you still need Visio?");
  ASSERT_TRUE(Eventually([&] { return Stored(id).state == ResponseState::kDelivered; }));
  EXPECT_EQ(Stored(id).device_id, "dev-prompt");

  ASSERT_TRUE(spool_->RecordPromptOutcome(cid, "displayed", false).ok());
  ASSERT_TRUE(spool_->RecordPromptOutcome(cid, "answered:Yes", true).ok());
  uplink->Notify();
  ASSERT_TRUE(Eventually([&] { return Stored(id).state == ResponseState::kAnswered; }));
  EXPECT_EQ(Stored(id).answer, "Yes");
  // Every result acked: nothing left to send, the prompt is gone.
  ASSERT_TRUE(Eventually([&] { return spool_->PendingResults()->empty(); }));
  EXPECT_TRUE(spool_->OpenPrompts()->empty());
  uplink->Stop();
}

TEST_F(UplinkPromptsTest, AnswerGivenDuringCollectorOutageArrivesAfterIt) {
  auto uplink = StartUplink();
  ASSERT_TRUE(Eventually([&] { return collector_->router().StreamsOf("EXAMPLE\\jdoe") == 1; }));
  const std::int64_t id = Launch();
  const std::string cid = "prompt-" + std::to_string(id);
  ASSERT_TRUE(Eventually([&] { return Stored(id).state == ResponseState::kDelivered; }));

  collector_->Stop();
  ASSERT_TRUE(spool_->RecordPromptOutcome(cid, "answered:No", true).ok());
  uplink->Notify();
  collector_->Start();
  ASSERT_TRUE(collector_->ok());
  ASSERT_TRUE(Eventually([&] { return Stored(id).state == ResponseState::kAnswered; }));
  EXPECT_EQ(Stored(id).answer, "No");
  ASSERT_TRUE(Eventually([&] { return spool_->PendingResults()->empty(); }));
  uplink->Stop();
}

TEST_F(UplinkPromptsTest, PendingPromptSurvivesAgentRestartAndAnswerIsSentAfterIt) {
  const std::int64_t id = Launch();  // no agent connected yet
  const std::string cid = "prompt-" + std::to_string(id);
  {
    auto uplink = StartUplink();  // connects later: gets the pending prompt
    ASSERT_TRUE(Eventually([&] { return spool_->OpenPrompts()->size() == 1; }));
    ASSERT_TRUE(Eventually([&] { return Stored(id).state == ResponseState::kDelivered; }));
    uplink->Stop();
  }
  // The agent restarts (new spool object on the same file); the user answers
  // before the uplink is back.
  OpenSpool();
  ASSERT_EQ(spool_->OpenPrompts()->size(), 1u);
  ASSERT_TRUE(spool_->RecordPromptOutcome(cid, "declined", true).ok());
  auto uplink = StartUplink();
  ASSERT_TRUE(Eventually([&] { return Stored(id).state == ResponseState::kDeclined; }));
  ASSERT_TRUE(Eventually([&] { return spool_->PendingResults()->empty(); }));
  // The settled prompt is not sent again on a later stream.
  EXPECT_TRUE(spool_->OpenPrompts()->empty());
  uplink->Stop();
}

TEST_F(UplinkPromptsTest, WithdrawnPromptLeavesTheSpool) {
  auto uplink = StartUplink();
  ASSERT_TRUE(Eventually([&] { return collector_->router().StreamsOf("EXAMPLE\\jdoe") == 1; }));
  const std::int64_t id = Launch();
  ASSERT_TRUE(Eventually([&] { return spool_->OpenPrompts()->size() == 1; }));
  ASSERT_TRUE(collector_->campaigns().Expire(campaign_.id, clock_.WallUtcMs()).ok());
  collector_->router().Publish("EXAMPLE\\jdoe", collector::WithdrawCommand(Stored(id)));
  ASSERT_TRUE(Eventually([&] { return spool_->OpenPrompts()->empty(); }));
  uplink->Stop();
}

}  // namespace
}  // namespace reclaim::agent
