// Shared fixture for reclamation tests: a usage store and a reclamation store
// in one temporary database file, a fake directory behind a connector
// factory ("corp", kind "fake"), a ManualClock, and helpers to meter usage.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "collector/reclaim/reclaimer.h"
#include "collector/reclaim/sqlite_reclamation_store.h"
#include "collector/store/sqlite_usage_store.h"
#include "tests/testing/fake_directory_connector.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::collector {

inline constexpr std::int64_t kDayMs = 86400000;
inline constexpr UtcMs kT0 = 1796000000000;  // 2026-11-30T...Z

/// The catalog's Visio: 15.00 EUR per seat and month, exe visio.exe.
inline Application VisioApplication() {
  Application app;
  app.name = "Visio";
  app.cost_cents_per_seat_month = 1500;
  app.currency = "EUR";
  app.rules = {{RuleKind::kExe, "visio.exe"}};
  return app;
}

class ReclaimFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(MonoTime{0}, kT0);
    auto usage = SqliteUsageStore::Open({.path = dir_.File("collector.db")});
    ASSERT_TRUE(usage.ok()) << usage.status();
    usage_ = std::move(*usage);
    Reopen();
    factory_.RegisterKind("fake", [this](const ConnectorConfig&) {
      return absl::StatusOr<std::unique_ptr<DirectoryConnector>>(
          std::make_unique<testing::FakeDirectoryConnector>(directory_));
    });
    ASSERT_TRUE(factory_.AddConnector({.name = "corp", .kind = "fake", .settings = {}}).ok());
    directory_.AddGroup("g-visio", "Visio Users");
    directory_.AddGroup("g-design", "Design");
    directory_.AddGroup("g-exec", "Executives");
  }

  // A fresh reclamation store + reclaimer on the same file, as after a
  // collector restart.
  void Reopen() {
    reclaimer_.reset();
    store_.reset();
    auto store = SqliteReclamationStore::Open(dir_.File("collector.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    reclaimer_ = std::make_unique<Reclaimer>(*store_, factory_, clock_);
  }

  // A directory user "EXAMPLE\<login>" in `group` (direct).
  void AddMember(const std::string& login, const std::string& group = "g-visio") {
    DirectoryUser u;
    u.object_id = "guid-" + login;
    u.sam_account_name = login;
    u.domain = "EXAMPLE";
    u.upn = login + "@example.com";
    u.sid = "S-1-5-21-1-" + std::to_string(std::hash<std::string>()(login) % 100000);
    u.dn = "CN=" + login + ",OU=Users,DC=example,DC=com";
    u.display_name = login;
    directory_.AddUser(u);
    if (!group.empty()) directory_.AddDirect(group, u.object_id);
  }

  // Meters `focus_ms` of `exe` for EXAMPLE\<login> at `at`, from a device
  // whose agent first reported at `device_since`.
  void Meter(const std::string& login, const std::string& exe, std::int64_t focus_ms, UtcMs at,
             UtcMs device_since) {
    AppIdentityRecord app;
    app.exe_name = exe;
    app.exe_path = "C:\\Office\\" + exe;
    MeterApp(login, app, focus_ms, at, device_since);
  }

  // Meters `focus_ms` of the identity `app` (a desktop application, or a web
  // site: web_domain set) for EXAMPLE\<login>, as Meter().
  void MeterApp(const std::string& login, const AppIdentityRecord& app, std::int64_t focus_ms,
                UtcMs at, UtcMs device_since) {
    AgentInfo agent;
    agent.device_id = "dev-" + login;
    agent.agent_instance_id = "inst-" + login;
    agent.user.login_name = login;
    agent.user.domain = "EXAMPLE";
    ASSERT_TRUE(usage_->RegisterAgent(agent, device_since).ok());
    ValidatedBatch b;
    b.seq = ++seq_[login];
    if (focus_ms > 0) {
      IntervalRecord iv;
      iv.app = app;
      iv.start_utc_ms = at;
      iv.active_duration_ms = focus_ms;
      b.intervals.push_back(iv);
    }
    ASSERT_TRUE(usage_->Ingest(agent, std::span<const ValidatedBatch>(&b, 1), at + focus_ms).ok());
  }

  void CreateVisio() {
    auto a = reclaimer_->AddApplication(VisioApplication(), "admin:test");
    ASSERT_TRUE(a.ok()) << a.status();
  }

  Policy VisioPolicy() {
    Policy p;
    p.name = "visio-unused";
    p.application_name = "Visio";
    p.connector = "corp";
    p.group_ref = "Visio Users";
    p.rules.grace_days = 0;
    p.enabled = true;
    return p;
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<SqliteUsageStore> usage_;
  std::unique_ptr<SqliteReclamationStore> store_;
  testing::FakeDirectory directory_;
  ConnectorFactory factory_;
  std::unique_ptr<Reclaimer> reclaimer_;
  std::map<std::string, std::uint64_t> seq_;
};

}  // namespace reclaim::collector
