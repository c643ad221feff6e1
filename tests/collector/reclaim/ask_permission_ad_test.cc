// Ask for permission against a REAL Active Directory (Samba AD DC from
// tests/testing/samba, connector kind "ad" over LDAPS): a collector stack in
// this process (usage, reclamation and campaign stores in one SQLite file,
// the real agent stream service on 127.0.0.1:0, the reclaimer with the LDAP
// connector), agents as gRPC clients that report usage and answer the prompt
// with CommandResults exactly as reclaim-agent does, and a ManualClock for
// the answer wait. Three candidates answer Yes, No and nothing: only the last
// two leave the AD group (checked with ldapsearch, the directory's own
// view); then the silent one's agent comes online, still gets the prompt and
// answers Yes, and the member is restored in AD automatically (audited).
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "collector/campaigns/campaign_housekeeper.h"
#include "collector/campaigns/prompt_router.h"
#include "collector/campaigns/sqlite_campaign_store.h"
#include "collector/connectors/ldap/ldap_connector.h"
#include "collector/reclaim/reclaimer.h"
#include "collector/reclaim/sqlite_reclamation_store.h"
#include "collector/server/ingest_pipeline.h"
#include "collector/server/services.h"
#include "collector/store/sqlite_usage_store.h"
#include "common/clock.h"
#include "nlohmann/json.hpp"
#include "reclaim/v1/agent.grpc.pb.h"
#include "tests/collector/reclaim/reclaim_fixture.h"
#include "tests/testing/wait_for.h"
#include "tests/testing/samba/samba_ad.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::collector {
namespace {

namespace v1 = ::reclaim::v1;
using ::reclaim::testing::SambaAd;
using ::reclaim::testing::SambaAdEnvironment;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>;

const auto* const kSambaEnv = ::testing::AddGlobalTestEnvironment(new SambaAdEnvironment);

constexpr char kPasswordEnv[] = "RECLAIM_ASK_AD_TEST_PASSWORD";

// One endpoint agent of EXAMPLE\<login>: Hello, a usage batch, and the
// prompt's CommandResults, over the real stream (with a deadline, so a
// missing message fails instead of hanging).
class Agent {
 public:
  Agent(v1::AgentService::Stub& stub, const std::string& login, UtcMs now) : login_(login) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream_ = stub.Connect(&ctx_);
    v1::AgentMessage hello;
    v1::Hello* h = hello.mutable_hello();
    h->set_device_id("dev-" + login);
    h->set_agent_instance_id(
        absl::StrCat("6f1c2d9e-0000-4000-8000-", std::string(12 - login.size(), '0'), login));
    h->set_agent_version("0.1.0");
    h->set_os_family(v1::OS_FAMILY_LINUX);
    h->mutable_user()->set_login_name(login);
    h->mutable_user()->set_domain("EXAMPLE");
    EXPECT_TRUE(stream_->Write(hello));
    v1::CollectorMessage m;
    EXPECT_TRUE(stream_->Read(&m));
    EXPECT_TRUE(m.has_ack());
    now_ = now;
  }

  // Reports 1 min of Word yesterday (Word is not the application asked about).
  void ReportWordYesterday() {
    v1::AgentMessage m;
    v1::UsageBatch* b = m.mutable_batch();
    b->set_seq(1);
    b->set_created_utc_ms(now_);
    v1::FocusInterval* i = b->add_intervals();
    i->mutable_app()->set_exe_path("C:/Office/WINWORD.EXE");
    i->mutable_app()->set_exe_name("WINWORD.EXE");
    i->set_start_utc_ms(now_ - kDayMs);
    i->set_active_duration_ms(60000);
    ASSERT_TRUE(stream_->Write(m));
    v1::CollectorMessage ack;
    while (stream_->Read(&ack)) {
      if (ack.has_ack() && ack.ack().acked_through_seq() >= 1) return;
    }
    FAIL() << login_ << ": no ack for the usage batch";
  }

  // Waits for the consent prompt and answers it as the agent's dialog would:
  // delivered, displayed, then `outcome` ("answered:Yes", ...). Returns the
  // question.
  std::string AnswerPrompt(const std::string& outcome) {
    v1::CollectorMessage m;
    while (stream_->Read(&m)) {
      if (!m.has_command() || !m.command().has_consent_prompt()) continue;
      const std::string id = m.command().command_id();
      for (const std::string& o : {std::string("delivered"), std::string("displayed"), outcome}) {
        v1::AgentMessage r;
        r.mutable_command_result()->set_command_id(id);
        r.mutable_command_result()->set_outcome(o);
        r.mutable_command_result()->set_completed_utc_ms(now_);
        EXPECT_TRUE(stream_->Write(r));
        AwaitResultAck(id, o);
      }
      return m.command().consent_prompt().question();
    }
    ADD_FAILURE() << login_ << ": stream ended before a prompt came";
    return "";
  }

  void Close() {
    stream_->WritesDone();
    v1::CollectorMessage m;
    while (stream_->Read(&m)) {
    }
    (void)stream_->Finish();
  }

 private:
  void AwaitResultAck(const std::string& id, const std::string& outcome) {
    v1::CollectorMessage m;
    while (stream_->Read(&m)) {
      if (m.has_command_result_ack() && m.command_result_ack().command_id() == id &&
          m.command_result_ack().outcome() == outcome) {
        return;
      }
    }
    ADD_FAILURE() << login_ << ": no ack for " << outcome;
  }

  std::string login_;
  UtcMs now_ = 0;
  grpc::ClientContext ctx_;
  std::unique_ptr<Stream> stream_;
};

class AskPermissionAdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ad_ = SambaAdEnvironment::Get();
    ASSERT_NE(ad_, nullptr) << SambaAdEnvironment::StartError();
    ::setenv(kPasswordEnv, ad_->info().service_password.c_str(), 1);
    // The group and its three members (owned by this test).
    const std::string& base = ad_->info().base_dn;
    std::string ldif;
    for (const char* u : {"ask.yes", "ask.no", "ask.silent"}) {
      absl::StrAppend(&ldif, "dn: CN=", u, ",CN=Users,", base, "\nchangetype: add\n",
                      "objectClass: user\nsAMAccountName: ", u, "\nuserPrincipalName: ", u,
                      "@example.test\nuserAccountControl: 544\n\n");
    }
    absl::StrAppend(&ldif, "dn: CN=Ask Test,CN=Users,", base,
                    "\nchangetype: add\nobjectClass: group\nsAMAccountName: Ask Test\n");
    for (const char* u : {"ask.yes", "ask.no", "ask.silent"}) {
      absl::StrAppend(&ldif, "member: CN=", u, ",CN=Users,", base, "\n");
    }
    ASSERT_TRUE(ad_->AdminModify(ldif).ok());

    clock_.Set(MonoTime{0}, SystemClock().WallUtcMs());
    const std::string db = dir_.File("collector.db");
    auto usage = SqliteUsageStore::Open({.path = db});
    ASSERT_TRUE(usage.ok()) << usage.status();
    usage_ = std::move(*usage);
    auto reclaim = SqliteReclamationStore::Open(db);
    ASSERT_TRUE(reclaim.ok()) << reclaim.status();
    reclaim_ = std::move(*reclaim);
    auto campaigns = SqliteCampaignStore::Open(db);
    ASSERT_TRUE(campaigns.ok()) << campaigns.status();
    campaigns_ = std::move(*campaigns);
    connectors_.RegisterKind(
        "ad", [](const ConnectorConfig& c) -> absl::StatusOr<std::unique_ptr<DirectoryConnector>> {
          auto o = LdapConnectorOptionsFromSettings(c.settings);
          if (!o.ok()) return o.status();
          auto conn = LdapConnector::Create(std::move(*o));
          if (!conn.ok()) return conn.status();
          return std::unique_ptr<DirectoryConnector>(std::move(*conn));
        });
    ASSERT_TRUE(connectors_
                    .AddConnector({.name = "corp",
                                   .kind = "ad",
                                   .settings = {{"uri", ad_->info().ldaps_uri},
                                                {"ca_file", ad_->info().ca_file},
                                                {"bind_dn", ad_->info().service_upn},
                                                {"password_env", kPasswordEnv}}})
                    .ok());
    reclaimer_ =
        std::make_unique<Reclaimer>(*reclaim_, connectors_, clock_, campaigns_.get(), &router_);
    pipeline_ = std::make_unique<IngestPipeline>(*usage_, clock_);
    agent_service_ = MakeAgentService(*pipeline_, clock_, {}, campaigns_.get(), &router_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(agent_service_->service());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ && port != 0);
    stub_ = v1::AgentService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    if (pipeline_) pipeline_->Stop();
  }

  std::vector<std::string> Members() {
    auto m = ad_->DirectMemberSams("Ask Test");
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : std::vector<std::string>{};
  }

  // Polls (bounded) until `user` has a live stream registered for prompts.
  void AwaitStream(const std::string& user) {
    reclaim::testing::WaitFor([&] { return router_.StreamsOf(user) >= 1; },
                              std::chrono::seconds(20), std::chrono::milliseconds(5));
    ASSERT_GE(router_.StreamsOf(user), 1) << user;
  }

  SambaAd* ad_ = nullptr;
  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<SqliteUsageStore> usage_;
  std::unique_ptr<SqliteReclamationStore> reclaim_;
  std::unique_ptr<SqliteCampaignStore> campaigns_;
  PromptRouter router_;
  ConnectorFactory connectors_;
  std::unique_ptr<Reclaimer> reclaimer_;
  std::unique_ptr<IngestPipeline> pipeline_;
  std::unique_ptr<AgentServiceHandle> agent_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
};

TEST_F(AskPermissionAdTest, YesKeepsNoAndSilenceAreRemovedLateYesIsRestored) {
  ASSERT_EQ(Members(), (std::vector<std::string>{"ask.no", "ask.silent", "ask.yes"}));
  const UtcMs t0 = clock_.WallUtcMs();
  // Three metered users without Visio; ask.silent's agent goes away.
  Agent yes(*stub_, "ask.yes", t0), no(*stub_, "ask.no", t0);
  {
    Agent silent(*stub_, "ask.silent", t0);
    silent.ReportWordYesterday();
    silent.Close();
  }
  yes.ReportWordYesterday();
  no.ReportWordYesterday();
  AwaitStream("EXAMPLE\\ask.yes");
  AwaitStream("EXAMPLE\\ask.no");

  ASSERT_TRUE(reclaimer_->AddApplication(VisioApplication(), "admin:test").ok());
  Policy p;
  p.name = "visio-ask";
  p.application_name = "Visio";
  p.connector = "corp";
  p.group_ref = "Ask Test";
  p.rules.lookback_days = 2;
  p.rules.grace_days = 0;
  p.ask_permission = true;
  p.answer_wait_hours = 24;
  p.enabled = true;
  auto policy = reclaimer_->CreatePolicy(p, "admin:test");
  ASSERT_TRUE(policy.ok()) << policy.status();

  // A dry run asks nobody.
  auto dry = reclaimer_->DryRun("visio-ask", "admin:test");
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->candidates, 3);
  EXPECT_TRUE(campaigns_->ListCampaigns()->empty());

  // The real run asks; the connected agents get the prompt and answer.
  auto run = reclaimer_->StartRun("visio-ask", "admin:test");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->state, RunState::kAwaitingAnswers);
  EXPECT_EQ(yes.AnswerPrompt("answered:Yes"), "Do you still need Visio?");
  EXPECT_EQ(no.AnswerPrompt("answered:No"), "Do you still need Visio?");

  // Nothing changes before the wait is over.
  clock_.Advance(std::chrono::hours(23));
  ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_EQ(Members(), (std::vector<std::string>{"ask.no", "ask.silent", "ask.yes"}));

  clock_.Advance(std::chrono::hours(1));
  ASSERT_TRUE(reclaimer_->Tick().ok());
  auto done = reclaimer_->GetRun(run->id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, RunState::kSucceeded) << done->error;
  EXPECT_EQ(done->removed, 2);
  // The directory itself: the yes-user is still a member.
  EXPECT_EQ(Members(), (std::vector<std::string>{"ask.yes"}));

  // The silent user's agent comes online within the late-answer window,
  // gets the still-open prompt and answers Yes: restored in AD.
  clock_.Advance(std::chrono::hours(2));
  CampaignHousekeeper housekeeper(*campaigns_, router_, clock_);
  ASSERT_TRUE(housekeeper.RunOnce().ok());
  {
    Agent back(*stub_, "ask.silent", clock_.WallUtcMs());
    EXPECT_EQ(back.AnswerPrompt("answered:Yes"), "Do you still need Visio?");
    back.Close();
  }
  ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_EQ(Members(), (std::vector<std::string>{"ask.silent", "ask.yes"}));
  auto audit = reclaimer_->ListAudit(0, 0);
  ASSERT_TRUE(audit.ok());
  int restores = 0;
  for (const AuditEntry& e : *audit) {
    if (e.action != "restore.result") continue;
    ++restores;
    auto d = nlohmann::json::parse(e.detail);
    EXPECT_EQ(d["outcome"], "added");
    EXPECT_EQ(d["user"]["sam_account_name"], "ask.silent");
    EXPECT_EQ(d["reason"]["answer"], "Yes");
    EXPECT_EQ(d["reason"]["campaign"], absl::StrCat("reclaim-run-", run->id));
    EXPECT_EQ(e.actor, absl::StrCat("campaign:reclaim-run-", run->id));
  }
  EXPECT_EQ(restores, 1);
  EXPECT_TRUE(reclaimer_->VerifyAudit()->ok);
  yes.Close();
  no.Close();
}

}  // namespace
}  // namespace reclaim::collector
