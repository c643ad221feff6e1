#include "agent/service/collector_link.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/uplink/retry_after.h"
#include "common/secret_file.h"
#include "reclaim/v1/agent.grpc.pb.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;

// Why the channel cannot connect, in gRPC's words: a fail-fast call on the
// failing channel ends at once with the channel's last error.
std::string ConnectError(grpc::Channel& channel) {
  auto stub = v1::AgentService::NewStub(
      std::shared_ptr<grpc::Channel>(std::shared_ptr<grpc::Channel>(), &channel));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  auto probe = stub->Connect(&ctx);
  ctx.TryCancel();  // should the channel have connected meanwhile
  const grpc::Status status = probe->Finish();
  if (status.error_code() == grpc::StatusCode::CANCELLED) return "connection not ready";
  return status.error_message();
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeCollectorChannel(const CollectorLinkOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 30000);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.credentials ? options.credentials : grpc::InsecureChannelCredentials();
  return grpc::CreateCustomChannel(options.target, credentials, args);
}

absl::Status AwaitCollector(grpc::Channel& channel, const std::string& target,
                            std::chrono::milliseconds timeout,
                            const std::function<bool()>& stopping) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  // A channel that failed earlier (the machine service's shared channel after
  // a collector outage) waits out gRPC's reconnect backoff, up to 30 s: try
  // again at once and judge only that fresh attempt.
  bool earlier_failure = state == GRPC_CHANNEL_TRANSIENT_FAILURE;
  if (earlier_failure) grpc::experimental::ChannelResetConnectionBackoff(&channel);
  while (true) {
    if (state == GRPC_CHANNEL_READY) return absl::OkStatus();
    if (stopping && stopping()) return absl::CancelledError("stopping");
    if (state != GRPC_CHANNEL_TRANSIENT_FAILURE) {
      earlier_failure = false;
    } else if (!earlier_failure) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to collector ", target, ": ", ConnectError(channel)));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::UnavailableError(
          absl::StrCat("no connection to collector ", target, " within ", timeout.count(), " ms"));
    }
    channel.WaitForStateChange(state,
                               std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    state = channel.GetState(/*try_to_connect=*/true);
  }
}

std::chrono::milliseconds RetryAfterFromTrailers(const grpc::ClientContext& context) {
  // The collector's name for it: collector/server/services.h kRetryAfterMsMetadata.
  static constexpr char kKey[] = "reclaim-retry-after-ms";
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kKey);
  std::int64_t ms = 0;
  if (it == trailers.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &ms) ||
      ms <= 0) {
    return std::chrono::milliseconds(0);
  }
  return std::min(std::chrono::milliseconds(ms), kMaxHonoredRetryAfter);
}

absl::StatusOr<std::string> EnrollDevice(grpc::Channel& channel, const std::string& device_id,
                                         const std::string& hostname, std::string secret) {
  auto stub = v1::AgentService::NewStub(
      std::shared_ptr<grpc::Channel>(std::shared_ptr<grpc::Channel>(), &channel));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::EnrollRequest req;
  req.set_device_id(device_id);
  req.set_enrollment_secret(secret);
  req.set_hostname(hostname);
  WipeSecret(secret);
  v1::EnrollResponse resp;
  const grpc::Status status = stub->Enroll(&ctx, req, &resp);
  WipeSecret(*req.mutable_enrollment_secret());
  if (!status.ok()) {
    // gRPC's and absl's codes have the same numbers.
    return WithRetryAfter(
        absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                     absl::StrCat("the collector refused to enroll device ", device_id, ": ",
                                  status.error_message())),
        RetryAfterFromTrailers(ctx));
  }
  if (absl::Status s = CheckHeaderSafeSecret(resp.device_token(), "device credential"); !s.ok()) {
    return absl::InternalError(
        absl::StrCat("the collector's device credential is unusable: ", s.message()));
  }
  return std::move(*resp.mutable_device_token());
}

}  // namespace reclaim::agent
