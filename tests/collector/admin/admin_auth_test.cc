// Admin roles, the RPC -> role table, admin tokens (only hashes stored) and
// the per-call check, without gRPC.
#include "collector/admin/admin_auth.h"

#include <fstream>
#include <iterator>
#include <set>

#include "collector/reclaim/audit.h"
#include "collector/store/sqlite_usage_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reclaim/v1/admin.pb.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::collector {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(AdminRolesTest, EveryAdminRpcHasExactlyOneRole) {
  const google::protobuf::ServiceDescriptor* service =
      reclaim::v1::UsageQuery::descriptor()->file()->FindServiceByName("AdminService");
  ASSERT_NE(service, nullptr);
  std::set<std::string> in_descriptor;
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string name = service->method(i)->name();
    in_descriptor.insert(name);
    EXPECT_TRUE(AdminRpcMinimumRole(name).has_value())
        << "AdminService." << name << " has no minimum role in collector/admin/admin_roles.cc";
  }
  std::set<std::string> in_table;
  for (const auto& [name, role] : AdminRpcRoles()) {
    EXPECT_TRUE(in_table.insert(name).second) << name << " is in the role table twice";
    EXPECT_TRUE(in_descriptor.count(name)) << name << " is in the role table but not an RPC";
  }
}

TEST(AdminRolesTest, MappingMatchesTheDocumentedRoles) {
  EXPECT_EQ(AdminRpcMinimumRole("QueryUsage"), AdminRole::kViewer);
  EXPECT_EQ(AdminRpcMinimumRole("ListAudit"), AdminRole::kViewer);
  EXPECT_EQ(AdminRpcMinimumRole("StartRun"), AdminRole::kOperator);
  EXPECT_EQ(AdminRpcMinimumRole("LaunchCampaign"), AdminRole::kOperator);
  EXPECT_EQ(AdminRpcMinimumRole("CreatePolicy"), AdminRole::kAdmin);
  EXPECT_EQ(AdminRpcMinimumRole("AddApplication"), AdminRole::kAdmin);
  EXPECT_EQ(AdminRpcMinimumRole("SetKillSwitch"), AdminRole::kAdmin);
  EXPECT_EQ(AdminRpcMinimumRole("NoSuchRpc"), std::nullopt);
  EXPECT_TRUE(RoleAllows(AdminRole::kAdmin, AdminRole::kOperator));
  EXPECT_FALSE(RoleAllows(AdminRole::kViewer, AdminRole::kOperator));
  EXPECT_EQ(*ParseAdminRole("operator"), AdminRole::kOperator);
  EXPECT_THAT(std::string(ParseAdminRole("root").status().message()),
              HasSubstr("use viewer, operator or admin"));
}

TEST(AdminTokenTest, TokensAreRandomPrefixedAndLong) {
  auto a = GenerateAdminToken();
  auto b = GenerateAdminToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->rfind(kAdminTokenPrefix, 0), 0u);
  EXPECT_EQ(a->size(), std::string(kAdminTokenPrefix).size() + 43);  // 256 bits, base64url
}

class AdminTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto usage = SqliteUsageStore::Open({.path = Db()});
    ASSERT_TRUE(usage.ok()) << usage.status();
    auto store = SqliteAdminTokenStore::Open(Db());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  std::string Db() const { return dir_.File("collector.db"); }
  std::string FileBytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  absl::StatusOr<AdminCaller> Call(const std::string& method,
                                   std::optional<absl::string_view> authorization) {
    return AuthorizeAdminCall(*store_, method, authorization);
  }

  testing::TempDir dir_;
  std::unique_ptr<SqliteAdminTokenStore> store_;
};

TEST_F(AdminTokenStoreTest, CreateAuthenticateRevoke) {
  auto alice = store_->Create("alice", AdminRole::kOperator, 1000);
  ASSERT_TRUE(alice.ok()) << alice.status();
  auto caller = store_->Authenticate(alice->token);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->name, "alice");
  EXPECT_EQ(caller->role, AdminRole::kOperator);

  EXPECT_TRUE(absl::IsAlreadyExists(store_->Create("alice", AdminRole::kAdmin, 1001).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Create("al ice", AdminRole::kAdmin, 1).status()));

  ASSERT_TRUE(store_->Revoke("alice", 2000).ok());
  auto revoked = store_->Authenticate(alice->token);
  EXPECT_TRUE(absl::IsUnauthenticated(revoked.status()));
  EXPECT_THAT(std::string(revoked.status().message()), HasSubstr("'alice' was revoked"));
  EXPECT_TRUE(absl::IsNotFound(store_->Revoke("alice", 2001).status()));
  // The name is free again; the new token is a different one.
  auto again = store_->Create("alice", AdminRole::kViewer, 3000);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->token, alice->token);
  auto list = store_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].revoked_utc_ms, 2000);
  EXPECT_EQ((*list)[1].revoked_utc_ms, 0);
}

TEST_F(AdminTokenStoreTest, OnlyTheHashIsStored) {
  auto t = store_->Create("bob", AdminRole::kAdmin, 1);
  ASSERT_TRUE(t.ok());
  store_.reset();  // checkpoint the WAL into the file
  std::string bytes = FileBytes(Db());
  bytes += FileBytes(Db() + "-wal");
  EXPECT_THAT(bytes, Not(HasSubstr(t->token)));
  EXPECT_THAT(bytes, HasSubstr(Sha256Hex(t->token)));
}

TEST_F(AdminTokenStoreTest, ForgedAndMissingTokensAreUnauthenticated) {
  auto forged = GenerateAdminToken();
  ASSERT_TRUE(forged.ok());
  for (const auto& auth : std::vector<std::optional<absl::string_view>>{
           std::nullopt, absl::string_view(""), absl::string_view("Bearer "),
           absl::string_view("Basic dXNlcjpwYXNz"), absl::string_view("Bearer " + *forged)}) {
    auto c = Call("QueryUsage", auth);
    EXPECT_TRUE(absl::IsUnauthenticated(c.status())) << c.status();
    EXPECT_THAT(std::string(c.status().message()), Not(HasSubstr(*forged)));
  }
  EXPECT_THAT(std::string(Call("QueryUsage", std::nullopt).status().message()),
              HasSubstr("reclaim-collector admin-token create"));
}

TEST_F(AdminTokenStoreTest, RolesAreCheckedPerRpc) {
  auto viewer = store_->Create("vera", AdminRole::kViewer, 1);
  auto op = store_->Create("otto", AdminRole::kOperator, 1);
  auto admin = store_->Create("ada", AdminRole::kAdmin, 1);
  ASSERT_TRUE(viewer.ok() && op.ok() && admin.ok());
  const std::string v = "Bearer " + viewer->token, o = "Bearer " + op->token,
                    a = "Bearer " + admin->token;

  EXPECT_TRUE(Call("QueryUsage", v).ok());
  auto denied = Call("StartRun", v);
  EXPECT_TRUE(absl::IsPermissionDenied(denied.status()));
  EXPECT_EQ(denied.status().message(),
            "admin token 'vera' has role viewer; StartRun needs role operator or higher");
  EXPECT_THAT(std::string(denied.status().message()), Not(HasSubstr(viewer->token)));

  EXPECT_TRUE(Call("StartRun", o).ok());
  EXPECT_TRUE(Call("LaunchCampaign", o).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(Call("CreatePolicy", o).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(Call("AddApplication", o).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(Call("SetKillSwitch", o).status()));

  auto ok = Call("CreatePolicy", a);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name, "ada");
  EXPECT_EQ(AdminActor(*ok, "ipv4:127.0.0.1:5000"), "admin:ada(admin)@ipv4:127.0.0.1:5000");
  // A method missing from the table is refused even for an admin.
  EXPECT_TRUE(absl::IsPermissionDenied(Call("DropEverything", a).status()));
  // "bearer" in any case (RFC 6750 says the scheme is case-insensitive).
  EXPECT_TRUE(Call("QueryUsage", "bearer " + viewer->token).ok());
}

}  // namespace
}  // namespace reclaim::collector
