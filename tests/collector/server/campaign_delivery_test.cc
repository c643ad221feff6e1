// Campaign prompts over the real agent stream (loopback gRPC): launched
// prompts reach the user's connected agents, agents that connect later get
// pending ones, results are applied and acked, the first answer wins and the
// prompt is withdrawn from the user's other devices.
#include <atomic>

#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include "reclaim/v1/admin.grpc.pb.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_collector.h"

namespace reclaim::collector {
namespace {

namespace v1 = ::reclaim::v1;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>;

v1::AgentMessage Hello(const std::string& device, const std::string& login = "jdoe") {
  v1::AgentMessage m;
  v1::Hello* h = m.mutable_hello();
  h->set_device_id(device);
  h->set_agent_instance_id("6f1c2d9e-0000-4000-8000-" + std::string(12 - device.size(), '0') +
                           device);
  h->set_agent_version("0.1.0");
  h->set_os_family(v1::OS_FAMILY_LINUX);
  h->mutable_user()->set_login_name(login);
  h->mutable_user()->set_domain("EXAMPLE");
  return m;
}

v1::AgentMessage Result(const std::string& command_id, const std::string& outcome) {
  v1::AgentMessage m;
  m.mutable_command_result()->set_command_id(command_id);
  m.mutable_command_result()->set_outcome(outcome);
  m.mutable_command_result()->set_completed_utc_ms(1);
  return m;
}

// One agent's stream with a deadline, so a missing message fails the test
// instead of hanging it.
struct Agent {
  Agent(v1::AgentService::Stub& stub, const std::string& device,
        const std::string& login = "jdoe") {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    stream = stub.Connect(&ctx);
    EXPECT_TRUE(stream->Write(Hello(device, login)));
    v1::CollectorMessage m;
    EXPECT_TRUE(stream->Read(&m));
    EXPECT_TRUE(m.has_ack());
  }
  // The next message that is not a batch ack.
  v1::CollectorMessage Next() {
    v1::CollectorMessage m;
    while (stream->Read(&m)) {
      if (!m.has_ack()) return m;
    }
    ADD_FAILURE() << "stream ended";
    return m;
  }
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream;
};

class CampaignDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector::AgentServiceOptions options;
    options.on_prompt_settled = [this] { settled_.fetch_add(1); };
    collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"), options);
    ASSERT_TRUE(collector_->ok());
    channel_ = grpc::CreateChannel(collector_->target(), grpc::InsecureChannelCredentials());
    stub_ = v1::AgentService::NewStub(channel_);
    admin_ = v1::AdminService::NewStub(channel_);
    Create("visio", "Do you still need Visio?");
  }

  void Create(const std::string& name, const std::string& question) {
    grpc::ClientContext ctx;
    collector_->AuthorizeAdmin(&ctx, collector::AdminRole::kOperator);
    v1::CreateCampaignRequest req;
    req.mutable_campaign()->set_name(name);
    req.mutable_campaign()->set_sender_name("IT Service Desk");
    req.mutable_campaign()->set_question(question);
    v1::Campaign created;
    ASSERT_TRUE(admin_->CreateCampaign(&ctx, req, &created).ok());
  }

  v1::ListCampaignResponsesResponse Launch(std::vector<std::string> users,
                                           const std::string& campaign = "visio") {
    grpc::ClientContext ctx;
    collector_->AuthorizeAdmin(&ctx, collector::AdminRole::kOperator);
    v1::LaunchCampaignRequest req;
    req.set_campaign(campaign);
    for (const auto& u : users) req.add_users(u);
    v1::ListCampaignResponsesResponse resp;
    grpc::Status s = admin_->LaunchCampaign(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  Response Stored(std::int64_t id) {
    auto r = collector_->campaigns().GetResponse(id);
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  }

  // Polls (with a deadline) until `n` streams of `user` are registered: the
  // subscription happens on the pipeline's callback after the Hello's ack.
  void AwaitStreams(const std::string& user, int n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (collector_->router().StreamsOf(user) < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_EQ(collector_->router().StreamsOf(user), n);
  }

  testing::TempDir dir_;
  // Prompts settled by an agent's answer (AgentServiceOptions::on_prompt_settled).
  std::atomic<int> settled_{0};
  std::unique_ptr<testing::TestCollector> collector_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

TEST_F(CampaignDeliveryTest, LaunchReachesConnectedAgentAndResultsAreAcked) {
  Agent a(*stub_, "dev-1");
  AwaitStreams("EXAMPLE\\jdoe", 1);
  const auto launched = Launch({"EXAMPLE\\jdoe"});
  ASSERT_EQ(launched.responses_size(), 1);
  const std::int64_t id = launched.responses(0).id();

  v1::CollectorMessage m = a.Next();
  ASSERT_TRUE(m.has_command());
  EXPECT_EQ(m.command().command_id(), "prompt-" + std::to_string(id));
  ASSERT_TRUE(m.command().has_consent_prompt());
  const v1::ConsentPrompt& p = m.command().consent_prompt();
  EXPECT_EQ(p.sender_name(), "IT Service Desk");
  EXPECT_EQ(p.question(), "Do you still need Visio?");
  EXPECT_EQ(p.answers_size(), 2);
  EXPECT_FALSE(p.urgent());
  EXPECT_EQ(m.command().expires_utc_ms(), launched.responses(0).due_utc_ms());

  const std::string cid = m.command().command_id();
  for (const char* outcome : {"delivered", "displayed", "answered:No"}) {
    ASSERT_TRUE(a.stream->Write(Result(cid, outcome)));
    m = a.Next();
    ASSERT_TRUE(m.has_command_result_ack()) << outcome;
    EXPECT_EQ(m.command_result_ack().command_id(), cid);
    EXPECT_EQ(m.command_result_ack().outcome(), outcome);
  }
  const Response r = Stored(id);
  EXPECT_EQ(r.state, ResponseState::kAnswered);
  EXPECT_EQ(r.answer, "No");
  EXPECT_EQ(r.device_id, "dev-1");
  EXPECT_GT(r.delivered_utc_ms, 0);
  EXPECT_GT(r.displayed_utc_ms, 0);
  // A resent result (its ack was lost) is acked again and changes nothing.
  ASSERT_TRUE(a.stream->Write(Result(cid, "answered:No")));
  EXPECT_TRUE(a.Next().has_command_result_ack());
  EXPECT_EQ(Stored(id).finished_utc_ms, r.finished_utc_ms);
  a.stream->WritesDone();
}

TEST_F(CampaignDeliveryTest, AgentConnectingLaterGetsPendingPrompts) {
  const auto launched = Launch({"EXAMPLE\\jdoe", "EXAMPLE\\other"});
  Agent a(*stub_, "dev-1");
  v1::CollectorMessage m = a.Next();
  ASSERT_TRUE(m.has_command());
  EXPECT_EQ(m.command().command_id(), "prompt-" + std::to_string(launched.responses(0).id()));
  ASSERT_TRUE(a.stream->Write(Result(m.command().command_id(), "postponed")));
  EXPECT_TRUE(a.Next().has_command_result_ack());
  EXPECT_EQ(Stored(launched.responses(0).id()).state, ResponseState::kPostponed);
  a.stream->WritesDone();
  // A postponed prompt is not sent again before its delay ends.
  Agent b(*stub_, "dev-2");
  ASSERT_TRUE(b.stream->Write(Result("prompt-999999", "delivered")));
  v1::CollectorMessage n = b.Next();
  EXPECT_TRUE(n.has_command_result_ack()) << n.DebugString();  // unknown id: acked, moot
}

TEST_F(CampaignDeliveryTest, FirstAnswerWinsAndOtherDevicesAreWithdrawn) {
  Agent a(*stub_, "dev-1");
  Agent b(*stub_, "dev-2");
  AwaitStreams("EXAMPLE\\jdoe", 2);
  const std::int64_t id = Launch({"EXAMPLE\\jdoe"}).responses(0).id();
  const std::string cid = a.Next().command().command_id();
  ASSERT_EQ(b.Next().command().command_id(), cid);

  ASSERT_TRUE(b.stream->Write(Result(cid, "answered:Yes")));
  EXPECT_TRUE(b.Next().has_command_result_ack());
  v1::CollectorMessage w = a.Next();
  ASSERT_TRUE(w.has_command());
  EXPECT_EQ(w.command().command_id(), cid);
  ASSERT_TRUE(w.command().has_withdraw_prompt());
  EXPECT_EQ(w.command().withdraw_prompt().reason(), "answered_elsewhere");

  // dev-1 answered too before it saw the withdrawal: acked, but moot.
  ASSERT_TRUE(a.stream->Write(Result(cid, "answered:No")));
  EXPECT_TRUE(a.Next().has_command_result_ack());
  const Response r = Stored(id);
  EXPECT_EQ(r.answer, "Yes");
  EXPECT_EQ(r.device_id, "dev-2");
  // The first answer settled the prompt (and woke the scheduler); the moot
  // second one did not.
  EXPECT_EQ(settled_.load(), 1);
  a.stream->WritesDone();
  b.stream->WritesDone();
}

TEST_F(CampaignDeliveryTest, ExpireWithdrawsAndBadOutcomeIsAckedWithoutEffect) {
  Agent a(*stub_, "dev-1");
  AwaitStreams("EXAMPLE\\jdoe", 1);
  const std::int64_t id = Launch({"EXAMPLE\\jdoe"}).responses(0).id();
  const std::string cid = a.Next().command().command_id();
  ASSERT_TRUE(a.stream->Write(Result(cid, "answered:Maybe")));  // not an answer
  EXPECT_TRUE(a.Next().has_command_result_ack());
  EXPECT_EQ(Stored(id).state, ResponseState::kPending);

  grpc::ClientContext ctx;
  collector_->AuthorizeAdmin(&ctx, collector::AdminRole::kOperator);
  v1::ExpireCampaignRequest req;
  req.set_campaign("visio");
  v1::ExpireCampaignResponse resp;
  ASSERT_TRUE(admin_->ExpireCampaign(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.expired(), 1);
  v1::CollectorMessage w = a.Next();
  ASSERT_TRUE(w.command().has_withdraw_prompt());
  EXPECT_EQ(w.command().withdraw_prompt().reason(), "expired");
  a.stream->WritesDone();
}

// Per-user pacing across devices (prompt_pacing.h, default 6 h): a prompt of
// another not-urgent campaign launched after visio was displayed on dev-1 is
// not pushed to dev-2, nor to a device that connects later; it stays pending.
TEST_F(CampaignDeliveryTest, NextNotUrgentCampaignIsHeldOnTheUsersOtherDevices) {
  Agent a(*stub_, "dev-1");
  Agent b(*stub_, "dev-2");
  AwaitStreams("EXAMPLE\\jdoe", 2);
  const std::int64_t visio = Launch({"EXAMPLE\\jdoe"}).responses(0).id();
  const std::string cid = a.Next().command().command_id();
  ASSERT_EQ(b.Next().command().command_id(), cid);
  for (const char* outcome : {"displayed", "answered:Yes"}) {
    ASSERT_TRUE(a.stream->Write(Result(cid, outcome)));
    ASSERT_TRUE(a.Next().has_command_result_ack()) << outcome;
  }
  ASSERT_TRUE(b.Next().command().has_withdraw_prompt());

  Create("project", "Do you still need Project?");
  const std::int64_t held = Launch({"EXAMPLE\\jdoe"}, "project").responses(0).id();
  // Messages on a stream keep their order: a show pushed by the launch would
  // come before the ack of this probe.
  const auto probe = [](Agent& agent) {
    EXPECT_TRUE(agent.stream->Write(Result("prompt-999999", "delivered")));
    v1::CollectorMessage m = agent.Next();
    EXPECT_TRUE(m.has_command_result_ack()) << m.DebugString();
  };
  probe(b);
  probe(a);
  Agent c(*stub_, "dev-3");
  AwaitStreams("EXAMPLE\\jdoe", 3);
  probe(c);
  EXPECT_EQ(Stored(held).state, ResponseState::kPending);
  EXPECT_EQ(collector_->router().NextHoldDue().value_or(0),
            Stored(visio).displayed_utc_ms +
                collector_->router().pacing().min_interval_ms);
  for (Agent* agent : {&a, &b, &c}) agent->stream->WritesDone();
}

// Prompt command ids are sequential ("prompt-<id>"): an agent stream of one
// user (any local user through a machine's reclaim-agent-service) naming the
// prompt of another user must not answer it. Before the fix the result was
// applied whoever sent it: mallory answered jdoe's prompt.
TEST_F(CampaignDeliveryTest, AnotherUsersAgentCannotAnswerTheirPrompt) {
  const auto launched = Launch({"EXAMPLE\\jdoe"});
  ASSERT_EQ(launched.responses_size(), 1);
  const std::int64_t id = launched.responses(0).id();
  Agent mallory(*stub_, "dev-9", "mallory");
  const std::string cid = "prompt-" + std::to_string(id);
  ASSERT_TRUE(mallory.stream->Write(Result(cid, "answered:Yes")));
  v1::CollectorMessage m = mallory.Next();
  EXPECT_TRUE(m.has_command_result_ack()) << m.DebugString();  // acked so it stops resending
  EXPECT_EQ(Stored(id).state, ResponseState::kPending);
  EXPECT_EQ(Stored(id).answer, "");
  EXPECT_EQ(settled_.load(), 0) << "a refused answer must not wake the scheduler";
  mallory.stream->WritesDone();
  // jdoe's own agent still gets the prompt and answers it.
  Agent jdoe(*stub_, "dev-1");
  m = jdoe.Next();
  ASSERT_TRUE(m.has_command());
  ASSERT_TRUE(jdoe.stream->Write(Result(cid, "answered:No")));
  EXPECT_TRUE(jdoe.Next().has_command_result_ack());
  EXPECT_EQ(Stored(id).state, ResponseState::kAnswered);
  EXPECT_EQ(Stored(id).answer, "No");
  EXPECT_EQ(settled_.load(), 1);
  jdoe.stream->WritesDone();
}

}  // namespace
}  // namespace reclaim::collector
