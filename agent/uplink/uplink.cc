// The uplink's protocol engine (uplink.h), independent of the transport.
#include "agent/uplink/uplink.h"

#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/platform/process_platform.h"
#include "agent/uplink/retry_after.h"
#include "common/log_format.h"
#include "reclaim/v1/agent.pb.h"
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

class UplinkEngine final : public Uplink, private UplinkEvents {
 public:
  UplinkEngine(Spool& spool, AgentIdentity identity, UplinkOptions options,
               std::unique_ptr<UplinkTransport> transport)
      : spool_(spool), identity_(std::move(identity)), options_(std::move(options)),
        transport_(std::move(transport)), target_(transport_->Describe()),
        backoff_(options_.backoff) {
    acked_ = spool_.acked_through();
  }
  ~UplinkEngine() override { Stop(); }

  void Start() override {
    thread_ = std::thread([this] {
      SetCurrentThreadName("uplink");
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
      if (stream_) stream_->Cancel();
    }
    transport_->Interrupt();
    if (thread_.joinable()) thread_.join();
  }

  UplinkStats stats() const override {
    absl::MutexLock l(&mu_);
    UplinkStats s = stats_;
    s.acked_through = acked_;
    return s;
  }

 private:
  // UplinkEvents, called by the transport on the uplink thread.
  void AuthFailure() override {
    absl::MutexLock l(&mu_);
    ++stats_.auth_failures;
  }
  void Enrolled() override {
    absl::MutexLock l(&mu_);
    stats_.enrolled = true;
  }

  void RunLoop() {
    while (true) {
      {
        absl::MutexLock l(&mu_);
        if (stopping_) return;
      }
      const absl::Status error = RunStream();
      std::chrono::milliseconds delay;
      {
        absl::MutexLock l(&mu_);
        stats_.connected = false;
        if (stopping_) return;
        ++stats_.failures;
        stats_.last_error = std::string(error.message());
        delay = backoff_.NextDelay();
        // The collector asked for a longer pause (over its rate limits).
        const std::chrono::milliseconds hint = RetryAfterOf(error);
        const bool hinted = hint > delay;
        if (hinted) delay = hint;
        stats_.last_retry_delay_ms = delay.count();
        spdlog::warn("{} unavailable ({}); retrying in {} ms{} (attempt {})", target_,
                     error.message(), delay.count(), hinted ? " as the collector asked" : "",
                     backoff_.attempts());
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), ToAbsl(delay));
      }
    }
  }

  v1::AgentMessage HelloMessage(const SpoolDropCounters& dropped) const {
    v1::AgentMessage hello_msg;
    v1::Hello* hello = hello_msg.mutable_hello();
    hello->set_device_id(identity_.device_id);
    hello->set_agent_instance_id(spool_.instance_id());
    hello->set_agent_version(identity_.agent_version);
    const std::string family = OsFamily();
    hello->set_os_family(family == "windows" ? v1::OS_FAMILY_WINDOWS
                         : family == "linux" ? v1::OS_FAMILY_LINUX
                                             : v1::OS_FAMILY_UNSPECIFIED);
    hello->set_os_version(identity_.os_version);
    hello->set_hostname(identity_.hostname);
    v1::SessionUser* user = hello->mutable_user();
    user->set_login_name(identity_.user.login_name);
    user->set_domain(identity_.user.domain);
    user->set_sid(identity_.user.sid);
    if (identity_.user.uid) user->set_uid(*identity_.user.uid);
    user->set_upn(identity_.user.upn);
    FillDropped(dropped, hello->mutable_dropped());
    return hello_msg;
  }

  // One stream, from opening to failure or stop. Returns why it ended.
  absl::Status RunStream() {
    absl::StatusOr<std::unique_ptr<UplinkStream>> opened = transport_->Open(*this);
    if (!opened.ok()) return opened.status();
    std::unique_ptr<UplinkStream> stream = std::move(*opened);
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return absl::CancelledError("stopping");
      stream_ = stream.get();
      first_ack_ = false;
      stream_broken_ = false;
    }
    SpoolDropCounters reported = spool_.drop_counters();
    std::string error;
    std::thread reader;
    if (!stream->Write(HelloMessage(reported))) {
      error = "cannot open the stream";
    } else {
      reader = std::thread([this, s = stream.get()] {
        SetCurrentThreadName("uplink-read");
        ReadLoop(s);
      });
      error = SendLoop(*stream, &reported);
    }
    bool server_ended = false;
    {
      absl::MutexLock l(&mu_);
      stream_ = nullptr;
      // A failed write means the stream is over too (writes fail once the
      // stream finished or broke).
      server_ended = stream_broken_ || error == "write failed";
    }
    // When the collector ended the stream its status is on the way:
    // cancelling now would replace it with CANCELLED.
    if (!server_ended) stream->Cancel();
    if (reader.joinable()) reader.join();
    const absl::Status status = stream->Finish();
    bool throttled = false;
    if (!status.ok() && !absl::IsCancelled(status)) {
      error = absl::StrCat("status ", static_cast<int>(status.code()), ": ", status.message());
      if (absl::IsInvalidArgument(status)) {
        spdlog::error("collector refused this agent's stream: {}", status.message());
      } else if (absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status)) {
        AuthFailure();
        spdlog::error("collector refused device {}: {} (data stays in the spool; {})",
                      identity_.device_id, status.message(), transport_->AuthHint());
      }
      // Over a collector limit (streams per device, rate): the refused batches
      // stay in the spool; keep backing off instead of restarting at the
      // initial delay when the next stream connects.
      throttled = absl::IsResourceExhausted(status);
    }
    {
      absl::MutexLock l(&mu_);
      throttled_ = throttled;
    }
    return WithRetryAfter(absl::UnavailableError(error.empty() ? "stream ended" : error),
                          RetryAfterOf(status));
  }

  void ReadLoop(UplinkStream* stream) {
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
  bool SendResults(UplinkStream& stream, std::set<std::pair<std::string, std::string>>* sent) {
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
      if (!stream.Write(m)) return false;
    }
    return true;
  }

  std::string SendLoop(UplinkStream& stream, SpoolDropCounters* reported) {
    // Command results sent on this stream (a new stream resends the rest).
    std::set<std::pair<std::string, std::string>> results_sent;
    // Wait for the collector's first ack: where to resume.
    {
      absl::MutexLock l(&mu_);
      const bool ok = mu_.AwaitWithTimeout(
          absl::Condition(
              +[](UplinkEngine* u) ABSL_EXCLUSIVE_LOCKS_REQUIRED(u->mu_) {
                return u->first_ack_ || u->stream_broken_ || u->stopping_;
              },
              this),
          ToAbsl(options_.hello_timeout));
      if (!ok) {
        return "no answer to Hello within " + std::to_string(options_.hello_timeout.count()) +
               " ms";
      }
      if (stopping_) return "stopping";
      if (!first_ack_) return "stream closed before the first ack";
      stats_.connected = true;
      ++stats_.connects;
      if (!throttled_) backoff_.Reset();
      spdlog::info("connected to {}; it has this agent's batches through seq {}", target_,
                   acked_);
    }
    std::uint64_t sent;
    {
      absl::MutexLock l(&mu_);
      sent = acked_;
    }
    while (true) {
      // What this pass decides (how many batches fit in flight) rests on this
      // snapshot of acked_; the wait below ends as soon as acked_ moved past
      // it. (Comparing with acked_'s value at the wait instead lost an ack
      // that arrived during the pass: with the window full nothing was read,
      // the ack emptied the window, and the sender slept with no deadline
      // while the spool held unsent batches.)
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
        if (!stream.Write(m)) return "write failed";
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
            if (!stream.Write(m)) return "write failed";
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
      auto wake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return wake_ || stopping_ || stream_broken_ || acked_ != acked;
      };
      // Event driven: sleep until new data (Notify), an ack, a broken stream
      // or stop; with batches in flight, at most until the ack deadline. An
      // idle agent does not wake at all (the transport watches the link).
      if (sent > acked) {
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
  const std::unique_ptr<UplinkTransport> transport_;
  const std::string target_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  Backoff backoff_ ABSL_GUARDED_BY(mu_);
  UplinkStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
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

std::unique_ptr<Uplink> MakeUplink(Spool& spool, AgentIdentity identity, UplinkOptions options,
                                   std::unique_ptr<UplinkTransport> transport) {
  return std::make_unique<UplinkEngine>(spool, std::move(identity), std::move(options),
                                        std::move(transport));
}

}  // namespace reclaim::agent
