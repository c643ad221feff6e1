// reclaim-agent: meters application focus time in the user's session and
// streams it to the collector through a local spool.
//
// The agent never talks gRPC itself (it would cost ~6 MB of resident memory
// and timer wake-ups in every session). Its uplink (the engine of
// agent/uplink/uplink.h) runs over a local channel (agent/local/
// local_uplink.h: a UNIX socket on Linux, a named pipe on Windows) to
// reclaim-agent-service: by default the machine service at
// DefaultServiceAddress() (--service-address: /run/reclaim/agent.sock,
// \\.\pipe\reclaim-agent-service), which attests the session's user; with
// --collector (direct mode) a personal `reclaim-agent-service relay` it
// starts per stream with the collector, TLS, credential and enrollment
// options given here. Both platforms run the same code.
//
// Flags and the config file are read here only (CLI11; the config file is
// TOML/INI with the long option names as keys). Exit codes: 0 done, 1 runtime
// error (message in the log), 2 bad flags or config, 3 replay finished but not
// everything was acknowledged before --drain-timeout (it stays in the spool
// and is sent on the next run).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "agent/browser/browser_bridge.h"
#include "agent/browser/browser_address.h"
#include "agent/browser/web_focus_resolver.h"
#include "agent/core/metering_loop.h"
#include "agent/core/desktop_state.h"
#include "agent/core/prompt_service.h"
#include "agent/core/replay_driver.h"
#include "agent/core/spool_batch_store.h"
#include "agent/platform/process_platform.h"
#include "agent/sources/do_not_disturb.h"
#include "agent/sources/focus_source.h"
#include "agent/sources/idle_source.h"
#include "agent/sources/prompter.h"
#include "agent/sources/scripted_source.h"
#include "agent/sources/session_source.h"
#include "agent/sources/suspend_detector.h"
#include "agent/spool/spool.h"
#include "agent/local/local_channel.h"
#include "agent/local/local_uplink.h"
#include "agent/local/relay_connector.h"
#include "agent/local/relay_process.h"
#include "common/clock.h"
#include "common/grpc_tls.h"
#include "common/log_format.h"
#include "common/logging.h"
#include "common/secret_file.h"
#include "common/toml_config.h"
#include "spdlog/spdlog.h"

namespace {

constexpr char kAgentVersion[] = "0.1.0";

/// Agent options; every field documents its default.
struct AgentOptions {
  /// Collector address. When set, direct mode (a personal relay per
  /// stream); default none: the machine's reclaim-agent-service.
  std::string collector;
  /// The machine's reclaim-agent-service, used without --collector: a socket
  /// path / pipe name. Default DefaultServiceAddress()
  /// (/run/reclaim/agent.sock, \\.\pipe\reclaim-agent-service).
  std::string service_address = reclaim::agent::DefaultServiceAddress();
  /// Spool file. Default spool.db in DefaultStateDirectory():
  /// $XDG_STATE_HOME/reclaim/spool.db (~/.local/state/reclaim/spool.db),
  /// Windows %LOCALAPPDATA%\Reclaim\spool.db.
  std::string spool_path;
  /// Spool cap, bytes. Default 64 MiB.
  std::int64_t spool_max_bytes = 64LL << 20;
  /// Device id. Default: the machine's id (process_platform.h ReadDeviceId:
  /// /etc/machine-id, Windows MachineGuid).
  std::string device_id;
  /// Scripted focus source: a script file to replay. Default none.
  std::string script;
  /// Virtual seconds per real second for --script; 0 = as fast as possible.
  double replay_speed = 1.0;
  /// Exit after the script is replayed and acknowledged.
  bool exit_when_done = false;
  /// Seconds to wait for acknowledgement before exiting. Default 30.
  int drain_timeout_s = 30;
  /// Heartbeat, seconds. Default 60.
  int heartbeat_s = 60;
  /// Reconnect backoff bounds, ms. Defaults 1000 and 60000.
  int backoff_initial_ms = 1000;
  int backoff_max_ms = 60000;
  /// Send window titles (private; off by default).
  bool send_window_titles = false;
  /// Real metering (without --script): seconds without input after which the
  /// user is idle (idle time starts at the last input). Default 300.
  int idle_threshold_s = 300;
  /// X11 display to meter. Default: $DISPLAY; when unset, the first local X
  /// server (/tmp/.X11-unix/XN) that accepts this user.
  std::string display;
  /// D-Bus address of logind's bus. Default: the system bus; "none" disables
  /// the logind session source (the clock-jump suspend detector still runs).
  std::string logind_bus;
  /// logind session id. Default: $XDG_SESSION_ID, else logind's answer for this process.
  std::string session_id;
  /// How often the metering loop wakes without events, ms. Default 5000.
  int tick_ms = 5000;
  /// Consent prompts (live metering only): at most one not-urgent prompt per
  /// this many seconds. Default 21600 (6 h).
  int prompt_min_interval_s = 6 * 3600;
  /// Seconds a prompt dialog stays up without an answer. Default 600.
  int prompt_dialog_timeout_s = 600;
  /// Real metering: the socket (Windows: pipe) on which reclaim-native-host
  /// reports the browser extension's active sites. Default:
  /// $RECLAIM_BROWSER_SOCKET, else $XDG_RUNTIME_DIR/reclaim/browser.sock, else
  /// /tmp/reclaim-<uid>/browser.sock; Windows \\.\pipe\reclaim-browser-<SID>
  /// (browser_address.h); "none" disables web-application focus time.
  std::string browser_socket;
  /// Page details of web sites the agent keeps and sends beyond the origin:
  /// "origin" (none), "path", "title" or "path+title". Default "origin". The
  /// extension sends them only when its managed policy allows them too.
  std::string web_detail = "origin";
  /// No not-urgent prompt this many seconds after an urgent one. Default 1200.
  int prompt_quiet_after_urgent_s = 20 * 60;
  /// Do-not-disturb: "auto" (ask the desktop: do_not_disturb.h), "on"
  /// (not-urgent prompts never show) or "off". Default "auto".
  std::string do_not_disturb = "auto";
  /// $DBUS_SESSION_BUS_ADDRESS, for the do-not-disturb probe.
  std::string session_bus;
  /// Session user overrides (default: from the OS).
  std::string user_login, user_domain, user_upn;
  reclaim::LoggingOptions logging{.level = "info", .file = "", .name = "reclaim-agent"};
  /// TLS to the collector (direct mode): CA bundle (required unless
  /// insecure_plaintext), optional client certificate and owner-only key
  /// (mutual TLS).
  reclaim::ClientTlsOptions tls;
  /// Owner-only file holding the device credential. Default: beside the
  /// spool ("device-credential").
  std::string credential_file;
  /// Owner-only file with the enrollment secret, used when there is no
  /// credential yet (or with `enroll`). Default none: $RECLAIM_ENROLLMENT_SECRET.
  std::string enrollment_secret_file;
  /// Enroll again even though a credential exists (after a revocation).
  bool enroll = false;
};

/// Environment variable holding the enrollment secret when no file is given.
constexpr char kEnrollmentSecretEnv[] = "RECLAIM_ENROLLMENT_SECRET";

/// The device credential (direct mode) and, when it has to enroll, the
/// enrollment secret.
struct DeviceCredentialFiles {
  /// The credential file (owner-only); default "device-credential" beside the spool.
  std::string file;
  /// Its content, empty when there is none yet (or --enroll).
  std::string token;
  /// The enrollment secret, when needed and given.
  std::string enrollment_secret;
};

// Reads the device credential and, when it has to enroll, the enrollment
// secret. Errors name the files, never their content.
absl::StatusOr<DeviceCredentialFiles> LoadDeviceCredential(const AgentOptions& opt,
                                                           const std::string& spool_path) {
  DeviceCredentialFiles dev;
  dev.file = !opt.credential_file.empty()
                 ? opt.credential_file
                 : (std::filesystem::path(spool_path).parent_path() / "device-credential")
                       .string();
  std::error_code ec;
  if (!opt.enroll && std::filesystem::exists(dev.file, ec)) {
    auto token = reclaim::ReadSecretFile(dev.file, "device credential");
    if (!token.ok()) return token.status();
    dev.token = std::move(*token);
    return dev;
  }
  if (!opt.enrollment_secret_file.empty()) {
    auto secret = reclaim::ReadSecretFile(opt.enrollment_secret_file, "enrollment secret");
    if (!secret.ok()) return secret.status();
    dev.enrollment_secret = std::move(*secret);
  } else if (std::getenv(kEnrollmentSecretEnv) != nullptr) {
    auto secret = reclaim::ReadSecretEnv(kEnrollmentSecretEnv, "enrollment secret");
    if (!secret.ok()) return secret.status();
    dev.enrollment_secret = std::move(*secret);
  } else if (opt.enroll) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--enroll needs the enrollment secret (--enrollment-secret-file or $",
        kEnrollmentSecretEnv, ")"));
  }
  return dev;
}

// The whole file, if it is at most `max_bytes`. Errors: kNotFound, kInvalidArgument.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, std::uintmax_t max_bytes) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", ec.message()));
  if (size > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", size, " bytes; the limit is ", max_bytes));
  }
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  if (!f) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return ss.str();
}

std::string DefaultSpoolPath() {
  return (std::filesystem::path(reclaim::agent::DefaultStateDirectory()) / "spool.db").string();
}

// Where the uplink goes, for the start-up log line.
std::string UplinkTarget(const AgentOptions& opt) {
  if (opt.collector.empty()) {
    return absl::StrCat("collector through reclaim-agent-service at ", opt.service_address);
  }
  return absl::StrCat("collector ", opt.collector, " (direct mode: personal relay)");
}

// Talking to the collector (directly or through a relay): warns about
// plaintext and a missing credential, and loads the credential files.
// Errors: INVALID_ARGUMENT naming the file.
absl::StatusOr<DeviceCredentialFiles> LoadCollectorCredential(const AgentOptions& opt,
                                                              const std::string& spool_path) {
  if (opt.tls.insecure_plaintext) {
    spdlog::warn("WARNING: connecting to the collector WITHOUT TLS (insecure-plaintext): usage "
                 "data and the device credential cross the network in clear text");
  }
  auto device = LoadDeviceCredential(opt, spool_path);
  if (!device.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("device credential: ", device.status().message()));
  }
  if (device->token.empty() && device->enrollment_secret.empty()) {
    spdlog::warn("no device credential ({}) and no enrollment secret: a collector that "
                 "authenticates devices will refuse this agent",
                 device->file);
  }
  return device;
}

// The engine over a local channel to reclaim-agent-service: the machine
// service's address, or with --collector a personal relay per stream.
absl::StatusOr<std::unique_ptr<reclaim::agent::Uplink>> MakeAgentUplink(
    const AgentOptions& opt, const std::string& spool_path, reclaim::agent::Spool& spool,
    const reclaim::agent::AgentIdentity& identity, const reclaim::agent::UplinkOptions& up) {
  using namespace reclaim::agent;
  if (opt.collector.empty()) {
    if (!opt.tls.ca_file.empty() || !opt.tls.cert_file.empty() || !opt.tls.key_file.empty() ||
        opt.tls.insecure_plaintext || !opt.credential_file.empty() ||
        !opt.enrollment_secret_file.empty() || opt.enroll) {
      spdlog::warn("TLS, credential and enrollment options apply to direct mode (--collector) "
                   "only; the machine's reclaim-agent-service holds its own: ignored");
    }
    return MakeLocalUplink(spool, identity, up, MakeServiceSocketConnector(opt.service_address));
  }
  std::string service;
  if (const IpcStatus found = FindAgentService(&service); !found.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("direct mode (--collector) needs reclaim-agent-service: ", found.message));
  }
  // A credential or secret file others can read is a configuration error:
  // said now, not by every relay. The relays read the files themselves.
  auto device = LoadCollectorCredential(opt, spool_path);
  if (!device.ok()) return device.status();
  reclaim::WipeSecret(device->token);
  reclaim::WipeSecret(device->enrollment_secret);
  RelayConnectorOptions ro;
  ro.collector = opt.collector;
  ro.enroll = opt.enroll;
  ro.credential_file = device->file;
  ro.relay_args = {"--collector", opt.collector, "--credential-file", device->file,
                   "--log-level", opt.logging.level};
  const std::pair<const char*, const std::string*> files[] = {
      {"--ca-file", &opt.tls.ca_file},
      {"--client-cert", &opt.tls.cert_file},
      {"--client-key", &opt.tls.key_file},
      {"--enrollment-secret-file", &opt.enrollment_secret_file},
      {"--log-file", &opt.logging.file}};
  for (const auto& [flag, value] : files) {
    if (!value->empty()) ro.relay_args.insert(ro.relay_args.end(), {flag, *value});
  }
  if (opt.tls.insecure_plaintext) ro.relay_args.push_back("--insecure-plaintext");
  return MakeLocalUplink(spool, identity, up,
                         MakeRelayConnector(MakeProcessRelaySpawner(service), std::move(ro)));
}

// Real metering in this session: X11 focus and idle, logind lock/suspend,
// until the OS asks the agent to stop (process_platform.h WatchStopRequests).
// Returns the exit code.
// `desktop` (may be null) follows idle, lock and full screen for the prompts.
int RunLive(const AgentOptions& opt, const reclaim::Clock& clock, reclaim::agent::Spool& spool,
            reclaim::agent::Uplink& uplink, absl::Notification& stopped,
            reclaim::agent::DesktopStateTracker* desktop) {
  using namespace reclaim::agent;
  const std::chrono::milliseconds threshold = std::chrono::seconds(opt.idle_threshold_s);
  MeteringLoopOptions lo;
  lo.meter = MakeMeterOptions(threshold, std::chrono::seconds(opt.heartbeat_s));
  lo.tick = std::chrono::milliseconds(opt.tick_ms);
  lo.send_window_titles = opt.send_window_titles;
  const WebDetailPolicy web_detail = ParseWebDetailPolicy(opt.web_detail).value_or(WebDetailPolicy{});
  lo.send_web_page_detail = web_detail.path || web_detail.title;
  if (lo.send_web_page_detail) {
    spdlog::info("web sites: keeping the page {} the extension's policy allows (--web-detail)",
                 opt.web_detail);
  }
  MeteringLoop loop(lo, SpoolBatchStore(spool, clock), clock, &ReadAwakeClock,
                    [&uplink] { uplink.Notify(); });
  // Focus events pass through the web focus resolver: a browser in front is
  // metered as the site of its active tab (agent/browser/).
  WebFocusResolver web(loop.sink(), clock);
  std::unique_ptr<BrowserBridge> bridge;
  if (opt.browser_socket != "none") {
    BrowserBridgeOptions bo;
    bo.socket_path = opt.browser_socket;
    bo.web_detail = web_detail;
    auto b = StartBrowserBridge(bo, [&web](std::int64_t pid,
                                           const std::optional<WebBrowserState>& state) {
      web.OnBrowserState(pid, state);
    });
    if (b.ok()) {
      bridge = *std::move(b);
    } else {
      spdlog::warn("web-application focus time is off: {}", b.status());
    }
  }

  FocusSourceOptions fo;
  fo.display = opt.display;
  fo.read_window_titles = opt.send_window_titles;
  fo.excluded_pids = {CurrentProcessId()};  // our own prompts
  if (desktop) fo.on_fullscreen = [desktop](bool f) { desktop->SetFullscreen(f); };
  IdleSourceOptions io;
  io.display = opt.display;
  io.threshold = threshold;
  std::unique_ptr<FocusSource> focus = MakeFocusSource(fo, clock);
  std::unique_ptr<IdleSource> idle = MakeIdleSource(io, clock);
  std::unique_ptr<SessionSource> session;
  if (opt.logind_bus != "none") {
    SessionSourceOptions so;
    so.bus_address = opt.logind_bus;
    so.session_id = opt.session_id;
    session = MakeSessionSource(so, clock);
  }
  spdlog::info("metering X display {} (idle threshold {} s, heartbeat {} s, logind {})",
               opt.display.empty() ? "(auto)" : opt.display, opt.idle_threshold_s,
               opt.heartbeat_s,
               opt.logind_bus == "none" ? "off" : opt.logind_bus.empty() ? "system bus"
                                                                         : opt.logind_bus);
  loop.Start();
  // The prompts' desktop state sees the idle, lock and suspend events the
  // meter sees (focus goes through the web focus resolver).
  EventSink sink = loop.sink();
  if (desktop) {
    sink = [desktop, meter = loop.sink()](const MeterEvent& e) {
      desktop->Observe(e);
      meter(e);
    };
  }
  focus->Start(web.sink());
  idle->Start(sink);
  if (session) session->Start(sink);

  stopped.WaitForNotification();  // the stop request watcher
  // Sources first, so their last events reach the meter; then the last batch.
  if (session) session->Stop();
  idle->Stop();
  focus->Stop();
  if (bridge) bridge->Stop();
  loop.Stop();
  const MeteringLoopStats st = loop.stats();
  spdlog::info("stopped: {} events, {} intervals in {} batches, {} late events, {} suspends "
               "detected",
               st.events, st.intervals, st.batches, st.late_events, st.suspends_detected);
  if (!uplink.WaitForAck(spool.last_seq(), std::chrono::seconds(opt.drain_timeout_s))) {
    spdlog::warn("{} batch(es) not acknowledged yet; they stay in the spool for the next run",
                 spool.pending_batches());
  }
  return 0;
}

int Run(const AgentOptions& opt) {
  reclaim::SystemClock clock;
  std::optional<reclaim::agent::Script> script;
  absl::StatusOr<std::string> script_text = std::string();
  if (!opt.script.empty()) {
    script_text = ReadSmallFile(opt.script, 64 << 20);
    if (!script_text.ok()) {
      spdlog::critical("{}", script_text.status().message());
      return 2;
    }
    auto parsed = reclaim::agent::ParseScript(*script_text, opt.script);
    if (!parsed.ok()) {
      spdlog::critical("{}", parsed.status().message());
      return 2;
    }
    script = std::move(*parsed);
    if (!opt.send_window_titles) {
      // Window titles are private: they never leave the machine unless enabled.
      for (reclaim::agent::MeterEvent& e : script->events) {
        if (e.app) e.app->window_title.clear();
      }
    }
  }

  reclaim::agent::AgentIdentity identity;
  identity.device_id =
      opt.device_id.empty() ? reclaim::agent::ReadDeviceId() : opt.device_id;
  if (identity.device_id.empty()) {
    spdlog::critical("no device id: {} is missing; pass --device-id",
                     reclaim::agent::DeviceIdSource());
    return 2;
  }
  identity.hostname = reclaim::agent::HostName();
  identity.agent_version = kAgentVersion;
  identity.os_version = reclaim::agent::OsVersion();
  const reclaim::agent::PlatformUser os_user = reclaim::agent::CurrentPlatformUser();
  identity.user.login_name = !opt.user_login.empty() ? opt.user_login : os_user.login_name;
  // Local accounts belong to the machine's "domain", as on Windows (HOST\user).
  identity.user.domain = !opt.user_domain.empty() ? opt.user_domain : os_user.domain;
  identity.user.sid = os_user.sid;
  identity.user.uid = os_user.uid;
  identity.user.upn = !opt.user_upn.empty() ? opt.user_upn : os_user.upn;

  const std::string spool_path = opt.spool_path.empty() ? DefaultSpoolPath() : opt.spool_path;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(spool_path).parent_path(), ec);
  // One agent per spool: a second one (a second logon task, a user starting
  // it by hand) would interleave batches with the first's sequence numbers.
  std::string lock_error;
  const std::unique_ptr<reclaim::agent::InstanceLock> instance_lock =
      reclaim::agent::TryLockInstance(spool_path + ".lock", &lock_error);
  if (instance_lock == nullptr) {
    if (lock_error.rfind(reclaim::agent::kInstanceLockHeld, 0) == 0) {
      // "held by another process (pid N)" -> "... <spool> (pid N)"
      spdlog::critical("another reclaim-agent is using {}{}", spool_path,
                       lock_error.substr(std::strlen(reclaim::agent::kInstanceLockHeld)));
    } else {
      spdlog::critical("cannot lock the spool {}: {}", spool_path, lock_error);
    }
    return 1;
  }
  auto spool = reclaim::agent::Spool::Open(
      {.path = spool_path, .max_bytes = opt.spool_max_bytes}, clock);
  if (!spool.ok()) {
    spdlog::critical("cannot open the spool {}: {}", spool_path, spool.status());
    return 1;
  }
  spdlog::info("reclaim-agent {} device {} instance {} user {}\\{} spool {} ({} batches "
               "pending) {}",
               kAgentVersion, identity.device_id, (*spool)->instance_id(),
               identity.user.domain, identity.user.login_name, spool_path,
               (*spool)->pending_batches(), UplinkTarget(opt));

  // Consent prompts (live metering only): the uplink stores them in the spool
  // and wakes the prompt service, which shows them with zenity on this
  // session's display and records the answers for the uplink to send.
  std::unique_ptr<reclaim::agent::ConsentPrompter> prompter;
  std::unique_ptr<reclaim::agent::DoNotDisturbProbe> dnd;
  std::unique_ptr<reclaim::agent::DesktopStateTracker> desktop;
  std::unique_ptr<reclaim::agent::PromptService> prompts;
  std::unique_ptr<reclaim::agent::Uplink> uplink;
  if (!script) {
    if (!opt.display.empty()) {
      reclaim::agent::SetProcessEnvironment("DISPLAY", opt.display);  // for the dialog
    }
    prompter = reclaim::agent::MakeDesktopPrompter();  // zenity; Windows: our dialog
    dnd = reclaim::agent::MakeDoNotDisturbProbe({.session_bus_address = opt.session_bus});
    reclaim::agent::DesktopStateOptions dso;
    dso.do_not_disturb = opt.do_not_disturb == "on"    ? reclaim::agent::DoNotDisturbMode::kOn
                         : opt.do_not_disturb == "off" ? reclaim::agent::DoNotDisturbMode::kOff
                                                       : reclaim::agent::DoNotDisturbMode::kAuto;
    dso.do_not_disturb_probe = [&dnd] { return dnd->Query(); };
    dso.on_change = [&prompts] {
      if (prompts) prompts->Wake();
    };
    desktop = std::make_unique<reclaim::agent::DesktopStateTracker>(dso);
    reclaim::agent::PromptServiceOptions po;
    po.policy.min_not_urgent_interval = std::chrono::seconds(opt.prompt_min_interval_s);
    po.policy.quiet_after_urgent = std::chrono::seconds(opt.prompt_quiet_after_urgent_s);
    po.dialog_timeout = std::chrono::seconds(opt.prompt_dialog_timeout_s);
    po.desktop = [&desktop] { return desktop->Get(); };
    po.do_not_disturb = [&desktop] { return desktop->DoNotDisturb(); };
    prompts = std::make_unique<reclaim::agent::PromptService>(
        **spool, *prompter, clock, [&uplink] { uplink->Notify(); }, po);
  }
  reclaim::agent::UplinkOptions up;
  up.backoff.initial = std::chrono::milliseconds(opt.backoff_initial_ms);
  up.backoff.max = std::chrono::milliseconds(opt.backoff_max_ms);
  up.on_prompts_changed = [&prompts] {
    if (prompts) prompts->Wake();
  };
  auto made = MakeAgentUplink(opt, spool_path, **spool, identity, up);
  if (!made.ok()) {
    spdlog::critical("{}", made.status().message());
    return 2;
  }
  uplink = std::move(*made);
  uplink->Start();
  if (prompts) prompts->Start();  // after the uplink exists: it notifies it

  // The OS's stop requests (SIGINT/SIGTERM; Windows: console control,
  // logoff, shutdown) set `stop` (process_platform.h).
  std::atomic<bool> stop{false};
  absl::Notification stopped;
  std::unique_ptr<reclaim::agent::StopRequestWatcher> stop_requests =
      reclaim::agent::WatchStopRequests([&stop, &stopped](const std::string& reason) {
        spdlog::info("{}: stopping", reason);
        stop = true;
        stopped.Notify();
      });

  if (!script) {
    const int rc = RunLive(opt, clock, **spool, *uplink, stopped, desktop.get());
    prompts->Stop();
    uplink->Stop();
    stop_requests->Close();
    return rc;
  }

  reclaim::agent::ReplayOptions ro;
  ro.speed = opt.replay_speed;
  ro.meter.heartbeat = std::chrono::seconds(opt.heartbeat_s);
  absl::Status s = reclaim::agent::RunReplay(*script, *script_text, ro, **spool, clock, stop,
                                             [&] { uplink->Notify(); });
  int rc = 0;
  if (!s.ok()) {
    spdlog::error("replay stopped: {}", s);
    rc = 1;
  } else if (!stop.load()) {
    spdlog::info("script replayed; {} batch(es) waiting for the collector",
                 (*spool)->pending_batches());
    if (!opt.exit_when_done) {
      while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } else if (!uplink->WaitForAck((*spool)->last_seq(),
                                   std::chrono::seconds(opt.drain_timeout_s))) {
      spdlog::warn("not everything was acknowledged within {} s; {} batch(es) stay in the "
                   "spool for the next run",
                   opt.drain_timeout_s, (*spool)->pending_batches());
      rc = 3;
    }
  }
  uplink->Stop();
  stop_requests->Close();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  // The agent runs in every user session: keep the allocator small (glibc:
  // no malloc arena per gRPC thread). Before any thread exists: the stop
  // signals are blocked in all threads but the watcher's.
  reclaim::agent::TuneProcessMemory();
  reclaim::agent::PrepareForStopRequests();

  AgentOptions opt;
  CLI::App app{"reclaim-agent: meters application focus time in the user's session and sends "
               "it to the Reclaim collector, buffering it in a local spool."};
  reclaim::AddStrictConfig(app);
  app.add_option("--collector", opt.collector,
                 "Direct mode: collector address (host:port), reached through a personal "
                 "reclaim-agent-service relay with this agent's TLS, credential and enrollment "
                 "options (default: none, the machine's reclaim-agent-service)");
  app.add_option("--service-address", opt.service_address,
                 "Without --collector: the machine's reclaim-agent-service (a UNIX socket; "
                 "Windows: a pipe name)")
      ->capture_default_str();
  // The old name (before Windows had a machine service), kept for existing
  // configurations; not shown in --help.
  app.add_option("--service-socket", opt.service_address)->group("");
  app.add_option("--spool", opt.spool_path,
                 "Spool file (default " + DefaultSpoolPath() + ")");
  app.add_option("--spool-max-bytes", opt.spool_max_bytes,
                 "Spool cap in bytes; the oldest batches are dropped (and reported) beyond it")
      ->capture_default_str()->check(CLI::Range(std::int64_t{1} << 16, std::int64_t{1} << 40));
  app.add_option("--device-id", opt.device_id,
                 "Device id (default: " + reclaim::agent::DeviceIdSource() + ")");
  app.add_option("--script", opt.script,
                 "Scripted focus source: replay this script of timed focus/idle events")
      ->check(CLI::ExistingFile);
  app.add_option("--replay-speed", opt.replay_speed,
                 "Virtual seconds per real second when replaying; 0 = as fast as possible")
      ->capture_default_str()->check(CLI::Range(0.0, 1e9));
  app.add_flag("--exit-when-done", opt.exit_when_done,
               "Exit once the script is replayed and acknowledged");
  app.add_option("--drain-timeout", opt.drain_timeout_s,
                 "Seconds to wait for acknowledgement with --exit-when-done")
      ->capture_default_str()->check(CLI::Range(0, 86400));
  app.add_option("--heartbeat", opt.heartbeat_s, "Flush running focus intervals this often, s")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  app.add_option("--backoff-initial-ms", opt.backoff_initial_ms, "First reconnect delay bound")
      ->capture_default_str()->check(CLI::Range(10, 600000));
  app.add_option("--backoff-max-ms", opt.backoff_max_ms, "Largest reconnect delay")
      ->capture_default_str()->check(CLI::Range(10, 3600000));
  app.add_flag("--send-window-titles", opt.send_window_titles,
               "Send window titles with focus intervals (private; off by default)");
  app.add_option("--idle-threshold", opt.idle_threshold_s,
                 "Real metering: seconds without input after which the user is idle (idle "
                 "time starts at the last input)")
      ->capture_default_str()->check(CLI::Range(1, 86400));
  app.add_option("--display", opt.display,
                 "Real metering: X11 display (default $DISPLAY; when unset, the first local "
                 "X server that accepts this user)");
  app.add_option("--logind-bus", opt.logind_bus,
                 "Real metering: D-Bus address of logind's bus (default: the system bus; "
                 "'none' disables logind)");
  app.add_option("--session-id", opt.session_id,
                 "Real metering: logind session id (default $XDG_SESSION_ID, else asked)");
  app.add_option("--tick-ms", opt.tick_ms,
                 "Real metering: the loop wakes at least this often without events, ms")
      ->capture_default_str()->check(CLI::Range(100, 600000));
  app.add_option("--prompt-min-interval", opt.prompt_min_interval_s,
                 "At most one not-urgent consent prompt per this many seconds")
      ->capture_default_str()->check(CLI::Range(0, 7 * 24 * 3600));
  app.add_option("--prompt-timeout", opt.prompt_dialog_timeout_s,
                 "Seconds a consent prompt stays on screen without an answer")
      ->capture_default_str()->check(CLI::Range(1, 24 * 3600));
  app.add_option("--browser-socket", opt.browser_socket,
                 "Real metering: socket (Windows: pipe) for the browser extension's native host "
                 "(default $XDG_RUNTIME_DIR/reclaim/browser.sock; Windows "
                 "\\\\.\\pipe\\reclaim-browser-<SID>; 'none' disables web focus time)");
  app.add_option("--web-detail", opt.web_detail,
                 "Real metering: what the agent keeps of a web site beyond its host: origin "
                 "(nothing more), path, title or path+title (private; the extension's managed "
                 "policy must allow them too)")
      ->capture_default_str()->check(CLI::IsMember({"origin", "path", "title", "path+title"}));
  app.add_option("--prompt-quiet-after-urgent", opt.prompt_quiet_after_urgent_s,
                 "No not-urgent consent prompt this many seconds after an urgent one")
      ->capture_default_str()->check(CLI::Range(0, 7 * 24 * 3600));
  app.add_option("--do-not-disturb", opt.do_not_disturb,
                 "Do-not-disturb for not-urgent prompts: auto (the desktop's notification "
                 "setting), on, off")
      ->capture_default_str()->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--user-login", opt.user_login, "Override the session user's login name");
  app.add_option("--user-domain", opt.user_domain,
                 "Override the session user's domain (default: the host name)");
  app.add_option("--user-upn", opt.user_upn, "The session user's UPN, when known");
  app.add_option("--ca-file", opt.tls.ca_file,
                 "PEM bundle of the CAs that may sign the collector's certificate");
  app.add_option("--client-cert", opt.tls.cert_file,
                 "Mutual TLS: this agent's PEM certificate");
  app.add_option("--client-key", opt.tls.key_file,
                 "Mutual TLS: the key of --client-cert (owner-only file)");
  app.add_flag("--insecure-plaintext", opt.tls.insecure_plaintext,
               "Connect WITHOUT TLS (trusted test networks only; logs a warning)");
  app.add_option("--credential-file", opt.credential_file,
                 "Owner-only file holding the device credential (default: beside the spool)");
  app.add_option("--enrollment-secret-file", opt.enrollment_secret_file,
                 std::string("Owner-only file with the enrollment secret, used when this "
                             "device has no credential yet (default: $") +
                     kEnrollmentSecretEnv + ")");
  app.add_flag("--enroll", opt.enroll,
               "Enroll again with the enrollment secret although a credential exists (after "
               "a revocation)");
  app.add_option("--log-level", opt.logging.level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app.add_option("--log-file", opt.logging.file, "Log file (default: standard error)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return reclaim::ReportParseError(app, e);
  }
  if (opt.backoff_max_ms < opt.backoff_initial_ms) {
    std::fprintf(stderr, "reclaim-agent: --backoff-max-ms is below --backoff-initial-ms\n");
    return 2;
  }
  // Environment defaults (read here only, like flags).
  if (opt.display.empty()) {
    if (const char* d = std::getenv("DISPLAY"); d != nullptr) opt.display = d;
  }
  if (const char* bus = std::getenv("DBUS_SESSION_BUS_ADDRESS"); bus != nullptr) {
    opt.session_bus = bus;
  }
  if (opt.session_id.empty()) {
    if (const char* id = std::getenv("XDG_SESSION_ID"); id != nullptr) opt.session_id = id;
  }
  if (opt.browser_socket.empty()) {
    const char* path = std::getenv("RECLAIM_BROWSER_SOCKET");
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    const reclaim::agent::PlatformUser user = reclaim::agent::CurrentPlatformUser();
    opt.browser_socket = reclaim::agent::DefaultBrowserAddress(
        path ? path : "", runtime ? runtime : "", user.uid.value_or(0), user.sid);
  }
  if (absl::Status s = reclaim::SetUpLogging(opt.logging); !s.ok()) {
    std::fprintf(stderr, "reclaim-agent: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  // The agent logs a few lines per hour (connections, outages): flush each
  // info line so supervisors (journald) and tests see it at once.
  spdlog::default_logger()->flush_on(spdlog::level::info);
  return Run(opt);
}
