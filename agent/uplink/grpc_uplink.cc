#include "agent/uplink/grpc_uplink.h"

#include <algorithm>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/service/collector_link.h"
#include "common/log_format.h"
#include "common/secret_file.h"
#include "common/status_macros.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

class GrpcStream final : public UplinkStream {
 public:
  explicit GrpcStream(v1::AgentService::Stub& stub, const std::string& token)
      : context_(std::make_unique<grpc::ClientContext>()) {
    if (!token.empty()) context_->AddMetadata("authorization", "Bearer " + token);
    stream_ = stub.Connect(context_.get());
  }
  bool Write(const v1::AgentMessage& message) override { return stream_->Write(message); }
  bool Read(v1::CollectorMessage* message) override { return stream_->Read(message); }
  void Cancel() override { context_->TryCancel(); }
  absl::Status Finish() override { return FromGrpc(stream_->Finish()); }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>> stream_;
};

// Channel, connect wait and enrollment are reclaim-agent-service's
// (agent/service/collector_link.h): one copy for both.
class GrpcTransport final : public UplinkTransport {
 public:
  GrpcTransport(const AgentIdentity& identity, GrpcUplinkOptions options,
                const BackoffOptions& backoff)
      : device_id_(identity.device_id), hostname_(identity.hostname),
        options_(std::move(options)), link_(LinkOptions(options_, backoff)),
        channel_(MakeCollectorChannel(link_)), stub_(v1::AgentService::NewStub(channel_)),
        token_(options_.device.token) {}

  absl::StatusOr<std::unique_ptr<UplinkStream>> Open(UplinkEvents& events) override {
    RETURN_IF_ERROR(AwaitCollector(*channel_, options_.target, link_.connect_timeout,
                                   [this] { return interrupted(); }));
    if (token_.empty() && !options_.device.enrollment_secret.empty()) {
      RETURN_IF_ERROR(Enroll(events));
    }
    if (interrupted()) return absl::CancelledError("stopping");
    return std::make_unique<GrpcStream>(*stub_, token_);
  }

  void Interrupt() override {
    absl::MutexLock l(&mu_);
    interrupted_ = true;
  }

  std::string Describe() const override { return "collector " + options_.target; }

  std::string AuthHint() const override {
    return "to enroll again, restart the agent with --enroll and the enrollment secret";
  }

 private:
  static CollectorLinkOptions LinkOptions(const GrpcUplinkOptions& o, const BackoffOptions& b) {
    CollectorLinkOptions link;
    link.target = o.target;
    link.credentials = o.credentials;
    link.keepalive = o.keepalive;
    link.connect_timeout = std::max<std::chrono::milliseconds>(b.max, std::chrono::seconds(5));
    return link;
  }

  bool interrupted() {
    absl::MutexLock l(&mu_);
    return interrupted_;
  }

  // Exchanges the enrollment secret for a device credential and stores it.
  absl::Status Enroll(UplinkEvents& events) {
    absl::StatusOr<std::string> token =
        EnrollDevice(*channel_, device_id_, hostname_, options_.device.enrollment_secret);
    if (!token.ok()) {
      const absl::StatusCode code = token.status().code();
      if (code == absl::StatusCode::kUnauthenticated ||
          code == absl::StatusCode::kFailedPrecondition ||
          code == absl::StatusCode::kInvalidArgument ||
          code == absl::StatusCode::kPermissionDenied) {
        events.AuthFailure();
        spdlog::error("{}", token.status().message());
      }
      return absl::UnavailableError(absl::StrCat("enrollment failed: ", token.status().message()));
    }
    token_ = std::move(*token);
    events.Enrolled();
    if (options_.device.file.empty()) {
      spdlog::info("device {} enrolled with collector {}", device_id_, options_.target);
    } else if (absl::Status w = WriteSecretFile(options_.device.file, token_); !w.ok()) {
      spdlog::error("device {} enrolled, but its credential cannot be stored ({}); it is "
                    "kept in memory and the next start enrolls again",
                    device_id_, w);
    } else {
      spdlog::info("device {} enrolled with collector {}; credential stored in {}", device_id_,
                   options_.target, options_.device.file);
    }
    return absl::OkStatus();
  }

  const std::string device_id_;
  const std::string hostname_;
  const GrpcUplinkOptions options_;
  const CollectorLinkOptions link_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  std::string token_;  // the device credential; used on the uplink thread only

  absl::Mutex mu_;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::unique_ptr<Uplink> MakeGrpcUplink(Spool& spool, AgentIdentity identity,
                                       UplinkOptions options, GrpcUplinkOptions grpc_options) {
  auto transport =
      std::make_unique<GrpcTransport>(identity, std::move(grpc_options), options.backoff);
  return MakeUplink(spool, std::move(identity), std::move(options), std::move(transport));
}

}  // namespace reclaim::agent
