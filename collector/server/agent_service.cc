// reclaim.v1.AgentService: one ServerBidiReactor per agent stream.
//
// Reactor rules (gRPC callback API): at most one read and one write
// outstanding; never block in a callback; Finish() once, after the last write
// completed. Work that touches the store runs on the ingest pipeline's thread,
// which calls back here; the reactor keeps itself alive with a shared_ptr until
// both gRPC (OnDone) and every pending pipeline callback are through with it.
//
// Campaign prompts share the write slot: batch acks first, then commands and
// CommandResultAcks in order (outbox_). Campaign store work runs on the
// pipeline's thread too (one writer), never in a reactor callback.
//
// Input limits (agent_limits.h): the stream reads raw bytes and parses them
// itself, so an unparseable message ends the stream with INVALID_ARGUMENT
// (gRPC's own parser would report it as an orderly half-close); streams per
// device and the per-device rate limit are checked through AgentLimits.
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/campaigns/campaign_store.h"
#include "collector/campaigns/prompt_router.h"
#include "collector/server/agent_limits.h"
#include "collector/server/device_registry.h"
#include "collector/server/enrollment_limits.h"
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
  std::atomic<std::uint64_t> unauthenticated_streams{0};
  std::atomic<std::uint64_t> identity_mismatches{0};
};

// The device credential of a call: metadata "authorization: Bearer <token>".
std::string BearerToken(const grpc::CallbackServerContext& context) {
  constexpr absl::string_view kPrefix = "Bearer ";
  const auto range = context.client_metadata().equal_range("authorization");
  for (auto it = range.first; it != range.second; ++it) {
    const absl::string_view v(it->second.data(), it->second.size());
    if (v.substr(0, kPrefix.size()) == kPrefix) return std::string(v.substr(kPrefix.size()));
  }
  return "";
}

class AgentStream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                          public std::enable_shared_from_this<AgentStream> {
 public:
  AgentStream(IngestPipeline& pipeline, const Clock& clock, const AgentServiceOptions& options,
              SharedStats& stats, AgentLimits& limits, grpc::CallbackServerContext* context,
              CampaignStore* campaigns, PromptRouter* router)
      : pipeline_(pipeline), clock_(clock), options_(options), stats_(stats), limits_(limits),
        context_(context), peer_(context->peer()), campaigns_(campaigns), router_(router) {}

  // Authenticates the stream (when the service requires device credentials)
  // before anything is read: a refused stream ends with UNAUTHENTICATED.
  void Start(std::shared_ptr<AgentStream> self, const std::string& token) {
    self_ = std::move(self);
    stats_.streams_opened++;
    stats_.streams_active++;
    absl::MutexLock l(&mu_);
    if (options_.devices != nullptr) {
      std::weak_ptr<AgentStream> weak = weak_from_this();
      auto attached = options_.devices->Attach(token, [weak] {
        if (auto stream = weak.lock()) stream->OnRevoked();
      });
      if (!attached.ok()) {
        stats_.unauthenticated_streams++;
        spdlog::warn("refused agent stream from {}: {}", peer_, attached.status().message());
        RequestFinishLocked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                         std::string(attached.status().message())));
        return;
      }
      device_id_ = attached->device_id;
      attachment_ = attached->id;
    }
    StartReadLocked();
  }

  // The device's credential was revoked or replaced: end the stream now.
  void OnRevoked() {
    absl::MutexLock l(&mu_);
    attachment_ = 0;  // the registry dropped it
    if (finish_requested_ || finished_ || done_) return;
    stats_.unauthenticated_streams++;
    spdlog::warn("ending the stream of device {} from {}: its credential was revoked",
                 device_id_, peer_);
    RequestFinishLocked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                     "this device's credential was revoked; enroll again with "
                                     "the enrollment secret"));
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
    std::int64_t subscription = 0;
    std::int64_t attachment = 0;
    {
      absl::MutexLock l(&mu_);
      done_ = true;
      self.swap(self_);
      std::swap(subscription, subscription_);
      ReleaseStreamSlotLocked();
      std::swap(attachment, attachment_);
    }
    if (subscription != 0) router_->Unsubscribe(subscription);
    if (attachment != 0) options_.devices->Detach(attachment);
    // Dropping our own reference outside the lock; pipeline callbacks that
    // still hold one keep the object alive and see done_.
  }

 private:
  void StartReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || read_closed_ || finish_requested_ || done_) return;
    reading_ = true;
    StartRead(&request_bytes_);
  }

  // Ends the stream with `code` and `message`, counting `reason`.
  void RefuseLocked(grpc::StatusCode code, const char* reason, std::string message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    limits_.Count(reason);
    RequestFinishLocked(grpc::Status(code, std::move(message)));
  }

  void HandleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // ---- limits: parse the raw message ourselves (see the file comment).
    const size_t message_bytes = request_bytes_.Length();
    ++messages_read_;
    if (!grpc::SerializationTraits<v1::AgentMessage>::Deserialize(&request_bytes_, &request_)
             .ok()) {
      stats_.protocol_errors++;
      RefuseLocked(grpc::StatusCode::INVALID_ARGUMENT, kLimitUnparseable,
                   absl::StrCat("message ", messages_read_, " (", message_bytes,
                                " bytes) is not a valid reclaim.v1.AgentMessage"));
      return;
    }
    if (!agent_) {
      if (!request_.has_hello()) {
        stats_.protocol_errors++;
        limits_.Count(kLimitProtocol);
        RequestFinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                         "the first message on a stream must be a Hello"));
        return;
      }
      absl::Status s = ValidateHello(request_.hello());
      if (!s.ok()) {
        stats_.bad_hellos++;
        limits_.Count(kLimitBadHello);
        spdlog::warn("refused Hello from {}: {}", peer_, s.message());
        RequestFinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                         std::string(s.message())));
        return;
      }
      if (options_.devices != nullptr && request_.hello().device_id() != device_id_) {
        // A device uploads only under its own identity (ValidateHello
        // refused control characters, so the claimed id is safe to log).
        stats_.identity_mismatches++;
        spdlog::warn("refused Hello from {}: the credential of device {} claims device {}",
                     peer_, device_id_, request_.hello().device_id());
        RequestFinishLocked(grpc::Status(
            grpc::StatusCode::PERMISSION_DENIED,
            absl::StrCat("this credential belongs to device '", device_id_,
                         "'; it cannot upload as device '", request_.hello().device_id(),
                         "'")));
        return;
      }
      auto agent = std::make_shared<AgentInfo>(ToAgentInfo(request_.hello()));
      // ---- limits: concurrent streams per device (the new stream loses).
      if (absl::Status slot = limits_.AcquireStream(agent->device_id, UserKey(*agent));
          !slot.ok()) {
        spdlog::warn("refused a stream of device {} from {}: {}",
                     EscapeForLog(agent->device_id), peer_, slot.message());
        RequestFinishLocked(
            grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(slot.message())));
        return;
      }
      holds_stream_slot_ = true;
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
          limits_.Count(kLimitProtocol);
          RequestFinishLocked(grpc::Status(
              grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("batch seq ", seq, " is outside 1..2^63-1")));
          return;
        }
        if (seq <= last_seq_received_) {
          stats_.protocol_errors++;
          limits_.Count(kLimitProtocol);
          RequestFinishLocked(grpc::Status(
              grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("batch seq ", seq, " is not above the previous seq ",
                           last_seq_received_, " on this stream")));
          return;
        }
        // ---- limits: per-device rate (the batch is not stored, not acked;
        // the status tells the agent when to retry).
        std::chrono::milliseconds retry_after{0};
        if (absl::Status rate = limits_.ChargeBatch(
                agent_->device_id, UserKey(*agent_), request_.batch().intervals_size(),
                static_cast<std::int64_t>(message_bytes), &retry_after);
            !rate.ok()) {
          spdlog::warn("agent {}/{} batch {}: {}", EscapeForLog(agent_->device_id),
                       EscapeForLog(agent_->agent_instance_id), seq, rate.message());
          if (!finish_requested_) {
            context_->AddTrailingMetadata(kRetryAfterMsMetadata,
                                          std::to_string(retry_after.count()));
          }
          RequestFinishLocked(
              grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(rate.message())));
          return;
        }
        last_seq_received_ = seq;
        ValidatedBatch batch = ValidateBatch(request_.batch(), options_.limits,
                                             clock_.WallUtcMs());
        for (const QuarantineRecord& q : batch.quarantined) {
          if (q.reason == "string_too_long") limits_.Count(kLimitStringTooLong);
          if (q.reason == "batch_too_large") limits_.Count(kLimitBatchTooLarge);
        }
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
        // The counters are cumulative, so only the largest values matter:
        // coalesce reports and keep at most one store task per stream queued
        // (a flood of reports must not grow the ingest queue).
        const DropCounters drops = ToDropCounters(request_.dropped());
        pending_drops_.dropped_batches = std::max(pending_drops_.dropped_batches,
                                                  drops.dropped_batches);
        pending_drops_.dropped_intervals = std::max(pending_drops_.dropped_intervals,
                                                    drops.dropped_intervals);
        pending_drops_.dropped_focus_ms = std::max(pending_drops_.dropped_focus_ms,
                                                   drops.dropped_focus_ms);
        pending_drops_.corrupt_spools = std::max(pending_drops_.corrupt_spools,
                                                 drops.corrupt_spools);
        if (!drops_task_queued_) {
          drops_task_queued_ = true;
          auto self = shared_from_this();
          auto agent = agent_;
          const Clock& clock = clock_;
          pipeline_.SubmitTask([self, agent, &clock](UsageStore& store) {
            DropCounters latest;
            {
              absl::MutexLock l(&self->mu_);
              latest = self->pending_drops_;
              self->drops_task_queued_ = false;
            }
            absl::Status s = store.RecordDropped(*agent, latest, clock.WallUtcMs());
            if (!s.ok()) spdlog::error("recording dropped-data report failed: {}", s);
          });
        }
        break;
      }
      case v1::AgentMessage::kCommandResult:
        HandleCommandResultLocked(request_.command_result());
        break;
      case v1::AgentMessage::kHello:
        stats_.protocol_errors++;
        limits_.Count(kLimitProtocol);
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
    if (campaigns_ && router_ && !finish_requested_) SubscribeLocked();
  }

  // ------------------------------------------------------------ campaigns

  static std::string UserKey(const AgentInfo& a) {
    return a.user.domain + "\\" + a.user.login_name;
  }

  // Registers with the router, then sends what is already deliverable. A
  // prompt launched in between may arrive twice; agents keep prompts by
  // command_id, so the second copy is a no-op.
  void SubscribeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string user = UserKey(*agent_);
    std::weak_ptr<AgentStream> weak = weak_from_this();
    subscription_ = router_->Subscribe(user, agent_->device_id, [weak](const PromptCommand& c) {
      if (auto self = weak.lock()) self->Enqueue({c});
    });
    ++in_flight_;
    auto self = shared_from_this();
    CampaignStore* campaigns = campaigns_;
    PromptRouter* router = router_;
    const Clock& clock = clock_;
    pipeline_.SubmitTask([self, campaigns, router, user, &clock](UsageStore&) {
      std::vector<PromptCommand> cmds;
      // Paced per user (prompt_pacing.h): held prompts come later through
      // the housekeeper.
      auto prompts = router->Paced(*campaigns, user, clock.WallUtcMs());
      if (!prompts.ok()) {
        spdlog::error("loading prompts for {} failed: {}", user, prompts.status());
      } else {
        for (const DeliverablePrompt& p : *prompts) {
          cmds.push_back(ShowCommand(p.campaign, p.response));
        }
      }
      self->OnTaskDone(std::move(cmds), {});
    });
  }

  void Enqueue(const std::vector<PromptCommand>& cmds) {
    absl::MutexLock l(&mu_);
    EnqueueLocked(cmds);
    MaybeWriteLocked();
  }

  void EnqueueLocked(const std::vector<PromptCommand>& cmds) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_requested_ || finished_ || done_) return;
    for (const PromptCommand& c : cmds) {
      v1::CollectorMessage m;
      v1::Command* cmd = m.mutable_command();
      cmd->set_command_id(c.command_id);
      if (c.kind == PromptCommand::Kind::kWithdraw) {
        cmd->mutable_withdraw_prompt()->set_reason(c.reason);
      } else {
        cmd->set_expires_utc_ms(c.response.due_utc_ms);
        v1::ConsentPrompt* p = cmd->mutable_consent_prompt();
        p->set_campaign_id(std::to_string(c.campaign.id));
        p->set_campaign_name(c.campaign.name);
        p->set_sender_name(c.campaign.sender_name);
        p->set_sender_image(c.campaign.sender_image);
        p->set_question(c.campaign.question);
        for (const std::string& a : c.campaign.answers) p->add_answers(a);
        p->set_urgent(c.campaign.priority == CampaignPriority::kUrgent);
        p->set_application(c.campaign.application);
      }
      outbox_.push_back(std::move(m));
    }
  }

  void HandleCommandResultLocked(const v1::CommandResult& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string command_id = result.command_id();
    const std::string outcome = result.outcome();
    // ---- limits: the strings come back into logs and the campaign store.
    const size_t max_bytes = options_.max_command_result_bytes;
    if (command_id.size() > max_bytes || outcome.size() > max_bytes) {
      // Acked but not applied: the agent stops resending something that can
      // never be applied, and its usage keeps flowing on this stream.
      limits_.Count(kLimitCommandResultTooLong);
      spdlog::warn("agent {} sent a CommandResult over the limit of {} bytes "
                   "(max_command_result_bytes; command_id {} bytes, outcome {} bytes): "
                   "acknowledged, not applied",
                   EscapeForLog(agent_->device_id), max_bytes, command_id.size(),
                   outcome.size());
      v1::CollectorMessage m;
      m.mutable_command_result_ack()->set_command_id(command_id);
      m.mutable_command_result_ack()->set_outcome(outcome);
      outbox_.push_back(std::move(m));
      MaybeWriteLocked();
      return;
    }
    if (!campaigns_ || !router_) {
      spdlog::info("agent {} command {} result {} (no campaign store: ignored)",
                   EscapeForLog(agent_->device_id), EscapeForLog(command_id),
                   EscapeForLog(outcome));
      return;
    }
    ++in_flight_;
    auto self = shared_from_this();
    auto agent = agent_;
    CampaignStore* campaigns = campaigns_;
    PromptRouter* router = router_;
    const Clock& clock = clock_;
    std::function<void()> on_settled = options_.on_prompt_settled;
    pipeline_.SubmitTask([self, agent, campaigns, router, command_id, outcome, &clock,
                          on_settled](UsageStore&) {
      const std::optional<std::int64_t> id = ParsePromptCommandId(command_id);
      absl::Status s;
      if (!id) {
        s = absl::InvalidArgumentError(absl::StrCat("unknown command id '", command_id, "'"));
      } else {
        absl::StatusOr<ResponseEvent> event =
            ParsePromptOutcome(outcome, agent->device_id, clock.WallUtcMs());
        s = event.status();
        // Only the prompt's own user answers it: command ids are sequential,
        // and every local user of a machine streams under its credential.
        // (A response's user never changes, so checking before Apply holds.)
        if (s.ok()) {
          absl::StatusOr<Response> prompt = campaigns->GetResponse(*id);
          if (prompt.ok() && !absl::EqualsIgnoreCase(prompt->user, UserKey(*agent))) {
            s = absl::PermissionDeniedError(absl::StrCat(
                "the prompt is not this stream's user's (", UserKey(*agent), "): not applied"));
          }
        }
        if (s.ok()) {
          absl::StatusOr<Response> r = campaigns->Apply(*id, *event);
          s = r.status();
          if (r.ok() && IsFinal(r->state)) {
            // First answer wins: take the prompt back from the other devices.
            router->Publish(UserKey(*agent), WithdrawCommand(*r), agent->device_id);
            if (on_settled) on_settled();
          }
        }
      }
      // Retryable store trouble: no ack, the agent resends. Everything else
      // (applied, moot because already settled, malformed) is acked so the
      // agent stops resending.
      const bool retry = absl::IsUnavailable(s) || absl::IsResourceExhausted(s) ||
                         absl::IsInternal(s) || absl::IsDataLoss(s);
      if (!s.ok()) {
        spdlog::info("agent {} command {} result {}: {}{}", EscapeForLog(agent->device_id),
                     EscapeForLog(command_id), EscapeForLog(outcome), EscapeForLog(s.message()),
                     retry ? " (not acked; the agent will resend)" : "");
      }
      std::optional<std::pair<std::string, std::string>> ack;
      if (!retry) ack.emplace(command_id, outcome);
      self->OnTaskDone({}, std::move(ack));
    });
  }

  void OnTaskDone(std::vector<PromptCommand> cmds,
                  std::optional<std::pair<std::string, std::string>> result_ack) {
    absl::MutexLock l(&mu_);
    --in_flight_;
    EnqueueLocked(cmds);
    if (result_ack && !finish_requested_ && !finished_ && !done_) {
      v1::CollectorMessage m;
      m.mutable_command_result_ack()->set_command_id(result_ack->first);
      m.mutable_command_result_ack()->set_outcome(result_ack->second);
      outbox_.push_back(std::move(m));
    }
    MaybeWriteLocked();
    StartReadLocked();
    MaybeFinishLocked();
  }

  void OnStored(std::uint64_t seq, absl::Status status) {
    absl::MutexLock l(&mu_);
    --in_flight_;
    if (!status.ok()) {
      // Acks are cumulative: once a batch failed, no later batch of this
      // stream may be acknowledged (it would cover the failed one, and the
      // agent would delete it). The agent reconnects and resends from here.
      store_failed_ = true;
      RequestFinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                       "the collector cannot store data right now"));
      return;
    }
    if (store_failed_) {
      MaybeFinishLocked();
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
    if (force_ack_ || ack_to_send_ > ack_sent_) {
      force_ack_ = false;
      response_.Clear();
      response_.mutable_ack()->set_acked_through_seq(ack_to_send_);
      ack_sent_ = ack_to_send_;
    } else if (!outbox_.empty()) {  // filled only after registration (first ack)
      response_ = std::move(outbox_.front());
      outbox_.pop_front();
    } else {
      return;
    }
    bool own_buffer = false;
    response_bytes_.Clear();
    if (!grpc::SerializationTraits<v1::CollectorMessage>::Serialize(response_, &response_bytes_,
                                                                    &own_buffer)
             .ok()) {
      RequestFinishLocked(grpc::Status(grpc::StatusCode::INTERNAL, "cannot serialize a reply"));
      return;
    }
    writing_ = true;
    StartWrite(&response_bytes_);
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
    // Before Finish: once the agent sees the status, its slot is free again.
    ReleaseStreamSlotLocked();
    Finish(finish_status_);
  }

  void ReleaseStreamSlotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (holds_stream_slot_) limits_.ReleaseStream(agent_->device_id, UserKey(*agent_));
    holds_stream_slot_ = false;
  }

  IngestPipeline& pipeline_;
  const Clock& clock_;
  const AgentServiceOptions& options_;
  SharedStats& stats_;
  AgentLimits& limits_;
  // Valid until OnDone (gRPC owns it).
  grpc::CallbackServerContext* const context_;
  const std::string peer_;
  CampaignStore* const campaigns_;
  PromptRouter* const router_;

  absl::Mutex mu_;
  std::shared_ptr<AgentStream> self_;
  grpc::ByteBuffer request_bytes_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer response_bytes_ ABSL_GUARDED_BY(mu_);
  std::uint64_t messages_read_ ABSL_GUARDED_BY(mu_) = 0;
  // True while this stream holds a slot of its device (AgentLimits).
  bool holds_stream_slot_ ABSL_GUARDED_BY(mu_) = false;
  v1::AgentMessage request_ ABSL_GUARDED_BY(mu_);
  v1::CollectorMessage response_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const AgentInfo> agent_ ABSL_GUARDED_BY(mu_);
  std::uint64_t last_seq_received_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t ack_to_send_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t ack_sent_ ABSL_GUARDED_BY(mu_) = 0;
  bool force_ack_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool store_failed_ ABSL_GUARDED_BY(mu_) = false;
  DropCounters pending_drops_ ABSL_GUARDED_BY(mu_);
  bool drops_task_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
  // Commands and CommandResultAcks waiting for the write slot (acks of
  // batches go first).
  std::deque<v1::CollectorMessage> outbox_ ABSL_GUARDED_BY(mu_);
  std::int64_t subscription_ ABSL_GUARDED_BY(mu_) = 0;
  // The authenticated device (empty without device authentication) and its
  // registry attachment (0 when none or already dropped by the registry).
  std::string device_id_ ABSL_GUARDED_BY(mu_);
  std::int64_t attachment_ ABSL_GUARDED_BY(mu_) = 0;
};

// Raw (ByteBuffer) method: AgentStream parses messages itself.
class AgentServiceImpl final
    : public v1::AgentService::WithRawCallbackMethod_Connect<
          v1::AgentService::WithCallbackMethod_Enroll<v1::AgentService::Service>>,
      public AgentServiceHandle {
 public:
  AgentServiceImpl(IngestPipeline& pipeline, const Clock& clock, AgentServiceOptions options,
                   CampaignStore* campaigns, PromptRouter* router)
      : pipeline_(pipeline), clock_(clock), options_(std::move(options)),
        campaigns_(campaigns), router_(router),
        limits_clock_(options_.limits_clock != nullptr ? *options_.limits_clock : clock),
        limits_(limits_clock_, options_.agent_limits),
        enrollment_limits_(limits_clock_, options_.enrollment_limits) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Connect(
      grpc::CallbackServerContext* context) override {
    auto stream = std::make_shared<AgentStream>(pipeline_, clock_, options_, stats_, limits_,
                                                context, campaigns_, router_);
    AgentStream* raw = stream.get();
    raw->Start(std::move(stream), BearerToken(*context));
    return raw;
  }

  // Enrollment runs on the pipeline's thread (it writes to the database),
  // never in this callback; the per-peer limits are checked here first
  // (enrollment_limits.h).
  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* context,
                                   const v1::EnrollRequest* request,
                                   v1::EnrollResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    DeviceRegistry* devices = options_.devices;
    if (devices == nullptr || !devices->enrollment_enabled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                   "enrollment is not configured on this collector"));
      return reactor;
    }
    std::string peer = context->peer();
    if (EnrollmentAdmission a = enrollment_limits_.Admit(peer); !a.status.ok()) {
      limits_.Count(a.reason);
      context->AddTrailingMetadata(kRetryAfterMsMetadata, std::to_string(a.retry_after.count()));
      reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   std::string(a.status.message())));
      return reactor;
    }
    pipeline_.SubmitTask([this, devices, request, response, reactor, peer](UsageStore&) {
      absl::StatusOr<std::string> token =
          devices->Enroll(request->device_id(), request->enrollment_secret(),
                          request->hostname());
      if (!token.ok()) {
        if (absl::IsUnauthenticated(token.status())) {
          enrollment_limits_.RecordFailure(peer);
          limits_.Count(kLimitEnrollWrongSecret);
        }
        spdlog::warn("enrollment from {} refused: {}", peer, token.status().message());
        reactor->Finish(grpc::Status(static_cast<grpc::StatusCode>(token.status().code()),
                                     std::string(token.status().message())));
        return;
      }
      response->set_device_token(*token);
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

  grpc::Service* service() override { return this; }
  AgentServiceStats stats() const override {
    return {stats_.streams_opened.load(), stats_.streams_active.load(),
            stats_.bad_hellos.load(), stats_.protocol_errors.load(), limits_.Counters(),
            stats_.unauthenticated_streams.load(), stats_.identity_mismatches.load()};
  }

 private:
  IngestPipeline& pipeline_;
  const Clock& clock_;
  const AgentServiceOptions options_;
  CampaignStore* const campaigns_;
  PromptRouter* const router_;
  SharedStats stats_;
  const Clock& limits_clock_;
  AgentLimits limits_;
  EnrollmentLimits enrollment_limits_;
};

}  // namespace

std::unique_ptr<AgentServiceHandle> MakeAgentService(IngestPipeline& pipeline,
                                                     const Clock& clock,
                                                     AgentServiceOptions options,
                                                     CampaignStore* campaigns,
                                                     PromptRouter* router) {
  return std::make_unique<AgentServiceImpl>(pipeline, clock, std::move(options), campaigns,
                                            router);
}

}  // namespace reclaim::collector
