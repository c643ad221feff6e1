// The reclaimer against the fake directory: policies and their validation,
// dry runs, real runs (audit before/after, already removed, cap, errors,
// kill switch), crash/resume, restore, campaign wait and the scheduler.
#include "collector/reclaim/reclaimer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "collector/reclaim/scheduler.h"
#include "common/sqlite.h"
#include "common/utc_day.h"
#include "nlohmann/json.hpp"
#include "tests/collector/reclaim/reclaim_fixture.h"

namespace reclaim::collector {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ReclaimerTest : public ReclaimFixture {
 protected:
  // alice uses Visio, bob and carl do not (fully metered), nodata has no
  // device, newbie's agent arrived 5 days ago.
  void Populate() {
    CreateVisio();
    for (const char* u : {"alice", "bob", "carl", "nodata", "newbie"}) AddMember(u);
    const UtcMs since = kT0 - 120 * kDayMs;
    Meter("alice", "VISIO.EXE", 3600000, kT0 - 3 * kDayMs, since);
    Meter("bob", "WINWORD.EXE", 3600000, kT0 - 3 * kDayMs, since);
    Meter("bob", "VISIO.EXE", 60000, kT0 - 200 * kDayMs, since);  // before the window
    Meter("carl", "WINWORD.EXE", 1000, kT0 - 1 * kDayMs, since);
    Meter("newbie", "WINWORD.EXE", 1000, kT0 - 1 * kDayMs, kT0 - 5 * kDayMs);
  }

  std::map<std::string, RunItem> ItemsByLogin(std::int64_t run_id) {
    auto items = reclaimer_->ListRunItems(run_id);
    EXPECT_TRUE(items.ok()) << items.status();
    std::map<std::string, RunItem> out;
    for (RunItem& i : *items) out[i.decision.evidence.member.user.sam_account_name] = i;
    return out;
  }

  std::vector<std::string> AuditActions() {
    auto all = reclaimer_->ListAudit(0, 0);
    EXPECT_TRUE(all.ok());
    std::vector<std::string> out;
    for (const AuditEntry& e : *all) {
      out.push_back(e.subject.empty() ? e.action : e.action + " " + e.subject);
    }
    return out;
  }
};

TEST_F(ReclaimerTest, PolicyValidationGivesClearErrorsAndStoresNothing) {
  CreateVisio();
  struct Case {
    const char* name;
    std::function<void(Policy&)> tweak;
    absl::StatusCode code;
    const char* want;
  } cases[] = {
      {"unknown application", [](Policy& p) { p.application_name = "Vizio"; },
       absl::StatusCode::kInvalidArgument, "no application named 'Vizio'"},
      {"unknown group", [](Policy& p) { p.group_ref = "Visio Userz"; },
       absl::StatusCode::kInvalidArgument, "has no group 'Visio Userz'"},
      {"unknown connector", [](Policy& p) { p.connector = "nope"; },
       absl::StatusCode::kInvalidArgument, "no connector named 'nope' (configured: corp)"},
      {"malformed cron", [](Policy& p) { p.schedule = "0 25 * * *"; },
       absl::StatusCode::kInvalidArgument, "hour: 25 is out of range 0-23"},
      {"bad exclusion", [](Policy& p) { p.exclusions = {"jdoe"}; },
       absl::StatusCode::kInvalidArgument, "must be user:<name> or group:<group>"},
      {"unknown exclusion group", [](Policy& p) { p.exclusions = {"group:Nobody"}; },
       absl::StatusCode::kInvalidArgument, "exclusion group 'Nobody'"},
      {"zero cap", [](Policy& p) { p.rules.max_removals_per_run = 0; },
       absl::StatusCode::kInvalidArgument, "maximum removals per run"},
      {"coverage > 1", [](Policy& p) { p.rules.min_coverage = 1.5; },
       absl::StatusCode::kInvalidArgument, "coverage"},
  };
  for (const Case& c : cases) {
    Policy p = VisioPolicy();
    c.tweak(p);
    auto r = reclaimer_->CreatePolicy(p, "admin:test");
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), c.code) << c.name << ": " << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.want)) << c.name;
  }
  directory_.SetUnreachable(true);
  auto r = reclaimer_->CreatePolicy(VisioPolicy(), "admin:test");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("through connector 'corp'"));
  EXPECT_TRUE(reclaimer_->ListPolicies()->empty());
  directory_.SetUnreachable(false);
  auto ok = reclaimer_->CreatePolicy(VisioPolicy(), "admin:test");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->group_object_id, "g-visio");
  EXPECT_EQ(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(ReclaimerTest, DryRunShowsWhoWhyAndSavingAndTouchesNothing) {
  Populate();
  Policy p = VisioPolicy();
  p.enabled = false;  // dry runs work on disabled policies
  ASSERT_TRUE(reclaimer_->CreatePolicy(p, "admin:test").ok());
  auto run = reclaimer_->DryRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, RunState::kDryRun);
  EXPECT_EQ(run->members, 5);
  EXPECT_EQ(run->candidates, 2);  // bob, carl
  EXPECT_EQ(run->no_data, 2);     // nodata, newbie
  EXPECT_EQ(run->monthly_saving_cents, 3000);
  EXPECT_EQ(run->currency, "EUR");
  auto items = ItemsByLogin(run->id);
  EXPECT_EQ(items["alice"].decision.decision, Decision::kUsed);
  EXPECT_EQ(items["alice"].decision.evidence.focus_ms, 3600000);
  EXPECT_EQ(items["bob"].decision.decision, Decision::kCandidate);
  EXPECT_EQ(items["bob"].decision.evidence.focus_ms, 0);  // the old use is outside the window
  EXPECT_EQ(items["bob"].decision.evidence.last_use_utc_ms, kT0 - 200 * kDayMs + 60000);
  EXPECT_EQ(items["bob"].decision.evidence.devices, 1);
  EXPECT_NEAR(items["bob"].decision.evidence.coverage, 87.0 / 90, 0.001);  // last report 3 days ago
  EXPECT_EQ(items["bob"].state, ItemState::kNone);
  EXPECT_EQ(items["nodata"].decision.decision, Decision::kNoData);
  EXPECT_THAT(items["nodata"].decision.reason, HasSubstr("no metered device"));
  EXPECT_EQ(items["newbie"].decision.decision, Decision::kNoData);
  EXPECT_THAT(items["newbie"].decision.reason, HasSubstr("5% of the window"));
  EXPECT_TRUE(directory_.calls().empty());
  // A real run of a disabled policy is refused.
  auto real = reclaimer_->StartRun("visio-unused", "admin:test");
  EXPECT_EQ(real.status().code(), absl::StatusCode::kFailedPrecondition);
}

// A web application is an application like any other: its catalog rule is a
// domain pattern over the sites the browser extension reports, and a policy
// on it finds the members who did not use that site, whatever else they did
// in the browser.
TEST_F(ReclaimerTest, WebApplicationPolicyUsesDomainRules) {
  Application sf;
  sf.name = "Salesforce Lightning";
  sf.cost_cents_per_seat_month = 15000;
  sf.currency = "EUR";
  sf.rules = {{RuleKind::kWeb, "*.lightning.force.com"}};
  ASSERT_TRUE(reclaimer_->AddApplication(sf, "admin:test").ok());
  directory_.AddGroup("g-sf", "Salesforce Users");
  for (const char* u : {"alice", "bob", "carl", "dave"}) AddMember(u, "g-sf");
  auto site = [](const std::string& browser, const std::string& domain) {
    AppIdentityRecord app;
    app.exe_path = "/usr/lib/" + browser + "/" + browser;
    app.exe_name = browser;
    app.web_domain = domain;
    return app;
  };
  const UtcMs since = kT0 - 120 * kDayMs;
  const UtcMs recent = kT0 - 2 * kDayMs;
  // alice: 20 min on her instance in Chromium.
  MeterApp("alice", site("chromium", "na1.lightning.force.com"), 20 * 60000, recent, since);
  // bob: hours in the browser, but on other sites (one only looks like it),
  // and 1 min of Salesforce: under the 5 min threshold.
  MeterApp("bob", site("chromium", ""), 2 * 3600000, recent, since);
  MeterApp("bob", site("chromium", "lightning.force.com.evil.example"), 1800000, recent, since);
  MeterApp("bob", site("chromium", "force.com"), 1800000, recent + 3600000, since);
  MeterApp("bob", site("chromium", "na1.lightning.force.com"), 60000, recent + 7200000, since);
  // carl: 10 min in Firefox (domains compare case-insensitively).
  MeterApp("carl", site("firefox-esr", "EU12.Lightning.Force.com"), 10 * 60000, recent, since);
  // dave: no metered device.

  Policy p = VisioPolicy();
  p.name = "salesforce-unused";
  p.application_name = "Salesforce Lightning";
  p.group_ref = "Salesforce Users";
  ASSERT_TRUE(reclaimer_->CreatePolicy(p, "admin:test").ok());
  auto run = reclaimer_->DryRun("salesforce-unused", "admin:test");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->members, 4);
  EXPECT_EQ(run->candidates, 1);
  EXPECT_EQ(run->no_data, 1);
  EXPECT_EQ(run->monthly_saving_cents, 15000);
  auto items = ItemsByLogin(run->id);
  EXPECT_EQ(items["alice"].decision.decision, Decision::kUsed);
  EXPECT_EQ(items["alice"].decision.evidence.focus_ms, 20 * 60000);
  EXPECT_EQ(items["bob"].decision.decision, Decision::kCandidate);
  EXPECT_EQ(items["bob"].decision.evidence.focus_ms, 60000);
  EXPECT_EQ(items["carl"].decision.decision, Decision::kUsed);
  EXPECT_EQ(items["carl"].decision.evidence.focus_ms, 10 * 60000);
  EXPECT_EQ(items["dave"].decision.decision, Decision::kNoData);
}

TEST_F(ReclaimerTest, MatchesEndpointUsersBySidUpnAndSamDomain) {
  EndpointUserEvidence ep{.user_id = 1, .domain = "EXAMPLE", .login_name = "JDoe"};
  DirectoryUser dir{.object_id = "x", .sam_account_name = "jdoe", .domain = "example",
                    .upn = "john@example.com", .sid = "S-1-5-21-9"};
  EXPECT_TRUE(EndpointUserMatches(dir, ep));
  ep.domain = "example.com";  // Linux/sssd style DNS domain
  EXPECT_TRUE(EndpointUserMatches(dir, ep));
  ep.domain = "OTHER";
  EXPECT_FALSE(EndpointUserMatches(dir, ep));
  ep.sid = "s-1-5-21-9";
  EXPECT_TRUE(EndpointUserMatches(dir, ep));
  ep.sid.clear();
  ep.login_name = "someone";
  ep.upn = "JOHN@example.com";
  EXPECT_TRUE(EndpointUserMatches(dir, ep));
  ep.upn.clear();
  EXPECT_FALSE(EndpointUserMatches(dir, ep));
  EndpointUserEvidence empty;
  DirectoryUser cloud{.object_id = "y"};
  EXPECT_FALSE(EndpointUserMatches(cloud, empty));  // empty ids never match
}

TEST_F(ReclaimerTest, RealRunRemovesWithAuditBeforeAndAfterAndVerifiesChain) {
  Populate();
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:alice@ipv4:127.0.0.1").ok());
  auto run = reclaimer_->StartRun("visio-unused", "admin:alice@ipv4:127.0.0.1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, RunState::kRemoving);
  EXPECT_EQ(run->pending, 2);
  EXPECT_TRUE(directory_.calls().empty());  // planning never acts
  auto done = reclaimer_->ExecuteRun(run->id);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, RunState::kSucceeded);
  EXPECT_EQ(done->removed, 2);
  EXPECT_EQ(done->pending, 0);
  EXPECT_EQ(done->monthly_saving_cents, 3000);
  // The directory itself, not only our records.
  EXPECT_FALSE(directory_.IsDirectMember("g-visio", "guid-bob"));
  EXPECT_FALSE(directory_.IsDirectMember("g-visio", "guid-carl"));
  for (const char* kept : {"guid-alice", "guid-nodata", "guid-newbie"}) {
    EXPECT_TRUE(directory_.IsDirectMember("g-visio", kept)) << kept;
  }
  const auto actions = AuditActions();
  EXPECT_THAT(actions, ElementsAre("application.create", "policy.create", "run.start",
                                   "remove.intent guid-carl", "remove.result guid-carl",
                                   "remove.intent guid-bob", "remove.result guid-bob",
                                   "run.finish"));
  auto all = reclaimer_->ListAudit(0, 0);
  const AuditEntry& intent = (*all)[3];
  EXPECT_EQ(intent.actor, "admin:alice@ipv4:127.0.0.1");
  auto j = nlohmann::json::parse(intent.detail);
  EXPECT_EQ(j["evidence"]["decision"], "candidate");
  EXPECT_EQ(j["evidence"]["focus_ms"], 0);
  EXPECT_EQ(j["policy"], "visio-unused");
  EXPECT_THAT(j["request"].get<std::string>(), HasSubstr("remove direct member guid-carl"));
  auto result = nlohmann::json::parse((*all)[4].detail);
  EXPECT_EQ(result["outcome"], "removed");
  EXPECT_THAT(result["request"].get<std::string>(), HasSubstr("delete member <GUID=guid-carl>"));
  auto v = reclaimer_->VerifyAudit();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->entries, 8);
  // Second run: nobody left to remove.
  auto again = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->candidates, 0);
}

TEST_F(ReclaimerTest, AlreadyRemovedBehindOurBackIsSuccess) {
  Populate();
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok());
  directory_.RemoveDirect("g-visio", "guid-bob");  // between dry run and run
  auto done = reclaimer_->ExecuteRun(run->id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, RunState::kSucceeded);
  EXPECT_EQ(done->removed, 2);
  EXPECT_EQ(ItemsByLogin(run->id)["bob"].outcome, "already_removed");
}

TEST_F(ReclaimerTest, CapStopsTheRunAndTheNextRunTakesTheRest) {
  CreateVisio();
  for (int i = 0; i < 5; ++i) {
    const std::string u = "user" + std::to_string(i);
    AddMember(u);
    Meter(u, "WINWORD.EXE", 1000, kT0 - kDayMs, kT0 - 100 * kDayMs);
  }
  Policy p = VisioPolicy();
  p.rules.max_removals_per_run = 2;
  ASSERT_TRUE(reclaimer_->CreatePolicy(p, "admin:test").ok());
  auto run = reclaimer_->StartRun(p.name, "admin:test");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->candidates, 2);
  EXPECT_EQ(run->over_cap, 3);
  auto done = reclaimer_->ExecuteRun(run->id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->removed, 2);
  EXPECT_EQ(directory_.calls().size(), 2u);
  auto next = reclaimer_->StartRun(p.name, "admin:test");
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(reclaimer_->ExecuteRun(next->id).ok());
  EXPECT_EQ(directory_.calls().size(), 4u);
}

TEST_F(ReclaimerTest, ManualActionAndStillLicensedAreReportedNotCountedAsReclaimed) {
  CreateVisio();
  AddMember("prim", "");
  directory_.SetPrimaryGroup("g-visio", "guid-prim");
  AddMember("both");
  directory_.AddDirect("g-design", "guid-both");
  directory_.AddNestedGroup("g-visio", "g-design");
  AddMember("nestonly", "g-design");
  for (const char* u : {"prim", "both", "nestonly"}) {
    Meter(u, "WINWORD.EXE", 1000, kT0 - kDayMs, kT0 - 100 * kDayMs);
  }
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok());
  auto items = ItemsByLogin(run->id);
  EXPECT_EQ(items["nestonly"].decision.decision, Decision::kNotDirect);
  auto done = reclaimer_->ExecuteRun(run->id);
  ASSERT_TRUE(done.ok());
  items = ItemsByLogin(run->id);
  EXPECT_EQ(items["prim"].outcome, "needs_manual_action");
  EXPECT_EQ(items["both"].outcome, "still_licensed_through");
  EXPECT_THAT(items["both"].detail, HasSubstr("Design"));
  EXPECT_EQ(done->removed, 0);
  EXPECT_EQ(done->manual, 2);
  EXPECT_EQ(done->monthly_saving_cents, 0);
}

TEST_F(ReclaimerTest, ExclusionsByUserAndGroup) {
  Populate();
  directory_.AddDirect("g-exec", "guid-carl");
  Policy p = VisioPolicy();
  p.exclusions = {"user:bob@example.com", "group:Executives"};
  ASSERT_TRUE(reclaimer_->CreatePolicy(p, "admin:test").ok());
  auto run = reclaimer_->DryRun(p.name, "admin:test");
  ASSERT_TRUE(run.ok());
  auto items = ItemsByLogin(run->id);
  EXPECT_EQ(items["bob"].decision.reason, "excluded by user:bob@example.com");
  EXPECT_EQ(items["carl"].decision.reason, "excluded by group:Executives");
  EXPECT_EQ(run->candidates, 0);
}

TEST_F(ReclaimerTest, CrashAfterIntentIsResumedWithoutRemovingTwice) {
  Populate();
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok());
  // The state a kill -9 leaves behind: carl's intent recorded and the
  // directory call made (removed), bob's intent recorded but the call never
  // happened.
  auto items = ItemsByLogin(run->id);
  for (const char* u : {"carl", "bob"}) {
    AuditEntry e;
    e.time_utc_ms = clock_.WallUtcMs();
    e.actor = "admin:test";
    e.action = "remove.intent";
    e.policy_id = run->policy_id;
    e.run_id = run->id;
    e.subject = "guid-" + std::string(u);
    e.detail = "{}";
    ASSERT_TRUE(store_->RecordItem(run->id, items[u].index, ItemState::kIntent, "", "", e).ok());
  }
  directory_.RemoveDirect("g-visio", "guid-carl");
  Reopen();  // "restart"
  auto resumed = reclaimer_->Tick();
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  auto done = reclaimer_->GetRun(run->id);
  EXPECT_EQ(done->state, RunState::kSucceeded);
  EXPECT_EQ(done->removed, 2);
  EXPECT_EQ(directory_.RemoveCalls("guid-carl"), 0);  // verified, not repeated
  EXPECT_EQ(directory_.RemoveCalls("guid-bob"), 1);
  EXPECT_FALSE(directory_.IsDirectMember("g-visio", "guid-bob"));
  items = ItemsByLogin(run->id);
  EXPECT_THAT(items["carl"].detail, HasSubstr("not repeated"));
  auto v = reclaimer_->VerifyAudit();
  EXPECT_TRUE(v->ok) << v->problem;
}

TEST_F(ReclaimerTest, UnreachableDirectoryLeavesRunResumableAndRemovesNobody) {
  Populate();
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok());
  directory_.SetUnreachable(true);
  auto r = reclaimer_->ExecuteRun(run->id);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("cannot reach the directory"));
  EXPECT_EQ(reclaimer_->GetRun(run->id)->state, RunState::kRemoving);
  EXPECT_EQ(reclaimer_->GetRun(run->id)->pending, 2);
  // Planning a run against an unreachable directory fails cleanly too.
  EXPECT_EQ(reclaimer_->DryRun("visio-unused", "admin:test").status().code(),
            absl::StatusCode::kUnavailable);
  directory_.SetUnreachable(false);
  auto done = reclaimer_->ExecuteRun(run->id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->removed, 2);
}

TEST_F(ReclaimerTest, DirectoryErrorMidRunFailsTheRunAndLeavesTheRestUntouched) {
  CreateVisio();
  for (int i = 0; i < 3; ++i) {
    const std::string u = "user" + std::to_string(i);
    AddMember(u);
    Meter(u, "WINWORD.EXE", 1000 * (i + 1), kT0 - kDayMs, kT0 - 100 * kDayMs);
  }
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok());
  directory_.FailNextRemove("guid-user1", absl::UnavailableError("LDAP server down"));
  auto done = reclaimer_->ExecuteRun(run->id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, RunState::kFailed);
  EXPECT_THAT(done->error, HasSubstr("LDAP server down"));
  EXPECT_EQ(done->removed, 1);
  EXPECT_EQ(done->failed, 1);
  EXPECT_EQ(done->pending, 1);
  EXPECT_TRUE(directory_.IsDirectMember("g-visio", "guid-user2"));
  EXPECT_EQ(directory_.RemoveCalls("guid-user2"), 0);
}

TEST_F(ReclaimerTest, KillSwitchStopsRealRunsButNotDryRuns) {
  Populate();
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  ASSERT_TRUE(reclaimer_->SetKillSwitch(true, "admin:test").ok());
  auto refused = reclaimer_->StartRun("visio-unused", "admin:test");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("kill switch"));
  EXPECT_TRUE(reclaimer_->DryRun("visio-unused", "admin:test").ok());
  ASSERT_TRUE(reclaimer_->SetKillSwitch(false, "admin:test").ok());
  // Turned on in the middle of a run: the run halts after the current call.
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok());
  directory_.OnRemove([this](const std::string&) {
    ASSERT_TRUE(store_->KillSwitch().ok());
    (void)reclaimer_->SetKillSwitch(true, "admin:panic");
  });
  auto done = reclaimer_->ExecuteRun(run->id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, RunState::kHalted);
  EXPECT_EQ(done->removed, 1);
  EXPECT_EQ(done->pending, 1);
  EXPECT_EQ(directory_.calls().size(), 1u);
}

TEST_F(ReclaimerTest, RestoreReAddsFromTheAuditLog) {
  Populate();
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(reclaimer_->ExecuteRun(run->id).ok());
  const std::int64_t seq = ItemsByLogin(run->id)["bob"].result_audit_seq;
  ASSERT_GT(seq, 0);
  auto restored = reclaimer_->Restore(seq, "admin:helpdesk");
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(directory_.IsDirectMember("g-visio", "guid-bob"));
  EXPECT_EQ(restored->action, "restore.result");
  EXPECT_EQ(restored->actor, "admin:helpdesk");
  EXPECT_EQ(nlohmann::json::parse(restored->detail)["outcome"], "added");
  // Idempotent: restoring again is "already_member".
  auto again = reclaimer_->Restore(seq, "admin:helpdesk");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(nlohmann::json::parse(again->detail)["outcome"], "already_member");
  // Not a removal entry.
  EXPECT_EQ(reclaimer_->Restore(1, "admin:x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reclaimer_->Restore(9999, "admin:x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(reclaimer_->VerifyAudit()->ok);
}

// Ask for permission: ask_permission_test.cc.

TEST_F(ReclaimerTest, GraceUsesFirstSeenFromDirectorySync) {
  Populate();
  Policy p = VisioPolicy();
  p.rules.grace_days = 30;
  ASSERT_TRUE(reclaimer_->CreatePolicy(p, "admin:test").ok());
  auto first = reclaimer_->DryRun(p.name, "admin:test");
  EXPECT_EQ(first->candidates, 0);  // everyone first seen now
  clock_.Advance(std::chrono::hours(24 * 30));
  AddMember("late");  // joins now
  Meter("late", "WINWORD.EXE", 1000, clock_.WallUtcMs() - kDayMs, kT0 - 100 * kDayMs);
  auto later = reclaimer_->DryRun(p.name, "admin:test");
  EXPECT_EQ(later->candidates, 2);  // bob, carl past grace; late in grace
  EXPECT_EQ(ItemsByLogin(later->id)["late"].decision.decision, Decision::kInGrace);
}

TEST_F(ReclaimerTest, SchedulerTickFiresDueSchedulesOnce) {
  Populate();
  Policy p = VisioPolicy();
  p.schedule = "0 3 * * *";
  ASSERT_TRUE(reclaimer_->CreatePolicy(p, "admin:test").ok());
  // The next 03:00 UTC after kT0.
  auto next = reclaimer_->Tick();
  ASSERT_TRUE(next.ok());
  EXPECT_THAT(FormatUtcMs(*next), HasSubstr("T03:00:00.000Z"));
  EXPECT_GT(*next, kT0);
  EXPECT_LE(*next, kT0 + kDayMs);
  EXPECT_TRUE(reclaimer_->ListRuns("", 0)->empty());
  clock_.Set(MonoTime{0}, *next - 1);
  ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_TRUE(reclaimer_->ListRuns("", 0)->empty());
  clock_.Set(MonoTime{0}, *next);
  ASSERT_TRUE(reclaimer_->Tick().ok());
  auto runs = reclaimer_->ListRuns("", 0);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].actor, "scheduler");
  EXPECT_EQ((*runs)[0].state, RunState::kSucceeded);  // executed in the same tick
  EXPECT_EQ((*runs)[0].removed, 2);
  ASSERT_TRUE(reclaimer_->Tick().ok());  // same minute: no second run
  EXPECT_EQ(reclaimer_->ListRuns("", 0)->size(), 1u);
  // Disabled: never fires.
  ASSERT_TRUE(reclaimer_->SetPolicyEnabled(p.name, false, "admin:test").ok());
  clock_.Advance(std::chrono::hours(24));
  ASSERT_TRUE(reclaimer_->Tick().ok());
  EXPECT_EQ(reclaimer_->ListRuns("", 0)->size(), 1u);
}

TEST_F(ReclaimerTest, SchedulerThreadExecutesAStartedRun) {
  Populate();
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  absl::Notification second_removed;
  int removed = 0;
  directory_.OnRemove([&](const std::string&) {
    if (++removed == 2) second_removed.Notify();
  });
  Scheduler scheduler(*reclaimer_, clock_, {.poll_interval = std::chrono::hours(1)});
  scheduler.Start();
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");  // wakes the thread
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(second_removed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  scheduler.Stop();
  EXPECT_EQ(reclaimer_->GetRun(run->id)->removed, 2);
}

TEST_F(ReclaimerTest, AuditTamperingIsDetectedAtTheFirstBadEntry) {
  Populate();
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(reclaimer_->ExecuteRun(run->id).ok());
  ASSERT_TRUE(reclaimer_->VerifyAudit()->ok);
  auto db = sqlite::Database::Open(dir_.File("collector.db"), false);
  ASSERT_TRUE(db.ok());
  // The table refuses edits...
  EXPECT_FALSE((*db)->Exec("UPDATE rc_audit_log SET actor='x' WHERE seq=5").ok());
  EXPECT_FALSE((*db)->Exec("DELETE FROM rc_audit_log WHERE seq=5").ok());
  // ...and an edit made around the triggers breaks the chain.
  ASSERT_TRUE((*db)->Exec("DROP TRIGGER rc_audit_log_no_update").ok());
  ASSERT_TRUE((*db)->Exec("UPDATE rc_audit_log SET detail=replace(detail, 'removed', "
                          "'kept') WHERE seq=5").ok());
  auto v = reclaimer_->VerifyAudit();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad_seq, 5);
  EXPECT_THAT(v->problem, HasSubstr("modified"));
}

}  // namespace
}  // namespace reclaim::collector
