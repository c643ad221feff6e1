#include "agent/local/local_uplink.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/local/local_channel_status.h"
#include "agent/local/local_frames.h"
#include "agent/uplink/retry_after.h"
#include "reclaim/v1/agent.pb.h"
#include "reclaim/v1/local.pb.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;

class LocalStream final : public UplinkStream {
 public:
  LocalStream(std::unique_ptr<LocalChannel> channel, LocalConnector& connector)
      : channel_(std::move(channel)), connector_(connector), reader_(*channel_) {}
  ~LocalStream() override {
    channel_->Shutdown();
    absl::MutexLock l(&mu_);
    if (!closed_) connector_.Closed(clean_end_);
  }

  bool Write(const v1::AgentMessage& message) override {
    return WriteLocalFrame(*channel_, message).ok();
  }

  bool Read(v1::CollectorMessage* message) override {
    v1::LocalServiceMessage frame;
    absl::Status s = reader_.Read(&frame);
    absl::MutexLock l(&mu_);
    if (s.ok() && frame.has_collector()) {
      *message = std::move(*frame.mutable_collector());
      return true;
    }
    if (cancelled_) {
      end_ = absl::CancelledError("stream closed by the agent");
    } else if (s.ok() && frame.has_end()) {
      clean_end_ = true;
      end_ = WithRetryAfter(
          absl::Status(static_cast<absl::StatusCode>(frame.end().code()), frame.end().message()),
          std::chrono::milliseconds(frame.end().retry_after_ms()));
    } else if (s.ok()) {
      end_ = absl::UnavailableError("reclaim-agent-service sent a frame of an unknown kind");
    } else if (absl::IsOutOfRange(s)) {
      end_ = absl::UnavailableError("reclaim-agent-service closed the connection");
    } else {
      end_ =
          absl::UnavailableError(absl::StrCat("reclaim-agent-service connection: ", s.message()));
    }
    return false;
  }

  void Cancel() override {
    absl::MutexLock l(&mu_);
    cancelled_ = true;
    channel_->Shutdown();
  }

  // Called once the read thread is done: ends the connection and tells the
  // connector (a relay that died says how; the note joins the error).
  absl::Status Finish() override {
    absl::MutexLock l(&mu_);
    channel_->Shutdown();
    const std::string note = connector_.Closed(clean_end_);
    closed_ = true;
    if (!clean_end_ && !cancelled_ && !note.empty()) {
      return absl::Status(end_.code(), absl::StrCat(end_.message(), " (", note, ")"));
    }
    return end_;
  }

 private:
  const std::unique_ptr<LocalChannel> channel_;
  LocalConnector& connector_;
  LocalFrameReader reader_;  // the read thread's
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool clean_end_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_ ABSL_GUARDED_BY(mu_) = absl::UnavailableError("stream not read");
};

class LocalTransport final : public UplinkTransport {
 public:
  explicit LocalTransport(std::unique_ptr<LocalConnector> connector)
      : connector_(std::move(connector)) {}

  absl::StatusOr<std::unique_ptr<UplinkStream>> Open(UplinkEvents&) override {
    absl::StatusOr<std::unique_ptr<LocalChannel>> channel = connector_->Connect();
    if (!channel.ok()) return channel.status();
    return std::make_unique<LocalStream>(std::move(*channel), *connector_);
  }
  void Interrupt() override { connector_->Interrupt(); }
  std::string Describe() const override { return connector_->Describe(); }
  std::string AuthHint() const override { return connector_->AuthHint(); }

 private:
  std::unique_ptr<LocalConnector> connector_;
};

class ServiceSocketConnector final : public LocalConnector {
 public:
  ServiceSocketConnector(std::string address, LocalConnectOptions options)
      : address_(std::move(address)), options_(std::move(options)) {}

  absl::StatusOr<std::unique_ptr<LocalChannel>> Connect() override {
    std::unique_ptr<LocalChannel> channel;
    if (IpcStatus s = ConnectLocal(address_, options_, &channel); !s.ok()) {
      return ToStatus(IpcStatus{s.code, "reclaim-agent-service: " + s.message});
    }
    return channel;
  }
  std::string Closed(bool) override { return ""; }
  void Interrupt() override {}
  std::string Describe() const override {
    return absl::StrCat("collector (through reclaim-agent-service at ", address_, ")");
  }
  std::string AuthHint() const override {
    return "the machine's credential was refused: enroll the machine again as root with "
           "`reclaim-agent-service enroll`";
  }

 private:
  const std::string address_;
  const LocalConnectOptions options_;
};

}  // namespace

std::unique_ptr<LocalConnector> MakeServiceSocketConnector(std::string address,
                                                           LocalConnectOptions options) {
  return std::make_unique<ServiceSocketConnector>(std::move(address), std::move(options));
}

std::unique_ptr<Uplink> MakeLocalUplink(Spool& spool, AgentIdentity identity, UplinkOptions options,
                                        std::unique_ptr<LocalConnector> connector) {
  return MakeUplink(spool, std::move(identity), std::move(options),
                    std::make_unique<LocalTransport>(std::move(connector)));
}

}  // namespace reclaim::agent
