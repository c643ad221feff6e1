#include "agent/uplink/uplink.h"

#include <pthread.h>

#include <set>
#include <thread>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log_format.h"
#include "common/secret_file.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;

absl::Duration ToAbsl(std::chrono::milliseconds d) { return absl::Milliseconds(d.count()); }

void FillDropped(const SpoolDropCounters& c, v1::DroppedDataReport* out) {
  out->set_dropped_batches(c.dropped_batches);
  out->set_dropped_intervals(c.dropped_intervals);
  out->set_dropped_focus_ms(c.dropped_focus_ms);
  out->set_corrupt_spools(c.corrupt_spools);
}

class GrpcUplink final : public Uplink {
 public:
  GrpcUplink(Spool& spool, AgentIdentity identity, UplinkOptions options,
             std::shared_ptr<grpc::Channel> channel)
      : spool_(spool), identity_(std::move(identity)), options_(std::move(options)),
        channel_(std::move(channel)), stub_(v1::AgentService::NewStub(channel_)),
        backoff_(options_.backoff), token_(options_.device.token) {
    acked_ = spool_.acked_through();
  }
  ~GrpcUplink() override { Stop(); }

  void Start() override {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "uplink");
      RunLoop();
    });
  }

  void Notify() override {
    absl::MutexLock l(&mu_);
    wake_ = true;
  }

  bool WaitForAck(std::uint64_t seq, std::chrono::milliseconds timeout) override {
    absl::MutexLock l(&mu_);
    auto acked = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return acked_ >= seq; };
    return mu_.AwaitWithTimeout(absl::Condition(&acked), ToAbsl(timeout));
  }

  void Stop() override {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
      stopping_ = true;
      if (context_) context_->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }

  UplinkStats stats() const override {
    absl::MutexLock l(&mu_);
    UplinkStats s = stats_;
    s.acked_through = acked_;
    return s;
  }

 private:
  void RunLoop() {
    while (true) {
      {
        absl::MutexLock l(&mu_);
        if (stopping_) return;
      }
      const std::string error = RunStream();
      std::chrono::milliseconds delay;
      {
        absl::MutexLock l(&mu_);
        stats_.connected = false;
        if (stopping_) return;
        ++stats_.failures;
        stats_.last_error = error;
        delay = backoff_.NextDelay();
        // "cannot connect" was already logged while connecting.
        spdlog::log(error == "cannot connect" ? spdlog::level::debug : spdlog::level::warn,
                    "collector {} unavailable ({}); retrying in {} ms (attempt {})",
                    options_.target, error, delay.count(), backoff_.attempts());
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), ToAbsl(delay));
      }
    }
  }

  // Drives the channel to READY. gRPC's synchronous client makes progress on a
  // connection attempt only while someone waits on the channel, so a stream
  // opened on a channel that is still connecting fails fast and the attempt
  // stalls while we back off. Waits in short slices so Stop() stays prompt.
  // Returns an empty string when connected, else the reason.
  std::string AwaitConnected() {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::max<std::chrono::milliseconds>(options_.backoff.max,
                                                              std::chrono::seconds(5));
    bool reported = false;
    while (true) {
      const grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
      if (state == GRPC_CHANNEL_READY) return "";
      {
        absl::MutexLock l(&mu_);
        if (stopping_) return "stopping";
      }
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE && !reported) {
        // Visible at once in stats; the retry and its log line follow.
        reported = true;
        const std::string why = ConnectError();
        absl::MutexLock l(&mu_);
        ++stats_.failures;
        stats_.last_error = "cannot connect to " + options_.target + ": " + why;
        spdlog::warn("collector {} unavailable (cannot connect: {}); still trying",
                     options_.target, why);
      }
      if (std::chrono::steady_clock::now() >= deadline) return "cannot connect";
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
  // Returns an empty string on success, else the reason.
  std::string EnrollDevice() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return "stopping";
      context_ = &ctx;
    }
    v1::EnrollRequest req;
    req.set_device_id(identity_.device_id);
    req.set_enrollment_secret(options_.device.enrollment_secret);
    req.set_hostname(identity_.hostname);
    v1::EnrollResponse resp;
    const grpc::Status status = stub_->Enroll(&ctx, req, &resp);
    WipeSecret(*req.mutable_enrollment_secret());
    absl::MutexLock l(&mu_);
    context_ = nullptr;
    if (!status.ok()) {
      const auto code = status.error_code();
      if (code == grpc::StatusCode::UNAUTHENTICATED ||
          code == grpc::StatusCode::FAILED_PRECONDITION ||
          code == grpc::StatusCode::INVALID_ARGUMENT ||
          code == grpc::StatusCode::PERMISSION_DENIED) {
        ++stats_.auth_failures;
        spdlog::error("the collector refused to enroll device {}: {}", identity_.device_id,
                      status.error_message());
      }
      return "enrollment failed: " + status.error_message();
    }
    token_ = resp.device_token();
    stats_.enrolled = true;
    if (options_.device.file.empty()) {
      spdlog::info("device {} enrolled with collector {}", identity_.device_id,
                   options_.target);
    } else if (absl::Status w = WriteSecretFile(options_.device.file, token_); !w.ok()) {
      spdlog::error("device {} enrolled, but its credential cannot be stored ({}); it is "
                    "kept in memory and the next start enrolls again",
                    identity_.device_id, w);
    } else {
      spdlog::info("device {} enrolled with collector {}; credential stored in {}",
                   identity_.device_id, options_.target, options_.device.file);
    }
    return "";
  }

  // One stream, from connect to failure or stop. Returns the reason it ended.
  std::string RunStream() {
    if (std::string error = AwaitConnected(); !error.empty()) return error;
    if (token_.empty() && !options_.device.enrollment_secret.empty()) {
      if (std::string error = EnrollDevice(); !error.empty()) return error;
    }
    auto context = std::make_unique<grpc::ClientContext>();
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return "stopping";
      context_ = context.get();
      first_ack_ = false;
      stream_broken_ = false;
    }
    if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
    auto stream = stub_->Connect(context.get());
    v1::AgentMessage hello_msg;
    v1::Hello* hello = hello_msg.mutable_hello();
    hello->set_device_id(identity_.device_id);
    hello->set_agent_instance_id(spool_.instance_id());
    hello->set_agent_version(identity_.agent_version);
    hello->set_os_family(v1::OS_FAMILY_LINUX);
    hello->set_os_version(identity_.os_version);
    hello->set_hostname(identity_.hostname);
    v1::SessionUser* user = hello->mutable_user();
    user->set_login_name(identity_.user.login_name);
    user->set_domain(identity_.user.domain);
    user->set_sid(identity_.user.sid);
    if (identity_.user.uid) user->set_uid(*identity_.user.uid);
    user->set_upn(identity_.user.upn);
    SpoolDropCounters reported = spool_.drop_counters();
    FillDropped(reported, hello->mutable_dropped());

    std::string error;
    std::thread reader;
    if (!stream->Write(hello_msg)) {
      error = "cannot open the stream";
    } else {
      reader = std::thread([this, s = stream.get()] {
        pthread_setname_np(pthread_self(), "uplink-read");
        ReadLoop(s);
      });
      error = SendLoop(stream.get(), &reported);
    }
    bool server_ended = false;
    {
      absl::MutexLock l(&mu_);
      context_ = nullptr;
      // A failed write means the call is over too (gRPC fails writes once
      // the call finished or broke).
      server_ended = stream_broken_ || error == "write failed";
    }
    // When the collector ended the stream its status is on the way: cancelling
    // now would replace it with CANCELLED.
    if (!server_ended) context->TryCancel();
    if (reader.joinable()) reader.join();
    const grpc::Status status = stream->Finish();
    bool throttled = false;
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      error = "status " + std::to_string(status.error_code()) + ": " + status.error_message();
      if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        spdlog::error("collector refused this agent's stream: {}", status.error_message());
      } else if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
                 status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
        absl::MutexLock l(&mu_);
        ++stats_.auth_failures;
        spdlog::error("collector refused device {}: {} (data stays in the spool; to enroll "
                      "again, restart the agent with --enroll and the enrollment secret)",
                      identity_.device_id, status.error_message());
      }
      // Over a collector limit (streams per device, rate): the refused batches
      // stay in the spool; keep backing off instead of restarting at the
      // initial delay when the next stream connects.
      throttled = status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    }
    {
      absl::MutexLock l(&mu_);
      throttled_ = throttled;
    }
    return error.empty() ? "stream ended" : error;
  }

  void ReadLoop(grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>* stream) {
    v1::CollectorMessage msg;
    while (stream->Read(&msg)) {
      if (msg.has_ack()) {
        const std::uint64_t seq = msg.ack().acked_through_seq();
        absl::Status s = spool_.AckThrough(seq);
        if (!s.ok()) spdlog::error("cannot delete acknowledged batches from the spool: {}", s);
        absl::MutexLock l(&mu_);
        if (seq > acked_) acked_ = seq;
        last_ack_time_ = absl::Now();
        first_ack_ = true;
      } else if (msg.has_command()) {
        HandleCommand(msg.command());
      } else if (msg.has_command_result_ack()) {
        absl::Status s = spool_.AckResult(msg.command_result_ack().command_id(),
                                          msg.command_result_ack().outcome());
        if (!s.ok()) spdlog::error("cannot delete an acknowledged command result: {}", s);
      }
    }
    absl::MutexLock l(&mu_);
    stream_broken_ = true;
  }

  // Stores a prompt (then wakes the sender for its "delivered" result) or
  // removes a withdrawn one; tells the prompter either way.
  void HandleCommand(const v1::Command& cmd) {
    bool changed = false;
    if (cmd.has_consent_prompt()) {
      auto stored = spool_.StorePrompt({.command_id = cmd.command_id(),
                                        .payload = cmd.SerializeAsString(),
                                        .expires_utc_ms = cmd.expires_utc_ms(),
                                        .received_utc_ms = 0});
      if (!stored.ok()) {
        // Not stored, not reported delivered: the collector sends it again
        // on the next stream.
        spdlog::error("cannot store prompt {}: {}", cmd.command_id(), stored.status());
        return;
      }
      changed = *stored;
      if (changed) spdlog::info("prompt {} received", cmd.command_id());
    } else if (cmd.has_withdraw_prompt()) {
      absl::Status s = spool_.RemovePrompt(cmd.command_id());
      if (!s.ok()) spdlog::error("cannot remove withdrawn prompt {}: {}", cmd.command_id(), s);
      changed = s.ok();
      spdlog::info("prompt {} withdrawn ({})", cmd.command_id(), cmd.withdraw_prompt().reason());
    } else {
      spdlog::info("command {} of a kind this agent does not know; ignored", cmd.command_id());
      return;
    }
    {
      absl::MutexLock l(&mu_);
      wake_ = true;
    }
    if (changed && options_.on_prompts_changed) options_.on_prompts_changed();
  }

  // Sends every result the spool holds that this stream has not sent yet.
  // Returns false when the stream broke.
  bool SendResults(grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>* stream,
                   std::set<std::pair<std::string, std::string>>* sent) {
    auto results = spool_.PendingResults();
    if (!results.ok()) {
      spdlog::error("cannot read command results from the spool: {}", results.status());
      return true;
    }
    for (const SpoolCommandResult& r : *results) {
      if (!sent->emplace(r.command_id, r.outcome).second) continue;
      v1::AgentMessage m;
      m.mutable_command_result()->set_command_id(r.command_id);
      m.mutable_command_result()->set_outcome(r.outcome);
      m.mutable_command_result()->set_completed_utc_ms(r.completed_utc_ms);
      if (!stream->Write(m)) return false;
    }
    return true;
  }

  std::string SendLoop(grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>* stream,
                       SpoolDropCounters* reported) {
    // Command results sent on this stream (a new stream resends the rest).
    std::set<std::pair<std::string, std::string>> results_sent;
    // Wait for the collector's first ack: where to resume.
    {
      absl::MutexLock l(&mu_);
      const bool ok = mu_.AwaitWithTimeout(
          absl::Condition(
              +[](GrpcUplink* u) ABSL_EXCLUSIVE_LOCKS_REQUIRED(u->mu_) {
                return u->first_ack_ || u->stream_broken_ || u->stopping_;
              },
              this),
          absl::Seconds(30));
      if (!ok) return "no answer to Hello within 30 s";
      if (stopping_) return "stopping";
      if (!first_ack_) return "stream closed before the first ack";
      stats_.connected = true;
      ++stats_.connects;
      if (!throttled_) backoff_.Reset();
      spdlog::info("connected to collector {}; it has this agent's batches through seq {}",
                   options_.target, acked_);
    }
    std::uint64_t sent;
    {
      absl::MutexLock l(&mu_);
      sent = acked_;
    }
    while (true) {
      std::uint64_t acked;
      {
        absl::MutexLock l(&mu_);
        if (stopping_) return "stopping";
        if (stream_broken_) return "stream broken";
        acked = acked_;
        if (sent < acked) sent = acked;
        if (sent > acked && absl::Now() - last_ack_time_ > ToAbsl(options_.ack_timeout)) {
          return "no ack for " + std::to_string(options_.ack_timeout.count()) + " ms";
        }
      }
      if (!SendResults(stream, &results_sent)) return "write failed";
      const SpoolDropCounters drops = spool_.drop_counters();
      if (!(drops == *reported)) {
        v1::AgentMessage m;
        FillDropped(drops, m.mutable_dropped());
        if (!stream->Write(m)) return "write failed";
        *reported = drops;
      }
      const size_t room =
          options_.max_in_flight > sent - acked ? options_.max_in_flight - (sent - acked) : 0;
      if (room > 0) {
        auto entries = spool_.ReadAfter(sent, room);
        if (!entries.ok()) {
          spdlog::error("cannot read the spool: {}", entries.status());
        } else {
          for (const SpoolEntry& e : *entries) {
            v1::AgentMessage m;
            v1::UsageBatch* batch = m.mutable_batch();
            if (!batch->ParseFromString(e.payload)) {
              // Should not happen (we wrote it); never block the queue on it.
              spdlog::error("spool batch {} does not decode; sending it empty", e.seq);
              batch->Clear();
            }
            batch->set_seq(e.seq);
            if (!stream->Write(m)) return "write failed";
            sent = e.seq;
            absl::MutexLock l(&mu_);
            ++stats_.batches_sent;
            if (sent > acked_ && last_ack_time_ < absl::Now() - ToAbsl(options_.ack_timeout)) {
              last_ack_time_ = absl::Now();  // the timeout runs from the first unacked send
            }
          }
          if (!entries->empty()) continue;
        }
      }
      absl::MutexLock l(&mu_);
      // Wake on any ack newer than the snapshot `acked` this pass decided
      // with (room above), not than acked_ now: an ack that arrived since
      // then already opened room, and waiting for the next one would hang
      // with batches left in the spool (seen once in ~100 restarts).
      const std::uint64_t acked_before = acked;
      auto wake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return wake_ || stopping_ || stream_broken_ || acked_ != acked_before;
      };
      // Event driven: sleep until new data (Notify), an ack, a broken stream
      // or stop; with batches in flight, at most until the ack deadline. An
      // idle agent does not wake at all (gRPC keepalive watches the link).
      if (sent > acked_) {
        mu_.AwaitWithDeadline(absl::Condition(&wake),
                              last_ack_time_ + ToAbsl(options_.ack_timeout));
      } else {
        mu_.Await(absl::Condition(&wake));
      }
      wake_ = false;
    }
  }

  Spool& spool_;
  const AgentIdentity identity_;
  const UplinkOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  Backoff backoff_ ABSL_GUARDED_BY(mu_);
  std::string token_;  // the device credential; used on the uplink thread only
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_ack_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool first_ack_ ABSL_GUARDED_BY(mu_) = false;
  bool stream_broken_ ABSL_GUARDED_BY(mu_) = false;
  // The last stream ended with RESOURCE_EXHAUSTED (a collector limit).
  bool throttled_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  UplinkStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Uplink> MakeUplink(Spool& spool, AgentIdentity identity, UplinkOptions options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Our own backoff governs streams; keep the channel's reconnects close to it.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(options.backoff.initial.count()));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(options.backoff.initial.count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(options.backoff.max.count()));
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.credentials ? options.credentials : grpc::InsecureChannelCredentials();
  auto channel = grpc::CreateCustomChannel(options.target, credentials, args);
  return std::make_unique<GrpcUplink>(spool, std::move(identity), std::move(options),
                                      std::move(channel));
}

}  // namespace reclaim::agent
