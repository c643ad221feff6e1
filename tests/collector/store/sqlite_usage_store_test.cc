#include "collector/store/sqlite_usage_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "collector/ingest/validation.h"
#include "common/sqlite.h"
#include "reclaim/v1/agent.pb.h"

namespace reclaim::collector {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

#define ASSERT_OK(expr)                                    \
  do {                                                     \
    const ::absl::Status reclaim_s_ = (expr);              \
    ASSERT_TRUE(reclaim_s_.ok()) << reclaim_s_.ToString(); \
  } while (0)

// Asserts `rexpr` (a StatusOr) is OK and moves its value into `lhs`.
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                          \
  auto RECLAIM_TEST_CONCAT_(so_, __LINE__) = (rexpr);             \
  ASSERT_TRUE(RECLAIM_TEST_CONCAT_(so_, __LINE__).ok())           \
      << RECLAIM_TEST_CONCAT_(so_, __LINE__).status().ToString(); \
  lhs = std::move(RECLAIM_TEST_CONCAT_(so_, __LINE__)).value()
#define RECLAIM_TEST_CONCAT_INNER_(a, b) a##b
#define RECLAIM_TEST_CONCAT_(a, b) RECLAIM_TEST_CONCAT_INNER_(a, b)

constexpr std::int64_t kDay = 24LL * 3600 * 1000;
constexpr std::int64_t kMinute = 60 * 1000;
// 2024-03-01T00:00:00Z, UTC day 19783.
constexpr UtcMs kMar1 = 1709251200000LL;
constexpr std::int64_t kMar1Day = kMar1 / kDay;
constexpr UtcMs kNow = kMar1 + 10 * kDay;

AgentInfo Agent(std::string device, std::string instance, std::string domain = "EXAMPLE",
                std::string login = "jdoe", std::string upn = "") {
  AgentInfo a;
  a.device_id = std::move(device);
  a.agent_instance_id = std::move(instance);
  a.agent_version = "0.1.0";
  a.os_version = "Debian GNU/Linux 12 (bookworm)";
  a.hostname = "host-" + a.device_id;
  a.user.domain = std::move(domain);
  a.user.login_name = std::move(login);
  a.user.upn = std::move(upn);
  return a;
}

AppIdentityRecord Exe(std::string path, std::string window_class = "") {
  AppIdentityRecord app;
  app.exe_name = path.substr(path.rfind('/') + 1);
  app.exe_path = std::move(path);
  app.window_class = std::move(window_class);
  return app;
}

AppIdentityRecord Web(std::string domain) {
  AppIdentityRecord app;
  app.exe_path = "/usr/lib/firefox/firefox";
  app.exe_name = "firefox";
  app.web_domain = std::move(domain);
  return app;
}

AppIdentityRecord Pkg(std::string id) {
  AppIdentityRecord app;
  app.exe_path = "/app/bin/gimp";
  app.package_id = std::move(id);
  return app;
}

IntervalRecord Interval(AppIdentityRecord app, UtcMs start, std::int64_t duration_ms,
                        bool continuation = false) {
  return IntervalRecord{std::move(app), start, duration_ms, continuation};
}

ValidatedBatch Batch(std::uint64_t seq, std::vector<IntervalRecord> intervals) {
  ValidatedBatch b;
  b.seq = seq;
  b.intervals = std::move(intervals);
  return b;
}

class SqliteUsageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "reclaim_usage_store_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "usage.db").string();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  SqliteUsageStoreOptions Options() const {
    SqliteUsageStoreOptions o;
    o.path = path_;
    return o;
  }

  // Opens (or reopens) the store at path_ into store_.
  void OpenStore() {
    store_.reset();
    auto store = SqliteUsageStore::Open(Options());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Runs a one-integer query on a separate connection (to inspect raw tables).
  std::int64_t RawInt(const std::string& sql) {
    auto db = sqlite::Database::Open(path_, /*create=*/false);
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return -1;
    auto v = (*db)->QueryInt(sql);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : -1;
  }

  std::vector<UsageRow> Query(const UsageFilter& filter) {
    auto rows = store_->QueryUsage(filter);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<UsageRow>{};
  }

  std::int64_t TotalFocusMs() {
    std::int64_t total = 0;
    for (const UsageRow& r : Query(UsageFilter{})) total += r.focus_ms;
    return total;
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<SqliteUsageStore> store_;
};

TEST(DisplayKeyTest, FollowsPrecedence) {
  AppIdentityRecord app;
  EXPECT_EQ(DisplayKey(app), "");
  app.window_class = "Gimp";
  EXPECT_EQ(DisplayKey(app), "class:Gimp");
  app.exe_name = "gimp-2.10";
  EXPECT_EQ(DisplayKey(app), "exe:gimp-2.10 [Gimp]");
  app.exe_path = "/usr/bin/gimp-2.10";
  EXPECT_EQ(DisplayKey(app), "exe:/usr/bin/gimp-2.10 [Gimp]");
  app.window_class.clear();
  EXPECT_EQ(DisplayKey(app), "exe:/usr/bin/gimp-2.10");
  app.package_id = "org.gimp.GIMP";
  EXPECT_EQ(DisplayKey(app), "pkg:org.gimp.GIMP");
  app.web_domain = "na1.lightning.force.com";
  EXPECT_EQ(DisplayKey(app), "web:na1.lightning.force.com");
}

TEST_F(SqliteUsageStoreTest, OpenCreatesSchemaAtCurrentVersion) {
  OpenStore();
  EXPECT_EQ(RawInt("PRAGMA user_version"), SqliteUsageStore::kSchemaVersion);
  EXPECT_EQ(RawInt("SELECT count(*) FROM sqlite_master WHERE type = 'table'"), 9);
  // Reopening an up-to-date store migrates nothing and keeps working.
  OpenStore();
  EXPECT_EQ(RawInt("PRAGMA user_version"), SqliteUsageStore::kSchemaVersion);
}

TEST_F(SqliteUsageStoreTest, OpenRefusesMemoryAndEmptyPath) {
  SqliteUsageStoreOptions o;
  EXPECT_EQ(SqliteUsageStore::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.path = ":memory:";
  EXPECT_EQ(SqliteUsageStore::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteUsageStoreTest, SchemaFromTheFutureIsRefused) {
  OpenStore();
  store_.reset();
  {
    ASSERT_OK_AND_ASSIGN(auto db, sqlite::Database::Open(path_, /*create=*/false));
    ASSERT_OK(db->Exec("PRAGMA user_version = 99"));
  }
  auto store = SqliteUsageStore::Open(Options());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_THAT(std::string(store.status().message()), ::testing::HasSubstr("99"));
}

TEST_F(SqliteUsageStoreTest, GarbageFileIsDataLoss) {
  {
    std::ofstream f(path_, std::ios::binary);
    for (int i = 0; i < 1000; ++i) f << "this is not an sqlite database ";
  }
  auto store = SqliteUsageStore::Open(Options());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
}

TEST_F(SqliteUsageStoreTest, ForeignDatabaseIsRefused) {
  {
    ASSERT_OK_AND_ASSIGN(auto db, sqlite::Database::Open(path_));
    ASSERT_OK(db->Exec("CREATE TABLE something_else(x)"));
  }
  auto store = SqliteUsageStore::Open(Options());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
}

TEST_F(SqliteUsageStoreTest, SameBatchTwiceIsStoredOnce) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  const ValidatedBatch batch = Batch(1, {Interval(Exe("/usr/bin/gimp"), kMar1, 5 * kMinute),
                                         Interval(Exe("/usr/bin/vim"), kMar1 + kDay, kMinute)});
  ASSERT_OK_AND_ASSIGN(auto first, store_->Ingest(agent, {&batch, 1}, kNow));
  EXPECT_THAT(first, ElementsAre(IngestResult::kStored));
  const std::vector<UsageRow> before = Query(UsageFilter{});
  ASSERT_THAT(before, SizeIs(2));

  ASSERT_OK_AND_ASSIGN(auto second, store_->Ingest(agent, {&batch, 1}, kNow + 1000));
  EXPECT_THAT(second, ElementsAre(IngestResult::kDuplicate));
  const std::vector<UsageRow> after = Query(UsageFilter{});
  ASSERT_THAT(after, SizeIs(2));
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].focus_ms, before[i].focus_ms);
    EXPECT_EQ(after[i].sessions, before[i].sessions);
  }
  EXPECT_EQ(RawInt("SELECT count(*) FROM intervals"), 2);
  EXPECT_EQ(RawInt("SELECT count(*) FROM batches"), 1);
  // A duplicate does not even refresh the agent's last-seen time.
  ASSERT_OK_AND_ASSIGN(auto devices, store_->ListDevices());
  ASSERT_THAT(devices, SizeIs(1));
  EXPECT_EQ(devices[0].last_seen_utc_ms, kNow);
}

TEST_F(SqliteUsageStoreTest, SameBatchTwiceInOneCallIsStoredOnce) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  const AgentInfo other_instance = Agent("dev-1", "inst-2");
  const ValidatedBatch batch = Batch(7, {Interval(Exe("/usr/bin/gimp"), kMar1, kMinute)});
  const ValidatedBatch batches[] = {batch, batch};
  // The same batch twice in one stream, and again in a second entry for the
  // same instance; the same seq from another instance is a different batch.
  const UsageStore::AgentBatches work[] = {
      {&agent, batches}, {&agent, {&batch, 1}}, {&other_instance, {&batch, 1}}};
  ASSERT_OK_AND_ASSIGN(auto results, store_->IngestMany(work, kNow));
  ASSERT_THAT(results, SizeIs(3));
  EXPECT_THAT(results[0], ElementsAre(IngestResult::kStored, IngestResult::kDuplicate));
  EXPECT_THAT(results[1], ElementsAre(IngestResult::kDuplicate));
  EXPECT_THAT(results[2], ElementsAre(IngestResult::kStored));
  EXPECT_EQ(TotalFocusMs(), 2 * kMinute);
  EXPECT_EQ(RawInt("SELECT count(*) FROM intervals"), 2);
}

TEST_F(SqliteUsageStoreTest, SameBatchAfterReopenIsDuplicate) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  const ValidatedBatch batch = Batch(3, {Interval(Exe("/usr/bin/gimp"), kMar1, kMinute)});
  ASSERT_OK_AND_ASSIGN(auto first, store_->Ingest(agent, {&batch, 1}, kNow));
  EXPECT_THAT(first, ElementsAre(IngestResult::kStored));
  OpenStore();
  ASSERT_OK_AND_ASSIGN(auto second, store_->Ingest(agent, {&batch, 1}, kNow));
  EXPECT_THAT(second, ElementsAre(IngestResult::kDuplicate));
  EXPECT_EQ(TotalFocusMs(), kMinute);
}

TEST_F(SqliteUsageStoreTest, BadIntervalIsQuarantinedAndTheRestStored) {
  OpenStore();
  reclaim::v1::UsageBatch wire;
  wire.set_seq(1);
  for (std::int64_t duration : {2 * kMinute, std::int64_t{-5}, 3 * kMinute}) {
    reclaim::v1::FocusInterval* iv = wire.add_intervals();
    iv->mutable_app()->set_exe_path("/usr/bin/gimp");
    iv->set_start_utc_ms(kMar1);
    iv->set_active_duration_ms(duration);
  }
  const ValidatedBatch batch = ValidateBatch(wire, ValidationLimits{}, kNow);
  const AgentInfo agent = Agent("dev-1", "inst-1");
  ASSERT_OK_AND_ASSIGN(auto results, store_->Ingest(agent, {&batch, 1}, kNow));
  EXPECT_THAT(results, ElementsAre(IngestResult::kStored));

  const std::vector<UsageRow> rows = Query(UsageFilter{});
  ASSERT_THAT(rows, SizeIs(1));
  EXPECT_EQ(rows[0].focus_ms, 5 * kMinute);
  EXPECT_EQ(rows[0].sessions, 2);

  ASSERT_OK_AND_ASSIGN(auto quarantine, store_->ListQuarantine(10));
  ASSERT_THAT(quarantine, SizeIs(1));
  EXPECT_EQ(quarantine[0].device_id, "dev-1");
  EXPECT_EQ(quarantine[0].agent_instance_id, "inst-1");
  EXPECT_EQ(quarantine[0].seq, 1u);
  EXPECT_EQ(quarantine[0].record.index, 1u);
  EXPECT_EQ(quarantine[0].record.reason, "duration_out_of_range");
  EXPECT_THAT(quarantine[0].record.detail, ::testing::HasSubstr("active_duration_ms: -5"));
  EXPECT_EQ(quarantine[0].received_utc_ms, kNow);

  ASSERT_OK_AND_ASSIGN(auto devices, store_->ListDevices());
  ASSERT_THAT(devices, SizeIs(1));
  EXPECT_EQ(devices[0].quarantined_intervals, 1u);
  EXPECT_EQ(devices[0].acked_through_seq, 1u);

  // Resending the batch quarantines nothing more.
  ASSERT_OK_AND_ASSIGN(auto again, store_->Ingest(agent, {&batch, 1}, kNow));
  EXPECT_THAT(again, ElementsAre(IngestResult::kDuplicate));
  ASSERT_OK_AND_ASSIGN(quarantine, store_->ListQuarantine(10));
  EXPECT_THAT(quarantine, SizeIs(1));
}

TEST_F(SqliteUsageStoreTest, RawIntervalsAreStoredInOrderWithTheirValues) {
  OpenStore();
  // 70 intervals over two agents and three batches: full multi-row inserts
  // and a remainder written row by row.
  const AgentInfo a1 = Agent("dev-1", "inst-1");
  const AgentInfo a2 = Agent("dev-2", "inst-1", "EXAMPLE", "asmith");
  std::vector<ValidatedBatch> first(2), second(1);
  UtcMs start = kMar1;
  std::int64_t n = 0;
  for (ValidatedBatch* b : {&first[0], &first[1], &second[0]}) {
    b->seq = b == &first[1] ? 2 : 1;
    for (int i = 0; i < (b == &second[0] ? 20 : 25); ++i, ++n) {
      b->intervals.push_back(
          Interval(Exe("/usr/bin/app" + std::to_string(i % 4)), start, 1000 + n, i % 2 == 1));
      start += kMinute;
    }
  }
  const UsageStore::AgentBatches work[] = {{&a1, first}, {&a2, second}};
  ASSERT_OK(store_->IngestMany(work, kNow).status());
  EXPECT_EQ(RawInt("SELECT count(*) FROM intervals"), 70);
  EXPECT_EQ(RawInt("SELECT sum(duration_ms) FROM intervals"), 70 * 1000 + 69 * 70 / 2);
  EXPECT_EQ(RawInt("SELECT sum(continuation) FROM intervals"), 12 + 12 + 10);
  EXPECT_EQ(
      RawInt(
          "SELECT count(*) FROM intervals a JOIN intervals b ON b.id = a.id + 1 "
          "WHERE b.start_utc_ms <> a.start_utc_ms + 60000 OR b.duration_ms <> a.duration_ms + 1"),
      0);
  EXPECT_EQ(RawInt("SELECT count(DISTINCT user_id) FROM intervals WHERE id > 50"), 1);
  EXPECT_EQ(RawInt("SELECT count(*) FROM intervals i JOIN identities d ON d.id = i.identity_id "
                   "WHERE d.exe_path <> '/usr/bin/app' || ((i.id - 1) % 25 % 4)"),
            0);
  EXPECT_EQ(TotalFocusMs(), 70 * 1000 + 69 * 70 / 2);
}

TEST_F(SqliteUsageStoreTest, IntervalAcrossUtcMidnightIsSplitByMs) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  // 23:59:00 on Mar 1 for 3 min: 1 min on Mar 1, 2 min on Mar 2.
  const UtcMs start = kMar1 + kDay - kMinute;
  const ValidatedBatch batch = Batch(1, {Interval(Exe("/usr/bin/gimp"), start, 3 * kMinute)});
  ASSERT_OK(store_->Ingest(agent, {&batch, 1}, kNow).status());

  UsageFilter by_day;
  by_day.by_day = true;
  const std::vector<UsageRow> rows = Query(by_day);
  ASSERT_THAT(rows, SizeIs(2));
  EXPECT_EQ(rows[0].day, kMar1Day);
  EXPECT_EQ(rows[0].focus_ms, kMinute);
  EXPECT_EQ(rows[0].sessions, 1);
  EXPECT_EQ(rows[0].last_seen_utc_ms, kMar1 + kDay);
  EXPECT_EQ(rows[1].day, kMar1Day + 1);
  EXPECT_EQ(rows[1].focus_ms, 2 * kMinute);
  EXPECT_EQ(rows[1].sessions, 0);  // Counted on the start day only.
  EXPECT_EQ(rows[1].last_seen_utc_ms, start + 3 * kMinute);

  const std::vector<UsageRow> summed = Query(UsageFilter{});
  ASSERT_THAT(summed, SizeIs(1));
  EXPECT_FALSE(summed[0].day.has_value());
  EXPECT_EQ(summed[0].focus_ms, 3 * kMinute);
  EXPECT_EQ(summed[0].sessions, 1);
  EXPECT_EQ(summed[0].last_seen_utc_ms, start + 3 * kMinute);
}

TEST_F(SqliteUsageStoreTest, IntervalSpanningSeveralDaysSumsToItsDuration) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  // 12:00 on Mar 1 to 12:00 on Mar 2, stored as exactly 24 h, plus one ms
  // pieces at both ends of a day.
  const ValidatedBatch batch = Batch(1, {Interval(Exe("/usr/bin/a"), kMar1 + kDay / 2, kDay),
                                         Interval(Exe("/usr/bin/b"), kMar1 + kDay - 1, 2)});
  ASSERT_OK(store_->Ingest(agent, {&batch, 1}, kNow).status());
  UsageFilter by_day;
  by_day.by_day = true;
  const std::vector<UsageRow> rows = Query(by_day);
  ASSERT_THAT(rows, SizeIs(4));
  EXPECT_EQ(rows[0].focus_ms, kDay / 2);
  EXPECT_EQ(rows[1].focus_ms, kDay / 2);
  EXPECT_EQ(rows[2].application, "exe:/usr/bin/b");
  EXPECT_EQ(rows[2].focus_ms, 1);
  EXPECT_EQ(rows[3].focus_ms, 1);
  EXPECT_EQ(rows[3].day, kMar1Day + 1);
}

TEST_F(SqliteUsageStoreTest, ContinuationPiecesDoNotCountNewSessions) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  const AppIdentityRecord gimp = Exe("/usr/bin/gimp");
  // One focus session flushed by heartbeats into three pieces, split across
  // two batches; then a second session.
  const ValidatedBatch b1 = Batch(
      1, {Interval(gimp, kMar1, kMinute, false), Interval(gimp, kMar1 + kMinute, kMinute, true)});
  const ValidatedBatch b2 = Batch(2, {Interval(gimp, kMar1 + 2 * kMinute, kMinute, true),
                                      Interval(gimp, kMar1 + 10 * kMinute, kMinute, false)});
  ASSERT_OK(store_->Ingest(agent, {&b1, 1}, kNow).status());
  ASSERT_OK(store_->Ingest(agent, {&b2, 1}, kNow).status());
  const std::vector<UsageRow> rows = Query(UsageFilter{});
  ASSERT_THAT(rows, SizeIs(1));
  EXPECT_EQ(rows[0].focus_ms, 4 * kMinute);
  EXPECT_EQ(rows[0].sessions, 2);
  EXPECT_EQ(rows[0].last_seen_utc_ms, kMar1 + 11 * kMinute);
}

TEST_F(SqliteUsageStoreTest, RegisterAgentReturnsAckedSeqAcrossReopen) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  ASSERT_OK_AND_ASSIGN(std::uint64_t acked, store_->RegisterAgent(agent, kNow));
  EXPECT_EQ(acked, 0u);
  std::vector<ValidatedBatch> batches;
  for (std::uint64_t seq : {1, 2, 5}) {  // Gaps: the spool dropped 3 and 4.
    batches.push_back(Batch(seq, {Interval(Exe("/usr/bin/gimp"), kMar1, kMinute)}));
  }
  ASSERT_OK(store_->Ingest(agent, batches, kNow).status());
  ASSERT_OK_AND_ASSIGN(acked, store_->RegisterAgent(agent, kNow));
  EXPECT_EQ(acked, 5u);

  OpenStore();
  ASSERT_OK_AND_ASSIGN(acked, store_->RegisterAgent(agent, kNow + 1));
  EXPECT_EQ(acked, 5u);
  // A new spool on the same device is a new instance.
  ASSERT_OK_AND_ASSIGN(acked, store_->RegisterAgent(Agent("dev-1", "inst-2"), kNow));
  EXPECT_EQ(acked, 0u);
  // An older seq arriving late is still stored once and does not lower the ack.
  const ValidatedBatch late = Batch(4, {Interval(Exe("/usr/bin/gimp"), kMar1, kMinute)});
  ASSERT_OK_AND_ASSIGN(auto results, store_->Ingest(agent, {&late, 1}, kNow));
  EXPECT_THAT(results, ElementsAre(IngestResult::kStored));
  ASSERT_OK_AND_ASSIGN(acked, store_->RegisterAgent(agent, kNow));
  EXPECT_EQ(acked, 5u);
}

TEST_F(SqliteUsageStoreTest, RegisterAgentRefreshesAgentAndUser) {
  OpenStore();
  AgentInfo agent = Agent("dev-1", "inst-1");
  ASSERT_OK(store_->RegisterAgent(agent, kNow).status());
  agent.agent_version = "0.2.0";
  agent.user.upn = "jdoe@example.com";
  agent.user.uid = 1000;
  agent.user.domain = "example";  // Same user, other case.
  ASSERT_OK(store_->RegisterAgent(agent, kNow + 5).status());
  ASSERT_OK_AND_ASSIGN(auto devices, store_->ListDevices());
  ASSERT_THAT(devices, SizeIs(1));
  EXPECT_EQ(devices[0].agent.agent_version, "0.2.0");
  EXPECT_EQ(devices[0].agent.user.upn, "jdoe@example.com");
  EXPECT_EQ(devices[0].agent.user.uid, std::optional<std::uint32_t>(1000));
  EXPECT_EQ(devices[0].agent.user.domain, "EXAMPLE");  // First spelling kept.
  EXPECT_EQ(devices[0].last_seen_utc_ms, kNow + 5);
  EXPECT_EQ(RawInt("SELECT count(*) FROM users"), 1);
  // An empty UPN in a later report does not erase the known one.
  agent.user.upn.clear();
  ASSERT_OK(store_->RegisterAgent(agent, kNow + 6).status());
  ASSERT_OK_AND_ASSIGN(devices, store_->ListDevices());
  EXPECT_EQ(devices[0].agent.user.upn, "jdoe@example.com");
}

TEST_F(SqliteUsageStoreTest, RegisterAgentRefusesIncompleteAgent) {
  OpenStore();
  EXPECT_EQ(store_->RegisterAgent(Agent("", "inst-1"), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RegisterAgent(Agent("dev-1", ""), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RegisterAgent(Agent("dev-1", "inst-1", "EXAMPLE", ""), kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RawInt("SELECT count(*) FROM agents"), 0);
}

TEST_F(SqliteUsageStoreTest, RecordDroppedKeepsFieldwiseMax) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  ASSERT_OK(store_->RecordDropped(agent, DropCounters{5, 50, 500, 1}, kNow));
  ASSERT_OK(store_->RecordDropped(agent, DropCounters{3, 60, 400, 1}, kNow));
  ASSERT_OK(store_->RecordDropped(agent, DropCounters{3, 60, 400, 1}, kNow));  // Repeat.
  ASSERT_OK_AND_ASSIGN(auto devices, store_->ListDevices());
  ASSERT_THAT(devices, SizeIs(1));
  EXPECT_EQ(devices[0].dropped, (DropCounters{5, 60, 500, 1}));
  // Values past int64 are clamped, not wrapped.
  ASSERT_OK(store_->RecordDropped(agent, DropCounters{~0ULL, 0, 0, 0}, kNow));
  ASSERT_OK_AND_ASSIGN(devices, store_->ListDevices());
  EXPECT_EQ(devices[0].dropped.dropped_batches,
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
  // Another instance keeps its own counters.
  ASSERT_OK(store_->RecordDropped(Agent("dev-1", "inst-2"), DropCounters{1, 1, 1, 0}, kNow));
  ASSERT_OK_AND_ASSIGN(devices, store_->ListDevices());
  ASSERT_THAT(devices, SizeIs(2));
  EXPECT_EQ(devices[1].dropped, (DropCounters{1, 1, 1, 0}));
}

// ------------------------------------------------------------ overlap rule

class OverlapRuleTest : public SqliteUsageStoreTest {
 protected:
  void OpenClipping(std::int64_t max_quarantine_rows = 100000) {
    store_.reset();
    SqliteUsageStoreOptions o = Options();
    o.clip_overlaps = true;
    o.max_quarantine_rows = max_quarantine_rows;
    auto store = SqliteUsageStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void Ingest(const AgentInfo& agent, const ValidatedBatch& batch) {
    ASSERT_OK(store_->Ingest(agent, {&batch, 1}, kNow).status());
  }
  StoreCounters Counters() {
    auto c = store_->Counters();
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : StoreCounters{};
  }
};

TEST_F(OverlapRuleTest, ReplayedIntervalFromAnotherInstanceOfTheDeviceIsNotCreditedTwice) {
  OpenClipping();
  const IntervalRecord iv = Interval(Exe("/usr/bin/visio"), kMar1, 10 * kMinute);
  Ingest(Agent("dev-1", "inst-1"), Batch(1, {iv}));
  // A forged second instance of the same device replays the same focus time.
  Ingest(Agent("dev-1", "inst-2"), Batch(1, {iv}));
  // ... and the same instance stamps another application over it.
  Ingest(Agent("dev-1", "inst-1"),
         Batch(2, {Interval(Exe("/usr/bin/gimp"), kMar1 + kMinute, 5 * kMinute)}));
  EXPECT_EQ(TotalFocusMs(), 10 * kMinute);
  const StoreCounters c = Counters();
  EXPECT_EQ(c.overlap_clipped_ms, static_cast<std::uint64_t>(15 * kMinute));
  EXPECT_EQ(c.overlap_clipped_intervals, 2u);
}

TEST_F(OverlapRuleTest, PartlyCoveredIntervalKeepsOnlyItsUncoveredPieces) {
  OpenClipping();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  // Covered: [10, 20) and [30, 40) minutes.
  Ingest(agent, Batch(1, {Interval(Exe("/usr/bin/a"), kMar1 + 10 * kMinute, 10 * kMinute),
                          Interval(Exe("/usr/bin/a"), kMar1 + 30 * kMinute, 10 * kMinute)}));
  // [5, 45) minutes: credited [5, 10), [20, 30) and [40, 45) = 20 minutes.
  Ingest(agent, Batch(2, {Interval(Exe("/usr/bin/b"), kMar1 + 5 * kMinute, 40 * kMinute)}));
  UsageFilter b;
  b.application = "/usr/bin/b";
  const std::vector<UsageRow> rows = Query(b);
  ASSERT_THAT(rows, SizeIs(1));
  EXPECT_EQ(rows[0].focus_ms, 20 * kMinute);
  EXPECT_EQ(rows[0].sessions, 1) << "the pieces are one focus session";
  EXPECT_EQ(RawInt("SELECT count(*) FROM intervals"), 5);
  EXPECT_EQ(Counters().overlap_clipped_ms, static_cast<std::uint64_t>(20 * kMinute));
  // Within one batch too: the second copy of an interval is clipped.
  Ingest(agent, Batch(3, {Interval(Exe("/usr/bin/c"), kMar1 + kDay, kMinute),
                          Interval(Exe("/usr/bin/c"), kMar1 + kDay, kMinute)}));
  EXPECT_EQ(TotalFocusMs(), 20 * kMinute + 20 * kMinute + kMinute);
}

TEST_F(OverlapRuleTest, OtherDevicesAndUsersMayOverlap) {
  OpenClipping();
  const IntervalRecord iv = Interval(Exe("/usr/bin/visio"), kMar1, 10 * kMinute);
  Ingest(Agent("laptop", "inst-1"), Batch(1, {iv}));
  Ingest(Agent("desktop", "inst-2"), Batch(1, {iv}));
  // A terminal server: two users' sessions on one device.
  Ingest(Agent("laptop", "inst-3", "EXAMPLE", "asmith"), Batch(1, {iv}));
  EXPECT_EQ(TotalFocusMs(), 30 * kMinute);
  EXPECT_EQ(Counters().overlap_clipped_intervals, 0u);
}

TEST_F(OverlapRuleTest, CoverageSurvivesAReopen) {
  OpenClipping();
  const IntervalRecord iv = Interval(Exe("/usr/bin/visio"), kMar1, 10 * kMinute);
  Ingest(Agent("dev-1", "inst-1"), Batch(1, {iv}));
  OpenClipping();
  Ingest(Agent("dev-1", "inst-2"), Batch(1, {iv}));
  EXPECT_EQ(TotalFocusMs(), 10 * kMinute);
  EXPECT_EQ(Counters().overlap_clipped_intervals, 1u);
}

TEST_F(OverlapRuleTest, QuarantineIsCappedOldestFirstAndDropsAreCounted) {
  OpenClipping(/*max_quarantine_rows=*/3);
  const AgentInfo agent = Agent("dev-1", "inst-1");
  for (std::uint64_t seq = 1; seq <= 5; ++seq) {
    ValidatedBatch b = Batch(seq, {});
    b.quarantined.push_back(QuarantineRecord{0, "duration_out_of_range", absl::StrCat(seq)});
    Ingest(agent, b);
  }
  ASSERT_OK_AND_ASSIGN(auto rows, store_->ListQuarantine(10));
  ASSERT_THAT(rows, SizeIs(3));
  EXPECT_EQ(rows[0].seq, 5u);
  EXPECT_EQ(rows[2].seq, 3u);
  EXPECT_EQ(Counters().quarantine_dropped, 2u);
}

class QueryTest : public SqliteUsageStoreTest {
 protected:
  void SetUp() override {
    SqliteUsageStoreTest::SetUp();
    OpenStore();
    const AgentInfo jdoe = Agent("dev-1", "inst-1", "EXAMPLE", "jdoe", "jdoe@example.com");
    const AgentInfo asmith = Agent("dev-2", "inst-1", "EXAMPLE", "asmith", "alice@example.com");
    const AgentInfo local_jdoe = Agent("dev-3", "inst-1", "LAPTOP", "jdoe");
    const ValidatedBatch jdoe_batch =
        Batch(1, {Interval(Exe("/usr/bin/gimp-2.10", "Gimp"), kMar1, kMinute),
                  Interval(Exe("/usr/bin/gimp-2.10", "Gimp"), kMar1 + kDay, 2 * kMinute),
                  Interval(Web("na1.lightning.force.com"), kMar1 + 2 * kDay, 3 * kMinute),
                  Interval(Exe("/opt/100%_app"), kMar1, kMinute)});
    const ValidatedBatch asmith_batch =
        Batch(1, {Interval(Pkg("org.gimp.GIMP"), kMar1, 4 * kMinute)});
    const ValidatedBatch local_batch =
        Batch(1, {Interval(Exe("/usr/bin/gimp-2.10", "Gimp"), kMar1 + 3 * kDay, 5 * kMinute)});
    const UsageStore::AgentBatches work[] = {
        {&jdoe, {&jdoe_batch, 1}}, {&asmith, {&asmith_batch, 1}}, {&local_jdoe, {&local_batch, 1}}};
    ASSERT_OK(store_->IngestMany(work, kNow).status());
  }

  // "user application [day] focus_ms" per row, for compact expectations.
  std::vector<std::string> Lines(const UsageFilter& filter) {
    std::vector<std::string> out;
    for (const UsageRow& r : Query(filter)) {
      std::string line = r.user + " " + r.application;
      if (r.day) line += " d+" + std::to_string(*r.day - kMar1Day);
      line += " " + std::to_string(r.focus_ms / kMinute);
      out.push_back(line);
    }
    return out;
  }
};

TEST_F(QueryTest, AllRowsSortedByUserApplication) {
  EXPECT_THAT(Lines(UsageFilter{}), ElementsAre("EXAMPLE\\asmith pkg:org.gimp.GIMP 4",
                                                "EXAMPLE\\jdoe exe:/opt/100%_app 1",
                                                "EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] 3",
                                                "EXAMPLE\\jdoe web:na1.lightning.force.com 3",
                                                "LAPTOP\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] 5"));
  const std::vector<UsageRow> rows = Query(UsageFilter{});
  EXPECT_EQ(rows[1].upn, "jdoe@example.com");
  EXPECT_EQ(rows[4].upn, "");
}

TEST_F(QueryTest, UserFilterMatchesDomainLoginBareLoginOrUpn) {
  UsageFilter f;
  f.application = "gimp";
  f.user = "example\\JDOE";
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] 3"));
  f.user = "jdoe";
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] 3",
                                    "LAPTOP\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] 5"));
  f.user = "JDOE@Example.com";
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] 3"));
  f.user = "Alice@example.com";
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\asmith pkg:org.gimp.GIMP 4"));
  f.user = "OTHER\\jdoe";
  EXPECT_THAT(Lines(f), IsEmpty());
  f.user = "nobody";
  EXPECT_THAT(Lines(f), IsEmpty());
}

TEST_F(QueryTest, ApplicationFilterIsCaseInsensitiveSubstringWithWildcard) {
  UsageFilter f;
  f.user = "EXAMPLE\\jdoe";
  f.application = "GIMP";
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] 3"));
  f.application = "web:*.force.com";
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe web:na1.lightning.force.com 3"));
  f.application = "exe:*gimp*[gimp]";
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] 3"));
  // '%' and '_' are literal, not SQL wildcards.
  f.application = "100%_";
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/opt/100%_app 1"));
  f.application = "1%0";
  EXPECT_THAT(Lines(f), IsEmpty());
  f.application = "gimp_2";
  EXPECT_THAT(Lines(f), IsEmpty());
  f.user.clear();
  f.application = "gimp";
  EXPECT_THAT(Lines(f), SizeIs(3));
}

TEST_F(QueryTest, DayRangeIsInclusiveAndByDaySplitsRows) {
  UsageFilter f;
  f.user = "jdoe";
  f.application = "gimp";
  f.by_day = true;
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] d+0 1",
                                    "EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] d+1 2",
                                    "LAPTOP\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] d+3 5"));
  f.since_day = kMar1Day + 1;
  f.until_day = kMar1Day + 3;
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] d+1 2",
                                    "LAPTOP\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] d+3 5"));
  f.until_day = kMar1Day + 1;
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] d+1 2"));
  f.by_day = false;
  f.since_day = kMar1Day;
  EXPECT_THAT(Lines(f), ElementsAre("EXAMPLE\\jdoe exe:/usr/bin/gimp-2.10 [Gimp] 3"));
  f.since_day = kMar1Day + 4;
  f.until_day.reset();
  EXPECT_THAT(Lines(f), IsEmpty());
}

TEST_F(SqliteUsageStoreTest, ListQuarantineIsNewestFirstAndLimited) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  std::vector<ValidatedBatch> batches;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    ValidatedBatch b = Batch(seq, {});
    b.quarantined.push_back(
        QuarantineRecord{0, "start_in_future", "detail " + std::to_string(seq)});
    batches.push_back(std::move(b));
  }
  ASSERT_OK(store_->Ingest(agent, batches, kNow).status());
  ASSERT_OK_AND_ASSIGN(auto rows, store_->ListQuarantine(2));
  ASSERT_THAT(rows, SizeIs(2));
  EXPECT_EQ(rows[0].seq, 3u);
  EXPECT_EQ(rows[0].record.detail, "detail 3");
  EXPECT_EQ(rows[1].seq, 2u);
  ASSERT_OK_AND_ASSIGN(rows, store_->ListQuarantine(0));
  EXPECT_THAT(rows, IsEmpty());
  EXPECT_EQ(store_->ListQuarantine(-1).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(auto devices, store_->ListDevices());
  EXPECT_EQ(devices[0].quarantined_intervals, 3u);
  EXPECT_EQ(devices[0].acked_through_seq, 3u);  // A batch of only bad intervals is acked too.
}

TEST_F(SqliteUsageStoreTest, InvalidInputIsRefusedBeforeAnyWrite) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  const ValidatedBatch good = Batch(1, {Interval(Exe("/usr/bin/gimp"), kMar1, kMinute)});
  const ValidatedBatch zero = Batch(0, {Interval(Exe("/usr/bin/gimp"), kMar1, kMinute)});
  const ValidatedBatch huge = Batch(1ULL << 63, {});
  {
    const UsageStore::AgentBatches work[] = {{&agent, {&good, 1}}, {&agent, {&zero, 1}}};
    EXPECT_EQ(store_->IngestMany(work, kNow).status().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    const UsageStore::AgentBatches work[] = {{&agent, {&huge, 1}}};
    EXPECT_EQ(store_->IngestMany(work, kNow).status().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    const UsageStore::AgentBatches work[] = {{&agent, {&good, 1}}, {nullptr, {&good, 1}}};
    EXPECT_EQ(store_->IngestMany(work, kNow).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(TotalFocusMs(), 0);
  EXPECT_EQ(RawInt("SELECT count(*) FROM agents"), 0);
  // An empty call is fine and stores nothing.
  ASSERT_OK_AND_ASSIGN(auto results, store_->IngestMany({}, kNow));
  EXPECT_THAT(results, IsEmpty());
}

TEST_F(SqliteUsageStoreTest, FullDiskFailsCleanlyAndRetrySucceeds) {
  OpenStore();
  const AgentInfo agent = Agent("dev-1", "inst-1");
  const ValidatedBatch first = Batch(1, {Interval(Exe("/usr/bin/gimp"), kMar1, kMinute)});
  ASSERT_OK(store_->Ingest(agent, {&first, 1}, kNow).status());
  ASSERT_OK(store_->RecordDropped(agent, DropCounters{1, 2, 3, 0}, kNow));

  // A batch big enough to need new pages: many new identities, a new agent
  // and user (so the failed call fills the in-memory caches), quarantine rows.
  const AgentInfo newcomer = Agent("dev-2", "inst-1", "EXAMPLE", "asmith");
  ValidatedBatch big = Batch(1, {});
  for (int i = 0; i < 2000; ++i) {
    big.intervals.push_back(Interval(Exe("/opt/app-" + std::to_string(i) + std::string(100, 'x')),
                                     kMar1 + i * kMinute, kMinute));
  }
  big.quarantined.push_back(QuarantineRecord{2000, "start_in_future", "x"});
  const ValidatedBatch second = Batch(2, {Interval(Exe("/usr/bin/gimp"), kMar1, kMinute)});
  const UsageStore::AgentBatches work[] = {{&agent, {&second, 1}}, {&newcomer, {&big, 1}}};

  ASSERT_OK_AND_ASSIGN(const std::int64_t size, store_->SizeBytes());
  ASSERT_OK(store_->SetMaxSizeBytes(size));
  auto failed = store_->IngestMany(work, kNow);
  ASSERT_EQ(failed.status().code(), absl::StatusCode::kResourceExhausted) << failed.status();
  EXPECT_THAT(std::string(failed.status().message()), ::testing::HasSubstr("full"));

  // Nothing of the failed call is visible; the earlier data is intact.
  EXPECT_EQ(TotalFocusMs(), kMinute);
  ASSERT_OK_AND_ASSIGN(auto devices, store_->ListDevices());
  ASSERT_THAT(devices, SizeIs(1));
  EXPECT_EQ(devices[0].acked_through_seq, 1u);
  EXPECT_EQ(devices[0].dropped, (DropCounters{1, 2, 3, 0}));
  ASSERT_OK_AND_ASSIGN(auto quarantine, store_->ListQuarantine(10));
  EXPECT_THAT(quarantine, IsEmpty());
  EXPECT_EQ(RawInt("SELECT count(*) FROM identities"), 1);
  EXPECT_EQ(RawInt("SELECT count(*) FROM pragma_quick_check WHERE quick_check <> 'ok'"), 0);

  // Space comes back: the same call succeeds in full.
  ASSERT_OK(store_->SetMaxSizeBytes(0));
  ASSERT_OK_AND_ASSIGN(auto results, store_->IngestMany(work, kNow));
  EXPECT_THAT(results,
              ElementsAre(ElementsAre(IngestResult::kStored), ElementsAre(IngestResult::kStored)));
  EXPECT_EQ(TotalFocusMs(), 2 * kMinute + 2000 * kMinute);
  ASSERT_OK_AND_ASSIGN(auto acked, store_->RegisterAgent(newcomer, kNow));
  EXPECT_EQ(acked, 1u);
  ASSERT_OK_AND_ASSIGN(quarantine, store_->ListQuarantine(10));
  EXPECT_THAT(quarantine, SizeIs(1));
}

TEST_F(SqliteUsageStoreTest, ConcurrentWritersAndReadersAreSerialised) {
  OpenStore();
  constexpr int kThreads = 4;
  constexpr int kBatches = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      const AgentInfo agent = Agent("dev-" + std::to_string(t), "inst-1");
      for (int seq = 1; seq <= kBatches; ++seq) {
        const ValidatedBatch b = Batch(static_cast<std::uint64_t>(seq),
                                       {Interval(Exe("/usr/bin/gimp"), kMar1 + seq, kMinute)});
        EXPECT_TRUE(store_->Ingest(agent, {&b, 1}, kNow).ok());
        EXPECT_TRUE(store_->QueryUsage(UsageFilter{}).ok());
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(TotalFocusMs(), kThreads * kBatches * kMinute);
  ASSERT_OK_AND_ASSIGN(auto devices, store_->ListDevices());
  ASSERT_THAT(devices, SizeIs(kThreads));
  for (const DeviceRow& d : devices) EXPECT_EQ(d.acked_through_seq, std::uint64_t{kBatches});
}

}  // namespace
}  // namespace reclaim::collector
