#include "agent/service/machine_service.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/local/local_channel_status.h"
#include "agent/local/local_frames.h"
#include "agent/platform/process_platform.h"
#include "agent/service/session_relay.h"
#include "common/crypto.h"
#include "common/log_format.h"
#include "common/secret_file.h"
#include "common/status_macros.h"
#include "google/protobuf/message_lite.h"
#include "reclaim/v1/agent.pb.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;

constexpr char kStopping[] = "reclaim-agent-service is stopping";

// The collector's limit on Hello.agent_instance_id (collector/ingest/
// validation.cc), which the user-scoped id must fit in.
constexpr std::size_t kMaxScopedInstanceBytes = 64;

// How long a write to a session may block (the session does not read and its
// buffer is full) before the session is treated as gone. A session that
// never reads must not hold a relay thread, and Stop(), forever.
constexpr std::chrono::seconds kLocalSendTimeout{10};

// The peer for logs and refusals: "uid 1000", or "user DOMAIN\name" (SID).
std::string Who(const LocalPeer& peer) {
  if (peer.uid) return absl::StrCat("uid ", *peer.uid);
  return absl::StrCat("user ", peer.domain, "\\", peer.login_name, " (", peer.key, ")");
}

// The prefix that scopes a session's agent_instance_id to its user: Linux
// "uid<UID>-", Windows "u<first 12 hex digits of SHA-256(SID)>-".
std::string InstanceScope(const LocalPeer& peer) {
  if (!peer.sid.empty()) return absl::StrCat("u", Sha256Hex(peer.sid).substr(0, 12), "-");
  if (peer.uid) return absl::StrCat("uid", *peer.uid, "-");
  return absl::StrCat("u", Sha256Hex(peer.key).substr(0, 12), "-");
}

// The longest Hello frame read: a Hello's strings are each at most 1 KiB at
// the collector (README "Input limits on the agent channel").
constexpr std::size_t kMaxHelloFrameBytes = 64 << 10;

// Reads exactly one frame (varint32 size + message, as LocalFrameReader) from
// `channel` into `message`. Reads nothing beyond the frame, so a
// LocalFrameReader can take over the channel afterwards. The Hello timeout
// is the reaper's (it shuts the channel down). Errors: OUT_OF_RANGE when the
// peer closed before the first byte; UNAVAILABLE when it closed inside the
// frame or the read failed; RESOURCE_EXHAUSTED for a frame over `max_bytes`;
// INVALID_ARGUMENT when it does not parse.
absl::Status ReadHello(LocalChannel& channel, std::size_t max_bytes,
                       google::protobuf::MessageLite* message) {
  std::size_t total = 0;
  // Reads up to `n` bytes as soon as some are there; 0 at the end of stream.
  auto read_some = [&](char* buffer, std::size_t n) -> absl::StatusOr<std::size_t> {
    std::size_t got = 0;
    if (IpcStatus s = channel.Read(buffer, n, &got); !s.ok()) return ToStatus(s);
    total += got;
    return got;
  };
  std::uint64_t size = 0;
  for (int shift = 0;; shift += 7) {
    char byte = 0;
    ASSIGN_OR_RETURN(const std::size_t got, read_some(&byte, 1));
    if (got == 0) {
      return total == 0 ? absl::OutOfRangeError("the peer closed the connection")
                        : absl::UnavailableError("the connection ended inside a frame header");
    }
    size |= static_cast<std::uint64_t>(static_cast<unsigned char>(byte) & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
    if (shift >= 28) return absl::InvalidArgumentError("a local frame header is not a varint32");
  }
  if (size > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("a local frame of ", size,
                                                     " bytes is over the limit of ", max_bytes,
                                                     " bytes for a Hello"));
  }
  std::string payload(static_cast<std::size_t>(size), '\0');
  for (std::size_t done = 0; done < payload.size();) {
    ASSIGN_OR_RETURN(const std::size_t got,
                     read_some(payload.data() + done, payload.size() - done));
    if (got == 0) return absl::UnavailableError("the connection ended inside a frame");
    done += got;
  }
  if (!message->ParseFromString(payload)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a local frame of ", size, " bytes is not a valid ", message->GetTypeName()));
  }
  return absl::OkStatus();
}

// The options' required fields and limits (MachineService::Start).
absl::Status CheckOptions(const MachineServiceOptions& options) {
  if (options.device_id.empty() || options.hostname.empty() || options.user_domain.empty() ||
      options.collector.target.empty() || options.token.empty()) {
    return absl::InvalidArgumentError(
        "the machine service needs a device id, host name, user domain, collector and the "
        "machine's device credential");
  }
  if (options.max_connections < 1 || options.max_connections_per_uid < 1) {
    return absl::InvalidArgumentError("connection limits must be at least 1");
  }
  if (!(options.connects_per_uid_per_s > 0) || !(options.connects_per_uid_burst >= 1)) {
    return absl::InvalidArgumentError(
        "the connection rate per uid must be above 0 and its burst at least 1");
  }
  return absl::OkStatus();
}

}  // namespace

struct MachineService::Session {
  std::unique_ptr<ServerChannel> channel;
  LocalPeer peer;  // at connect
  std::chrono::steady_clock::time_point hello_deadline;
  // Guarded by MachineService::mu_: kHello until the Hello is read (or the
  // reaper / Stop() took over ending it: kInterrupted), then kServing.
  enum class Phase { kHello, kInterrupted, kServing } phase = Phase::kHello;
  std::thread thread;
  bool done = false;              // guarded by MachineService::mu_
  SessionRelay* relay = nullptr;  // guarded by MachineService::mu_
};

absl::StatusOr<std::unique_ptr<MachineService>> MachineService::Start(
    MachineServiceOptions options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  std::error_code ec;
  const bool stale =
      std::filesystem::is_socket(std::filesystem::symlink_status(options.address, ec));
  std::unique_ptr<LocalListener> listener;
  if (IpcStatus s = ListenLocal(options.address, LocalListenerOptions{}, &listener); !s.ok()) {
    return ToStatus(s);
  }
  if (stale) spdlog::info("replaced the stale socket {}", options.address);
  return Start(std::move(options), std::move(listener));
}

absl::StatusOr<std::unique_ptr<MachineService>> MachineService::Start(
    MachineServiceOptions options, std::unique_ptr<LocalListener> listener) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  std::unique_ptr<MachineService> service(
      new MachineService(std::move(options), std::move(listener)));
  service->accept_thread_ = std::thread([s = service.get()] {
    SetCurrentThreadName("svc-accept");
    s->AcceptLoop();
  });
  service->reap_thread_ = std::thread([s = service.get()] {
    SetCurrentThreadName("svc-reaper");
    s->ReapLoop();
  });
  spdlog::info(
      "listening on {} for the sessions of device {} (limits: {} connections per user, "
      "{} in total)",
      service->listener_->address(), service->options_.device_id,
      service->options_.max_connections_per_uid, service->options_.max_connections);
  return service;
}

MachineService::MachineService(MachineServiceOptions options,
                               std::unique_ptr<LocalListener> listener)
    : options_(std::move(options)),
      listener_(std::move(listener)),
      channel_(MakeCollectorChannel(options_.collector)) {}

MachineService::~MachineService() { Stop(); }

MachineServiceStats MachineService::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

void MachineService::EndWaitingSession(Session* session, int code, const std::string& message) {
  spdlog::info("session of {} ({}) pid {} ended ({}: {})", Who(session->peer),
               session->peer.login_name.empty() ? "?" : session->peer.login_name, session->peer.pid,
               code, message);
  (void)SendLocalEnd(*session->channel, code, message, std::chrono::seconds(1));
  session->channel->Shutdown();
}

void MachineService::Stop() {
  std::list<std::unique_ptr<Session>> sessions;
  std::vector<Session*> waiting;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& s : sessions_) {
      if (s->done) continue;
      if (s->relay != nullptr) {
        s->relay->Stop();
      } else if (s->phase == Session::Phase::kHello) {
        s->phase = Session::Phase::kInterrupted;
        waiting.push_back(s.get());
      }
    }
  }
  if (listener_) listener_->Interrupt();
  if (accept_thread_.joinable()) accept_thread_.join();
  if (reap_thread_.joinable()) reap_thread_.join();
  // Sessions are reaped by the reaper thread only, which is gone now.
  for (Session* s : waiting) {
    EndWaitingSession(s, static_cast<int>(absl::StatusCode::kUnavailable), kStopping);
  }
  {
    absl::MutexLock l(&mu_);
    sessions = std::move(sessions_);
  }
  for (auto& s : sessions) {
    if (s->thread.joinable()) s->thread.join();
  }
  listener_.reset();  // removes the socket
  spdlog::info("stopped listening on {}", options_.address);
}

void MachineService::ReapLoop() {
  absl::MutexLock l(&mu_);
  while (!stopping_) {
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if ((*it)->done) {
        (*it)->thread.join();  // it has finished: no wait
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    finished_ = 0;
    // Hellos over the timeout are ended here: a session dripping its Hello a
    // byte at a time cannot hold its connection (and thread) past it.
    const auto now = std::chrono::steady_clock::now();
    std::vector<Session*> overdue;
    std::optional<std::chrono::steady_clock::time_point> next;
    for (auto& s : sessions_) {
      if (s->done || s->phase != Session::Phase::kHello) continue;
      if (s->hello_deadline <= now) {
        s->phase = Session::Phase::kInterrupted;
        overdue.push_back(s.get());
      } else if (!next || s->hello_deadline < *next) {
        next = s->hello_deadline;
      }
    }
    if (!overdue.empty()) {
      mu_.Unlock();
      for (Session* s : overdue) {
        EndWaitingSession(s, static_cast<int>(absl::StatusCode::kUnavailable),
                          absl::StrCat("no Hello within ", options_.hello_timeout.count(), " ms"));
      }
      mu_.Lock();
      continue;
    }
    // Wakes when a session finished, a new one came (its Hello deadline may
    // be the next), the service stops, or the next deadline passes.
    const std::uint64_t accepted = stats_.accepted;
    auto wake = [this, accepted]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || finished_ > 0 || stats_.accepted != accepted;
    };
    if (next) {
      mu_.AwaitWithDeadline(absl::Condition(&wake), absl::Now() + absl::FromChrono(*next - now));
    } else {
      mu_.Await(absl::Condition(&wake));
    }
  }
}

void MachineService::AcceptLoop() {
  while (true) {
    std::unique_ptr<ServerChannel> channel;
    const IpcStatus s = listener_->Accept(&channel);
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
    }
    if (!s.ok()) {
      spdlog::error("accept on {}: {}", options_.address, s.message);
      // Out of descriptors, for instance: do not spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    Accept(std::move(channel));
  }
}

void MachineService::Accept(std::unique_ptr<ServerChannel> channel) {
  LocalPeer peer;
  // NOT_FOUND (a uid without a passwd entry) still names the peer: it is
  // refused after its Hello, with the reason, by Serve().
  const IpcStatus known = channel->PeerAtConnect(&peer);
  if (!known.ok() && (known.code != kIpcNotFound || peer.key.empty())) {
    spdlog::error("a local connection without a known peer ({}); closed", known.message);
    return;
  }
  absl::MutexLock l(&mu_);
  if (stopping_) return;
  // The user's connection rate first: refusals over it are cheap and their
  // log lines throttled (a loop of connects must not flood the log).
  const auto now = std::chrono::steady_clock::now();
  auto [rate_it, first_time] = uid_rates_.try_emplace(peer.key);
  UidRate& rate = rate_it->second;
  if (first_time) {
    rate.tokens = options_.connects_per_uid_burst;
    rate.refilled_at = now;
  }
  rate.tokens =
      std::min(options_.connects_per_uid_burst,
               rate.tokens + std::chrono::duration<double>(now - rate.refilled_at).count() *
                                 options_.connects_per_uid_per_s);
  rate.refilled_at = now;
  int& of_user = per_uid_[peer.key];
  const std::string who = Who(peer);
  std::string refusal;
  if (rate.tokens < 1) {
    const auto wait_ms = static_cast<std::int64_t>(
        std::ceil((1 - rate.tokens) * 1000.0 / options_.connects_per_uid_per_s));
    refusal = absl::StrCat(who, " connects to reclaim-agent-service more often than ",
                           options_.connects_per_uid_per_s, " times per second (burst ",
                           options_.connects_per_uid_burst, "); retry in ", wait_ms, " ms");
  } else if (of_user >= options_.max_connections_per_uid) {
    refusal =
        absl::StrCat(who, " already has ", of_user, " connections to reclaim-agent-service (limit ",
                     options_.max_connections_per_uid, ")");
  } else if (static_cast<int>(stats_.active) >= options_.max_connections) {
    refusal = absl::StrCat("reclaim-agent-service already has ", stats_.active,
                           " connections (limit ", options_.max_connections, ")");
  }
  // Every attempt within the rate costs a token (also one refused below for
  // the user's or the total connection limit); one over it costs nothing, so
  // a loop of connects does not lock the user out beyond the refill time.
  if (rate.tokens >= 1) rate.tokens -= 1;
  if (!refusal.empty()) {
    if (of_user == 0) per_uid_.erase(peer.key);
    ++stats_.over_limit;
    ++rate.unlogged_refusals;
    if (!rate.logged || now - rate.logged_at >= std::chrono::minutes(1)) {
      spdlog::warn(
          "refused a connection from {} pid {}: {} ({} refused since the last such line; "
          "logged at most once a minute per user)",
          who, peer.pid, refusal, rate.unlogged_refusals);
      rate.logged = true;
      rate.logged_at = now;
      rate.unlogged_refusals = 0;
    }
    // A new connection's buffer is empty: this write does not wait.
    (void)SendLocalEnd(*channel, static_cast<int>(absl::StatusCode::kResourceExhausted), refusal,
                       std::chrono::seconds(1));
    return;
  }
  ++of_user;
  ++stats_.accepted;
  ++stats_.active;
  auto session = std::make_unique<Session>();
  session->channel = std::move(channel);
  session->peer = std::move(peer);
  session->hello_deadline = now + options_.hello_timeout;
  Session* raw = session.get();
  sessions_.push_back(std::move(session));
  raw->thread = std::thread([this, raw] {
    SetCurrentThreadName("svc-session");
    Serve(raw);
  });
}

void MachineService::Serve(Session* session) {
  LocalChannel& channel = *session->channel;
  const LocalPeer peer = session->peer;
  const std::string who = Who(peer);
  std::string login = "?";
  // Ends the connection with `code` (unless the peer is gone) and logs why.
  auto end = [&](absl::StatusCode code, const std::string& message) {
    spdlog::info("session of {} ({}) pid {} ended ({}: {})", who, login, peer.pid,
                 static_cast<int>(code), message);
    (void)SendLocalEnd(channel, static_cast<int>(code), message, kLocalSendTimeout);
  };
  bool interrupted = false;
  auto serve = [&] {
    v1::AgentMessage hello;
    const absl::Status read =
        ReadHello(channel, std::min(options_.max_frame_bytes, kMaxHelloFrameBytes), &hello);
    {
      absl::MutexLock l(&mu_);
      if (session->phase == Session::Phase::kInterrupted) {
        interrupted = true;  // the reaper or Stop() ended it
        return;
      }
      session->phase = Session::Phase::kServing;
    }
    if (!read.ok()) {
      if (read.code() == absl::StatusCode::kOutOfRange ||
          read.code() == absl::StatusCode::kUnavailable) {
        spdlog::info("session of {} ({}) pid {} closed before its Hello", who, login, peer.pid);
        return;
      }
      return end(read.code(), std::string(read.message()));
    }
    if (!hello.has_hello()) {
      return end(absl::StatusCode::kInvalidArgument,
                 "the first frame on the local connection must be a Hello");
    }
    // Attested after the Hello is read (Windows impersonates the client of
    // the last message read), so that a refused client that wrote it still
    // reads the end frame.
    LocalPeer attested;
    if (const IpcStatus a = session->channel->AttestPeer(&attested); !a.ok()) {
      spdlog::warn("refused a connection from {} pid {}: {}", who, peer.pid, a.message);
      return end(a.code == kIpcNotFound || a.code == kIpcPermissionDenied
                     ? absl::StatusCode::kPermissionDenied
                     : absl::StatusCode::kUnavailable,
                 absl::StrCat(a.message,
                              ": reclaim-agent-service reports each session under its user's "
                              "login name and cannot serve this user"));
    }
    if (attested.key != peer.key) {
      spdlog::warn("refused a connection from {} pid {}: its Hello came from {}", who, peer.pid,
                   attested.key);
      return end(absl::StatusCode::kPermissionDenied,
                 "the connection's user changed between connecting and its Hello");
    }
    login = attested.login_name;
    spdlog::info("connection from {} ({}) pid {}", who, login, peer.pid);
    // What the OS attests replaces what the session said.
    v1::Hello* h = hello.mutable_hello();
    h->set_device_id(options_.device_id);
    h->set_hostname(options_.hostname);
    // Agent instance ids are not secrets (agents log them, reclaimctl lists
    // them) and the collector keys stored batches and acks on (device,
    // instance): scope the instance to the attested user, so that a session
    // naming another user's instance cannot reach that instance's batches
    // (a high seq there would make the collector ack the victim's whole
    // spool away) nor hide its own usage there.
    if (!h->agent_instance_id().empty()) {
      const std::string prefix = InstanceScope(attested);
      if (prefix.size() + h->agent_instance_id().size() > kMaxScopedInstanceBytes) {
        return end(absl::StatusCode::kInvalidArgument,
                   absl::StrCat("the Hello's agent_instance_id is longer than ",
                                kMaxScopedInstanceBytes - prefix.size(), " bytes"));
      }
      h->set_agent_instance_id(absl::StrCat(prefix, h->agent_instance_id()));
    }
    v1::SessionUser* user = h->mutable_user();
    user->Clear();
    user->set_login_name(login);
    if (attested.uid) user->set_uid(*attested.uid);
    if (!attested.sid.empty()) user->set_sid(attested.sid);
    user->set_domain(!attested.domain.empty() ? attested.domain : options_.user_domain);
    if (!options_.upn_suffix.empty()) user->set_upn(absl::StrCat(login, "@", options_.upn_suffix));
    LocalFrameReader reader(channel, options_.max_frame_bytes);
    SessionRelay relay(channel, channel_, options_.collector.target, options_.token,
                       options_.collector.connect_timeout, kLocalSendTimeout);
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return end(absl::StatusCode::kUnavailable, kStopping);
      session->relay = &relay;
    }
    const SessionOutcome outcome = relay.Run(hello, reader);
    {
      absl::MutexLock l(&mu_);
      session->relay = nullptr;
    }
    if (outcome.local_closed) {
      spdlog::info("session of {} ({}) pid {} closed by the agent", who, login, peer.pid);
    } else {
      spdlog::log(outcome.code == 0 ? spdlog::level::info : spdlog::level::warn,
                  "session of {} ({}) pid {} ended ({}: {})", who, login, peer.pid, outcome.code,
                  outcome.message);
    }
  };
  serve();
  // An interrupted session's channel is the interrupter's to end.
  if (!interrupted) channel.Shutdown();
  absl::MutexLock l(&mu_);
  session->done = true;  // the reaper joins this thread and closes the channel
  if (--per_uid_[peer.key] <= 0) per_uid_.erase(peer.key);
  --stats_.active;
  ++finished_;
}

}  // namespace reclaim::agent
