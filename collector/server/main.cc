// reclaim-collector: receives usage from agents, stores it, serves the admin API.
//
//   reclaim-collector [--config FILE] [--db PATH] [--listen ...] ...   (the server)
//   reclaim-collector admin-token create --name NAME --role viewer|operator|admin
//                     [--token-file FILE] [--db PATH]   (prints the token once)
//   reclaim-collector admin-token list [--db PATH]
//   reclaim-collector admin-token revoke --name NAME [--db PATH]
//
// Flags and the config file are read here only (CLI11; the config file is
// TOML/INI with the same keys as the long flags). Exit codes: 0 clean stop,
// 1 start-up error (message on stderr), 2 bad flags or config.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "CLI/CLI.hpp"
#include "collector/admin/admin_auth.h"
#include "collector/connectors/entra/entra_connector.h"
#include "collector/connectors/ldap/ldap_connector.h"
#include "collector/reclaim/connector_factory.h"
#include "collector/reclaim/file_directory_connector.h"
#include "collector/reclaim/reclaimer.h"
#include "collector/reclaim/scheduler.h"
#include "collector/campaigns/campaign_housekeeper.h"
#include "collector/campaigns/prompt_router.h"
#include "collector/campaigns/sqlite_campaign_store.h"
#include "collector/reclaim/sqlite_reclamation_store.h"
#include "collector/server/device_registry.h"
#include "collector/server/services.h"
#include "collector/store/sqlite_usage_store.h"
#include "common/clock.h"
#include "common/grpc_tls.h"
#include "common/log_format.h"
#include "common/logging.h"
#include "common/secret_file.h"
#include "common/utc_day.h"
#include "common/status_macros.h"
#include "common/toml_config.h"
#include "spdlog/spdlog.h"

namespace {

/// Collector options; every field documents its default.
struct CollectorOptions {
  /// SQLite usage store. Default /var/lib/reclaim/collector.db.
  std::string db_path = "/var/lib/reclaim/collector.db";
  /// Address agents connect to. Port 0 picks a free port. Default 127.0.0.1:7443.
  std::string listen = "127.0.0.1:7443";
  /// Address of the admin API (reclaimctl). Default 127.0.0.1:7444.
  std::string admin_listen = "127.0.0.1:7444";
  /// When set, "<agent port> <admin port>\n" is written here once listening.
  std::string port_file;
  /// Largest message accepted from an agent, bytes. Default 4 MiB.
  int max_message_bytes = 4 << 20;
  /// See AgentServiceOptions. Default 64.
  int max_in_flight_batches = 64;
  /// See ValidationLimits. Defaults 300 s and 10,000.
  int max_future_skew_s = 300;
  int max_intervals_per_batch = 10000;
  /// Input limits on the agent channel (agent_limits.h, services.h):
  /// streams per device (default 64) and per user of a device (default 8),
  /// the rate limit per user of a device (defaults
  /// 1,000 intervals/s with a burst of 20,000; 256 KiB/s with a burst of
  /// 8 MiB), CommandResult strings (default 256 bytes).
  reclaim::collector::AgentLimitsOptions agent_limits;
  /// Enrollment attempts per peer address (enrollment_limits.h): defaults
  /// 10 per minute with a burst of 20; failed attempts (wrong secret) 30
  /// per hour with a burst of 5.
  reclaim::collector::EnrollmentLimitsOptions enrollment_limits;
  int max_command_result_bytes = 256;
  /// Quarantine rows kept (oldest dropped and counted beyond). Default 100,000.
  std::int64_t max_quarantine_rows = 100000;
  /// The overlap rule (sqlite_usage_store.h): focus time of one device and
  /// user that overlaps focus time already stored is not credited twice.
  /// Default true.
  bool clip_overlapping_focus = true;
  reclaim::LoggingOptions logging{.level = "info", .file = "", .name = "reclaim-collector"};
  /// Directory connectors from the config file's [connectors.<name>] tables
  /// (`kind` plus kind-specific keys). Default none: policies cannot be
  /// created until one is configured.
  std::vector<reclaim::collector::ConnectorConfig> connectors;
  /// Seconds between scheduler ticks at most. Default 30.
  int reclaim_poll_s = 30;
  /// Ms between campaign housekeeping passes (time-outs, re-asks after
  /// "Remind me later"). Default 30000.
  int campaign_housekeeping_ms = 30000;
  /// Per-user prompt pacing across devices (prompt_pacing.h), seconds:
  /// at most one new not-urgent prompt per this interval. Default 21600.
  int prompt_min_interval_s = 6 * 3600;
  /// No new not-urgent prompt this long after an urgent one. Default 1200.
  int prompt_quiet_after_urgent_s = 20 * 60;
  /// TLS of both listeners (certificate, owner-only key); `client_ca_file`
  /// (mutual TLS) applies to the agent listener only. Default none: start-up
  /// fails unless `tls.insecure_plaintext`.
  reclaim::ServerTlsOptions tls;
  /// Mutual TLS on the admin listener: reclaimctl must present a certificate
  /// signed by a CA in this PEM bundle (besides its admin token). Default
  /// none (no client certificate asked for).
  std::string admin_tls_client_ca_file;
  /// Owner-only file holding the enrollment secret agents present once to
  /// get a device credential. Default none: $RECLAIM_ENROLLMENT_SECRET, and
  /// without it new agents cannot enroll.
  std::string enrollment_secret_file;
  /// Accept agent streams without a device credential (no device identity:
  /// test setups only). Default false.
  bool allow_unenrolled_agents = false;
  /// Ms between checks of the database for device credentials enrolled or
  /// revoked by other collectors sharing it (device_registry.h); a device
  /// revoked elsewhere has its streams here ended within about this long.
  /// Default 2000.
  int device_registry_poll_ms = 2000;
};

/// Environment variable holding the enrollment secret when no file is given.
constexpr char kEnrollmentSecretEnv[] = "RECLAIM_ENROLLMENT_SECRET";

/// The strict TOML reader, except that [connectors.<name>] tables are taken
/// aside into `out` (CLI11 has no options for them). Keys are kept as text.
class CollectorConfigReader : public reclaim::StrictTomlConfig {
 public:
  explicit CollectorConfigReader(std::vector<reclaim::collector::ConnectorConfig>* out)
      : out_(out) {}
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items = StrictTomlConfig::from_config(input);
    std::vector<CLI::ConfigItem> rest;
    std::map<std::string, reclaim::collector::ConnectorConfig> by_name;
    for (CLI::ConfigItem& item : items) {
      if (item.parents.empty() || item.parents[0] != "connectors") {
        rest.push_back(std::move(item));
        continue;
      }
      if (item.parents.size() != 2 || item.inputs.size() != 1) {
        throw CLI::ConfigError(
            "malformed config file: [connectors] must hold one table per connector "
            "([connectors.<name>]) with single values");
      }
      auto& c = by_name[item.parents[1]];
      c.name = item.parents[1];
      if (item.name == "kind") {
        c.kind = item.inputs[0];
      } else {
        c.settings[item.name] = item.inputs[0];
      }
    }
    for (auto& [name, c] : by_name) {
      if (c.kind.empty()) {
        throw CLI::ConfigError("malformed config file: [connectors." + name + "] has no kind");
      }
      out_->push_back(std::move(c));
    }
    return rest;
  }

 private:
  std::vector<reclaim::collector::ConnectorConfig>* out_;
};

/// `admin-token` subcommand options.
struct AdminTokenCommand {
  std::string name;
  std::string role;
  /// When set, `create` writes the token here (mode 0600) instead of stdout.
  std::string token_file;
};

// Opens the admin token store of `db_path` (the usage store first: it owns
// the file's creation). Logs and returns null on error.
std::unique_ptr<reclaim::collector::SqliteAdminTokenStore> OpenAdminTokens(
    const std::string& db_path) {
  auto store = reclaim::collector::SqliteUsageStore::Open({.path = db_path});
  if (!store.ok()) {
    spdlog::critical("cannot open the usage store {}: {}", db_path, store.status());
    return nullptr;
  }
  auto tokens = reclaim::collector::SqliteAdminTokenStore::Open(db_path);
  if (!tokens.ok()) {
    spdlog::critical("cannot open the admin token store {}: {}", db_path, tokens.status());
    return nullptr;
  }
  return std::move(*tokens);
}

// `admin-token create|list|revoke`: exit 0, 1 on a store error or unknown
// name, 2 on bad input. The token is printed once (or written owner-only to
// --token-file) and never logged; only its SHA-256 hash is stored.
int RunAdminTokenCommand(const CollectorOptions& opt, const std::string& verb,
                         const AdminTokenCommand& cmd) {
  namespace rc = reclaim::collector;
  reclaim::SystemClock clock;
  // Only `create` may create the database; listing or revoking in a
  // mistyped path must not leave an empty database there.
  if (verb != "create" && !std::filesystem::exists(opt.db_path)) {
    std::fprintf(stderr, "reclaim-collector: no database at %s (--db)\n", opt.db_path.c_str());
    return 1;
  }
  auto tokens = OpenAdminTokens(opt.db_path);
  if (!tokens) return 1;
  if (verb == "create") {
    auto role = rc::ParseAdminRole(cmd.role);
    if (!role.ok()) {
      std::fprintf(stderr, "reclaim-collector: %s\n", std::string(role.status().message()).c_str());
      return 2;
    }
    auto issued = tokens->Create(cmd.name, *role, clock.WallUtcMs());
    if (!issued.ok()) {
      std::fprintf(stderr, "reclaim-collector: %s\n",
                   std::string(issued.status().message()).c_str());
      return absl::IsInvalidArgument(issued.status()) ? 2 : 1;
    }
    if (!cmd.token_file.empty()) {
      absl::Status s = reclaim::WriteSecretFile(cmd.token_file, issued->token);
      reclaim::WipeSecret(issued->token);
      if (!s.ok()) {
        std::fprintf(stderr, "reclaim-collector: %s (the token '%s' exists now: revoke it)\n",
                     std::string(s.message()).c_str(), cmd.name.c_str());
        return 1;
      }
      std::fprintf(stderr, "admin token '%s' (role %s) written to %s (mode 0600)\n",
                   cmd.name.c_str(), cmd.role.c_str(), cmd.token_file.c_str());
    } else {
      std::printf("%s\n", issued->token.c_str());
      std::fflush(stdout);
      reclaim::WipeSecret(issued->token);
      std::fprintf(stderr, "admin token '%s' (role %s) created; it is shown only this once: "
                   "keep it in an owner-only file (reclaimctl --token-file) or in "
                   "RECLAIM_ADMIN_TOKEN\n", cmd.name.c_str(), cmd.role.c_str());
    }
    return 0;
  }
  if (verb == "revoke") {
    auto r = tokens->Revoke(cmd.name, clock.WallUtcMs());
    if (!r.ok()) {
      std::fprintf(stderr, "reclaim-collector: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    std::printf("admin token '%s' (role %s) revoked\n", r->name.c_str(),
                rc::AdminRoleName(r->role));
    return 0;
  }
  auto all = tokens->List();
  if (!all.ok()) {
    std::fprintf(stderr, "reclaim-collector: %s\n", std::string(all.status().message()).c_str());
    return 1;
  }
  std::printf("%-24s %-9s %-25s %s\n", "NAME", "ROLE", "CREATED_UTC", "REVOKED_UTC");
  for (const auto& t : *all) {
    std::printf("%-24s %-9s %-25s %s\n", t.name.c_str(), rc::AdminRoleName(t.role),
                reclaim::FormatUtcMs(t.created_utc_ms).c_str(),
                t.revoked_utc_ms ? reclaim::FormatUtcMs(t.revoked_utc_ms).c_str() : "");
  }
  return 0;
}

// "plaintext", "TLS", or "TLS, client certificates required from ..." for
// the start-up log line.
std::string ListenerSecurity(const CollectorOptions& opt) {
  if (opt.tls.insecure_plaintext) return "plaintext";
  std::vector<std::string> mutual;
  if (!opt.tls.client_ca_file.empty()) mutual.push_back("agents");
  if (!opt.admin_tls_client_ca_file.empty()) mutual.push_back("reclaimctl");
  if (mutual.empty()) return "TLS";
  return "TLS, client certificates required from " +
         (mutual.size() == 2 ? mutual[0] + " and " + mutual[1] : mutual[0]);
}

int Run(const CollectorOptions& opt) {
  reclaim::SystemClock clock;
  // All configuration is checked before the database is opened or created:
  // a collector that cannot start leaves nothing behind.
  // Transport security: checked before anything listens. Mutual TLS on the
  // admin listener has a CA bundle of its own (administrators' certificates
  // usually come from another CA than the agents').
  reclaim::ServerTlsOptions admin_tls = opt.tls;
  admin_tls.client_ca_file = opt.admin_tls_client_ca_file;
  auto agent_creds = reclaim::MakeServerCredentials(opt.tls);
  auto admin_creds = agent_creds.ok() ? reclaim::MakeServerCredentials(admin_tls)
                                      : agent_creds;
  if (!agent_creds.ok() || !admin_creds.ok()) {
    spdlog::critical("TLS: {}", (agent_creds.ok() ? admin_creds : agent_creds).status());
    return 1;
  }
  if (opt.tls.insecure_plaintext) {
    spdlog::warn("WARNING: listening WITHOUT TLS (insecure-plaintext): usage data, device "
                 "credentials and admin calls cross the network in clear text; use only on a "
                 "trusted network for testing");
  }

  // The enrollment secret (read now, so that a bad secret file stops the
  // start before anything is created).
  std::string secret;
  if (!opt.allow_unenrolled_agents) {
    if (!opt.enrollment_secret_file.empty()) {
      auto s = reclaim::ReadSecretFile(opt.enrollment_secret_file, "enrollment secret");
      if (!s.ok()) {
        spdlog::critical("enrollment secret: {}", s.status());
        return 1;
      }
      secret = std::move(*s);
    } else if (const char* env = std::getenv(kEnrollmentSecretEnv); env != nullptr) {
      auto s = reclaim::ReadSecretEnv(kEnrollmentSecretEnv, "enrollment secret");
      if (!s.ok()) {
        spdlog::critical("enrollment secret: {}", s.status());
        return 1;
      }
      secret = std::move(*s);
    }
    if (secret.empty()) {
      spdlog::warn("no enrollment secret configured (enrollment-secret-file or ${}): enrolled "
                   "devices are served, new agents cannot enroll",
                   kEnrollmentSecretEnv);
    }
  }

  reclaim::collector::ConnectorFactory connectors;
  // Connector kinds: "file" (a JSON directory for demos/tests) and "ad"
  // (Active Directory over LDAP; keys in ldap_connector.h and
  // deploy/config/collector.toml). A builder runs at start-up (the config
  // check below) and again for every run, dry run, restore and policy
  // creation, so it only validates settings: LdapConnector::Create does not
  // connect (it binds on first use), so the collector starts while the
  // directory is down and a run then fails with a clear kUnavailable.
  connectors.RegisterKind("file", reclaim::collector::MakeFileDirectoryConnector);
  connectors.RegisterKind(
      "ad",
      [](const reclaim::collector::ConnectorConfig& c)
          -> absl::StatusOr<std::unique_ptr<reclaim::collector::DirectoryConnector>> {
        ASSIGN_OR_RETURN(auto options,
                         reclaim::collector::LdapConnectorOptionsFromSettings(c.settings));
        return reclaim::collector::LdapConnector::Create(std::move(options));
      });
  // "entra": Entra ID over Microsoft Graph (keys in entra_connector.h); like
  // "ad", Create only validates settings and the token is fetched on first use.
  connectors.RegisterKind(
      "entra",
      [](const reclaim::collector::ConnectorConfig& c)
          -> absl::StatusOr<std::unique_ptr<reclaim::collector::DirectoryConnector>> {
        ASSIGN_OR_RETURN(auto options,
                         reclaim::collector::EntraConnectorOptionsFromSettings(c.settings));
        return reclaim::collector::EntraConnector::Create(std::move(options));
      });
  for (const auto& c : opt.connectors) {
    if (absl::Status s = connectors.AddConnector(c); !s.ok()) {
      spdlog::critical("config: {}", s);
      return 2;
    }
    if (auto probe = connectors.Create(c.name); !probe.ok()) {
      spdlog::critical("config: connector '{}': {}", c.name, probe.status());
      return 2;
    }
    spdlog::info("connector '{}' (kind {}) configured", c.name, c.kind);
  }
  // The stores (all tables live in one database file).
  reclaim::collector::SqliteUsageStoreOptions store_options;
  store_options.path = opt.db_path;
  store_options.max_quarantine_rows = opt.max_quarantine_rows;
  store_options.clip_overlaps = opt.clip_overlapping_focus;
  auto store = reclaim::collector::SqliteUsageStore::Open(store_options);
  if (!store.ok()) {
    spdlog::critical("cannot open the usage store {}: {}", opt.db_path, store.status());
    return 1;
  }
  // Admin tokens (hashes only) in the same file.
  auto admin_tokens = reclaim::collector::SqliteAdminTokenStore::Open(opt.db_path);
  if (!admin_tokens.ok()) {
    spdlog::critical("cannot open the admin token store {}: {}", opt.db_path,
                     admin_tokens.status());
    return 1;
  }
  // Reclamation: its tables live in the same database file (opened after the
  // usage store, which owns the file's creation).
  auto reclaim_store = reclaim::collector::SqliteReclamationStore::Open(opt.db_path);
  if (!reclaim_store.ok()) {
    spdlog::critical("cannot open the reclamation store {}: {}", opt.db_path,
                     reclaim_store.status());
    return 1;
  }
  // Consent campaigns: their tables ("cp_") live in the same file too.
  auto campaign_store = reclaim::collector::SqliteCampaignStore::Open(opt.db_path);
  if (!campaign_store.ok()) {
    spdlog::critical("cannot open the campaign store {}: {}", opt.db_path,
                     campaign_store.status());
    return 1;
  }
  // Delivery of campaign prompts to the agents' streams (and ask-for-
  // permission runs launch their campaigns through it).
  reclaim::collector::PromptRouter prompt_router(reclaim::collector::PromptPacing{
      .min_interval_ms = static_cast<std::int64_t>(opt.prompt_min_interval_s) * 1000,
      .quiet_after_urgent_ms = static_cast<std::int64_t>(opt.prompt_quiet_after_urgent_s) * 1000});
  reclaim::collector::Reclaimer reclaimer(**reclaim_store, connectors, clock,
                                          campaign_store->get(), &prompt_router);
  reclaim::collector::Scheduler scheduler(
      reclaimer, clock, {.poll_interval = std::chrono::seconds(opt.reclaim_poll_s)});

  // Device identity: enrollment and device credentials.
  std::unique_ptr<reclaim::collector::DeviceRegistry> devices;
  if (opt.allow_unenrolled_agents) {
    spdlog::warn("WARNING: agents are not authenticated (allow-unenrolled-agents): any client "
                 "can upload usage under any device id; use only for testing");
  } else {
    auto registry =
        reclaim::collector::DeviceRegistry::Open(opt.db_path, std::move(secret), clock);
    if (!registry.ok()) {
      spdlog::critical("cannot open the device registry {}: {}", opt.db_path,
                       registry.status());
      return 1;
    }
    devices = std::move(*registry);
    devices->StartWatching(std::chrono::milliseconds(opt.device_registry_poll_ms));
    spdlog::info("device authentication on: {} device(s) enrolled", devices->List().size());
  }

  reclaim::collector::IngestPipeline pipeline(**store, clock);
  reclaim::collector::AgentServiceOptions agent_opts;
  agent_opts.devices = devices.get();
  agent_opts.max_in_flight_batches = opt.max_in_flight_batches;
  agent_opts.limits.max_future_skew_ms = static_cast<std::int64_t>(opt.max_future_skew_s) * 1000;
  agent_opts.limits.max_intervals_per_batch = opt.max_intervals_per_batch;
  agent_opts.agent_limits = opt.agent_limits;
  agent_opts.enrollment_limits = opt.enrollment_limits;
  agent_opts.max_command_result_bytes = static_cast<size_t>(opt.max_command_result_bytes);
  // An answer may let a waiting run go on, or restore a member at once (late yes).
  agent_opts.on_prompt_settled = [&scheduler] { scheduler.Wake(); };
  // Time-outs and re-asks after "Remind me later", pushed to the agents.
  reclaim::collector::CampaignHousekeeper campaign_housekeeper(
      **campaign_store, prompt_router, clock,
      {.interval = std::chrono::milliseconds(opt.campaign_housekeeping_ms)});
  auto agent_service = reclaim::collector::MakeAgentService(
      pipeline, clock, agent_opts, campaign_store->get(), &prompt_router);
  auto admin_service = reclaim::collector::MakeAdminService(
      **store, **admin_tokens, &reclaimer, campaign_store->get(), &clock, &prompt_router,
      devices.get());
  admin_service->SetAgentChannel(agent_service.get(), &pipeline);

  int agent_port = 0, admin_port = 0;
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(opt.max_message_bytes);
  // Accept the agents' keepalive pings (every 30 s, also without calls).
  // gRPC sets SO_REUSEPORT by default on Linux: a second collector could then
  // bind the same ports and silently take half of the agents and admin calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddListeningPort(opt.listen, *agent_creds, &agent_port);
  builder.AddListeningPort(opt.admin_listen, *admin_creds, &admin_port);
  builder.RegisterService(agent_service->service());
  builder.RegisterService(admin_service->service());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || agent_port == 0 || admin_port == 0) {
    spdlog::critical("cannot listen on {} and {} (address in use or invalid?)", opt.listen,
                     opt.admin_listen);
    return 1;
  }
  spdlog::info("reclaim-collector listening: agents on port {}, admin on port {} ({}), store {}",
               agent_port, admin_port,
               ListenerSecurity(opt), opt.db_path);
  if (!opt.port_file.empty()) {
    const std::string tmp = opt.port_file + ".tmp";
    {
      std::ofstream f(tmp);
      f << agent_port << " " << admin_port << "\n";
    }
    std::rename(tmp.c_str(), opt.port_file.c_str());
  }
  // Starts scheduled runs and resumes runs a crash interrupted.
  scheduler.Start();
  campaign_housekeeper.Start();

  // Wait for SIGINT/SIGTERM (blocked in main before any thread started).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {}: stopping (in-flight batches are stored and acked first)", sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (devices) devices->StopWatching();
  scheduler.Stop();  // between run items; an unfinished run resumes at the next start
  campaign_housekeeper.Stop();
  pipeline.Stop();
  const auto stats = pipeline.stats();
  spdlog::info("stopped: {} batches stored ({} duplicates), {} intervals, {} quarantined",
               stats.batches_stored, stats.batches_duplicate, stats.intervals_stored,
               stats.intervals_quarantined);
  const auto agent_stats = agent_service->stats();
  spdlog::info("agent streams: {} opened, {} refused or ended unauthenticated, {} claimed "
               "another device",
               agent_stats.streams_opened, agent_stats.unauthenticated_streams,
               agent_stats.identity_mismatches);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  CollectorOptions opt;
  CLI::App app{"reclaim-collector: receives focus time from Reclaim agents, aggregates it per "
               "user, application and UTC day, and serves the admin API used by reclaimctl."};
  reclaim::AddStrictConfig(app);
  app.config_formatter(std::make_shared<CollectorConfigReader>(&opt.connectors));
  app.add_option("--db", opt.db_path, "SQLite usage store path")->capture_default_str();
  app.add_option("--listen", opt.listen, "Address for agents (host:port; port 0 = any free)")
      ->capture_default_str();
  app.add_option("--admin-listen", opt.admin_listen, "Address for the admin API")
      ->capture_default_str();
  app.add_option("--port-file", opt.port_file,
                 "Write '<agent port> <admin port>' here once listening");
  app.add_option("--max-message-bytes", opt.max_message_bytes,
                 "Largest message accepted from an agent, bytes")
      ->capture_default_str()->check(CLI::Range(1024, 64 << 20));
  app.add_option("--max-in-flight-batches", opt.max_in_flight_batches,
                 "Batches per stream queued before reading pauses")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--max-future-skew", opt.max_future_skew_s,
                 "Seconds an interval may end in the future of the collector's clock")
      ->capture_default_str()->check(CLI::Range(0, 86400));
  app.add_option("--max-intervals-per-batch", opt.max_intervals_per_batch,
                 "Intervals beyond this per batch are quarantined")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  // Input limits on the agent channel; each refusal is counted by reason
  // (`reclaimctl stats`).
  app.add_option("--max-streams-per-device", opt.agent_limits.max_streams_per_device,
                 "Streams one device may hold open at once (one per user session); a new "
                 "stream beyond it is refused with RESOURCE_EXHAUSTED; 0 = no limit")
      ->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--max-streams-per-user", opt.agent_limits.max_streams_per_user,
                 "Streams one user may hold open on one device at once (all users of a "
                 "machine share its device id); 0 = no limit")
      ->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--rate-intervals-per-s", opt.agent_limits.intervals_per_s,
                 "Sustained focus intervals per second per user of a device; a batch over the limit is "
                 "refused with RESOURCE_EXHAUSTED and resent later by the agent; 0 = no limit")
      ->capture_default_str()->check(CLI::Range(0.0, 1e9));
  app.add_option("--rate-intervals-burst", opt.agent_limits.intervals_burst,
                 "Intervals a user of a device may send at once above the sustained rate")
      ->capture_default_str()->check(CLI::Range(1.0, 1e12));
  app.add_option("--rate-bytes-per-s", opt.agent_limits.bytes_per_s,
                 "Sustained message bytes per second per user of a device; 0 = no limit")
      ->capture_default_str()->check(CLI::Range(0.0, 1e12));
  app.add_option("--rate-bytes-burst", opt.agent_limits.bytes_burst,
                 "Message bytes a user of a device may send at once above the sustained rate")
      ->capture_default_str()->check(CLI::Range(1.0, 1e15));
  app.add_option("--enroll-attempts-per-minute",
                 opt.enrollment_limits.attempts_per_minute,
                 "Sustained enrollment attempts per minute per peer address (IPv4 address or "
                 "IPv6 /64); beyond it Enroll answers RESOURCE_EXHAUSTED with the time to "
                 "wait; 0 = no limit")
      ->capture_default_str()->check(CLI::Range(0.0, 1e6));
  app.add_option("--enroll-attempts-burst", opt.enrollment_limits.attempts_burst,
                 "Enrollment attempts a peer address may make at once")
      ->capture_default_str()->check(CLI::Range(1.0, 1e6));
  app.add_option("--enroll-failures-per-hour", opt.enrollment_limits.failures_per_hour,
                 "Sustained failed enrollment attempts (wrong secret) per hour per peer "
                 "address; beyond it every attempt of that address is refused; 0 = no limit")
      ->capture_default_str()->check(CLI::Range(0.0, 1e6));
  app.add_option("--enroll-failures-burst", opt.enrollment_limits.failures_burst,
                 "Failed enrollment attempts a peer address may make at once")
      ->capture_default_str()->check(CLI::Range(1.0, 1e6));
  app.add_option("--max-command-result-bytes", opt.max_command_result_bytes,
                 "Longest command id or outcome in an agent's CommandResult, bytes; a longer "
                 "one is acknowledged but not applied")
      ->capture_default_str()->check(CLI::Range(16, 65536));
  app.add_option("--max-quarantine-rows", opt.max_quarantine_rows,
                 "Quarantined intervals kept; beyond it the oldest are dropped and counted; "
                 "0 = no cap")
      ->capture_default_str()->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 40));
  app.add_option("--clip-overlapping-focus", opt.clip_overlapping_focus,
                 "Credit focus time of one device and user that overlaps focus time already "
                 "stored for them only once (the overlap is counted: reclaimctl stats)")
      ->capture_default_str();
  app.add_option("--reclaim-poll", opt.reclaim_poll_s,
                 "Seconds between reclamation scheduler ticks at most")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  app.add_option("--campaign-housekeeping-ms", opt.campaign_housekeeping_ms,
                 "Ms between campaign housekeeping passes (answer time-outs, re-asks)")
      ->capture_default_str()->check(CLI::Range(50, 3600000));
  app.add_option("--prompt-min-interval", opt.prompt_min_interval_s,
                 "Seconds between two new not-urgent consent prompts of one user, across "
                 "all the user's devices (0 = no limit)")
      ->capture_default_str()->check(CLI::Range(0, 7 * 24 * 3600));
  app.add_option("--prompt-quiet-after-urgent", opt.prompt_quiet_after_urgent_s,
                 "Seconds without a new not-urgent prompt after an urgent one was displayed, "
                 "across the user's devices (0 = none)")
      ->capture_default_str()->check(CLI::Range(0, 24 * 3600));
  app.add_option("--tls-cert", opt.tls.cert_file,
                 "PEM certificate chain of both listeners (agents and admin API)");
  app.add_option("--tls-key", opt.tls.key_file,
                 "PEM private key of --tls-cert; the file must be owner-only (0600/0400)");
  app.add_option("--tls-client-ca", opt.tls.client_ca_file,
                 "Mutual TLS on the agent listener: agents must present a certificate signed "
                 "by a CA in this PEM bundle");
  app.add_option("--admin-tls-client-ca", opt.admin_tls_client_ca_file,
                 "Mutual TLS on the admin listener: reclaimctl must present a certificate "
                 "(--client-cert/--client-key) signed by a CA in this PEM bundle");
  app.add_flag("--insecure-plaintext", opt.tls.insecure_plaintext,
               "Listen WITHOUT TLS (trusted test networks only; logs a warning)");
  app.add_option("--enrollment-secret-file", opt.enrollment_secret_file,
                 std::string("Owner-only file with the secret agents enroll with (default: $") +
                     kEnrollmentSecretEnv + ")");
  app.add_flag("--allow-unenrolled-agents", opt.allow_unenrolled_agents,
               "Accept agents without a device credential (no device identity; testing only)");
  app.add_option("--device-registry-poll-ms", opt.device_registry_poll_ms,
                 "Ms between checks of the database for devices enrolled or revoked by other "
                 "collectors sharing it (their streams here end within about this long)")
      ->capture_default_str()->check(CLI::Range(50, 600000));
  app.add_option("--log-level", opt.logging.level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app.add_option("--log-file", opt.logging.file, "Log file (default: standard error)");

  // Admin tokens for reclaimctl (roles: viewer, operator, admin).
  AdminTokenCommand token_cmd;
  CLI::App* tokens = app.add_subcommand(
      "admin-token", "Create, list or revoke admin tokens for reclaimctl (stored as hashes)");
  tokens->require_subcommand(1);
  tokens->fallthrough();
  CLI::App* token_create = tokens->add_subcommand(
      "create", "Create a token and print it once (or write it to --token-file)");
  token_create->fallthrough();
  token_create->add_option("--name", token_cmd.name, "Token name, shown in the audit log")
      ->required();
  token_create->add_option("--role", token_cmd.role, "viewer, operator or admin")
      ->required()->check(CLI::IsMember({"viewer", "operator", "admin"}));
  token_create->add_option("--token-file", token_cmd.token_file,
                           "Write the token to this file (mode 0600) instead of stdout");
  tokens->add_subcommand("list", "Tokens (names and roles, never tokens)")->fallthrough();
  CLI::App* token_revoke = tokens->add_subcommand("revoke", "Revoke a token at once");
  token_revoke->fallthrough();
  token_revoke->add_option("--name", token_cmd.name, "Token name")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return reclaim::ReportParseError(app, e);
  }
  // admin-token prints what was asked for; the stores' info lines (schema
  // migrations) would only clutter it: warnings and errors unless a level
  // was asked for.
  if (*tokens && app.get_option("--log-level")->count() == 0) opt.logging.level = "warn";
  if (absl::Status s = reclaim::SetUpLogging(opt.logging); !s.ok()) {
    std::fprintf(stderr, "reclaim-collector: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (*tokens) {
    const std::string verb = *token_create ? "create" : *token_revoke ? "revoke" : "list";
    return RunAdminTokenCommand(opt, verb, token_cmd);
  }
  return Run(opt);
}
