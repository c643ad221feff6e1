#include "agent/service/session_relay.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <sys/socket.h>

#include <thread>
#include <utility>

#include "agent/local/local_frames.h"
#include "agent/service/collector_link.h"
#include "common/secret_file.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "reclaim/v1/local.pb.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>;

}  // namespace

absl::Status SendLocalEnd(int fd, int code, const std::string& message) {
  v1::LocalServiceMessage end;
  end.mutable_end()->set_code(code);
  end.mutable_end()->set_message(message);
  return WriteLocalFrame(fd, end);
}

SessionRelay::SessionRelay(int fd, std::shared_ptr<grpc::Channel> channel, std::string target,
                           std::string token, std::chrono::milliseconds connect_timeout)
    : fd_(fd),
      channel_(std::move(channel)),
      target_(std::move(target)),
      token_(std::move(token)),
      connect_timeout_(connect_timeout) {}

SessionRelay::~SessionRelay() { WipeToken(); }

void SessionRelay::WipeToken() { WipeSecret(token_); }

void SessionRelay::Stop() {
  absl::MutexLock l(&mu_);
  if (stopping_) return;
  stopping_ = true;
  if (context_ != nullptr) context_->TryCancel();
  ::shutdown(fd_, SHUT_RD);  // wakes a blocked read of the local side
}

void SessionRelay::RelayDown(void* raw_stream) {
  pthread_setname_np(pthread_self(), "relay-down");
  auto* stream = static_cast<Stream*>(raw_stream);
  v1::LocalServiceMessage out;
  while (stream->Read(out.mutable_collector())) {
    if (!WriteLocalFrame(fd_, out).ok()) {
      absl::MutexLock l(&mu_);
      local_gone_ = true;
      if (context_ != nullptr) context_->TryCancel();
      break;
    }
  }
  absl::MutexLock l(&mu_);
  collector_ended_ = true;
  ::shutdown(fd_, SHUT_RD);  // wakes the upward relay blocked on the local side
}

SessionOutcome SessionRelay::Run(const v1::AgentMessage& hello, LocalFrameReader& reader) {
  SessionOutcome outcome;
  auto end_local = [&](int code, std::string message) {
    outcome.code = code;
    outcome.message = std::move(message);
    if (!SendLocalEnd(fd_, outcome.code, outcome.message).ok()) outcome.local_closed = true;
    return outcome;
  };
  const absl::Status connected = AwaitCollector(*channel_, target_, connect_timeout_, [this] {
    absl::MutexLock l(&mu_);
    return stopping_;
  });
  if (!connected.ok()) {
    return end_local(grpc::StatusCode::UNAVAILABLE, connected.code() == absl::StatusCode::kCancelled
                                                        ? "reclaim-agent-service is stopping"
                                                        : std::string(connected.message()));
  }
  grpc::ClientContext context;
  if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
  {
    absl::MutexLock l(&mu_);
    if (stopping_)
      return end_local(grpc::StatusCode::UNAVAILABLE, "reclaim-agent-service is stopping");
    context_ = &context;
    collector_ended_ = false;
    local_gone_ = false;
  }
  auto stub = v1::AgentService::NewStub(channel_);
  std::unique_ptr<Stream> stream = stub->Connect(&context);

  // Upwards, on this thread, until one side ends.
  enum class Why { kCollector, kLocalClosed, kLocalError, kStopping } why = Why::kCollector;
  absl::Status local_error;
  std::thread down;
  if (stream->Write(hello)) {
    down = std::thread([this, s = stream.get()] { RelayDown(s); });
    v1::AgentMessage message;
    while (true) {
      const absl::Status read = reader.Read(&message);
      if (!read.ok()) {
        absl::MutexLock l(&mu_);
        if (stopping_) {
          why = Why::kStopping;
        } else if (collector_ended_) {
          why = Why::kCollector;  // RelayDown shut the socket down to wake us
        } else if (read.code() == absl::StatusCode::kOutOfRange ||
                   read.code() == absl::StatusCode::kUnavailable) {
          why = Why::kLocalClosed;
        } else {
          why = Why::kLocalError;  // over the frame limit, or not a message
          local_error = read;
        }
        break;
      }
      if (!stream->Write(message)) break;  // the stream ended; its status follows
    }
  }
  {
    absl::MutexLock l(&mu_);
    if (stopping_) why = Why::kStopping;  // Stop() cancelled a blocked Write
  }
  if (why == Why::kLocalClosed) {
    // The session is gone: let the collector finish what it has (it ends a
    // half-closed stream once its pending batches are acknowledged).
    stream->WritesDone();
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](SessionRelay* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) {
                               return r->collector_ended_ || r->local_gone_;
                             },
                             this),
                         absl::Seconds(2));
  }
  if (why != Why::kCollector) context.TryCancel();
  if (down.joinable()) down.join();
  const grpc::Status status = stream->Finish();
  bool local_gone;
  {
    absl::MutexLock l(&mu_);
    context_ = nullptr;
    local_gone = local_gone_;
  }
  // A write to the local side failed (gone, or not reading within the
  // socket's send timeout): an end frame would fail, or block, the same way.
  if (why == Why::kLocalClosed || local_gone) {
    outcome.local_closed = true;
    return outcome;
  }
  switch (why) {
    case Why::kLocalClosed:
      break;
    case Why::kLocalError:
      return end_local(static_cast<int>(local_error.code()), std::string(local_error.message()));
    case Why::kStopping:
      return end_local(grpc::StatusCode::UNAVAILABLE, "reclaim-agent-service is stopping");
    case Why::kCollector:
      break;
  }
  return end_local(status.error_code(),
                   status.ok() ? "the collector ended the stream" : status.error_message());
}

}  // namespace reclaim::agent
