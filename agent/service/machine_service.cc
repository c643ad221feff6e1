#include "agent/service/machine_service.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/local/local_frames.h"
#include "agent/service/peer_identity.h"
#include "agent/service/session_relay.h"
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
// validation.cc), which the uid-scoped id must fit in.
constexpr std::size_t kMaxScopedInstanceBytes = 64;

// How long a write to a session may block (the session does not read and its
// socket buffer is full) before the session is treated as gone. A session
// that never reads must not hold a relay thread, and Stop(), forever.
constexpr int kLocalSendTimeoutS = 10;

absl::Status Errno(absl::string_view what, const std::string& path) {
  const int e = errno;
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(e));
  return e == EACCES || e == EPERM ? absl::PermissionDeniedError(message)
                                   : absl::InternalError(message);
}

// Binds and listens on `path` (see MachineServiceOptions::socket_path).
absl::StatusOr<int> Listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "socket path '", path, "' is empty or longer than ", sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        return absl::InternalError(absl::StrCat("cannot create the socket's directory ",
                                                dir.string(), ": ", ec.message()));
      }
      if (chmod(dir.c_str(), 0755) != 0) return Errno("chmod", dir.string());
    } else if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(dir.string(), " is not a directory"));
    }
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket for", path);
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
    }
    // A socket: live (another service answers) or stale (left by a crash).
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
      close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat("another reclaim-agent-service is listening on ", path));
    }
    if (unlink(path.c_str()) != 0) {
      const absl::Status s = Errno("cannot remove the stale socket", path);
      close(fd);
      return s;
    }
    spdlog::info("replaced the stale socket {}", path);
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const absl::Status s = Errno("cannot bind", path);
    close(fd);
    return s;
  }
  // Any local user may connect: who they are comes from SO_PEERCRED.
  if (chmod(path.c_str(), 0666) != 0 || listen(fd, 64) != 0) {
    const absl::Status s = Errno("cannot listen on", path);
    close(fd);
    unlink(path.c_str());
    return s;
  }
  return fd;
}

// The longest Hello frame read: a Hello's strings are each at most 1 KiB at
// the collector (README "Input limits on the agent channel").
constexpr std::size_t kMaxHelloFrameBytes = 64 << 10;

// Reads exactly one frame (varint32 size + message, as LocalFrameReader) from
// `fd` into `message`, all of it before `deadline`: a session dripping its
// Hello a byte at a time cannot hold its connection (and thread) past the
// Hello timeout, which a per-read timeout would allow. Reads nothing beyond
// the frame, so a LocalFrameReader can take over the socket afterwards.
// Errors: DEADLINE_EXCEEDED; OUT_OF_RANGE when the peer closed before the
// first byte; UNAVAILABLE when it closed inside the frame or read(2) failed;
// RESOURCE_EXHAUSTED for a frame over `max_bytes`; INVALID_ARGUMENT when it
// does not parse.
absl::Status ReadFrameBefore(int fd, std::chrono::steady_clock::time_point deadline,
                             std::size_t max_bytes, google::protobuf::MessageLite* message) {
  std::size_t total = 0;
  // Reads up to `n` bytes as soon as some are there; 0 at the end of stream.
  auto read_some = [&](char* buffer, std::size_t n) -> absl::StatusOr<std::size_t> {
    while (true) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return absl::DeadlineExceededError("the Hello took too long");
      pollfd p{fd, POLLIN, 0};
      const int ready = poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno != EINTR) {
        return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
      }
      if (ready <= 0) continue;
      const ssize_t got = ::read(fd, buffer, n);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got < 0) {
        return absl::UnavailableError(absl::StrCat("local socket read: ", std::strerror(errno)));
      }
      total += static_cast<std::size_t>(got);
      return static_cast<std::size_t>(got);
    }
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

}  // namespace

struct MachineService::Session {
  int fd = -1;
  PeerCredentials peer;
  std::thread thread;
  bool done = false;              // guarded by MachineService::mu_
  SessionRelay* relay = nullptr;  // guarded by MachineService::mu_
};

absl::StatusOr<std::unique_ptr<MachineService>> MachineService::Start(
    MachineServiceOptions options) {
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
  auto fd = Listen(options.socket_path);
  if (!fd.ok()) return fd.status();
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    close(*fd);
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  std::unique_ptr<MachineService> service(new MachineService(std::move(options), *fd, wake));
  service->accept_thread_ = std::thread([s = service.get()] {
    pthread_setname_np(pthread_self(), "svc-accept");
    s->AcceptLoop();
  });
  spdlog::info(
      "listening on {} for the sessions of device {} (limits: {} connections per uid, "
      "{} in total)",
      service->options_.socket_path, service->options_.device_id,
      service->options_.max_connections_per_uid, service->options_.max_connections);
  return service;
}

MachineService::MachineService(MachineServiceOptions options, int listen_fd, int wake_fd)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      channel_(MakeCollectorChannel(options_.collector)) {}

MachineService::~MachineService() {
  Stop();
  close(listen_fd_);
  close(wake_fd_);
}

void MachineService::Wake() {
  const std::uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

MachineServiceStats MachineService::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

void MachineService::Stop() {
  std::list<std::unique_ptr<Session>> sessions;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& s : sessions_) {
      if (s->done) continue;
      if (s->relay != nullptr) {
        s->relay->Stop();
      } else {
        ::shutdown(s->fd, SHUT_RD);  // wakes the wait for the Hello
      }
    }
  }
  Wake();
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    absl::MutexLock l(&mu_);
    sessions = std::move(sessions_);
  }
  for (auto& s : sessions) {
    if (s->thread.joinable()) s->thread.join();
  }
  unlink(options_.socket_path.c_str());
  spdlog::info("stopped listening on {}", options_.socket_path);
}

void MachineService::ReapLocked() {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if ((*it)->done) {
      (*it)->thread.join();  // it has finished: no wait
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

void MachineService::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) {
      spdlog::error("poll on {}: {}", options_.socket_path, std::strerror(errno));
    }
    if (fds[1].revents & POLLIN) {
      std::uint64_t n = 0;
      (void)!read(wake_fd_, &n, sizeof(n));
    }
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
      ReapLocked();
    }
    if (fds[0].revents & POLLIN) Accept();
  }
}

void MachineService::Accept() {
  const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
      spdlog::error("accept on {}: {}", options_.socket_path, std::strerror(errno));
      // Out of descriptors, for instance: do not spin.
      poll(nullptr, 0, 100);
    }
    return;
  }
  auto peer = PeerCredentialsOf(fd);
  if (!peer.ok()) {
    spdlog::error("a local connection without peer credentials ({}); closed", peer.status());
    close(fd);
    return;
  }
  absl::MutexLock l(&mu_);
  if (stopping_) {
    close(fd);
    return;
  }
  // The uid's connection rate first: refusals over it are cheap and their
  // log lines throttled (a loop of connects must not flood the log).
  const auto now = std::chrono::steady_clock::now();
  auto [rate_it, first_time] = uid_rates_.try_emplace(peer->uid);
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
  int& of_uid = per_uid_[peer->uid];
  std::string refusal;
  if (rate.tokens < 1) {
    const auto wait_ms = static_cast<std::int64_t>(
        std::ceil((1 - rate.tokens) * 1000.0 / options_.connects_per_uid_per_s));
    refusal = absl::StrCat("uid ", peer->uid, " connects to reclaim-agent-service more often than ",
                           options_.connects_per_uid_per_s, " times per second (burst ",
                           options_.connects_per_uid_burst, "); retry in ", wait_ms, " ms");
  } else if (of_uid >= options_.max_connections_per_uid) {
    refusal = absl::StrCat("uid ", peer->uid, " already has ", of_uid,
                           " connections to reclaim-agent-service (limit ",
                           options_.max_connections_per_uid, ")");
  } else if (static_cast<int>(stats_.active) >= options_.max_connections) {
    refusal = absl::StrCat("reclaim-agent-service already has ", stats_.active,
                           " connections (limit ", options_.max_connections, ")");
  }
  // Every attempt within the rate costs a token (also one refused below for
  // the uid's or the total connection limit); one over it costs nothing, so
  // a loop of connects does not lock the uid out beyond the refill time.
  if (rate.tokens >= 1) rate.tokens -= 1;
  if (!refusal.empty()) {
    if (of_uid == 0) per_uid_.erase(peer->uid);
    ++stats_.over_limit;
    ++rate.unlogged_refusals;
    if (!rate.logged || now - rate.logged_at >= std::chrono::minutes(1)) {
      spdlog::warn(
          "refused a connection from uid {} pid {}: {} ({} refused since the last such line; "
          "logged at most once a minute per uid)",
          peer->uid, peer->pid, refusal, rate.unlogged_refusals);
      rate.logged = true;
      rate.logged_at = now;
      rate.unlogged_refusals = 0;
    }
    (void)SendLocalEnd(fd, static_cast<int>(absl::StatusCode::kResourceExhausted), refusal);
    close(fd);
    return;
  }
  // Bounds every blocking write to this session (see kLocalSendTimeoutS).
  const timeval send_timeout{.tv_sec = kLocalSendTimeoutS, .tv_usec = 0};
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout)) != 0) {
    spdlog::warn("SO_SNDTIMEO on a local connection: {}", std::strerror(errno));
  }
  ++of_uid;
  ++stats_.accepted;
  ++stats_.active;
  auto session = std::make_unique<Session>();
  session->fd = fd;
  session->peer = *peer;
  Session* raw = session.get();
  sessions_.push_back(std::move(session));
  raw->thread = std::thread([this, raw] {
    pthread_setname_np(pthread_self(), "svc-session");
    Serve(raw);
  });
}

void MachineService::Serve(Session* session) {
  const int fd = session->fd;
  const PeerCredentials peer = session->peer;
  std::string login = "?";
  // Ends the connection with `code` (unless the peer is gone) and logs why.
  auto end = [&](absl::StatusCode code, const std::string& message) {
    spdlog::info("session of uid {} ({}) pid {} ended ({}: {})", peer.uid, login, peer.pid,
                 static_cast<int>(code), message);
    (void)SendLocalEnd(fd, static_cast<int>(code), message);
  };
  auto stopping = [this] {
    absl::MutexLock l(&mu_);
    return stopping_;
  };
  auto serve = [&] {
    v1::AgentMessage hello;
    if (absl::Status s =
            ReadFrameBefore(fd, std::chrono::steady_clock::now() + options_.hello_timeout,
                            std::min(options_.max_frame_bytes, kMaxHelloFrameBytes), &hello);
        !s.ok()) {
      if (stopping()) return end(absl::StatusCode::kUnavailable, kStopping);
      if (s.code() == absl::StatusCode::kDeadlineExceeded) {
        return end(absl::StatusCode::kUnavailable,
                   absl::StrCat("no Hello within ", options_.hello_timeout.count(), " ms"));
      }
      if (s.code() == absl::StatusCode::kOutOfRange || s.code() == absl::StatusCode::kUnavailable) {
        spdlog::info("session of uid {} ({}) pid {} closed before its Hello", peer.uid, login,
                     peer.pid);
        return;
      }
      return end(s.code(), std::string(s.message()));
    }
    if (!hello.has_hello()) {
      return end(absl::StatusCode::kInvalidArgument,
                 "the first frame on the local connection must be a Hello");
    }
    // Looked up after the Hello is read, so that a refused client that
    // wrote it still reads the end frame.
    auto name = LoginNameOf(peer.uid);
    if (!name.ok()) {
      spdlog::warn("refused a connection from uid {} pid {}: {}", peer.uid, peer.pid,
                   name.status());
      return end(name.status().code() == absl::StatusCode::kNotFound
                     ? absl::StatusCode::kPermissionDenied
                     : absl::StatusCode::kUnavailable,
                 absl::StrCat(name.status().message(),
                              ": reclaim-agent-service reports each session under its user's "
                              "login name and cannot serve this user"));
    }
    login = *name;
    spdlog::info("connection from uid {} ({}) pid {}", peer.uid, login, peer.pid);
    // What the kernel attests replaces what the session said.
    v1::Hello* h = hello.mutable_hello();
    h->set_device_id(options_.device_id);
    h->set_hostname(options_.hostname);
    // Agent instance ids are not secrets (agents log them, reclaimctl lists
    // them) and the collector keys stored batches and acks on (device,
    // instance): scope the instance to the attested uid, so that a session
    // naming another user's instance cannot reach that instance's batches
    // (a high seq there would make the collector ack the victim's whole
    // spool away) nor hide its own usage there.
    if (!h->agent_instance_id().empty()) {
      const std::string prefix = absl::StrCat("uid", peer.uid, "-");
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
    user->set_uid(peer.uid);
    user->set_domain(options_.user_domain);
    if (!options_.upn_suffix.empty()) user->set_upn(absl::StrCat(login, "@", options_.upn_suffix));
    LocalFrameReader reader(fd, options_.max_frame_bytes);
    SessionRelay relay(fd, channel_, options_.collector.target, options_.token,
                       options_.collector.connect_timeout);
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
      spdlog::info("session of uid {} ({}) pid {} closed by the agent", peer.uid, login, peer.pid);
    } else {
      spdlog::log(outcome.code == 0 ? spdlog::level::info : spdlog::level::warn,
                  "session of uid {} ({}) pid {} ended ({}: {})", peer.uid, login, peer.pid,
                  outcome.code, outcome.message);
    }
  };
  serve();
  {
    absl::MutexLock l(&mu_);
    session->done = true;  // from now on Stop() leaves the descriptor alone
    if (--per_uid_[peer.uid] <= 0) per_uid_.erase(peer.uid);
    --stats_.active;
  }
  close(fd);
  Wake();
}

}  // namespace reclaim::agent
