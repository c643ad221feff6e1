#include "agent/service/session_relay.h"

#include <grpcpp/grpcpp.h>

#include <thread>
#include <utility>

#include "agent/local/local_frames.h"
#include "agent/platform/process_platform.h"
#include "agent/service/collector_link.h"
#include "common/secret_file.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "reclaim/v1/local.pb.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;
using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>;

constexpr char kStopping[] = "reclaim-agent-service is stopping";

}  // namespace

absl::Status SendLocalEnd(LocalChannel& channel, int code, const std::string& message,
                          std::chrono::milliseconds timeout,
                          std::chrono::milliseconds retry_after) {
  v1::LocalServiceMessage end;
  end.mutable_end()->set_code(code);
  end.mutable_end()->set_message(message);
  if (retry_after.count() > 0) end.mutable_end()->set_retry_after_ms(retry_after.count());
  return WriteLocalFrame(channel, end, timeout);
}

SessionRelay::SessionRelay(LocalChannel& local, std::shared_ptr<grpc::Channel> channel,
                           std::string target, std::string token,
                           std::chrono::milliseconds connect_timeout,
                           std::chrono::milliseconds local_write_timeout)
    : local_(local),
      channel_(std::move(channel)),
      target_(std::move(target)),
      token_(std::move(token)),
      connect_timeout_(connect_timeout),
      local_write_timeout_(local_write_timeout) {}

SessionRelay::~SessionRelay() { WipeToken(); }

void SessionRelay::WipeToken() { WipeSecret(token_); }

void SessionRelay::Stop() {
  absl::MutexLock l(&mu_);
  if (stopping_) return;
  stopping_ = true;
  // The stream's end reaches RelayDown, which ends the local side.
  if (context_ != nullptr) context_->TryCancel();
}

void SessionRelay::EndLocal(SessionOutcome* outcome, int code, std::string message,
                            std::chrono::milliseconds retry_after) {
  outcome->code = code;
  outcome->message = std::move(message);
  outcome->retry_after = retry_after;
  if (!SendLocalEnd(local_, outcome->code, outcome->message, local_write_timeout_,
                    outcome->retry_after)
           .ok()) {
    outcome->local_closed = true;
  }
}

void SessionRelay::RelayDown(void* raw_stream) {
  SetCurrentThreadName("relay-down");
  auto* stream = static_cast<Stream*>(raw_stream);
  v1::LocalServiceMessage out;
  while (stream->Read(out.mutable_collector())) {
    if (!WriteLocalFrame(local_, out, local_write_timeout_).ok()) {
      absl::MutexLock l(&mu_);
      local_gone_ = true;
      if (context_ != nullptr) context_->TryCancel();
      break;
    }
  }
  {
    absl::MutexLock l(&mu_);
    collector_ended_ = true;
  }
  grpc::Status status;
  {
    // No upward Write runs while the stream finishes (gRPC allows one Read
    // and one Write at a time, nothing beside Finish).
    absl::MutexLock u(&up_mu_);
    finishing_ = true;
    status = stream->Finish();
  }
  SessionOutcome outcome;
  bool write_end = false;
  {
    absl::MutexLock l(&mu_);
    if (local_gone_ || up_end_ == UpEnd::kLocalClosed) {
      // Gone, or not reading within the write timeout: an end frame would
      // fail, or block, the same way.
      outcome.local_closed = true;
    } else if (stopping_) {
      outcome.code = grpc::StatusCode::UNAVAILABLE;
      outcome.message = kStopping;
      write_end = true;
    } else if (up_end_ == UpEnd::kLocalError) {
      outcome.code = static_cast<int>(local_error_.code());
      outcome.message = std::string(local_error_.message());
      write_end = true;
    } else {
      outcome.code = status.error_code();
      outcome.message = status.ok() ? "the collector ended the stream" : status.error_message();
      if (context_ != nullptr) outcome.retry_after = RetryAfterFromTrailers(*context_);
      write_end = true;
    }
  }
  if (write_end) EndLocal(&outcome, outcome.code, outcome.message, outcome.retry_after);
  {
    absl::MutexLock l(&mu_);
    outcome_ = outcome;
  }
  local_.Shutdown();  // wakes the upward relay blocked on the local side
}

SessionOutcome SessionRelay::Run(const v1::AgentMessage& hello, LocalFrameReader& reader) {
  SessionOutcome outcome;
  auto done = [&] {
    local_.Shutdown();
    return outcome;
  };
  const absl::Status connected = AwaitCollector(*channel_, target_, connect_timeout_, [this] {
    absl::MutexLock l(&mu_);
    return stopping_;
  });
  if (!connected.ok()) {
    EndLocal(&outcome, grpc::StatusCode::UNAVAILABLE,
             connected.code() == absl::StatusCode::kCancelled ? kStopping
                                                              : std::string(connected.message()));
    return done();
  }
  grpc::ClientContext context;
  if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
  {
    absl::MutexLock l(&mu_);
    if (stopping_) {
      EndLocal(&outcome, grpc::StatusCode::UNAVAILABLE, kStopping);
      return done();
    }
    context_ = &context;
    collector_ended_ = false;
    local_gone_ = false;
    up_end_ = UpEnd::kNone;
  }
  {
    absl::MutexLock u(&up_mu_);
    finishing_ = false;
  }
  auto stub = v1::AgentService::NewStub(channel_);
  std::unique_ptr<Stream> stream = stub->Connect(&context);

  if (!stream->Write(hello)) {
    // The stream ended at once (refused, cancelled): its status says why.
    const grpc::Status status = stream->Finish();
    bool stopping;
    {
      absl::MutexLock l(&mu_);
      context_ = nullptr;
      stopping = stopping_;
    }
    if (stopping) {
      EndLocal(&outcome, grpc::StatusCode::UNAVAILABLE, kStopping);
    } else {
      EndLocal(&outcome, status.error_code(),
               status.ok() ? "the collector ended the stream" : status.error_message(),
               RetryAfterFromTrailers(context));
    }
    return done();
  }
  std::thread down([this, s = stream.get()] { RelayDown(s); });
  // Upwards, on this thread, until one side ends.
  v1::AgentMessage message;
  while (true) {
    const absl::Status read = reader.Read(&message);
    if (!read.ok()) {
      absl::MutexLock l(&mu_);
      if (!collector_ended_ && !stopping_) {
        if (read.code() == absl::StatusCode::kOutOfRange ||
            read.code() == absl::StatusCode::kUnavailable) {
          up_end_ = UpEnd::kLocalClosed;
        } else {
          up_end_ = UpEnd::kLocalError;  // over the frame limit, or not a message
          local_error_ = read;
        }
      }
      break;
    }
    absl::MutexLock u(&up_mu_);
    if (finishing_ || !stream->Write(message)) break;  // the stream ended: RelayDown ends it
  }
  UpEnd up_end;
  {
    absl::MutexLock l(&mu_);
    up_end = up_end_;
  }
  if (up_end == UpEnd::kLocalClosed) {
    // The session is gone: let the collector finish what it has (it ends a
    // half-closed stream once its pending batches are acknowledged).
    {
      absl::MutexLock u(&up_mu_);
      if (!finishing_) stream->WritesDone();
    }
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](SessionRelay* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) {
                               return r->collector_ended_ || r->local_gone_;
                             },
                             this),
                         absl::Seconds(2));
    context.TryCancel();
  } else if (up_end == UpEnd::kLocalError) {
    context.TryCancel();
  }
  down.join();
  absl::MutexLock l(&mu_);
  context_ = nullptr;
  outcome = outcome_;
  return done();
}

}  // namespace reclaim::agent
