#include "agent/uplink/grpc_uplink.h"

#include <algorithm>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
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

class GrpcTransport final : public UplinkTransport {
 public:
  GrpcTransport(const AgentIdentity& identity, GrpcUplinkOptions options,
                const BackoffOptions& backoff)
      : device_id_(identity.device_id), hostname_(identity.hostname),
        options_(std::move(options)),
        connect_patience_(std::max<std::chrono::milliseconds>(backoff.max, std::chrono::seconds(5))),
        channel_(MakeChannel(backoff)), stub_(v1::AgentService::NewStub(channel_)),
        token_(options_.device.token) {}

  absl::StatusOr<std::unique_ptr<UplinkStream>> Open(UplinkEvents& events) override {
    RETURN_IF_ERROR(AwaitConnected(events));
    if (token_.empty() && !options_.device.enrollment_secret.empty()) {
      RETURN_IF_ERROR(EnrollDevice(events));
    }
    {
      absl::MutexLock l(&mu_);
      if (interrupted_) return absl::CancelledError("stopping");
    }
    return std::make_unique<GrpcStream>(*stub_, token_);
  }

  void Interrupt() override {
    absl::MutexLock l(&mu_);
    interrupted_ = true;
    if (enroll_context_) enroll_context_->TryCancel();
  }

  std::string Describe() const override { return "collector " + options_.target; }

  std::string AuthHint() const override {
    return "to enroll again, restart the agent with --enroll and the enrollment secret";
  }

 private:
  std::shared_ptr<grpc::Channel> MakeChannel(const BackoffOptions& backoff) const {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options_.keepalive.count()));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // The engine's backoff governs streams; keep the channel's reconnects close to it.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(backoff.initial.count()));
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(backoff.initial.count()));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(backoff.max.count()));
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials();
    return grpc::CreateCustomChannel(options_.target, credentials, args);
  }

  // Drives the channel to READY. gRPC's synchronous client makes progress on a
  // connection attempt only while someone waits on the channel, so a stream
  // opened on a channel that is still connecting fails fast and the attempt
  // stalls while we back off. Waits in short slices so Stop() stays prompt.
  absl::Status AwaitConnected(UplinkEvents& events) {
    const auto deadline = std::chrono::steady_clock::now() + connect_patience_;
    bool reported = false;
    while (true) {
      const grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
      if (state == GRPC_CHANNEL_READY) return absl::OkStatus();
      {
        absl::MutexLock l(&mu_);
        if (interrupted_) return absl::CancelledError("stopping");
      }
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE && !reported) {
        // Visible at once in stats; the retry and its log line follow.
        reported = true;
        const std::string why = ConnectError();
        events.ConnectFailing("cannot connect to " + options_.target + ": " + why);
        spdlog::warn("collector {} unavailable (cannot connect: {}); still trying",
                     options_.target, why);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::UnavailableError("cannot connect");
      }
      channel_->WaitForStateChange(
          state, std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    }
  }

  // Why the channel cannot connect, in gRPC's words (a failed TLS handshake
  // names the certificate problem): a fail-fast call on the failing channel
  // ends at once with the channel's last error.
  std::string ConnectError() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    auto probe = stub_->Connect(&ctx);
    ctx.TryCancel();  // should the channel have connected meanwhile
    const grpc::Status status = probe->Finish();
    if (status.error_code() == grpc::StatusCode::CANCELLED) return "connection not ready";
    return status.error_message();
  }

  // Exchanges the enrollment secret for a device credential and stores it.
  absl::Status EnrollDevice(UplinkEvents& events) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    {
      absl::MutexLock l(&mu_);
      if (interrupted_) return absl::CancelledError("stopping");
      enroll_context_ = &ctx;
    }
    v1::EnrollRequest req;
    req.set_device_id(device_id_);
    req.set_enrollment_secret(options_.device.enrollment_secret);
    req.set_hostname(hostname_);
    v1::EnrollResponse resp;
    const grpc::Status status = stub_->Enroll(&ctx, req, &resp);
    WipeSecret(*req.mutable_enrollment_secret());
    {
      absl::MutexLock l(&mu_);
      enroll_context_ = nullptr;
    }
    if (!status.ok()) {
      const auto code = status.error_code();
      if (code == grpc::StatusCode::UNAUTHENTICATED ||
          code == grpc::StatusCode::FAILED_PRECONDITION ||
          code == grpc::StatusCode::INVALID_ARGUMENT ||
          code == grpc::StatusCode::PERMISSION_DENIED) {
        events.AuthFailure();
        spdlog::error("the collector refused to enroll device {}: {}", device_id_,
                      status.error_message());
      }
      return absl::UnavailableError("enrollment failed: " + status.error_message());
    }
    token_ = resp.device_token();
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
  const std::chrono::milliseconds connect_patience_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  std::string token_;  // the device credential; used on the uplink thread only

  absl::Mutex mu_;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* enroll_context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace

std::unique_ptr<Uplink> MakeGrpcUplink(Spool& spool, AgentIdentity identity,
                                       UplinkOptions options, GrpcUplinkOptions grpc_options) {
  auto transport =
      std::make_unique<GrpcTransport>(identity, std::move(grpc_options), options.backoff);
  return MakeUplink(spool, std::move(identity), std::move(options), std::move(transport));
}

}  // namespace reclaim::agent
