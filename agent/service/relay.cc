#include "agent/service/relay.h"

#include <utility>

#include "agent/local/local_frames.h"
#include "agent/service/session_relay.h"
#include "agent/uplink/retry_after.h"
#include "common/log_format.h"
#include "common/secret_file.h"
#include "reclaim/v1/agent.pb.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {

namespace v1 = ::reclaim::v1;

PersonalRelay::PersonalRelay(RelayOptions options)
    : options_(std::move(options)), channel_(MakeCollectorChannel(options_.collector)) {}

PersonalRelay::~PersonalRelay() {
  WipeSecret(options_.device.token);
  WipeSecret(options_.device.enrollment_secret);
}

void PersonalRelay::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    stopping_ = true;
    if (session_ != nullptr) {
      session_->Stop();
      return;
    }
    if (!awaiting_hello_) return;  // Run() sees stopping_ before its next step
  }
  // Run() is blocked reading the Hello: a local channel cannot be woken for
  // reading alone, so the end frame goes first, then the shutdown.
  spdlog::info("relay: session ended ({}: {})", static_cast<int>(absl::StatusCode::kUnavailable),
               "reclaim-agent-service is stopping");
  (void)SendLocalEnd(*options_.channel, static_cast<int>(absl::StatusCode::kUnavailable),
                     "reclaim-agent-service is stopping", std::chrono::seconds(1));
  options_.channel->Shutdown();
}

int PersonalRelay::Run() {
  LocalChannel& channel = *options_.channel;
  const std::string& target = options_.collector.target;
  auto stopping = [this] {
    absl::MutexLock l(&mu_);
    return stopping_;
  };
  // gRPC's and absl's status codes have the same numbers.
  auto end = [&channel](absl::StatusCode code, const std::string& message,
                         std::chrono::milliseconds retry_after = {}) {
    spdlog::info("relay: session ended ({}: {})", static_cast<int>(code), message);
    (void)SendLocalEnd(channel, static_cast<int>(code), message, {}, retry_after);
    return 0;
  };
  LocalFrameReader reader(channel);
  v1::AgentMessage hello;
  absl::Status read = reader.Read(&hello);
  {
    absl::MutexLock l(&mu_);
    awaiting_hello_ = false;
    if (stopping_) return 0;  // Stop() ended the channel
  }
  if (absl::Status s = read; !s.ok()) {
    if (s.code() == absl::StatusCode::kOutOfRange || s.code() == absl::StatusCode::kUnavailable) {
      spdlog::info("relay: the agent closed the connection before its Hello");
      return 0;
    }
    return end(s.code(), std::string(s.message()));
  }
  if (!hello.has_hello()) {
    return end(absl::StatusCode::kInvalidArgument,
               "the first frame on the local connection must be a Hello");
  }
  DeviceCredential& device = options_.device;
  if (device.token.empty() && !device.enrollment_secret.empty()) {
    const std::string& device_id = hello.hello().device_id();
    if (absl::Status s =
            AwaitCollector(*channel_, target, options_.collector.connect_timeout, stopping);
        !s.ok()) {
      return end(absl::StatusCode::kUnavailable, s.code() == absl::StatusCode::kCancelled
                                                     ? "reclaim-agent-service is stopping"
                                                     : std::string(s.message()));
    }
    auto token = EnrollDevice(*channel_, device_id, hello.hello().hostname(),
                              std::exchange(device.enrollment_secret, std::string()));
    if (!token.ok()) {
      spdlog::error("{}", token.status().message());
      return end(token.status().code(), std::string(token.status().message()),
                 RetryAfterOf(token.status()));
    }
    device.token = std::move(*token);
    if (device.file.empty()) {
      spdlog::info("device {} enrolled with collector {}; the credential is kept in memory only",
                   device_id, target);
    } else if (absl::Status w = WriteSecretFile(device.file, device.token); !w.ok()) {
      spdlog::error(
          "device {} enrolled, but its credential cannot be stored ({}); it is kept "
          "in memory and the next relay enrolls again",
          device_id, w);
    } else {
      spdlog::info("device {} enrolled with collector {}; credential stored in {}", device_id,
                   target, device.file);
    }
  }
  SessionRelay session(channel, channel_, target, device.token, options_.collector.connect_timeout);
  {
    absl::MutexLock l(&mu_);
    if (stopping_) {
      return end(absl::StatusCode::kUnavailable, "reclaim-agent-service is stopping");
    }
    session_ = &session;
  }
  const SessionOutcome outcome = session.Run(hello, reader);
  {
    absl::MutexLock l(&mu_);
    session_ = nullptr;
  }
  if (outcome.local_closed) {
    spdlog::info("relay: the agent closed the connection");
  } else {
    spdlog::log(outcome.code == 0 ? spdlog::level::info : spdlog::level::warn,
                "relay: collector stream of device {} ended ({}: {})", hello.hello().device_id(),
                outcome.code, outcome.message);
  }
  return 0;
}

}  // namespace reclaim::agent
