// The uplink's protocol engine against a scripted transport: interleavings
// that depend on thread timing with a real collector are forced here step by
// step (the transport's Write and Read are the engine's only ways out).
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/uplink/retry_after.h"
#include "agent/uplink/uplink.h"
#include "reclaim/v1/agent.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/usage_batches.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;

constexpr absl::Duration kPatience = absl::Seconds(20);

// One stream the test drives: what the engine wrote, what the "collector"
// sends next, and a hook run on the sender thread after each write.
class ScriptedStream final : public UplinkStream {
 public:
  bool Write(const v1::AgentMessage& m) override {
    std::function<void(const v1::AgentMessage&)> hook;
    {
      absl::MutexLock l(&mu_);
      if (cancelled_ || ended_) return false;
      written_.push_back(m);
      hook = on_write_;
    }
    if (hook) hook(m);
    return true;
  }
  bool Read(v1::CollectorMessage* m) override {
    absl::MutexLock l(&mu_);
    ++reads_started_;
    mu_.Await(absl::Condition(
        +[](ScriptedStream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
          return !s->inbox_.empty() || s->cancelled_ || s->ended_;
        },
        this));
    if (inbox_.empty()) return false;
    *m = std::move(inbox_.front());
    inbox_.pop_front();
    reads_at_last_pop_ = reads_started_;
    return true;
  }
  void Cancel() override {
    absl::MutexLock l(&mu_);
    cancelled_ = true;
  }
  absl::Status Finish() override {
    absl::MutexLock l(&mu_);
    return ended_ ? end_ : absl::CancelledError("cancelled");
  }

  // Test side.
  void Ack(std::uint64_t seq) {
    v1::CollectorMessage m;
    m.mutable_ack()->set_acked_through_seq(seq);
    absl::MutexLock l(&mu_);
    inbox_.push_back(std::move(m));
  }
  // Sends an ack and returns once the engine's reader has applied it: it
  // took every queued message and came back to Read() after the last one.
  void AckAndWaitApplied(std::uint64_t seq) {
    Ack(seq);
    absl::MutexLock l(&mu_);
    ASSERT_TRUE(mu_.AwaitWithTimeout(
        absl::Condition(
            +[](ScriptedStream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
              return s->inbox_.empty() && s->reads_started_ > s->reads_at_last_pop_;
            },
            this),
        kPatience));
  }
  void End(absl::Status status) {
    absl::MutexLock l(&mu_);
    ended_ = true;
    end_ = std::move(status);
  }
  void OnWrite(std::function<void(const v1::AgentMessage&)> hook) {
    absl::MutexLock l(&mu_);
    on_write_ = std::move(hook);
  }
  // Waits until the engine wrote `pred`-matching messages; returns them all.
  bool WaitWritten(const std::function<bool(const std::vector<v1::AgentMessage>&)>& pred) {
    absl::MutexLock l(&mu_);
    struct Arg {
      ScriptedStream* s;
      const std::function<bool(const std::vector<v1::AgentMessage>&)>* pred;
    } arg{this, &pred};
    return mu_.AwaitWithTimeout(absl::Condition(
                                    +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                      return (*a->pred)(a->s->written_);
                                    },
                                    &arg),
                                kPatience);
  }
  std::vector<std::uint64_t> BatchSeqs() {
    absl::MutexLock l(&mu_);
    std::vector<std::uint64_t> out;
    for (const auto& m : written_) {
      if (m.has_batch()) out.push_back(m.batch().seq());
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::AgentMessage> written_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::CollectorMessage> inbox_ ABSL_GUARDED_BY(mu_);
  int reads_started_ ABSL_GUARDED_BY(mu_) = 0;
  int reads_at_last_pop_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_ ABSL_GUARDED_BY(mu_);
  std::function<void(const v1::AgentMessage&)> on_write_ ABSL_GUARDED_BY(mu_);
};

// Hands the engine the streams the test queued, one per Open().
class ScriptedTransport final : public UplinkTransport {
 public:
  struct Shared {
    absl::Mutex mu;
    std::deque<std::shared_ptr<ScriptedStream>> streams ABSL_GUARDED_BY(mu);
    bool interrupted ABSL_GUARDED_BY(mu) = false;
    int opened ABSL_GUARDED_BY(mu) = 0;
  };
  explicit ScriptedTransport(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  absl::StatusOr<std::unique_ptr<UplinkStream>> Open(UplinkEvents&) override {
    absl::MutexLock l(&shared_->mu);
    shared_->mu.Await(absl::Condition(
        +[](Shared* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return !s->streams.empty() || s->interrupted;
        },
        shared_.get()));
    if (shared_->streams.empty()) return absl::CancelledError("stopping");
    ++shared_->opened;
    // The engine owns a forwarding stream; the test keeps the scripted one.
    struct Forward final : UplinkStream {
      std::shared_ptr<ScriptedStream> s;
      bool Write(const v1::AgentMessage& m) override { return s->Write(m); }
      bool Read(v1::CollectorMessage* m) override { return s->Read(m); }
      void Cancel() override { s->Cancel(); }
      absl::Status Finish() override { return s->Finish(); }
    };
    auto f = std::make_unique<Forward>();
    f->s = shared_->streams.front();
    shared_->streams.pop_front();
    return f;
  }
  void Interrupt() override {
    absl::MutexLock l(&shared_->mu);
    shared_->interrupted = true;
  }
  std::string Describe() const override { return "collector (scripted)"; }
  std::string AuthHint() const override { return "scripted"; }

 private:
  std::shared_ptr<Shared> shared_;
};

SpoolBatch Batch() { return testing::GimpBatch(); }

bool HasHello(const std::vector<v1::AgentMessage>& w) { return !w.empty() && w[0].has_hello(); }

class UplinkEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Spool::Open({.path = dir_.File("spool.db"), .max_bytes = 1 << 20}, clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    spool_ = std::move(*s);
  }
  std::unique_ptr<Uplink> Start(size_t max_in_flight) {
    UplinkOptions o;
    o.backoff.initial = std::chrono::milliseconds(10);
    o.backoff.max = std::chrono::milliseconds(20);
    o.max_in_flight = max_in_flight;
    o.ack_timeout = std::chrono::hours(1);  // never the reason a test moves on
    AgentIdentity id;
    id.device_id = "dev-engine";
    auto u = MakeUplink(*spool_, id, o, std::make_unique<ScriptedTransport>(shared_));
    u->Start();
    return u;
  }
  std::shared_ptr<ScriptedStream> Queue() {
    auto s = std::make_shared<ScriptedStream>();
    absl::MutexLock l(&shared_->mu);
    shared_->streams.push_back(s);
    return s;
  }

  testing::TempDir dir_;
  SystemClock clock_;
  std::unique_ptr<Spool> spool_;
  std::shared_ptr<ScriptedTransport::Shared> shared_ = std::make_shared<ScriptedTransport::Shared>();
};

// Regression (1 in ~100 runs of CollectorRestartsWhileUploadingCountNothingTwice):
// the in-flight window is full, so a pass reads nothing; an ack emptying the
// window arrives during that pass (here: while a command result is written).
// The sender must see it and send the rest, not sleep with no deadline while
// the spool holds unsent batches. Every step is forced by the transport:
//   pass 1 sends batches 1 and 2 (window of 2); writing batch 2 queues a
//   command result in the spool;
//   pass 2 sees the window full (acked 0, sent 2), writes the result, and
//   during that write the collector acknowledges 1..2.
TEST_F(UplinkEngineTest, AckDuringAPassWithAFullWindowIsNotLost) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(spool_->Append(Batch()).ok());
  auto stream = Queue();
  stream->OnWrite([&](const v1::AgentMessage& m) {
    if (m.has_batch() && m.batch().seq() == 2) {
      ASSERT_TRUE(spool_->RecordPromptOutcome("prompt-1", "displayed", false).ok());
    } else if (m.has_command_result()) {
      stream->AckAndWaitApplied(2);
    }
  });
  auto uplink = Start(/*max_in_flight=*/2);
  ASSERT_TRUE(stream->WaitWritten(HasHello));
  stream->Ack(0);  // first ack: resume after 0
  ASSERT_TRUE(stream->WaitWritten([](const auto& w) {
    return !w.empty() && w.back().has_batch() && w.back().batch().seq() == 3;
  })) << "batch 3 was never sent";
  EXPECT_EQ(stream->BatchSeqs(), (std::vector<std::uint64_t>{1, 2, 3}));
  stream->Ack(3);
  EXPECT_TRUE(uplink->WaitForAck(3, std::chrono::seconds(20)));
  EXPECT_EQ(spool_->pending_batches(), 0);
  uplink->Stop();
}

// A collector that comes back acknowledging less than this agent already saw
// acknowledged (say, restored from a backup): the deleted batches cannot be
// sent again; the engine resumes after its own highest ack, sends the new
// batches, and they are acknowledged.
TEST_F(UplinkEngineTest, FirstAckBelowTheKnownAckResumesAfterTheKnownAck) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(spool_->Append(Batch()).ok());
  auto first = Queue();
  auto uplink = Start(/*max_in_flight=*/8);
  ASSERT_TRUE(first->WaitWritten(HasHello));
  first->Ack(0);
  ASSERT_TRUE(first->WaitWritten([](const auto& w) { return w.size() == 4; }));
  first->Ack(3);
  ASSERT_TRUE(uplink->WaitForAck(3, std::chrono::seconds(20)));
  auto second = Queue();
  first->End(absl::UnavailableError("collector restarting"));
  ASSERT_TRUE(second->WaitWritten(HasHello));
  second->AckAndWaitApplied(1);  // lower than 3
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(spool_->Append(Batch()).ok());
  uplink->Notify();
  ASSERT_TRUE(second->WaitWritten([](const auto& w) { return w.size() == 3; }));
  EXPECT_EQ(second->BatchSeqs(), (std::vector<std::uint64_t>{4, 5}));
  second->Ack(5);
  EXPECT_TRUE(uplink->WaitForAck(5, std::chrono::seconds(20)));
  EXPECT_EQ(spool_->pending_batches(), 0);
  uplink->Stop();
  EXPECT_EQ(uplink->stats().connects, 2u);
}

// The collector's retry-after hint (RESOURCE_EXHAUSTED with
// reclaim-retry-after-ms, carried as a status payload) sets the wait before
// the next stream when it is longer than the backoff; a shorter one does not
// shorten the backoff, and an absurd one is capped.
TEST_F(UplinkEngineTest, RetryAfterHintLengthensTheWaitBeforeTheNextStream) {
  auto first = Queue();
  auto second = Queue();
  auto uplink = Start(4);  // backoff 10-20 ms
  ASSERT_TRUE(first->WaitWritten(HasHello));
  first->Ack(0);
  first->End(WithRetryAfter(absl::ResourceExhaustedError("streams per user over the limit"),
                            std::chrono::milliseconds(400)));
  ASSERT_TRUE(second->WaitWritten(HasHello));
  EXPECT_EQ(uplink->stats().last_retry_delay_ms, 400);
  auto third = Queue();
  second->Ack(0);
  second->End(WithRetryAfter(absl::ResourceExhaustedError("over"), std::chrono::milliseconds(1)));
  ASSERT_TRUE(third->WaitWritten(HasHello));
  // The backoff's delay (uniform in [5, 20] ms here), not the hint's 1 ms.
  EXPECT_GE(uplink->stats().last_retry_delay_ms, 5);
  EXPECT_LE(uplink->stats().last_retry_delay_ms, 20);
  uplink->Stop();
}

TEST(RetryAfterTest, PayloadRoundTripsAndIsCapped) {
  EXPECT_EQ(RetryAfterOf(absl::UnavailableError("x")).count(), 0);
  EXPECT_EQ(RetryAfterOf(WithRetryAfter(absl::UnavailableError("x"),
                                        std::chrono::milliseconds(1234)))
                .count(),
            1234);
  EXPECT_EQ(RetryAfterOf(WithRetryAfter(absl::UnavailableError("x"), std::chrono::hours(48))),
            kMaxHonoredRetryAfter);
  // Nothing attaches to OK, or for a zero or negative hint.
  EXPECT_EQ(RetryAfterOf(WithRetryAfter(absl::OkStatus(), std::chrono::seconds(5))).count(), 0);
  EXPECT_EQ(RetryAfterOf(WithRetryAfter(absl::UnavailableError("x"), std::chrono::milliseconds(-5)))
                .count(),
            0);
}

// Stop() while the transport is still opening a stream returns promptly.
TEST_F(UplinkEngineTest, StopWhileOpeningReturns) {
  auto uplink = Start(4);
  uplink->Stop();
  EXPECT_EQ(uplink->stats().connects, 0u);
}

}  // namespace
}  // namespace reclaim::agent
