// Two collectors sharing one database (two in-process collector stacks on one
// SQLite file, each with its own device registry watching the database every
// 50 ms): a device enrolled through one authenticates on the other, and a
// revocation made through one ends the device's open streams on the other
// with UNAUTHENTICATED, without a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "collector/server/device_registry.h"
#include "common/clock.h"
#include "reclaim/v1/admin.grpc.pb.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_collector.h"
#include "tests/testing/wait_for.h"

namespace reclaim::collector {
namespace {

namespace v1 = ::reclaim::v1;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kSecret[] = "RECLAIM-TEST-SECRET-shared-db-7c41";
constexpr milliseconds kPoll{50};

v1::AgentMessage Hello(const std::string& device) {
  v1::AgentMessage m;
  v1::Hello* h = m.mutable_hello();
  h->set_device_id(device);
  h->set_agent_instance_id("6f1c2d9e-0000-4000-8000-0000000000b2");
  h->set_agent_version("0.1.0");
  h->set_os_family(v1::OS_FAMILY_LINUX);
  h->mutable_user()->set_login_name("jdoe");
  h->mutable_user()->set_domain("EXAMPLE");
  return m;
}

// One collector: its registry (watching the shared database) and its stack.
struct Node {
  std::unique_ptr<DeviceRegistry> registry;
  std::unique_ptr<testing::TestCollector> collector;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::AgentService::Stub> agents;
  std::unique_ptr<v1::AdminService::Stub> admin;
};

class DeviceRegistrySharingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(SqliteUsageStore::Open({.path = db()}).ok());
    for (Node* n : {&a_, &b_}) {
      auto registry = DeviceRegistry::Open(db(), kSecret, clock_);
      ASSERT_TRUE(registry.ok()) << registry.status();
      n->registry = std::move(*registry);
      n->registry->StartWatching(kPoll);
      AgentServiceOptions options;
      options.devices = n->registry.get();
      n->collector = std::make_unique<testing::TestCollector>(db(), options);
      ASSERT_TRUE(n->collector->ok());
      n->channel =
          grpc::CreateChannel(n->collector->target(), grpc::InsecureChannelCredentials());
      n->agents = v1::AgentService::NewStub(n->channel);
      n->admin = v1::AdminService::NewStub(n->channel);
    }
  }
  void TearDown() override {
    for (Node* n : {&a_, &b_}) n->collector.reset();
  }

  std::string db() { return dir_.File("collector.db"); }

  std::string Enroll(Node& n, const std::string& device) {
    grpc::ClientContext ctx;
    v1::EnrollRequest req;
    req.set_device_id(device);
    req.set_enrollment_secret(kSecret);
    v1::EnrollResponse resp;
    const grpc::Status s = n.agents->Enroll(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.device_token();
  }

  // Opens a stream on `n` and waits for the first ack; the status when the
  // stream ended instead. The stream's deadline bounds every later read.
  grpc::Status Open(Node& n, const std::string& token, const std::string& device,
                    std::unique_ptr<grpc::ClientContext>* ctx, std::unique_ptr<Stream>* stream) {
    *ctx = std::make_unique<grpc::ClientContext>();
    (*ctx)->AddMetadata("authorization", "Bearer " + token);
    (*ctx)->set_deadline(std::chrono::system_clock::now() + seconds(20));
    *stream = n.agents->Connect(ctx->get());
    (*stream)->Write(Hello(device));
    v1::CollectorMessage m;
    if ((*stream)->Read(&m) && m.has_ack()) return grpc::Status::OK;
    return (*stream)->Finish();
  }

  static bool Knows(const Node& n, const std::string& device) {
    for (const DeviceCredentialInfo& d : n.registry->List()) {
      if (d.device_id == device && d.valid_credentials > 0) return true;
    }
    return false;
  }

  SystemClock clock_;
  testing::TempDir dir_;
  Node a_, b_;
};

TEST_F(DeviceRegistrySharingTest, DeviceEnrolledThroughOneCollectorAuthenticatesOnTheOther) {
  const std::string token = Enroll(a_, "laptop-1");
  ASSERT_EQ(token.size(), 64u);
  ASSERT_TRUE(testing::WaitFor([&] { return Knows(b_, "laptop-1"); }, seconds(10)))
      << "collector B never loaded the enrollment made through A";
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<Stream> s;
  ASSERT_TRUE(Open(b_, token, "laptop-1", &ctx, &s).ok());
  s->WritesDone();
  EXPECT_TRUE(s->Finish().ok());
  EXPECT_GE(b_.registry->stats().reloads, 1u);
}

TEST_F(DeviceRegistrySharingTest, RevocationThroughOneCollectorEndsStreamsOnTheOther) {
  const std::string token = Enroll(a_, "laptop-1");
  const std::string other = Enroll(a_, "laptop-2");
  ASSERT_TRUE(testing::WaitFor([&] { return Knows(b_, "laptop-1") && Knows(b_, "laptop-2"); },
                               seconds(10)));
  std::unique_ptr<grpc::ClientContext> ctx_a, ctx_b, ctx_other;
  std::unique_ptr<Stream> on_a, on_b, other_on_b;
  ASSERT_TRUE(Open(a_, token, "laptop-1", &ctx_a, &on_a).ok());
  ASSERT_TRUE(Open(b_, token, "laptop-1", &ctx_b, &on_b).ok());
  ASSERT_TRUE(Open(b_, other, "laptop-2", &ctx_other, &other_on_b).ok());

  // Revoked through A's admin API.
  grpc::ClientContext admin_ctx;
  a_.collector->AuthorizeAdmin(&admin_ctx);
  v1::RevokeDeviceRequest req;
  req.set_device_id("laptop-1");
  v1::RevokeDeviceResponse resp;
  ASSERT_TRUE(a_.admin->RevokeDevice(&admin_ctx, req, &resp).ok());
  EXPECT_EQ(resp.streams_ended(), 1u) << "A ends its own stream at once";

  // B ends its stream of the device by itself, within about a poll interval
  // (the stream's 20 s deadline bounds the wait if it never does).
  v1::CollectorMessage m;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(on_b->Read(&m));
  const grpc::Status st = on_b->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_NE(st.error_message().find("revoked"), std::string::npos) << st.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
  EXPECT_FALSE(on_a->Read(&m));
  EXPECT_EQ(on_a->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(b_.registry->stats().streams_ended_by_remote_revocation, 1u);

  // B refuses the credential from now on; the other device keeps working.
  std::unique_ptr<grpc::ClientContext> ctx_again;
  std::unique_ptr<Stream> again;
  EXPECT_EQ(Open(b_, token, "laptop-1", &ctx_again, &again).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_FALSE(Knows(b_, "laptop-1"));
  other_on_b->WritesDone();
  EXPECT_TRUE(other_on_b->Finish().ok()) << "a stream of another device was ended";
}

TEST_F(DeviceRegistrySharingTest, NoReloadWithoutAChangeElsewhere) {
  a_.registry->StopWatching();
  b_.registry->StopWatching();
  const std::uint64_t before = a_.registry->stats().reloads;
  auto r = a_.registry->Refresh();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 0);
  Enroll(a_, "laptop-1");  // its own write
  ASSERT_TRUE(a_.registry->Refresh().ok());
  EXPECT_EQ(a_.registry->stats().reloads, before) << "a collector reloaded after its own write";
  ASSERT_TRUE(b_.registry->Refresh().ok());
  EXPECT_TRUE(Knows(b_, "laptop-1"));
  EXPECT_EQ(b_.registry->stats().reloads, 1u);
}

}  // namespace
}  // namespace reclaim::collector
