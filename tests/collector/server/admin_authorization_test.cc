// Every method of reclaim.v1.AdminService, found through the service's
// descriptor (so an RPC added later is covered without editing this test),
// is called over gRPC on a real collector stack: without a token, with a
// malformed, a forged and a revoked token (UNAUTHENTICATED), and with each
// role (PERMISSION_DENIED exactly when the role is below the RPC's minimum
// role). A handler that forgot its authorization check fails here.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "collector/admin/admin_roles.h"
#include "gtest/gtest.h"
#include "reclaim/v1/admin.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_collector.h"

namespace reclaim::collector {
namespace {

class AdminAuthorizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"));
    ASSERT_TRUE(collector_->ok());
    channel_ = grpc::CreateChannel(collector_->target(), grpc::InsecureChannelCredentials());
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
    const auto* service =
        reclaim::v1::UsageQuery::descriptor()->file()->FindServiceByName("AdminService");
    ASSERT_NE(service, nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      methods_.push_back(service->method(i)->name());
    }
    ASSERT_GE(methods_.size(), 20u);
  }

  // Calls `method` with an empty request and the given authorization
  // metadata (none when empty).
  grpc::Status Call(const std::string& method, const std::string& authorization) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    grpc::CompletionQueue cq;
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    auto call =
        stub_->PrepareUnaryCall(&ctx, "/reclaim.v1.AdminService/" + method, request, &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, this);
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestCollector> collector_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::vector<std::string> methods_;
};

TEST_F(AdminAuthorizationTest, EveryRpcRefusesCallsWithoutAValidToken) {
  auto revoked = collector_->admin_tokens().Create("gone", AdminRole::kAdmin, 1);
  ASSERT_TRUE(revoked.ok());
  ASSERT_TRUE(collector_->admin_tokens().Revoke("gone", 2).ok());
  const std::string forged = "rcat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  for (const std::string& method : methods_) {
    for (const std::string& auth : {std::string(), std::string("Bearer"),
                                    "Basic " + forged, "Bearer " + forged,
                                    "Bearer " + revoked->token}) {
      const grpc::Status s = Call(method, auth);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << method << " with '" << auth.substr(0, 12) << "...': " << s.error_message();
    }
  }
}

TEST_F(AdminAuthorizationTest, EachRoleGetsExactlyItsRpcs) {
  for (AdminRole role : {AdminRole::kViewer, AdminRole::kOperator, AdminRole::kAdmin}) {
    const std::string auth = "Bearer " + collector_->AdminToken(role);
    for (const std::string& method : methods_) {
      const auto need = AdminRpcMinimumRole(method);
      ASSERT_TRUE(need.has_value()) << method;
      const grpc::Status s = Call(method, auth);
      SCOPED_TRACE(std::string(AdminRoleName(role)) + " calling " + method + ": " +
                   s.error_message());
      EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
      if (RoleAllows(role, *need)) {
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
        EXPECT_NE(s.error_message().find(method + " needs role " + AdminRoleName(*need)),
                  std::string::npos);
      }
    }
  }
}

TEST_F(AdminAuthorizationTest, RevocationTakesEffectOnTheNextCall) {
  auto t = collector_->admin_tokens().Create("carol", AdminRole::kViewer, 1);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(Call("QueryUsage", "Bearer " + t->token).ok());
  ASSERT_TRUE(collector_->admin_tokens().Revoke("carol", 2).ok());
  EXPECT_EQ(Call("QueryUsage", "Bearer " + t->token).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace reclaim::collector
