// reclaim.v1.AgentService: one ServerBidiReactor per agent stream.
//
// Reactor rules (gRPC callback API): at most one read and one write
// outstanding; never block in a callback; Finish() once, after the last write
// completed. Work that touches the store runs on the ingest pipeline's thread,
// which calls back here; the reactor keeps itself alive with a shared_ptr until
// both gRPC (OnDone) and every pending pipeline callback are through with it.
#include <atomic>
#include <cstdint>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "collector/server/services.h"
#include "common/log_format.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

namespace v1 = ::reclaim::v1;

struct SharedStats {
  std::atomic<std::uint64_t> streams_opened{0};
  std::atomic<std::uint64_t> streams_active{0};
  std::atomic<std::uint64_t> bad_hellos{0};
  std::atomic<std::uint64_t> protocol_errors{0};
};

class AgentStream final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage>,
                          public std::enable_shared_from_this<AgentStream> {
 public:
  AgentStream(IngestPipeline& pipeline, const Clock& clock, const AgentServiceOptions& options,
              SharedStats& stats, std::string peer)
      : pipeline_(pipeline), clock_(clock), options_(options), stats_(stats),
        peer_(std::move(peer)) {}

  void Start(std::shared_ptr<AgentStream> self) {
    self_ = std::move(self);
    stats_.streams_opened++;
    stats_.streams_active++;
    absl::MutexLock l(&mu_);
    StartReadLocked();
  }

  void OnReadDone(bool ok) override {
    absl::MutexLock l(&mu_);
    reading_ = false;
    if (finish_requested_ || finished_) return;
    if (!ok) {
      // The agent half-closed or the stream broke: finish once pending work
      // has been acknowledged.
      read_closed_ = true;
      MaybeFinishLocked();
      return;
    }
    HandleLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock l(&mu_);
    writing_ = false;
    if (!ok) {
      RequestFinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    MaybeWriteLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    absl::MutexLock l(&mu_);
    cancelled_ = true;
    RequestFinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    stats_.streams_active--;
    std::shared_ptr<AgentStream> self;
    {
      absl::MutexLock l(&mu_);
      done_ = true;
      self.swap(self_);
    }
    // Dropping our own reference outside the lock; pipeline callbacks that
    // still hold one keep the object alive and see done_.
  }

 private:
  void StartReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || read_closed_ || finish_requested_ || done_) return;
    reading_ = true;
    StartRead(&request_);
  }

  void HandleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!agent_) {
      if (!request_.has_hello()) {
        stats_.protocol_errors++;
        RequestFinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                         "the first message on a stream must be a Hello"));
        return;
      }
      absl::Status s = ValidateHello(request_.hello());
      if (!s.ok()) {
        stats_.bad_hellos++;
        spdlog::warn("refused Hello from {}: {}", peer_, s.message());
        RequestFinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                         std::string(s.message())));
        return;
      }
      auto agent = std::make_shared<AgentInfo>(ToAgentInfo(request_.hello()));
      const DropCounters drops = ToDropCounters(request_.hello().dropped());
      agent_ = agent;
      ++in_flight_;
      auto self = shared_from_this();
      const Clock& clock = clock_;
      pipeline_.SubmitTask([self, agent, drops, &clock](UsageStore& store) {
        const UtcMs now = clock.WallUtcMs();
        absl::StatusOr<std::uint64_t> acked = store.RegisterAgent(*agent, now);
        absl::Status s = acked.status();
        if (s.ok()) s = store.RecordDropped(*agent, drops, now);
        self->OnRegistered(s.ok() ? acked : absl::StatusOr<std::uint64_t>(s));
      });
      return;  // the next read starts once registered
    }
    switch (request_.kind_case()) {
      case v1::AgentMessage::kBatch: {
        const std::uint64_t seq = request_.batch().seq();
        if (seq == 0 || seq > static_cast<std::uint64_t>(INT64_MAX)) {
          stats_.protocol_errors++;
          RequestFinishLocked(grpc::Status(
              grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("batch seq ", seq, " is outside 1..2^63-1")));
          return;
        }
        if (seq <= last_seq_received_) {
          stats_.protocol_errors++;
          RequestFinishLocked(grpc::Status(
              grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("batch seq ", seq, " is not above the previous seq ",
                           last_seq_received_, " on this stream")));
          return;
        }
        last_seq_received_ = seq;
        ValidatedBatch batch = ValidateBatch(request_.batch(), options_.limits,
                                             clock_.WallUtcMs());
        if (!batch.quarantined.empty()) {
          spdlog::warn("agent {}/{} batch {}: quarantined {} interval(s), first: {}",
                       agent_->device_id, agent_->agent_instance_id, seq,
                       batch.quarantined.size(), batch.quarantined.front().reason);
        }
        ++in_flight_;
        auto self = shared_from_this();
        pipeline_.SubmitBatch(agent_, std::move(batch),
                              [self, seq](absl::StatusOr<IngestResult> r) {
                                self->OnStored(seq, r.status());
                              });
        break;
      }
      case v1::AgentMessage::kDropped: {
        const DropCounters drops = ToDropCounters(request_.dropped());
        auto agent = agent_;
        const Clock& clock = clock_;
        pipeline_.SubmitTask([agent, drops, &clock](UsageStore& store) {
          absl::Status s = store.RecordDropped(*agent, drops, clock.WallUtcMs());
          if (!s.ok()) spdlog::error("recording dropped-data report failed: {}", s);
        });
        break;
      }
      case v1::AgentMessage::kCommandResult:
        spdlog::info("agent {} command {} result {} (commands are not issued yet)",
                     agent_->device_id, request_.command_result().command_id(),
                     request_.command_result().outcome());
        break;
      case v1::AgentMessage::kHello:
        stats_.protocol_errors++;
        RequestFinishLocked(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a second Hello on one stream"));
        return;
      default:
        // A message kind from a newer agent: ignore it (forward compatible).
        break;
    }
    if (in_flight_ < options_.max_in_flight_batches) StartReadLocked();
  }

  void OnRegistered(absl::StatusOr<std::uint64_t> acked) {
    absl::MutexLock l(&mu_);
    --in_flight_;
    if (!acked.ok()) {
      spdlog::error("registering agent {} failed: {}", agent_->device_id, acked.status());
      RequestFinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                       "the collector cannot store data right now"));
      return;
    }
    spdlog::info("agent connected: device {} instance {} user {}\\{} from {}, stored through seq {}",
                 agent_->device_id, agent_->agent_instance_id, agent_->user.domain,
                 agent_->user.login_name, peer_, *acked);
    ack_to_send_ = *acked;
    force_ack_ = true;  // the first ack tells the agent where to resume
    MaybeWriteLocked();
    StartReadLocked();
  }

  void OnStored(std::uint64_t seq, absl::Status status) {
    absl::MutexLock l(&mu_);
    --in_flight_;
    if (!status.ok()) {
      RequestFinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                       "the collector cannot store data right now"));
      return;
    }
    // Batches complete in order, so this covers every earlier seq too.
    ack_to_send_ = std::max(ack_to_send_, seq);
    MaybeWriteLocked();
    StartReadLocked();
    MaybeFinishLocked();
  }

  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || done_ || finished_) return;
    if (!force_ack_ && ack_to_send_ <= ack_sent_) return;
    force_ack_ = false;
    response_.mutable_ack()->set_acked_through_seq(ack_to_send_);
    ack_sent_ = ack_to_send_;
    writing_ = true;
    StartWrite(&response_);
  }

  void RequestFinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!finish_requested_) {
      finish_requested_ = true;
      finish_status_ = std::move(status);
    }
    MaybeFinishLocked();
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // A pending read may stay outstanding: Finish() completes it with ok=false.
    if (finished_ || done_ || writing_) return;
    if (!finish_requested_) {
      // Orderly end: the agent closed its side and everything is acked.
      if (!(read_closed_ && in_flight_ == 0 && ack_sent_ >= ack_to_send_)) return;
      finish_status_ = grpc::Status::OK;
    } else if (in_flight_ > 0 && !cancelled_) {
      return;  // wait for the pipeline so its callbacks find us unfinished
    }
    finished_ = true;
    Finish(finish_status_);
  }

  IngestPipeline& pipeline_;
  const Clock& clock_;
  const AgentServiceOptions& options_;
  SharedStats& stats_;
  const std::string peer_;

  absl::Mutex mu_;
  std::shared_ptr<AgentStream> self_;
  v1::AgentMessage request_ ABSL_GUARDED_BY(mu_);
  v1::CollectorMessage response_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const AgentInfo> agent_ ABSL_GUARDED_BY(mu_);
  std::uint64_t last_seq_received_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t ack_to_send_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t ack_sent_ ABSL_GUARDED_BY(mu_) = 0;
  bool force_ack_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

class AgentServiceImpl final : public v1::AgentService::CallbackService,
                               public AgentServiceHandle {
 public:
  AgentServiceImpl(IngestPipeline& pipeline, const Clock& clock, AgentServiceOptions options)
      : pipeline_(pipeline), clock_(clock), options_(std::move(options)) {}

  grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage>* Connect(
      grpc::CallbackServerContext* context) override {
    auto stream =
        std::make_shared<AgentStream>(pipeline_, clock_, options_, stats_, context->peer());
    AgentStream* raw = stream.get();
    raw->Start(std::move(stream));
    return raw;
  }

  grpc::Service* service() override { return this; }
  AgentServiceStats stats() const override {
    return {stats_.streams_opened.load(), stats_.streams_active.load(),
            stats_.bad_hellos.load(), stats_.protocol_errors.load()};
  }

 private:
  IngestPipeline& pipeline_;
  const Clock& clock_;
  const AgentServiceOptions options_;
  SharedStats stats_;
};

}  // namespace

std::unique_ptr<AgentServiceHandle> MakeAgentService(IngestPipeline& pipeline,
                                                     const Clock& clock,
                                                     AgentServiceOptions options) {
  return std::make_unique<AgentServiceImpl>(pipeline, clock, std::move(options));
}

}  // namespace reclaim::collector
