// reclaim-agent-service: the only endpoint process that talks to the
// collector (gRPC). Modes (subcommands):
//   relay --fd N   the personal relay of one reclaim-agent in direct mode
//                  (agent/service/relay.h holds its command-line contract)
//   enroll         once at install, as root: the machine's device credential
//   run            the machine service (root, systemd; Windows LocalSystem):
//                  local sessions on a UNIX socket / named pipe, users
//                  attested by the OS
//
// Flags are read here only (CLI11). Exit codes: 0 done, 1 runtime error
// (message in the log), 2 bad options.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/local/local_channel.h"
#include "agent/platform/process_platform.h"
#include "agent/service/collector_link.h"
#include "agent/service/machine_service.h"
#include "agent/service/relay.h"
#include "agent/service/service_host.h"
#include "agent/service/session_relay.h"
#include "common/grpc_tls.h"
#include "common/log_format.h"
#include "common/logging.h"
#include "common/secret_file.h"
#include "common/toml_config.h"
#include "spdlog/spdlog.h"

namespace {

using reclaim::agent::DeviceCredential;

/// Environment variable holding the enrollment secret when no file is given.
constexpr char kEnrollmentSecretEnv[] = "RECLAIM_ENROLLMENT_SECRET";

/// Options every mode shares; every field documents its default.
struct CollectorCli {
  /// Collector address. Default 127.0.0.1:7443.
  std::string collector = "127.0.0.1:7443";
  /// TLS to the collector: CA bundle (required unless insecure_plaintext),
  /// optional client certificate and owner-only key (mutual TLS).
  reclaim::ClientTlsOptions tls;
  /// Longest wait for a connection to the collector, ms. Default 20000.
  int connect_timeout_ms = 20000;
  /// Owner-only file holding the device credential (default per mode).
  std::string credential_file;
  /// Owner-only file with the enrollment secret. Default none: $RECLAIM_ENROLLMENT_SECRET.
  std::string enrollment_secret_file;
  reclaim::LoggingOptions logging{.level = "info", .file = "", .name = "reclaim-agent-service"};
};

void AddCollectorOptions(CLI::App* app, CollectorCli* c) {
  app->add_option("--collector", c->collector, "Collector address (host:port)")
      ->capture_default_str();
  app->add_option("--ca-file", c->tls.ca_file,
                  "PEM bundle of the CAs that may sign the collector's certificate");
  app->add_option("--client-cert", c->tls.cert_file, "Mutual TLS: this endpoint's PEM certificate");
  app->add_option("--client-key", c->tls.key_file,
                  "Mutual TLS: the key of --client-cert (owner-only file)");
  app->add_flag("--insecure-plaintext", c->tls.insecure_plaintext,
                "Connect WITHOUT TLS (trusted test networks only; logs a warning)");
  app->add_option("--connect-timeout-ms", c->connect_timeout_ms,
                  "Longest wait for a connection to the collector before a session is ended "
                  "with UNAVAILABLE, ms")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  app->add_option("--log-level", c->logging.level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app->add_option("--log-file", c->logging.file, "Log file (default: standard error)");
}

void AddEnrollmentSecretOption(CLI::App* app, CollectorCli* c) {
  app->add_option("--enrollment-secret-file", c->enrollment_secret_file,
                  std::string("Owner-only file with the enrollment secret (default: $") +
                      kEnrollmentSecretEnv + ")");
}

// The enrollment secret from --enrollment-secret-file or the environment;
// empty when neither is given. Errors name the file, never the secret.
absl::StatusOr<std::string> LoadEnrollmentSecret(const CollectorCli& c) {
  if (!c.enrollment_secret_file.empty()) {
    return reclaim::ReadSecretFile(c.enrollment_secret_file, "enrollment secret");
  }
  if (std::getenv(kEnrollmentSecretEnv) != nullptr) {
    return reclaim::ReadSecretEnv(kEnrollmentSecretEnv, "enrollment secret");
  }
  return std::string();
}

// The device credential from `file` and, when it has to enroll (no file yet,
// or `enroll`), the enrollment secret. Errors name the files, never their
// content.
absl::StatusOr<DeviceCredential> LoadDeviceCredential(const CollectorCli& c, bool enroll) {
  DeviceCredential dev;
  dev.file = c.credential_file;
  std::error_code ec;
  if (!enroll && !dev.file.empty() && std::filesystem::exists(dev.file, ec)) {
    auto token = reclaim::ReadSecretFile(dev.file, "device credential");
    if (!token.ok()) return token.status();
    if (absl::Status s = reclaim::CheckHeaderSafeSecret(*token, "device credential"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(dev.file, ": ", s.message()));
    }
    dev.token = std::move(*token);
    return dev;
  }
  auto secret = LoadEnrollmentSecret(c);
  if (!secret.ok()) return secret.status();
  if (secret->empty() && enroll) {
    return absl::InvalidArgumentError(
        absl::StrCat("--enroll needs the enrollment secret (--enrollment-secret-file or $",
                     kEnrollmentSecretEnv, ")"));
  }
  dev.enrollment_secret = std::move(*secret);
  return dev;
}

// Transport credentials and the link options. Logs the plaintext WARNING.
absl::StatusOr<reclaim::agent::CollectorLinkOptions> MakeLinkOptions(const CollectorCli& c) {
  auto credentials = reclaim::MakeChannelCredentials(c.tls);
  if (!credentials.ok()) {
    return absl::Status(credentials.status().code(),
                        absl::StrCat("TLS: ", credentials.status().message()));
  }
  if (c.tls.insecure_plaintext) {
    spdlog::warn(
        "WARNING: connecting to the collector WITHOUT TLS (insecure-plaintext): usage "
        "data and the device credential cross the network in clear text");
  }
  reclaim::agent::CollectorLinkOptions link;
  link.target = c.collector;
  link.credentials = std::move(*credentials);
  link.connect_timeout = std::chrono::milliseconds(c.connect_timeout_ms);
  return link;
}

// Runs `body` while the platform's stop requests (SIGINT, SIGTERM) call `stop`.
int WithStopRequests(const std::function<int()>& body, const std::function<void()>& stop) {
  auto watcher = reclaim::agent::WatchStopRequests([&stop](const std::string& reason) {
    spdlog::info("{}: stopping", reason);
    stop();
  });
  const int rc = body();
  watcher->Close();
  return rc;
}

// --- relay -------------------------------------------------------------------

struct RelayCli {
  CollectorCli common;
  /// The inherited channel, as the agent's HandleForChild() wrote it
  /// (an fd number; a Windows handle value). Required.
  std::string fd;
  /// Enroll although a credential exists.
  bool enroll = false;
};

int RunRelayMode(RelayCli& cli) {
  std::unique_ptr<reclaim::agent::LocalChannel> channel;
  if (const reclaim::agent::IpcStatus s = reclaim::agent::AdoptInheritedChannel(cli.fd, &channel);
      !s.ok()) {
    std::fprintf(stderr,
                 "reclaim-agent-service relay: --fd %s is not an open stream socket or pipe (%s)\n",
                 cli.fd.c_str(), s.message.c_str());
    return 2;
  }
  // Bad options: said on stderr and, for the agent's log, as the end frame.
  auto refuse = [&channel](absl::Status s) {
    std::fprintf(stderr, "reclaim-agent-service relay: %s\n", std::string(s.message()).c_str());
    (void)reclaim::agent::SendLocalEnd(*channel,
                                       s.code() == absl::StatusCode::kFailedPrecondition
                                           ? s.raw_code()
                                           : static_cast<int>(absl::StatusCode::kInvalidArgument),
                                       std::string(s.message()));
    return 2;
  };
  if (absl::Status s = reclaim::SetUpLogging(cli.common.logging); !s.ok()) return refuse(s);
  spdlog::default_logger()->flush_on(spdlog::level::info);
  auto link = MakeLinkOptions(cli.common);
  if (!link.ok()) return refuse(link.status());
  auto device = LoadDeviceCredential(cli.common, cli.enroll);
  if (!device.ok()) {
    return refuse(absl::Status(device.status().code(),
                               absl::StrCat("device credential: ", device.status().message())));
  }
  if (device->token.empty() && device->enrollment_secret.empty()) {
    spdlog::warn(
        "no device credential{} and no enrollment secret: a collector that "
        "authenticates devices will refuse this agent",
        cli.common.credential_file.empty() ? "" : " (" + cli.common.credential_file + ")");
  }
  reclaim::agent::RelayOptions options;
  options.channel = std::move(channel);
  options.collector = std::move(*link);
  options.device = std::move(*device);
  reclaim::agent::PersonalRelay relay(std::move(options));
  return WithStopRequests([&relay] { return relay.Run(); }, [&relay] { relay.Stop(); });
}

// --- enroll and run: the machine's credential -----------------------------------

/// The machine service's name for the OS's service manager (Windows: the
/// SCM service the installer registers; Linux: the logs).
constexpr char kServiceName[] = "ReclaimAgentService";

/// The machine credential's default place: Linux
/// /var/lib/reclaim/machine-credential, Windows
/// %ProgramData%\Reclaim\machine-credential.
std::string MachineCredentialFile() {
  return (std::filesystem::path(reclaim::agent::DefaultMachineStateDirectory()) /
          "machine-credential")
      .string();
}

struct MachineCli {
  CollectorCli common;
  /// Device id. Default: ReadDeviceId() (/etc/machine-id, Windows MachineGuid).
  std::string device_id;
};

// The device id, or an empty string after reporting it missing.
std::string MachineDeviceId(const MachineCli& cli, const char* mode) {
  std::string id = cli.device_id.empty() ? reclaim::agent::ReadDeviceId() : cli.device_id;
  if (id.empty()) {
    std::fprintf(stderr,
                 "reclaim-agent-service %s: no device id: %s cannot be read; pass "
                 "--device-id\n",
                 mode, reclaim::agent::DeviceIdSource().c_str());
  }
  return id;
}

int RunEnrollMode(MachineCli& cli) {
  if (absl::Status s = reclaim::SetUpLogging(cli.common.logging); !s.ok()) {
    std::fprintf(stderr, "reclaim-agent-service enroll: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  auto link = MakeLinkOptions(cli.common);
  if (!link.ok()) {
    std::fprintf(stderr, "reclaim-agent-service enroll: %s\n",
                 std::string(link.status().message()).c_str());
    return 2;
  }
  auto secret = LoadEnrollmentSecret(cli.common);
  if (!secret.ok() || secret->empty()) {
    std::fprintf(stderr, "reclaim-agent-service enroll: %s\n",
                 !secret.ok() ? std::string(secret.status().message()).c_str()
                              : "the enrollment secret is needed (--enrollment-secret-file or "
                                "$RECLAIM_ENROLLMENT_SECRET)");
    return 2;
  }
  const std::string device_id = MachineDeviceId(cli, "enroll");
  if (device_id.empty()) return 2;
  auto channel = reclaim::agent::MakeCollectorChannel(*link);
  if (absl::Status s =
          reclaim::agent::AwaitCollector(*channel, link->target, link->connect_timeout, nullptr);
      !s.ok()) {
    reclaim::WipeSecret(*secret);
    spdlog::error("{}", s.message());
    return 1;
  }
  auto token = reclaim::agent::EnrollDevice(*channel, device_id, reclaim::agent::HostName(),
                                            std::move(*secret));
  if (!token.ok()) {
    spdlog::error("{}", token.status().message());
    return 1;
  }
  const std::string& file = cli.common.credential_file;
  // A directory made here (/var/lib/reclaim) is root's alone.
  const std::filesystem::path dir = std::filesystem::path(file).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::exists(dir, ec) &&
      std::filesystem::create_directories(dir, ec)) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  absl::Status written = reclaim::WriteSecretFile(file, *token);
  reclaim::WipeSecret(*token);
  if (!written.ok()) {
    spdlog::error("device {} enrolled, but its credential cannot be stored: {}", device_id,
                  written);
    return 1;
  }
  spdlog::info(
      "device {} enrolled with collector {}; the machine credential is in {} (owner "
      "only); restart reclaim-agent-service to use a new one",
      device_id, link->target, file);
  return 0;
}

struct RunCli {
  MachineCli machine;
  reclaim::agent::MachineServiceOptions service;
  int hello_timeout_ms = 30000;
};

// Runs `stop` on a thread of its own while telling the service manager,
// every 2 s, that stopping goes on (Windows: the next SERVICE_STOP_PENDING
// checkpoint with a 5 s wait hint; the SCM may give up on a service whose
// checkpoint does not move within its wait hint).
void StopWhileReporting(reclaim::agent::ServiceContext& host, const std::function<void()>& stop) {
  constexpr auto kReportEvery = std::chrono::seconds(2);
  constexpr unsigned kWaitHintMs = 5000;
  host.ReportStopping(kWaitHintMs);
  std::future<void> done = std::async(std::launch::async, stop);
  while (done.wait_for(kReportEvery) != std::future_status::ready) {
    host.ReportStopping(kWaitHintMs);
  }
  done.get();
}

// The machine service with `cli`'s options, hosted by `host` (systemd, the
// SCM, or a console): starts it, reports it running once it listens, waits
// for the stop request, stops it. Returns the exit code.
int RunMachineMode(RunCli& cli, reclaim::agent::ServiceContext& host) {
  auto refuse = [](const std::string& message) {
    std::fprintf(stderr, "reclaim-agent-service run: %s\n", message.c_str());
    return 2;
  };
  if (absl::Status s = reclaim::SetUpLogging(cli.machine.common.logging); !s.ok()) {
    return refuse(std::string(s.message()));
  }
  spdlog::default_logger()->flush_on(spdlog::level::info);
  auto link = MakeLinkOptions(cli.machine.common);
  if (!link.ok()) return refuse(std::string(link.status().message()));
  const std::string& file = cli.machine.common.credential_file;
  auto token = reclaim::ReadSecretFile(file, "machine credential");
  if (!token.ok()) {
    if (token.status().code() == absl::StatusCode::kNotFound) {
      return refuse(absl::StrCat("no machine credential in ", file,
                                 ": run `reclaim-agent-service enroll` (as root) first"));
    }
    return refuse(std::string(token.status().message()));
  }
  if (absl::Status s = reclaim::CheckHeaderSafeSecret(*token, "machine credential"); !s.ok()) {
    return refuse(absl::StrCat(file, ": ", s.message()));
  }
  reclaim::agent::MachineServiceOptions& options = cli.service;
  options.device_id = MachineDeviceId(cli.machine, "run");
  if (options.device_id.empty()) return 2;
  options.hostname = reclaim::agent::HostName();
  if (options.user_domain.empty()) {
    // Local accounts belong to the machine's "domain", as on Windows (HOST\user).
    options.user_domain =
        absl::AsciiStrToUpper(options.hostname.substr(0, options.hostname.find('.')));
  }
  options.hello_timeout = std::chrono::milliseconds(cli.hello_timeout_ms);
  options.collector = std::move(*link);
  options.token = std::move(*token);
  auto service = reclaim::agent::MachineService::Start(std::move(options));
  if (!service.ok()) {
    spdlog::critical("{}", service.status().message());
    return 1;
  }
  host.ReportRunning();  // Start() returned: the local address is listening
  const std::string reason = host.WaitForStopRequest();
  spdlog::info("{}: stopping", reason);
  StopWhileReporting(host, [&service] { (*service)->Stop(); });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  reclaim::agent::TuneProcessMemory();
  reclaim::agent::PrepareForStopRequests();

  CLI::App app{
      "reclaim-agent-service: the endpoint's link to the Reclaim collector. The "
      "machine service (run) relays each local session's agent under the machine's "
      "device credential and the user the kernel attests; relay serves one agent in "
      "direct mode."};
  app.require_subcommand(1);

  RelayCli relay;
  CLI::App* relay_cmd = app.add_subcommand(
      "relay", "Relay one reclaim-agent connection on an inherited socket (direct mode)");
  relay_cmd
      ->add_option("--fd", relay.fd,
                   "The inherited, connected channel (Linux: a UNIX stream socket's fd; "
                   "Windows: a pipe handle value)")
      ->required();
  AddCollectorOptions(relay_cmd, &relay.common);
  AddEnrollmentSecretOption(relay_cmd, &relay.common);
  relay_cmd->add_option("--credential-file", relay.common.credential_file,
                        "Owner-only file holding the device credential (default: none; a "
                        "credential from enrolling is kept in memory)");
  relay_cmd->add_flag("--enroll", relay.enroll,
                      "Enroll again with the enrollment secret although a credential exists");

  MachineCli enroll;
  enroll.common.credential_file = MachineCredentialFile();
  CLI::App* enroll_cmd = app.add_subcommand(
      "enroll",
      "Once at install, as root: enroll this machine with the enrollment secret and "
      "store its device credential");
  AddCollectorOptions(enroll_cmd, &enroll.common);
  AddEnrollmentSecretOption(enroll_cmd, &enroll.common);
  enroll_cmd->add_option("--device-id", enroll.device_id,
                         "Device id (default: " + reclaim::agent::DeviceIdSource() + ")");
  enroll_cmd
      ->add_option("--credential-file", enroll.common.credential_file,
                   "Where the machine credential is written (mode 0600)")
      ->capture_default_str();

  RunCli run;
  run.machine.common.credential_file = MachineCredentialFile();
  CLI::App* run_cmd =
      app.add_subcommand("run",
                         "The machine service (root): relay each local session's agent under the "
                         "machine's credential and the user the kernel attests");
  AddCollectorOptions(run_cmd, &run.machine.common);
  run_cmd->add_option("--device-id", run.machine.device_id,
                      "Device id (default: " + reclaim::agent::DeviceIdSource() +
                          "; as given to enroll)");
  // Windows: %ProgramData%\Reclaim\agent-service.toml when it exists (the SCM
  // starts the service with its registered command line only); Linux: none.
  std::string run_config = reclaim::agent::DefaultMachineServiceConfigFile();
  const CLI::Option* run_config_option = reclaim::AddSubcommandConfig(*run_cmd, &run_config);
  run_cmd
      ->add_option("--credential-file", run.machine.common.credential_file,
                   "The machine credential written by enroll (owner-only)")
      ->capture_default_str();
  run_cmd
      ->add_option("--address,--socket", run.service.address,
                   "The local address: a UNIX socket (mode 0666; users are attested by "
                   "SO_PEERCRED) or, on Windows, a pipe name")
      ->capture_default_str();
  run_cmd->add_option("--user-domain", run.service.user_domain,
                      "Domain of the attested users (default: the host name, upper case)");
  run_cmd->add_option("--upn-suffix", run.service.upn_suffix,
                      "When set, each user's UPN is LOGIN@SUFFIX (e.g. example.com)");
  run_cmd
      ->add_option("--max-connections-per-uid", run.service.max_connections_per_uid,
                   "Connections one user may hold at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  run_cmd
      ->add_option("--connects-per-uid-per-s", run.service.connects_per_uid_per_s,
                   "New connections one user may make per second (sustained); beyond it a "
                   "connection is refused with RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1e6));
  run_cmd
      ->add_option("--connects-per-uid-burst", run.service.connects_per_uid_burst,
                   "New connections one user may make at once above the sustained rate")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  run_cmd->add_option("--max-connections", run.service.max_connections, "Connections in total")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  run_cmd
      ->add_option("--hello-timeout-ms", run.hello_timeout_ms,
                   "How long a new connection may take to send its Hello, ms")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));

  try {
    app.parse(argc, argv);
    if (run_cmd->parsed()) reclaim::ApplySubcommandConfig(*run_cmd, *run_config_option, run_config);
  } catch (const CLI::ParseError& e) {
    return reclaim::ReportParseError(app, e);
  }
  if (relay_cmd->parsed()) return RunRelayMode(relay);
  if (enroll_cmd->parsed()) return RunEnrollMode(enroll);
  if (run_cmd->parsed()) {
    return reclaim::agent::RunAsService(kServiceName, [&run](reclaim::agent::ServiceContext& host) {
      return RunMachineMode(run, host);
    });
  }
  return 2;
}
