// Device identity over a real loopback gRPC connection: enrollment, the
// credential on every stream, a device uploading as another, revocation of
// an open stream, re-enrollment.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "collector/server/device_registry.h"
#include "common/clock.h"
#include "common/sqlite.h"
#include "reclaim/v1/admin.grpc.pb.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_collector.h"
#include "tests/testing/usage_batches.h"

namespace reclaim::collector {
namespace {

namespace v1 = ::reclaim::v1;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>;

constexpr char kSecret[] = "RECLAIM-TEST-SECRET-correct-horse-battery";

v1::AgentMessage Hello(const std::string& device) {
  v1::AgentMessage m;
  v1::Hello* h = m.mutable_hello();
  h->set_device_id(device);
  h->set_agent_instance_id("6f1c2d9e-0000-4000-8000-0000000000a1");
  h->set_agent_version("0.1.0");
  h->set_os_family(v1::OS_FAMILY_LINUX);
  h->mutable_user()->set_login_name("jdoe");
  h->mutable_user()->set_domain("EXAMPLE");
  return m;
}

v1::AgentMessage Batch(std::uint64_t seq) {
  return reclaim::testing::GimpBatchMessage(seq, reclaim::testing::UtcMsAgo(3'600'000));
}

class DeviceAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The usage store creates the database file (as in the collector's main).
    ASSERT_TRUE(SqliteUsageStore::Open({.path = dir_.File("collector.db")}).ok());
    ASSERT_NO_FATAL_FAILURE(StartCollector(kSecret));
  }
  // (Re)starts the collector with device authentication and enrollment
  // `secret` ("" = enrollment off), and the stubs on it.
  void StartCollector(const std::string& secret) {
    collector_.reset();
    registry_.reset();
    auto registry = DeviceRegistry::Open(dir_.File("collector.db"), secret, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    AgentServiceOptions options;
    options.devices = registry_.get();
    collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"), options);
    ASSERT_TRUE(collector_->ok());
    channel_ = grpc::CreateChannel(collector_->target(), grpc::InsecureChannelCredentials());
    agent_stub_ = v1::AgentService::NewStub(channel_);
    admin_stub_ = v1::AdminService::NewStub(channel_);
  }
  void TearDown() override { collector_.reset(); }

  // Restarts the collector stack on the same registry with `options`
  // (devices filled in).
  void Restart(AgentServiceOptions options) {
    collector_.reset();
    options.devices = registry_.get();
    collector_ = std::make_unique<testing::TestCollector>(dir_.File("collector.db"), options);
    ASSERT_TRUE(collector_->ok());
    channel_ = grpc::CreateChannel(collector_->target(), grpc::InsecureChannelCredentials());
    agent_stub_ = v1::AgentService::NewStub(channel_);
    admin_stub_ = v1::AdminService::NewStub(channel_);
  }

  std::uint64_t Refusals(const std::string& reason) {
    grpc::ClientContext ctx;
    collector_->AuthorizeAdmin(&ctx, AdminRole::kViewer);
    v1::AgentChannelStats stats;
    EXPECT_TRUE(admin_stub_->GetAgentChannelStats(&ctx, {}, &stats).ok());
    auto it = stats.refusals().find(reason);
    return it == stats.refusals().end() ? 0 : it->second;
  }

  grpc::Status Enroll(const std::string& device, const std::string& secret, std::string* token,
                      std::string* retry_after_ms = nullptr) {
    grpc::ClientContext ctx;
    v1::EnrollRequest req;
    req.set_device_id(device);
    req.set_enrollment_secret(secret);
    req.set_hostname("host-" + device);
    v1::EnrollResponse resp;
    grpc::Status s = agent_stub_->Enroll(&ctx, req, &resp);
    *token = resp.device_token();
    if (retry_after_ms != nullptr) {
      const auto& trailers = ctx.GetServerTrailingMetadata();
      auto it = trailers.find(kRetryAfterMsMetadata);
      *retry_after_ms =
          it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
    }
    return s;
  }

  // Opens a stream with `token`, sends a Hello for `device` and returns the
  // status if the stream ended before the first ack (OK when it is open).
  grpc::Status Open(const std::string& token, const std::string& device,
                    std::unique_ptr<grpc::ClientContext>* ctx, std::unique_ptr<Stream>* stream) {
    *ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) (*ctx)->AddMetadata("authorization", "Bearer " + token);
    *stream = agent_stub_->Connect(ctx->get());
    (*stream)->Write(Hello(device));
    v1::CollectorMessage m;
    if ((*stream)->Read(&m) && m.has_ack()) return grpc::Status::OK;
    return (*stream)->Finish();
  }

  grpc::Status OpenAndFinish(const std::string& token, const std::string& device) {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<Stream> s;
    grpc::Status st = Open(token, device, &ctx, &s);
    if (!st.ok()) return st;
    s->WritesDone();
    return s->Finish();
  }

  std::int64_t StoredFocusMs() {
    auto rows = collector_->store().QueryUsage({});
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::int64_t total = 0;
    for (const auto& r : *rows) total += r.focus_ms;
    return total;
  }

  SystemClock clock_;
  testing::TempDir dir_;
  std::unique_ptr<DeviceRegistry> registry_;
  std::unique_ptr<testing::TestCollector> collector_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> agent_stub_;
  std::unique_ptr<v1::AdminService::Stub> admin_stub_;
};

TEST_F(DeviceAuthTest, EnrollIssuesA256BitTokenAndTheDatabaseHoldsOnlyItsHash) {
  std::string token;
  ASSERT_TRUE(Enroll("laptop-1", kSecret, &token).ok());
  ASSERT_EQ(token.size(), 64u);
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos) << token;
  std::string other;
  ASSERT_TRUE(Enroll("laptop-2", kSecret, &other).ok());
  EXPECT_NE(token, other);

  auto db = sqlite::Database::Open(dir_.File("collector.db"), /*create=*/false);
  ASSERT_TRUE(db.ok()) << db.status();
  auto st = (*db)->Prepare(
      "SELECT token_sha256 FROM device_credentials WHERE device_id = 'laptop-1'");
  ASSERT_TRUE(st.ok()) << st.status();
  auto row = st->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(st->ColumnBlob(0), Sha256(token));
  // Nowhere in the database file or its WAL is the token itself.
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream f(dir_.File(std::string("collector.db") + suffix), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), {});
    EXPECT_EQ(bytes.find(token), std::string::npos) << "token found in collector.db" << suffix;
  }
}

TEST_F(DeviceAuthTest, WrongEnrollmentSecretIsUnauthenticatedAndCounted) {
  std::string token;
  const grpc::Status s = Enroll("laptop-1", "guess", &token);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message().find("guess"), std::string::npos) << s.error_message();
  EXPECT_EQ(s.error_message().find(kSecret), std::string::npos) << s.error_message();
  EXPECT_TRUE(token.empty());
  EXPECT_EQ(registry_->stats().enrollments_refused, 1u);
  EXPECT_TRUE(registry_->List().empty());
}

TEST_F(DeviceAuthTest, StreamWithoutOrWithAForgedCredentialIsUnauthenticated) {
  std::string token;
  ASSERT_TRUE(Enroll("laptop-1", kSecret, &token).ok());
  std::string forged = token;
  forged[0] = forged[0] == 'a' ? 'b' : 'a';  // one character off
  for (const std::string& t : {std::string(), forged, std::string(64, '0')}) {
    SCOPED_TRACE(t);
    const grpc::Status s = OpenAndFinish(t, "laptop-1");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  }
  EXPECT_EQ(collector_->agent_stats().unauthenticated_streams, 3u);
  EXPECT_EQ(StoredFocusMs(), 0);
  EXPECT_TRUE(OpenAndFinish(token, "laptop-1").ok());
}

TEST_F(DeviceAuthTest, HelloClaimingAnotherDeviceIsPermissionDeniedAndCounted) {
  std::string token;
  ASSERT_TRUE(Enroll("laptop-1", kSecret, &token).ok());
  std::string victim_token;
  ASSERT_TRUE(Enroll("laptop-2", kSecret, &victim_token).ok());
  const grpc::Status s = OpenAndFinish(token, "laptop-2");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("laptop-1"), std::string::npos) << s.error_message();
  EXPECT_EQ(collector_->agent_stats().identity_mismatches, 1u);
  auto devices = collector_->store().ListDevices();
  ASSERT_TRUE(devices.ok());
  EXPECT_TRUE(devices->empty()) << "the impostor's Hello registered a device";
}

TEST_F(DeviceAuthTest, RevocationEndsAnOpenStreamWithinASecondAndReEnrollmentNeedsTheSecret) {
  std::string token;
  ASSERT_TRUE(Enroll("laptop-1", kSecret, &token).ok());
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(Open(token, "laptop-1", &ctx, &stream).ok());
  ASSERT_TRUE(stream->Write(Batch(1)));
  v1::CollectorMessage m;
  ASSERT_TRUE(stream->Read(&m));
  ASSERT_EQ(m.ack().acked_through_seq(), 1u);

  grpc::ClientContext admin_ctx;
  collector_->AuthorizeAdmin(&admin_ctx);
  v1::RevokeDeviceRequest req;
  req.set_device_id("laptop-1");
  v1::RevokeDeviceResponse resp;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(admin_stub_->RevokeDevice(&admin_ctx, req, &resp).ok());
  EXPECT_EQ(resp.streams_ended(), 1u);
  EXPECT_NE(resp.credential().revoked_utc_ms(), 0);
  // The open stream ends without the agent sending anything.
  EXPECT_FALSE(stream->Read(&m));
  const grpc::Status st = stream->Finish();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_LT(elapsed, std::chrono::seconds(1));

  // Refused from now on, also after a collector restart (the hash is gone).
  EXPECT_EQ(OpenAndFinish(token, "laptop-1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  collector_.reset();
  registry_.reset();
  SetUp();
  EXPECT_EQ(OpenAndFinish(token, "laptop-1").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Enrolling again takes the secret; the new credential works, the old does not.
  std::string again;
  EXPECT_EQ(Enroll("laptop-1", "wrong", &again).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Enroll("laptop-1", kSecret, &again).ok());
  EXPECT_NE(again, token);
  EXPECT_TRUE(OpenAndFinish(again, "laptop-1").ok());
  EXPECT_EQ(OpenAndFinish(token, "laptop-1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(StoredFocusMs(), 1000);
}

TEST_F(DeviceAuthTest, TwoAgentsOfOneDeviceHaveTheirOwnCredentialsAndARevocationEndsBoth) {
  // Two user sessions of one shared machine: one device id, two agents.
  std::string alice, bob;
  ASSERT_TRUE(Enroll("shared-pc", kSecret, &alice).ok());
  ASSERT_TRUE(Enroll("shared-pc", kSecret, &bob).ok());
  ASSERT_NE(alice, bob);
  std::unique_ptr<grpc::ClientContext> ctx_a, ctx_b;
  std::unique_ptr<Stream> a, b;
  ASSERT_TRUE(Open(alice, "shared-pc", &ctx_a, &a).ok());
  ASSERT_TRUE(Open(bob, "shared-pc", &ctx_b, &b).ok()) << "the second enrollment voided the first";
  ASSERT_EQ(registry_->List().size(), 1u);
  EXPECT_EQ(registry_->List()[0].valid_credentials, 2);

  grpc::ClientContext admin_ctx;
  collector_->AuthorizeAdmin(&admin_ctx);
  v1::RevokeDeviceRequest req;
  req.set_device_id("shared-pc");
  v1::RevokeDeviceResponse resp;
  ASSERT_TRUE(admin_stub_->RevokeDevice(&admin_ctx, req, &resp).ok());
  EXPECT_EQ(resp.streams_ended(), 2u);
  EXPECT_EQ(resp.credential().valid_credentials(), 0u);
  v1::CollectorMessage m;
  EXPECT_FALSE(a->Read(&m));
  EXPECT_FALSE(b->Read(&m));
  EXPECT_EQ(a->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(b->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(DeviceAuthTest, OnlyAnAdminMayRevoke) {
  std::string token;
  ASSERT_TRUE(Enroll("laptop-1", kSecret, &token).ok());
  for (AdminRole role : {AdminRole::kViewer, AdminRole::kOperator}) {
    grpc::ClientContext ctx;
    collector_->AuthorizeAdmin(&ctx, role);
    v1::RevokeDeviceRequest req;
    req.set_device_id("laptop-1");
    v1::RevokeDeviceResponse resp;
    EXPECT_EQ(admin_stub_->RevokeDevice(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_TRUE(OpenAndFinish(token, "laptop-1").ok());
}

TEST_F(DeviceAuthTest, RevokingAnUnknownDeviceIsNotFound) {
  grpc::ClientContext ctx;
  collector_->AuthorizeAdmin(&ctx);
  v1::RevokeDeviceRequest req;
  req.set_device_id("never-seen");
  v1::RevokeDeviceResponse resp;
  EXPECT_EQ(admin_stub_->RevokeDevice(&ctx, req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(DeviceAuthTest, EnrollmentAttemptsArePerAddressRateLimitedWithARetryTime) {
  ManualClock bucket_clock;
  AgentServiceOptions o;
  o.enrollment_limits.attempts_per_minute = 6;  // a token per 10 s
  o.enrollment_limits.attempts_burst = 3;
  o.limits_clock = &bucket_clock;
  Restart(o);
  std::string token, retry_after;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Enroll("laptop-" + std::to_string(i), kSecret, &token).ok()) << i;
  }
  const grpc::Status over = Enroll("laptop-3", kSecret, &token, &retry_after);
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << over.error_message();
  EXPECT_NE(over.error_message().find("too many enrollment attempts from this address"),
            std::string::npos)
      << over.error_message();
  EXPECT_EQ(retry_after, "10000");
  EXPECT_TRUE(token.empty());
  EXPECT_EQ(registry_->List().size(), 3u) << "a refused attempt enrolled nothing";
  EXPECT_EQ(Refusals(kLimitEnrollRate), 1u);
  bucket_clock.Advance(std::chrono::milliseconds(10000));
  EXPECT_TRUE(Enroll("laptop-3", kSecret, &token).ok());
}

TEST_F(DeviceAuthTest, WrongSecretsLockTheAddressOutUntilItsFailureBucketRefills) {
  ManualClock bucket_clock;
  AgentServiceOptions o;
  o.enrollment_limits.attempts_per_minute = 0;
  o.enrollment_limits.failures_per_hour = 6;  // a token per 10 min
  o.enrollment_limits.failures_burst = 2;
  o.limits_clock = &bucket_clock;
  Restart(o);
  std::string token, retry_after;
  for (const char* guess : {"guess-1", "guess-2"}) {
    EXPECT_EQ(Enroll("laptop-1", guess, &token).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // Locked out: not even the right secret is checked now.
  const grpc::Status locked = Enroll("laptop-1", kSecret, &token, &retry_after);
  EXPECT_EQ(locked.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << locked.error_message();
  EXPECT_NE(locked.error_message().find("failed enrollment attempts"), std::string::npos)
      << locked.error_message();
  EXPECT_EQ(retry_after, "600000");
  EXPECT_EQ(registry_->stats().enrollments_refused, 2u) << "the locked-out try reached the secret";
  EXPECT_EQ(Refusals(kLimitEnrollWrongSecret), 2u);
  EXPECT_EQ(Refusals(kLimitEnrollFailures), 1u);
  bucket_clock.Advance(std::chrono::minutes(10));
  EXPECT_TRUE(Enroll("laptop-1", kSecret, &token).ok());
}

TEST_F(DeviceAuthTest, EnrollmentIsRefusedWhenTheCollectorHasNoSecret) {
  ASSERT_NO_FATAL_FAILURE(StartCollector(""));
  std::string token;
  EXPECT_EQ(Enroll("laptop-1", "", &token).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace reclaim::collector
