// A policy run end to end through the reclamation core (Reclaimer + SQLite
// stores in a temp dir) with the Entra connector against the fake Graph:
// 250 members over 3 pages, a throttling budget of 10 requests/s (429 with
// the exact Retry-After), dry run, real run, audit chain, a member still
// listed after its removal, restore, and a group that became dynamic.
// Time is one ManualClock: the connector's sleeper advances it, the fake's
// throttle reads it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "collector/connectors/entra/entra_connector.h"
#include "collector/reclaim/reclaimer.h"
#include "collector/reclaim/sqlite_reclamation_store.h"
#include "collector/store/sqlite_usage_store.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "tests/collector/connectors/entra_test_support.h"

namespace reclaim::collector {
namespace {

using ::testing::HasSubstr;
using testing::FakeGraph;
using testing::FakeGraphGroup;
using testing::FakeGuid;
using testing::GraphRequestLog;

constexpr std::int64_t kDayMs = 86400000;
constexpr UtcMs kT0 = 1796000000000;
const std::string kGroup = FakeGuid(1, 6);

class EntraReclaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(MonoTime{1000000}, kT0);
    // 250 members: 0..199 never use Visio (candidates), 200..224 use it,
    // 225..249 have no device (no data).
    FakeGraphGroup g{.id = kGroup, .display_name = "Visio Users"};
    for (int i = 0; i < 250; ++i) {
      graph_.AddUser({.id = FakeGuid(i, 5), .upn = Upn(i), .display_name = "User " + std::to_string(i)});
      g.members.push_back(FakeGuid(i, 5));
    }
    graph_.AddGroup(g);
    graph_.SetSticky(FakeGuid(10, 5));  // still listed for a while after its removal

    auto usage = SqliteUsageStore::Open({.path = dir_.File("collector.db")});
    ASSERT_TRUE(usage.ok()) << usage.status();
    usage_ = std::move(*usage);
    auto store = SqliteReclamationStore::Open(dir_.File("collector.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    // The connector built from its [connectors.NAME] settings, as main.cc does.
    factory_.RegisterKind("entra", [this](const ConnectorConfig& c)
                                       -> absl::StatusOr<std::unique_ptr<DirectoryConnector>> {
      ASSIGN_OR_RETURN(EntraConnectorOptions o, EntraConnectorOptionsFromSettings(c.settings));
      ASSIGN_OR_RETURN(auto conn, EntraConnector::Create(std::move(o), entra::MakeCurlHttpClient({}),
                                                         clock_, sleeper_, 7));
      return std::unique_ptr<DirectoryConnector>(std::move(conn));
    });
    const std::string secret = testing::WriteSecret(dir_, "entra.secret", testing::kFakeGraphClientSecret);
    ASSERT_TRUE(factory_
                    .AddConnector({.name = "contoso",
                                   .kind = "entra",
                                   .settings = {{"tenant_id", FakeGraph::kTenant},
                                                {"client_id", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
                                                {"client_secret_file", secret},
                                                {"authority_url", graph_.url()},
                                                {"graph_url", graph_.url()},
                                                {"allow_http", "true"}}})
                    .ok());
    reclaimer_ = std::make_unique<Reclaimer>(*store_, factory_, clock_);

    const UtcMs since = kT0 - 120 * kDayMs;
    for (int i = 0; i < 225; ++i) {
      Meter(i, i < 200 ? "WINWORD.EXE" : "VISIO.EXE", 3600000, kT0 - 3 * kDayMs, since);
    }
    Application app;
    app.name = "Visio";
    app.cost_cents_per_seat_month = 1500;
    app.currency = "EUR";
    app.rules = {{RuleKind::kExe, "visio.exe"}};
    ASSERT_TRUE(reclaimer_->AddApplication(app, "admin:test").ok());
  }

  static std::string Upn(int i) { return "user" + std::to_string(i) + "@example.com"; }

  void Meter(int i, const std::string& exe, std::int64_t focus_ms, UtcMs at, UtcMs since) {
    AgentInfo agent;
    agent.device_id = "dev-" + std::to_string(i);
    agent.agent_instance_id = "inst-" + std::to_string(i);
    agent.user.login_name = "user" + std::to_string(i);
    agent.user.domain = "CONTOSO";
    agent.user.upn = Upn(i);
    ASSERT_TRUE(usage_->RegisterAgent(agent, since).ok());
    ValidatedBatch b;
    b.seq = 1;
    IntervalRecord iv;
    iv.app.exe_name = exe;
    iv.app.exe_path = "C:\\Office\\" + exe;
    iv.start_utc_ms = at;
    iv.active_duration_ms = focus_ms;
    b.intervals.push_back(iv);
    ASSERT_TRUE(usage_->Ingest(agent, std::span<const ValidatedBatch>(&b, 1), at + focus_ms).ok());
  }

  Policy VisioPolicy(const std::string& group_ref = "Visio Users") {
    Policy p;
    p.name = "visio-unused";
    p.application_name = "Visio";
    p.connector = "contoso";
    p.group_ref = group_ref;
    p.rules.grace_days = 0;
    p.rules.max_removals_per_run = 1000;
    p.enabled = true;
    return p;
  }

  std::vector<GraphRequestLog> GraphRequests(const std::string& method) {
    std::vector<GraphRequestLog> out;
    for (const GraphRequestLog& r : graph_.Requests()) {
      if (r.method == method && r.path.rfind("/v1.0/", 0) == 0) out.push_back(r);
    }
    return out;
  }

  testing::TempDir dir_;
  ManualClock clock_;
  testing::ClockSleeper sleeper_{clock_};
  FakeGraph graph_{clock_};
  std::unique_ptr<SqliteUsageStore> usage_;
  std::unique_ptr<SqliteReclamationStore> store_;
  ConnectorFactory factory_;
  std::unique_ptr<Reclaimer> reclaimer_;
};

TEST_F(EntraReclaimTest, DryRunThenRealRunUnderThrottlingRemovesEveryCandidateOnceAndRestores) {
  graph_.SetRate(10);  // the tenant's budget: 10 Graph requests per second
  auto policy = reclaimer_->CreatePolicy(VisioPolicy(), "admin:test");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->group_object_id, kGroup);

  auto dry = reclaimer_->DryRun("visio-unused", "admin:test");
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->members, 250);
  EXPECT_EQ(dry->candidates, 200);
  EXPECT_EQ(dry->no_data, 25);
  EXPECT_TRUE(GraphRequests("DELETE").empty());  // a dry run never acts
  EXPECT_EQ(graph_.Members(kGroup).size(), 250u);

  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->pending, 200);
  auto done = reclaimer_->ExecuteRun(run->id);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, RunState::kSucceeded) << done->error;
  EXPECT_EQ(done->removed, 200);
  EXPECT_EQ(done->failed, 0);
  EXPECT_EQ(done->monthly_saving_cents, 200 * 1500);

  // Exactly one accepted DELETE .../$ref per candidate, none for the others.
  std::map<std::string, int> deleted;
  for (const GraphRequestLog& r : GraphRequests("DELETE")) {
    EXPECT_THAT(r.path, ::testing::EndsWith("/$ref"));
    EXPECT_THAT(r.path, ::testing::StartsWith("/v1.0/groups/" + kGroup + "/members/"));
    if (r.status == 204) ++deleted[r.path];
    EXPECT_TRUE(r.status == 204 || r.status == 429) << r.status;
  }
  EXPECT_EQ(deleted.size(), 200u);
  for (const auto& [path, n] : deleted) EXPECT_EQ(n, 1) << path;
  std::vector<std::string> left = graph_.Members(kGroup);
  std::set<std::string> kept(left.begin(), left.end());
  EXPECT_EQ(kept.size(), 50u);
  for (int i = 200; i < 250; ++i) EXPECT_TRUE(kept.contains(FakeGuid(i, 5))) << i;

  // The budget held: accepted Graph requests at least 100 ms apart, and the
  // connector was throttled (429) yet never failed a removal.
  std::int64_t last = -1000000, throttled = 0;
  for (const GraphRequestLog& r : graph_.Requests()) {
    if (r.path.rfind("/v1.0/", 0) != 0) continue;
    if (r.status == 429) {
      ++throttled;
      continue;
    }
    EXPECT_GE(r.mono_ms - last, 100) << r.method << " " << r.target;
    last = r.mono_ms;
  }
  EXPECT_GT(throttled, 0);

  // Audit: intent and result per removal, chain intact.
  auto audit = reclaimer_->ListAudit(0, 0);
  ASSERT_TRUE(audit.ok());
  int intents = 0, results = 0;
  for (const AuditEntry& e : *audit) {
    intents += e.action == "remove.intent";
    if (e.action == "remove.result") {
      ++results;
      auto d = nlohmann::json::parse(e.detail);
      EXPECT_EQ(d["outcome"], "removed");
      EXPECT_THAT(d["request"].get<std::string>(),
                  HasSubstr("DELETE " + graph_.url() + "/v1.0/groups/" + kGroup + "/members/"));
    }
  }
  EXPECT_EQ(intents, 200);
  EXPECT_EQ(results, 200);
  auto verify = reclaimer_->VerifyAudit();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok) << verify->problem;

  // Replication delay: user 10 is still listed, so the next run plans it
  // again; Graph answers 404 for the membership: already removed, no failure.
  auto second = reclaimer_->StartRun("visio-unused", "admin:test");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->pending, 1);
  auto second_done = reclaimer_->ExecuteRun(second->id);
  ASSERT_TRUE(second_done.ok());
  EXPECT_EQ(second_done->state, RunState::kSucceeded);
  EXPECT_EQ(second_done->failed, 0);
  auto items = reclaimer_->ListRunItems(second->id);
  ASSERT_TRUE(items.ok());
  int acted = 0;
  for (const RunItem& i : *items) {
    if (i.outcome.empty()) continue;
    ++acted;
    EXPECT_EQ(i.decision.evidence.member.user.object_id, FakeGuid(10, 5));
    EXPECT_EQ(i.outcome, "already_removed");
  }
  EXPECT_EQ(acted, 1);

  // Restore user 0 from the first run's audit entry.
  auto first_items = reclaimer_->ListRunItems(run->id);
  ASSERT_TRUE(first_items.ok());
  std::int64_t seq = 0;
  for (const RunItem& i : *first_items) {
    if (i.decision.evidence.member.user.object_id == FakeGuid(0, 5)) seq = i.result_audit_seq;
  }
  ASSERT_GT(seq, 0);
  graph_.ClearRequests();
  auto restored = reclaimer_->Restore(seq, "admin:helpdesk");
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(nlohmann::json::parse(restored->detail)["outcome"], "added");
  left = graph_.Members(kGroup);
  EXPECT_NE(std::find(left.begin(), left.end(), FakeGuid(0, 5)), left.end());
  auto posts = GraphRequests("POST");
  ASSERT_FALSE(posts.empty());
  EXPECT_EQ(posts.back().path, "/v1.0/groups/" + kGroup + "/members/$ref");
  auto again = reclaimer_->Restore(seq, "admin:helpdesk");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(nlohmann::json::parse(again->detail)["outcome"], "already_member");
  EXPECT_TRUE(reclaimer_->VerifyAudit()->ok);
}

TEST_F(EntraReclaimTest, RefusedGroupKindsAreClearPolicyErrorsAndNeverChanged) {
  graph_.AddGroup({.id = FakeGuid(2, 6), .display_name = "Visio Dynamic",
                   .group_types = {"DynamicMembership"}, .membership_rule = "user.jobTitle -eq \"x\"",
                   .members = {FakeGuid(0, 5)}});
  auto p = reclaimer_->CreatePolicy(VisioPolicy("Visio Dynamic"), "admin:test");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(p.status().message(), HasSubstr("dynamic membership"));
  // A group synced from AD after the policy was created: the run fails
  // before any removal, naming the AD route.
  ASSERT_TRUE(reclaimer_->CreatePolicy(VisioPolicy(), "admin:test").ok());
  FakeGraphGroup synced{.id = kGroup, .display_name = "Visio Users", .on_prem_sync = true};
  synced.members = graph_.Members(kGroup);
  graph_.AddGroup(synced);
  auto run = reclaimer_->StartRun("visio-unused", "admin:test");
  EXPECT_EQ(run.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(run.status().message(), HasSubstr("AD connector"));
  EXPECT_TRUE(GraphRequests("DELETE").empty());
  EXPECT_EQ(graph_.Members(kGroup).size(), 250u);
}

}  // namespace
}  // namespace reclaim::collector
