// Shared by the reclaim-agent-service tests: a collector that authenticates
// devices, the service binary started as a child process, and the agent's
// end of a local connection (proto/reclaim/v1/local.proto frames).
#pragma once

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/local/local_frames.h"
#include "collector/server/device_registry.h"
#include "collector/server/enrollment_limits.h"
#include "common/clock.h"
#include "reclaim/v1/admin.grpc.pb.h"
#include "reclaim/v1/agent.grpc.pb.h"
#include "reclaim/v1/local.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_collector.h"
#include "tests/testing/test_secrets.h"
#include "tests/testing/usage_batches.h"
#include "tests/testing/wait_for.h"

extern char** environ;

namespace reclaim::testing {

namespace v1 = ::reclaim::v1;

/// The binary under test (CMake passes its path).
inline const char* ServiceBinary() { return RECLAIM_AGENT_SERVICE_BINARY; }

/// A collector with device authentication on (the enrollment secret is
/// EnrollmentSecret()), its database in `dir`.
class AuthCollector {
 public:
  /// `enrollment_limits`: the collector's per-address enrollment limits
  /// (default: the collector's defaults).
  explicit AuthCollector(const TempDir& dir,
                         collector::EnrollmentLimitsOptions enrollment_limits = {})
      : db_(dir.File("collector.db")) {
    EXPECT_TRUE(collector::SqliteUsageStore::Open({.path = db_}).ok());
    auto registry = collector::DeviceRegistry::Open(db_, EnrollmentSecret(), clock_);
    EXPECT_TRUE(registry.ok()) << registry.status();
    if (!registry.ok()) return;
    registry_ = std::move(*registry);
    collector::AgentServiceOptions options;
    options.devices = registry_.get();
    options.enrollment_limits = enrollment_limits;
    collector_ = std::make_unique<TestCollector>(db_, options);
    EXPECT_TRUE(collector_->ok());
  }
  ~AuthCollector() { collector_.reset(); }

  static std::string EnrollmentSecret() { return TestSecret("enrollment-secret"); }

  TestCollector& get() { return *collector_; }
  std::string target() const { return collector_->target(); }

  /// A credential for `device` from the Enroll RPC; empty on failure.
  std::string Enroll(const std::string& device) {
    auto stub = v1::AgentService::NewStub(Channel());
    grpc::ClientContext ctx;
    v1::EnrollRequest req;
    req.set_device_id(device);
    req.set_enrollment_secret(EnrollmentSecret());
    v1::EnrollResponse resp;
    const grpc::Status s = stub->Enroll(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.device_token();
  }

  /// Revokes every credential of `device`; returns the streams it ended.
  std::uint64_t Revoke(const std::string& device) {
    auto stub = v1::AdminService::NewStub(Channel());
    grpc::ClientContext ctx;
    collector_->AuthorizeAdmin(&ctx);
    v1::RevokeDeviceRequest req;
    req.set_device_id(device);
    v1::RevokeDeviceResponse resp;
    const grpc::Status s = stub->RevokeDevice(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.streams_ended();
  }

  /// Focus time stored per "device|login" (from the collector's agents and usage).
  std::int64_t StoredFocusMs() {
    auto rows = collector_->store().QueryUsage({});
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::int64_t total = 0;
    if (rows.ok()) {
      for (const auto& r : *rows) total += r.focus_ms;
    }
    return total;
  }

  /// The agent instances the collector knows: (device id, login name, uid).
  struct Agent {
    std::string device_id;
    std::string login_name;
    std::string domain;
    std::string upn;
    std::optional<std::uint32_t> uid;
    std::string hostname;
    std::uint64_t acked_through = 0;
  };
  std::vector<Agent> Agents() {
    std::vector<Agent> out;
    auto devices = collector_->store().ListDevices();
    EXPECT_TRUE(devices.ok()) << devices.status();
    if (!devices.ok()) return out;
    for (const auto& d : *devices) {
      out.push_back({d.agent.device_id, d.agent.user.login_name, d.agent.user.domain,
                     d.agent.user.upn, d.agent.user.uid, d.agent.hostname, d.acked_through_seq});
    }
    return out;
  }

 private:
  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel(collector_->target(), grpc::InsecureChannelCredentials());
  }

  std::string db_;
  SystemClock clock_;
  std::unique_ptr<collector::DeviceRegistry> registry_;
  std::unique_ptr<TestCollector> collector_;
};

/// A Hello as an agent sends it.
inline v1::AgentMessage AgentHello(const std::string& device, const std::string& login,
                                   const std::string& instance) {
  v1::AgentMessage m;
  v1::Hello* h = m.mutable_hello();
  h->set_device_id(device);
  h->set_agent_instance_id(instance);
  h->set_agent_version("0.1.0");
  h->set_os_family(v1::OS_FAMILY_LINUX);
  h->set_hostname("forged-host");
  h->mutable_user()->set_login_name(login);
  h->mutable_user()->set_domain("FORGED");
  h->mutable_user()->set_uid(0);
  return m;
}

/// A batch with one focus interval of `focus_ms`, an hour ago.
inline v1::AgentMessage AgentBatch(std::uint64_t seq, std::int64_t focus_ms = 1000) {
  return reclaim::testing::GimpBatchMessage(
      seq, reclaim::testing::UtcMsAgo(3'600'000) + static_cast<std::int64_t>(seq) * 10'000,
      focus_ms);
}

/// Bounds every blocking read of `fd` (the test fails instead of hanging).
inline void SetReadTimeout(int fd, std::chrono::seconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/// Takes ownership of the connected stream socket `fd` as a LocalChannel.
inline std::unique_ptr<agent::LocalChannel> ChannelOf(int fd) {
  std::unique_ptr<agent::LocalChannel> channel;
  const agent::IpcStatus s = agent::AdoptInheritedChannel(std::to_string(fd), &channel);
  EXPECT_TRUE(s.ok()) << s.message;
  return channel;
}

/// Reads frames until an ack through `seq` (true) or an end/error (false;
/// `end` gets the end frame when there was one).
inline bool ReadUntilAcked(agent::LocalFrameReader& reader, std::uint64_t seq,
                           v1::LocalStreamEnd* end = nullptr) {
  v1::LocalServiceMessage m;
  while (reader.Read(&m).ok()) {
    if (m.has_end()) {
      if (end) *end = m.end();
      return false;
    }
    if (m.collector().has_ack() && m.collector().ack().acked_through_seq() >= seq) return true;
  }
  return false;
}

/// Reads frames until the end frame; counts acks seen before it in `acks`.
/// Returns nullopt when the connection closed without one.
inline std::optional<v1::LocalStreamEnd> ReadUntilEnd(agent::LocalFrameReader& reader,
                                                      int* acks = nullptr) {
  v1::LocalServiceMessage m;
  while (reader.Read(&m).ok()) {
    if (m.has_end()) return m.end();
    if (acks && m.collector().has_ack()) ++*acks;
  }
  return std::nullopt;
}

/// The service binary as a child process; killed (SIGKILL) when destroyed
/// while still running. Its standard error goes to a file (Stderr()).
class ServiceProcess {
 public:
  /// Starts `ServiceBinary() args...` (or `command`, when given, instead);
  /// `inherit_fd`, when >= 0, becomes fd 3; `extra_env` ("NAME=value") is
  /// added to this process's environment (less $RECLAIM_ENROLLMENT_SECRET).
  ServiceProcess(const TempDir& dir, std::vector<std::string> args, int inherit_fd = -1,
                 std::vector<std::string> extra_env = {}, std::vector<std::string> command = {})
      : stderr_path_(dir.File("service-stderr-" + std::to_string(counter()++) + ".txt")) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (inherit_fd >= 0) posix_spawn_file_actions_adddup2(&actions, inherit_fd, 3);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<std::string> argv_s = {ServiceBinary()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    if (!command.empty()) argv_s = command;
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("RECLAIM_ENROLLMENT_SECRET=", 0) != 0) env_s.push_back(*e);
    }
    env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (std::string& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "cannot start " << ServiceBinary();
    if (rc != 0) pid_ = -1;
  }
  ~ServiceProcess() {
    if (pid_ > 0 && !exit_code_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    AppendToTestLog("reclaim-agent-service-stderr", Stderr());
  }
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  pid_t pid() const { return pid_; }

  /// Waits up to `timeout` for the process to exit; its exit code (128+N
  /// for signal N), nullopt while it runs.
  std::optional<int> Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    WaitFor(
        [&] {
          if (exit_code_ || pid_ <= 0) return true;
          int status = 0;
          if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          }
          return exit_code_.has_value();
        },
        timeout);
    return exit_code_;
  }
  bool Running() {
    if (exit_code_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }
  std::string Stderr() const {
    std::ifstream f(stderr_path_);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string stderr_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

}  // namespace reclaim::testing
