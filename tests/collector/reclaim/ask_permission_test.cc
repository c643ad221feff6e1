// Ask for permission: a reclamation run that launches a consent campaign for
// its candidates, waits (ManualClock), removes only those without a "Yes",
// resumes after a simulated crash, restores a member who says "Yes" after the
// removal (audited), and a dry run that asks nobody. The fake directory
// stands in for AD; campaign answers go through CampaignStore::Apply with
// the events an agent's CommandResult turns into (ParsePromptOutcome), as
// the agent stream applies them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collector/campaigns/campaign_housekeeper.h"
#include "collector/campaigns/prompt_router.h"
#include "collector/campaigns/sqlite_campaign_store.h"
#include "collector/reclaim/reclaimer.h"
#include "nlohmann/json.hpp"
#include "tests/collector/reclaim/reclaim_fixture.h"

namespace reclaim::collector {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

constexpr std::int64_t kHourMs = 3600 * 1000;

// Forwards to a real store; Launch can be made to fail (a crash or store
// trouble between the run's creation and the campaign's launch).
class FlakyCampaignStore final : public CampaignStore {
 public:
  explicit FlakyCampaignStore(CampaignStore& real) : real_(real) {}
  bool fail_launch = false;
  absl::StatusOr<Campaign> CreateCampaign(const Campaign& c, UtcMs now) override {
    return real_.CreateCampaign(c, now);
  }
  absl::StatusOr<Campaign> GetCampaign(const std::string& n) override {
    return real_.GetCampaign(n);
  }
  absl::StatusOr<std::vector<Campaign>> ListCampaigns() override { return real_.ListCampaigns(); }
  absl::StatusOr<std::vector<Response>> Launch(std::int64_t id, const std::vector<std::string>& u,
                                               UtcMs now) override {
    if (fail_launch) return absl::UnavailableError("injected: store busy");
    return real_.Launch(id, u, now);
  }
  absl::StatusOr<std::vector<Response>> ListResponses(std::int64_t id) override {
    return real_.ListResponses(id);
  }
  absl::StatusOr<Response> GetResponse(std::int64_t id) override { return real_.GetResponse(id); }
  absl::StatusOr<std::vector<ResponseEventRecord>> ListEvents(std::int64_t id) override {
    return real_.ListEvents(id);
  }
  absl::StatusOr<Response> Apply(std::int64_t id, const ResponseEvent& e) override {
    return real_.Apply(id, e);
  }
  absl::StatusOr<std::vector<Response>> Housekeep(UtcMs now) override {
    return real_.Housekeep(now);
  }
  absl::StatusOr<int> Expire(std::int64_t id, UtcMs now) override { return real_.Expire(id, now); }
  absl::StatusOr<std::vector<DeliverablePrompt>> Deliverable(const std::string& u,
                                                             UtcMs now) override {
    return real_.Deliverable(u, now);
  }
  absl::StatusOr<std::vector<DeliverablePrompt>> DisplayedSince(const std::string& u,
                                                                UtcMs since) override {
    return real_.DisplayedSince(u, since);
  }

 private:
  CampaignStore& real_;
};

class AskPermissionTest : public ReclaimFixture {
 protected:
  void SetUp() override {
    ReclaimFixture::SetUp();
    OpenCampaigns();
    router_.Subscribe("EXAMPLE\\yes", "dev-yes",
                      [this](const PromptCommand& c) { pushed_.push_back(c); });
  }

  // (Re)opens the campaign store and a reclaimer that uses it: what a
  // collector does at start-up, e.g. after kill -9 (all state is in SQLite).
  void OpenCampaigns() {
    reclaimer_.reset();
    flaky_.reset();
    campaigns_.reset();
    Reopen();
    auto c = SqliteCampaignStore::Open(dir_.File("collector.db"));
    ASSERT_TRUE(c.ok()) << c.status();
    campaigns_ = std::move(*c);
    flaky_ = std::make_unique<FlakyCampaignStore>(*campaigns_);
    reclaimer_ = std::make_unique<Reclaimer>(*store_, factory_, clock_, flaky_.get(), &router_);
  }

  // The candidates, named after what they will answer; alice uses Visio.
  void Populate() {
    CreateVisio();
    const UtcMs since = kT0 - 120 * kDayMs;
    AddMember("alice");
    Meter("alice", "VISIO.EXE", 3600000, kT0 - 3 * kDayMs, since);
    for (const char* u : {"yes", "no", "declined", "postponed", "delivered", "silent"}) {
      AddMember(u);
      Meter(u, "WINWORD.EXE", 60000, kT0 - 1 * kDayMs, since);
    }
    Policy p = VisioPolicy();
    p.ask_permission = true;
    p.answer_wait_hours = 48;
    auto created = reclaimer_->CreatePolicy(p, "admin:test");
    ASSERT_TRUE(created.ok()) << created.status();
  }

  // Sends what an agent of EXAMPLE\<login> reports for the prompt, through
  // the same parsing the agent stream uses ("delivered", "displayed",
  // "answered:Yes", "declined", "postponed").
  void AgentSays(std::int64_t campaign_id, const std::string& login,
                 const std::vector<std::string>& outcomes) {
    const Response& r = ResponseOf(campaign_id, login);
    for (const std::string& o : outcomes) {
      auto ev = ParsePromptOutcome(o, "dev-" + login, clock_.WallUtcMs());
      ASSERT_TRUE(ev.ok()) << ev.status();
      auto applied = campaigns_->Apply(r.id, *ev);
      ASSERT_TRUE(applied.ok()) << login << " " << o << ": " << applied.status();
    }
  }

  Response ResponseOf(std::int64_t campaign_id, const std::string& login) {
    auto rs = campaigns_->ListResponses(campaign_id);
    EXPECT_TRUE(rs.ok()) << rs.status();
    for (const Response& r : *rs) {
      if (r.user == "EXAMPLE\\" + login) return r;
    }
    ADD_FAILURE() << "no response for " << login;
    return {};
  }

  std::map<std::string, RunItem> Items(std::int64_t run_id) {
    auto items = reclaimer_->ListRunItems(run_id);
    EXPECT_TRUE(items.ok()) << items.status();
    std::map<std::string, RunItem> out;
    for (RunItem& i : *items) out[i.decision.evidence.member.user.sam_account_name] = i;
    return out;
  }

  std::vector<AuditEntry> AuditWith(const std::string& action) {
    auto all = reclaimer_->ListAudit(0, 0);
    EXPECT_TRUE(all.ok()) << all.status();
    std::vector<AuditEntry> out;
    if (!all.ok()) return out;
    for (const AuditEntry& e : *all) {
      if (e.action == action) out.push_back(e);
    }
    return out;
  }

  bool Member(const std::string& login) {
    return directory_.IsDirectMember("g-visio", "guid-" + login);
  }

  std::unique_ptr<SqliteCampaignStore> campaigns_;
  std::unique_ptr<FlakyCampaignStore> flaky_;
  PromptRouter router_;
  std::vector<PromptCommand> pushed_;
};

TEST_F(AskPermissionTest, RemovesOnlyThoseWithoutAYesAfterTheWait) {
  Populate();
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, RunState::kAwaitingAnswers);
  EXPECT_TRUE(run->ask_permission);
  EXPECT_EQ(run->candidates, 6);
  EXPECT_EQ(run->answers_due_utc_ms, kT0 + 48 * kHourMs);
  ASSERT_NE(run->campaign_id, 0);

  // One not-urgent campaign for the run, asking each candidate once.
  auto campaigns = campaigns_->ListCampaigns();
  ASSERT_EQ(campaigns->size(), 1u);
  const Campaign& c = campaigns->front();
  EXPECT_EQ(c.id, run->campaign_id);
  EXPECT_EQ(c.name, "reclaim-run-" + std::to_string(run->id));
  EXPECT_EQ(c.question, "Do you still need Visio?");
  EXPECT_EQ(c.answers, (std::vector<std::string>{"Yes", "No"}));
  EXPECT_EQ(c.priority, CampaignPriority::kNotUrgent);
  EXPECT_EQ(c.application, "Visio");
  EXPECT_EQ(c.answer_wait_ms, 2 * 48 * kHourMs);  // answerable after the removals too
  auto responses = campaigns_->ListResponses(c.id);
  ASSERT_EQ(responses->size(), 6u);  // alice (used) is not asked
  // The connected agent of EXAMPLE\yes got the prompt at once.
  ASSERT_EQ(pushed_.size(), 1u);
  EXPECT_EQ(pushed_[0].kind, PromptCommand::Kind::kShow);
  EXPECT_EQ(pushed_[0].campaign.question, "Do you still need Visio?");

  AgentSays(c.id, "yes", {"delivered", "displayed", "answered:Yes"});
  AgentSays(c.id, "no", {"delivered", "displayed", "answered:No"});
  AgentSays(c.id, "declined", {"delivered", "displayed", "declined"});
  AgentSays(c.id, "postponed", {"delivered", "displayed", "postponed"});
  AgentSays(c.id, "delivered", {"delivered"});
  // silent: its agent never connected (pending).

  // Before the wait is over nothing happens, even after answers.
  clock_.Advance(std::chrono::hours(47));
  ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_EQ(reclaimer_->GetRun(run->id)->state, RunState::kAwaitingAnswers);
  EXPECT_TRUE(directory_.calls().empty());

  clock_.Advance(std::chrono::hours(1));
  ASSERT_TRUE(reclaimer_->Tick().ok());
  auto done = reclaimer_->GetRun(run->id);
  EXPECT_EQ(done->state, RunState::kSucceeded);
  EXPECT_EQ(done->removed, 5);
  auto items = Items(run->id);
  EXPECT_EQ(items["yes"].state, ItemState::kDropped);
  EXPECT_THAT(items["yes"].detail, HasSubstr("answered Yes to campaign reclaim-run-"));
  EXPECT_TRUE(Member("yes"));
  EXPECT_TRUE(Member("alice"));
  for (const char* u : {"no", "declined", "postponed", "delivered", "silent"}) {
    EXPECT_FALSE(Member(u)) << u;
    EXPECT_EQ(items[u].outcome, "removed") << u;
  }
  // Each removal names the campaign's answer as its reason.
  std::map<std::string, std::string> why;
  for (const AuditEntry& e : AuditWith("permission.not_given")) {
    why[e.subject] = nlohmann::json::parse(e.detail)["detail"];
  }
  EXPECT_THAT(why["guid-no"], HasSubstr("EXAMPLE\\no: answered No"));
  EXPECT_THAT(why["guid-declined"], HasSubstr("declined"));
  EXPECT_THAT(why["guid-postponed"], HasSubstr("postponed, no answer"));
  EXPECT_THAT(why["guid-delivered"], HasSubstr("delivered, never shown"));
  EXPECT_THAT(why["guid-silent"], HasSubstr("never delivered"));
  EXPECT_EQ(why.size(), 5u);
  for (const AuditEntry& e : AuditWith("remove.intent")) {
    EXPECT_EQ(nlohmann::json::parse(e.detail)["permission"], why[e.subject]) << e.subject;
  }
  ASSERT_EQ(AuditWith("remove.dropped").size(), 1u);
  EXPECT_EQ(AuditWith("remove.dropped")[0].subject, "guid-yes");

  // The yes excludes the member from this policy for one look-back window
  // (90 days) from the answer.
  auto answers = store_->LoadAnswers(run->policy_id, clock_.WallUtcMs());
  EXPECT_EQ((*answers)["guid-yes"], Answer::kYes);
  auto dry = reclaimer_->DryRun("visio-unused", "admin:test");
  EXPECT_EQ(Items(dry->id)["yes"].decision.decision, Decision::kAnsweredYes);
  const UtcMs answered = kT0;  // answered at the start, before the 47 h
  EXPECT_EQ(store_->LoadAnswers(run->policy_id, answered + 90 * kDayMs - 1)->count("guid-yes"),
            1u);
  EXPECT_EQ(store_->LoadAnswers(run->policy_id, answered + 90 * kDayMs)->count("guid-yes"), 0u);

  // The postponed one is asked again, then times out at the campaign's end;
  // it stays removed (no late yes).
  CampaignHousekeeper hk(*campaigns_, router_, clock_);
  clock_.Advance(std::chrono::hours(48));
  ASSERT_TRUE(hk.RunOnce().ok());
  EXPECT_EQ(ResponseOf(c.id, "postponed").state, ResponseState::kTimedOut);
  ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_FALSE(Member("postponed"));
  EXPECT_EQ(directory_.calls().size(), 5u);  // five removals, no add
  EXPECT_TRUE(reclaimer_->VerifyAudit()->ok);
}

TEST_F(AskPermissionTest, ResumesAfterACrashMidWaitWithoutAskingTwice) {
  Populate();
  // The launch fails after the run was created (as if the collector died
  // right there): the run waits with no campaign recorded.
  flaky_->fail_launch = true;
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, RunState::kAwaitingAnswers);
  EXPECT_EQ(run->campaign_id, 0);

  // kill -9, and a restart 5 h later: a new reclaimer on the same database.
  clock_.Advance(std::chrono::hours(5));
  OpenCampaigns();
  ASSERT_TRUE(reclaimer_->Tick().ok());  // completes the launch
  auto resumed = reclaimer_->GetRun(run->id);
  ASSERT_NE(resumed->campaign_id, 0);
  // Everyone still gets the whole wait, counted from the launch.
  EXPECT_EQ(resumed->answers_due_utc_ms, kT0 + (5 + 48) * kHourMs);
  ASSERT_EQ(campaigns_->ListCampaigns()->size(), 1u);  // found by name, not created twice
  const std::int64_t cid = resumed->campaign_id;
  AgentSays(cid, "yes", {"delivered", "displayed", "answered:Yes"});
  AgentSays(cid, "no", {"delivered", "answered:No"});

  // Another crash in the middle of the wait; ticks after the restart neither
  // launch again nor lose answers.
  clock_.Advance(std::chrono::hours(20));
  OpenCampaigns();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_EQ(campaigns_->ListCampaigns()->size(), 1u);
  EXPECT_EQ(campaigns_->ListResponses(cid)->size(), 6u);
  EXPECT_EQ(ResponseOf(cid, "yes").state, ResponseState::kAnswered);
  EXPECT_EQ(AuditWith("campaign.launch").size(), 1u);
  EXPECT_EQ(reclaimer_->GetRun(run->id)->state, RunState::kAwaitingAnswers);

  clock_.Advance(std::chrono::hours(28));
  ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_EQ(reclaimer_->GetRun(run->id)->state, RunState::kSucceeded);
  EXPECT_TRUE(Member("yes"));
  for (const char* u : {"no", "declined", "postponed", "delivered", "silent"}) {
    EXPECT_FALSE(Member(u)) << u;
    EXPECT_EQ(directory_.RemoveCalls("guid-" + std::string(u)), 1) << u;
  }
  EXPECT_EQ(AuditWith("permission.not_given").size(), 5u);
  EXPECT_TRUE(reclaimer_->VerifyAudit()->ok);
}

TEST_F(AskPermissionTest, ALateYesRestoresTheMemberAndIsAudited) {
  Populate();
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok()) << run.status();
  const std::int64_t cid = run->campaign_id;
  AgentSays(cid, "postponed", {"delivered", "displayed", "postponed"});
  clock_.Advance(std::chrono::hours(48));
  ASSERT_TRUE(reclaimer_->Tick().ok());
  ASSERT_EQ(reclaimer_->GetRun(run->id)->state, RunState::kSucceeded);
  ASSERT_FALSE(Member("postponed"));
  EXPECT_EQ(reclaimer_->GetRun(run->id)->removed, 6);  // nobody said yes in time
  const std::int64_t removal_seq = Items(run->id)["postponed"].result_audit_seq;

  // The prompt comes back after the postponement; the user says Yes.
  clock_.Advance(std::chrono::hours(12));
  CampaignHousekeeper hk(*campaigns_, router_, clock_);
  ASSERT_TRUE(hk.RunOnce().ok());
  AgentSays(cid, "postponed", {"displayed", "answered:Yes"});
  ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_TRUE(Member("postponed"));
  auto item = Items(run->id)["postponed"];
  EXPECT_EQ(item.state, ItemState::kRestored);
  EXPECT_EQ(item.outcome, "restored");
  EXPECT_EQ(reclaimer_->GetRun(run->id)->removed, 5);  // the seat is no longer saved

  auto results = AuditWith("restore.result");
  ASSERT_EQ(results.size(), 1u);
  const AuditEntry& r = results[0];
  EXPECT_EQ(r.actor, "campaign:reclaim-run-" + std::to_string(run->id));
  EXPECT_EQ(r.subject, "guid-postponed");
  auto d = nlohmann::json::parse(r.detail);
  EXPECT_EQ(d["outcome"], "added");
  EXPECT_EQ(d["restores"], removal_seq);
  EXPECT_EQ(d["reason"]["answer"], "Yes");
  EXPECT_EQ(d["reason"]["response_id"], ResponseOf(cid, "postponed").id);
  EXPECT_EQ(d["reason"]["device_id"], "dev-postponed");
  EXPECT_THAT(std::string(d["reason"]["reason"]), HasSubstr("after the removal"));
  ASSERT_EQ(AuditWith("restore.intent").size(), 1u);
  EXPECT_TRUE(reclaimer_->VerifyAudit()->ok);
  // Kept out of this policy's removals from now on.
  EXPECT_EQ((*store_->LoadAnswers(run->policy_id, clock_.WallUtcMs()))["guid-postponed"],
            Answer::kYes);

  // Restored once: later ticks do not add again.
  ASSERT_TRUE(reclaimer_->Tick().ok());
  ASSERT_TRUE(reclaimer_->Tick().ok());
  int adds = 0;
  for (const std::string& call : directory_.calls()) adds += call == "add:guid-postponed";
  EXPECT_EQ(adds, 1);
  EXPECT_EQ(AuditWith("restore.result").size(), 1u);
}

TEST_F(AskPermissionTest, AYesBetweenTheWaitAndTheRemovalStillKeepsTheMember) {
  Populate();
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok()) << run.status();
  // The directory is down when the answers are due: the run settles the
  // answers, then waits in `removing` for the directory.
  directory_.SetUnreachable(true);
  clock_.Advance(std::chrono::hours(48));
  ASSERT_TRUE(reclaimer_->Tick().ok());
  ASSERT_EQ(reclaimer_->GetRun(run->id)->state, RunState::kRemoving);
  AgentSays(run->campaign_id, "silent", {"delivered", "displayed", "answered:Yes"});
  directory_.SetUnreachable(false);
  ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_EQ(reclaimer_->GetRun(run->id)->state, RunState::kSucceeded);
  auto item = Items(run->id)["silent"];
  EXPECT_EQ(item.state, ItemState::kDropped);
  EXPECT_THAT(item.detail, HasSubstr("before the removal: not removed"));
  EXPECT_TRUE(Member("silent"));
  EXPECT_EQ(directory_.RemoveCalls("guid-silent"), 0);
  EXPECT_EQ(reclaimer_->GetRun(run->id)->removed, 5);
}

TEST_F(AskPermissionTest, DryRunListsWhoWouldBeAskedAndAsksNobody) {
  Populate();
  auto dry = reclaimer_->DryRun("visio-unused", "admin:test");
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->state, RunState::kDryRun);
  EXPECT_TRUE(dry->ask_permission);
  EXPECT_EQ(dry->candidates, 6);
  EXPECT_EQ(dry->campaign_id, 0);
  EXPECT_TRUE(campaigns_->ListCampaigns()->empty());
  EXPECT_TRUE(pushed_.empty());
  auto items = Items(dry->id);
  EXPECT_EQ(items["no"].decision.evidence.endpoint_users,
            std::vector<std::string>{"EXAMPLE\\no"});
  auto starts = AuditWith("run.dry");
  ASSERT_EQ(starts.size(), 1u);
  auto d = nlohmann::json::parse(starts[0].detail)["ask_permission"];
  EXPECT_EQ(d["asked_now"], false);
  EXPECT_EQ(d["answer_wait_hours"], 48);
  EXPECT_THAT(d["asked"].get<std::vector<std::string>>(), Contains("EXAMPLE\\silent"));
  EXPECT_EQ(d["asked"].size(), 6u);
  EXPECT_TRUE(directory_.calls().empty());
}

TEST_F(AskPermissionTest, BadSettingsAreRefusedClearly) {
  CreateVisio();
  Policy p = VisioPolicy();
  p.ask_permission = true;
  p.answer_wait_hours = 0;
  auto bad = reclaimer_->CreatePolicy(p, "admin:test");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("answer wait of 1-2160 hours"));
  EXPECT_TRUE(reclaimer_->ListPolicies()->empty());
  // A collector without a campaign store refuses real runs of such a policy.
  p.answer_wait_hours = 24;
  ASSERT_TRUE(reclaimer_->CreatePolicy(p, "admin:test").ok());
  AddMember("bob");
  Meter("bob", "WINWORD.EXE", 1000, kT0 - kDayMs, kT0 - 120 * kDayMs);
  Reclaimer without(*store_, factory_, clock_);
  auto run = without.StartRun(p.name, "admin:test");
  EXPECT_EQ(run.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("without a campaign store"));
  EXPECT_TRUE(reclaimer_->ListRuns("", 0)->empty());
}

}  // namespace
}  // namespace reclaim::collector
