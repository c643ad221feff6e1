// Transport security and device identity end to end, with the real
// programs: TLS with a test CA made at test time by deploy/make-test-ca.sh
// (openssl), enrollment, a wrong CA, plaintext clients against a TLS
// collector, mutual TLS, a world-readable secret file, a forged credential,
// and a revoked device that keeps its spool and delivers it after enrolling
// again.
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/binaries.h"
#include "tests/integration/harness.h"
#include "tests/integration/process.h"
#include "tests/integration/script_gen.h"
#include "tests/testing/temp_dir.h"

#ifndef RECLAIM_MAKE_TEST_CA
#error "RECLAIM_MAKE_TEST_CA (deploy/make-test-ca.sh) must be defined"
#endif

namespace reclaim::integration {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

// The marker lets the suite-wide no_secret_in_logs check catch a leak.
constexpr char kSecret[] = "RECLAIM-TEST-SECRET-enroll-5b1f0c9e7d2a4c86";

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* ca : {"tls", "other-ca"}) {
      const RunResult r = RunToCompletion("/bin/bash", {RECLAIM_MAKE_TEST_CA, dir_.File(ca)},
                                          dir_.File(std::string("make-") + ca), seconds(60));
      ASSERT_EQ(r.exit_code, 0) << "deploy/make-test-ca.sh failed (is openssl installed?): "
                                << r.err;
    }
    secret_file_ = dir_.File("enrollment.secret");
    WriteFile(secret_file_, std::string(kSecret) + "\n");
    ASSERT_EQ(chmod(secret_file_.c_str(), 0600), 0);
    bin_.ctl_flags = {"--ca-file", Tls("ca.pem")};
  }

  std::string Tls(const std::string& name) { return dir_.File("tls/" + name); }

  std::vector<std::string> CollectorTls(bool mutual = false) {
    std::vector<std::string> a = {"--tls-cert", Tls("server.pem"), "--tls-key",
                                  Tls("server-key.pem"), "--enrollment-secret-file",
                                  secret_file_};
    if (mutual) a.insert(a.end(), {"--tls-client-ca", Tls("ca.pem")});
    return a;
  }

  CollectorProcess Collector(bool mutual = false) {
    return CollectorProcess(bin_.collector, dir_.path().string(), dir_.File("collector.db"),
                            CollectorTls(mutual));
  }

  GeneratedScript WriteScript(std::uint64_t seed, const std::string& path,
                              std::int64_t days_back = 0) {
    ScriptSpec spec;
    spec.seed = seed;
    spec.duration_ms = 3600LL * 1000;
    spec.start_utc_ms = PastStartUtcMs() - days_back * 24 * 3600 * 1000;
    spec.max_gap_ms = 4 * 60 * 1000;
    GeneratedScript s = GenerateScript(spec);
    WriteFile(path, s.text);
    return s;
  }

  // An enrolling agent with the test CA; its credential beside the spool.
  AgentArgs Agent(const CollectorProcess& c, const std::string& script) {
    AgentArgs a;
    a.collector = c.agent_target();
    a.spool = dir_.File("spool.db");
    a.script = script;
    a.security = {"--ca-file", Tls("ca.pem"), "--enrollment-secret-file", secret_file_};
    return a;
  }

  RunResult Run(const AgentArgs& a, const std::string& tag) {
    return RunToCompletion(bin_.agent, a.Build(), dir_.File(tag), seconds(60));
  }

  RunResult Ctl(std::vector<std::string> args, const std::string& tag) {
    return RunToCompletion(bin_.ctl, args, dir_.File(tag), seconds(30));
  }

  std::int64_t StoredFocusMs(CollectorProcess& c) {
    std::map<std::string, UsageRow> usage;
    EXPECT_TRUE(QueryUsage(bin_, c, dir_.path().string(), &usage));
    return TotalFocusMs(usage);
  }

  // Batches the agent found in its spool at start ("(N batches pending)").
  static int PendingAtStart(const std::string& agent_err) {
    std::smatch m;
    if (!std::regex_search(agent_err, m, std::regex(R"(\((\d+) batches pending\))"))) return -1;
    return std::stoi(m[1]);
  }

  reclaim::testing::TempDir dir_;
  Binaries bin_ = TestBinaries();
  std::string secret_file_;
};

TEST_F(SecurityTest, TlsAndEnrollmentDeliverEverythingAndNoSecretIsLogged) {
  const GeneratedScript script = WriteScript(1, dir_.File("day.script"));
  CollectorProcess collector = Collector();
  ASSERT_TRUE(collector.Start());
  const RunResult agent = Run(Agent(collector, dir_.File("day.script")), "agent");
  ASSERT_EQ(agent.exit_code, 0) << agent.err;
  EXPECT_THAT(agent.err, HasSubstr("enrolled with collector"));

  std::map<std::string, UsageRow> usage;
  ASSERT_TRUE(QueryUsage(bin_, collector, dir_.path().string(), &usage));
  EXPECT_TRUE(UsageMatches(usage, script.expected));

  // The credential: owner-only, 64 hex characters, beside the spool.
  const std::string cred_file = dir_.File("device-credential");
  struct stat st {};
  ASSERT_EQ(stat(cred_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string token = ReadFile(cred_file);
  EXPECT_TRUE(std::regex_match(token, std::regex("[0-9a-f]{64}"))) << token;

  const RunResult list = Ctl({"devices", "credentials", "--collector", collector.admin_target(),
                              "--ca-file", Tls("ca.pem"), "--token-file",
                              collector.AdminTokenFile(), "--output", "csv"},
                             "ctl-list");
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("it-device-01"));
  EXPECT_THAT(list.out, HasSubstr("valid"));
  ASSERT_TRUE(collector.Stop());
  for (const std::string& log : {ReadFile(collector.log_path()), agent.err, agent.out}) {
    EXPECT_THAT(log, Not(HasSubstr(token)));
    EXPECT_THAT(log, Not(HasSubstr(kSecret)));
  }
}

TEST_F(SecurityTest, CollectorWithoutTlsMaterialRefusesToStartAndPlaintextWarns) {
  const RunResult r = RunToCompletion(
      bin_.collector,
      {"--db", dir_.File("collector.db"), "--listen", "127.0.0.1:0", "--admin-listen",
       "127.0.0.1:0", "--enrollment-secret-file", secret_file_},
      dir_.File("collector-notls"), seconds(20));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("no TLS certificate and key configured"));
  EXPECT_THAT(r.err, HasSubstr("insecure-plaintext"));
  // Configuration is checked before anything is created.
  EXPECT_FALSE(std::filesystem::exists(dir_.File("collector.db")))
      << "a collector that refused to start created its database";

  // A key readable by others is refused too.
  ASSERT_EQ(chmod(Tls("server-key.pem").c_str(), 0644), 0);
  const RunResult k = RunToCompletion(
      bin_.collector,
      {"--db", dir_.File("collector.db"), "--listen", "127.0.0.1:0", "--admin-listen",
       "127.0.0.1:0", "--tls-cert", Tls("server.pem"), "--tls-key", Tls("server-key.pem"),
       "--allow-unenrolled-agents"},
      dir_.File("collector-badkey"), seconds(20));
  EXPECT_EQ(k.exit_code, 1) << k.err;
  EXPECT_THAT(k.err, HasSubstr(Tls("server-key.pem")));
  EXPECT_THAT(k.err, Not(HasSubstr("PRIVATE KEY")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("collector.db")));

  CollectorProcess plain(bin_.collector, dir_.path().string(), dir_.File("collector.db"),
                         {"--insecure-plaintext", "--allow-unenrolled-agents"});
  ASSERT_TRUE(plain.Start());
  ASSERT_TRUE(plain.Stop());
  const std::string log = ReadFile(plain.log_path());
  EXPECT_THAT(log, HasSubstr("WARNING: listening WITHOUT TLS"));
  EXPECT_THAT(log, HasSubstr("WARNING: agents are not authenticated"));
}

TEST_F(SecurityTest, WrongCaAndPlaintextClientsFailClearlyAndLoseNothing) {
  const GeneratedScript script = WriteScript(2, dir_.File("day.script"));
  CollectorProcess collector = Collector();
  ASSERT_TRUE(collector.Start());

  // An agent trusting another CA: a clear error, everything stays spooled.
  AgentArgs wrong_ca = Agent(collector, dir_.File("day.script"));
  wrong_ca.security = {"--ca-file", dir_.File("other-ca/ca.pem"), "--enrollment-secret-file",
                       secret_file_};
  wrong_ca.drain_timeout_s = 3;
  const RunResult a1 = Run(wrong_ca, "agent-wrong-ca");
  EXPECT_EQ(a1.exit_code, 3) << a1.err;
  EXPECT_THAT(a1.err, HasSubstr("cannot connect"));
  EXPECT_THAT(a1.err, HasSubstr("certificate verify failed"));

  // A plaintext agent against the TLS collector.
  AgentArgs plain = Agent(collector, dir_.File("day.script"));
  plain.security = {"--insecure-plaintext", "--enrollment-secret-file", secret_file_};
  plain.drain_timeout_s = 3;
  const RunResult a2 = Run(plain, "agent-plain");
  EXPECT_EQ(a2.exit_code, 3) << a2.err;
  EXPECT_GT(PendingAtStart(a2.err), 0) << a2.err;

  // reclaimctl: another CA, and plaintext.
  const RunResult c1 = Ctl({"usage", "--collector", collector.admin_target(), "--ca-file",
                            dir_.File("other-ca/ca.pem"), "--timeout", "5"},
                           "ctl-wrong-ca");
  EXPECT_EQ(c1.exit_code, 1) << c1.err;
  EXPECT_THAT(c1.err, HasSubstr("cannot reach the collector's admin API"));
  const RunResult c2 = Ctl({"usage", "--collector", collector.admin_target(),
                            "--insecure-plaintext", "--timeout", "5"},
                           "ctl-plain");
  EXPECT_EQ(c2.exit_code, 1) << c2.err;
  EXPECT_THAT(c2.err, HasSubstr("cannot reach the collector's admin API"));
  const RunResult c3 = Ctl({"usage", "--collector", collector.admin_target()}, "ctl-none");
  EXPECT_EQ(c3.exit_code, 2) << c3.err;
  EXPECT_THAT(c3.err, HasSubstr("no CA bundle configured"));
  EXPECT_EQ(StoredFocusMs(collector), 0);

  // With the right CA, the day the failed runs spooled is delivered in full
  // (the replay of the same script resumes; it adds nothing twice).
  const RunResult a3 = Run(Agent(collector, dir_.File("day.script")), "agent-right-ca");
  ASSERT_EQ(a3.exit_code, 0) << a3.err;
  EXPECT_GT(PendingAtStart(a3.err), 0) << a3.err;
  std::map<std::string, UsageRow> usage;
  ASSERT_TRUE(QueryUsage(bin_, collector, dir_.path().string(), &usage));
  EXPECT_TRUE(UsageMatches(usage, script.expected));
  EXPECT_TRUE(collector.Stop());
}

TEST_F(SecurityTest, MutualTlsRefusesAgentsWithoutAClientCertificate) {
  WriteScript(3, dir_.File("day.script"));
  CollectorProcess collector = Collector(/*mutual=*/true);
  ASSERT_TRUE(collector.Start());
  AgentArgs no_cert = Agent(collector, dir_.File("day.script"));
  no_cert.drain_timeout_s = 3;
  const RunResult a1 = Run(no_cert, "agent-no-cert");
  EXPECT_EQ(a1.exit_code, 3) << a1.err;
  EXPECT_EQ(StoredFocusMs(collector), 0);

  AgentArgs with_cert = Agent(collector, dir_.File("day.script"));
  with_cert.extra = {"--client-cert", Tls("client.pem"), "--client-key", Tls("client-key.pem")};
  const RunResult a2 = Run(with_cert, "agent-cert");
  EXPECT_EQ(a2.exit_code, 0) << a2.err;
  EXPECT_GT(StoredFocusMs(collector), 0);
  EXPECT_TRUE(collector.Stop());
}

TEST_F(SecurityTest, SecretFileReadableByOthersIsRefusedWithAClearError) {
  WriteScript(4, dir_.File("day.script"));
  ASSERT_EQ(chmod(secret_file_.c_str(), 0644), 0);
  AgentArgs a;
  a.collector = "127.0.0.1:1";
  a.spool = dir_.File("spool.db");
  a.script = dir_.File("day.script");
  a.security = {"--ca-file", Tls("ca.pem"), "--enrollment-secret-file", secret_file_};
  const RunResult agent = Run(a, "agent");
  EXPECT_EQ(agent.exit_code, 2) << agent.err;
  EXPECT_THAT(agent.err, HasSubstr("enrollment secret"));
  EXPECT_THAT(agent.err, HasSubstr(secret_file_));
  EXPECT_THAT(agent.err, Not(HasSubstr(kSecret)));

  const RunResult collector = RunToCompletion(
      bin_.collector,
      {"--db", dir_.File("collector.db"), "--listen", "127.0.0.1:0", "--admin-listen",
       "127.0.0.1:0", "--tls-cert", Tls("server.pem"), "--tls-key", Tls("server-key.pem"),
       "--enrollment-secret-file", secret_file_},
      dir_.File("collector"), seconds(20));
  EXPECT_EQ(collector.exit_code, 1) << collector.err;
  EXPECT_THAT(collector.err, HasSubstr(secret_file_));
  EXPECT_THAT(collector.err, Not(HasSubstr(kSecret)));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("collector.db")))
      << "a collector that refused its secret file created its database";
}

TEST_F(SecurityTest, AdminMutualTlsRefusesReclaimctlWithoutAClientCertificate) {
  CollectorProcess collector(bin_.collector, dir_.path().string(), dir_.File("collector.db"),
                             [&] {
                               auto a = CollectorTls();
                               a.insert(a.end(), {"--admin-tls-client-ca", Tls("ca.pem")});
                               return a;
                             }());
  ASSERT_TRUE(collector.Start());
  const std::vector<std::string> base = {"stats",     "--collector", collector.admin_target(),
                                         "--ca-file", Tls("ca.pem"), "--token-file",
                                         collector.AdminTokenFile(), "--timeout", "5"};
  // No client certificate: the handshake fails, with a hint.
  const RunResult refused = Ctl(base, "ctl-no-cert");
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("cannot reach the collector's admin API"));
  EXPECT_THAT(refused.err, HasSubstr("--client-cert"));
  // A certificate of another CA is refused too.
  std::vector<std::string> other = base;
  other.insert(other.end(), {"--client-cert", dir_.File("other-ca/client.pem"), "--client-key",
                             dir_.File("other-ca/client-key.pem")});
  const RunResult wrong = Ctl(other, "ctl-other-cert");
  EXPECT_EQ(wrong.exit_code, 1) << wrong.err;
  // The right one is accepted (the admin token is still checked).
  std::vector<std::string> with_cert = base;
  with_cert.insert(with_cert.end(),
                   {"--client-cert", Tls("client.pem"), "--client-key", Tls("client-key.pem")});
  const RunResult ok = Ctl(with_cert, "ctl-cert");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("streams_opened"));
  // A change is audited with the certificate's name beside the token's.
  const std::string admin_token = dir_.File("admin.token");
  const RunResult made = RunToCompletion(
      bin_.collector,
      {"--db", dir_.File("collector.db"), "admin-token", "create", "--name", "mtls-admin",
       "--role", "admin", "--token-file", admin_token},
      dir_.File("admin-token-create"), seconds(30));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::vector<std::string> as_admin = with_cert;
  as_admin[std::find(as_admin.begin(), as_admin.end(), "--token-file") - as_admin.begin() + 1] =
      admin_token;
  as_admin[0] = "kill-switch";
  as_admin.insert(as_admin.begin() + 1, "on");
  const RunResult on = Ctl(as_admin, "ctl-kill-switch");
  EXPECT_EQ(on.exit_code, 0) << on.err;
  std::vector<std::string> audit = with_cert;
  audit[0] = "audit";
  audit.insert(audit.end(), {"--output", "csv"});
  const RunResult log = Ctl(audit, "ctl-audit");
  EXPECT_EQ(log.exit_code, 0) << log.err;
  EXPECT_THAT(log.out, HasSubstr("admin:mtls-admin(admin)@"));
  EXPECT_THAT(log.out, HasSubstr("cert:CN=reclaim-agent"));
  // Agents are not asked for a certificate (--tls-client-ca is not set).
  WriteScript(8, dir_.File("day.script"));
  const RunResult agent = Run(Agent(collector, dir_.File("day.script")), "agent");
  EXPECT_EQ(agent.exit_code, 0) << agent.err;
  ASSERT_TRUE(collector.Stop());
  EXPECT_THAT(ReadFile(collector.log_path()), HasSubstr("client certificates required from reclaimctl"));
}

// Sets an environment variable for the scope (the children inherit it).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

TEST_F(SecurityTest, ReclaimctlFlagsWinOverTheEnvironment) {
  // Its own directory: port file, log and token file are per collector.
  std::filesystem::create_directories(dir_.File("plain"));
  CollectorProcess plain(bin_.collector, dir_.File("plain"), dir_.File("plain/collector.db"),
                         {"--insecure-plaintext", "--allow-unenrolled-agents"});
  ASSERT_TRUE(plain.Start());
  CollectorProcess tls = Collector();
  ASSERT_TRUE(tls.Start());
  {
    // $RECLAIM_CA_FILE set (say, in a profile): --insecure-plaintext still
    // talks plaintext to a plaintext collector.
    ScopedEnv ca("RECLAIM_CA_FILE", Tls("ca.pem"));
    const RunResult r = Ctl({"stats", "--collector", plain.admin_target(), "--insecure-plaintext",
                             "--token-file", plain.AdminTokenFile()},
                            "ctl-plain-over-env-ca");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // And the environment alone gives TLS.
    const RunResult t = Ctl({"stats", "--collector", tls.admin_target(), "--token-file",
                             tls.AdminTokenFile()},
                            "ctl-env-ca");
    EXPECT_EQ(t.exit_code, 0) << t.err;
  }
  {
    ScopedEnv plaintext("RECLAIM_INSECURE_PLAINTEXT", "1");
    const RunResult r = Ctl({"stats", "--collector", tls.admin_target(), "--ca-file",
                             Tls("ca.pem"), "--token-file", tls.AdminTokenFile()},
                            "ctl-ca-over-env-plain");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const RunResult p = Ctl({"stats", "--collector", plain.admin_target(), "--token-file",
                             plain.AdminTokenFile()},
                            "ctl-env-plain");
    EXPECT_EQ(p.exit_code, 0) << p.err;
  }
  {
    ScopedEnv bad("RECLAIM_INSECURE_PLAINTEXT", "maybe");
    const RunResult r = Ctl({"stats", "--collector", plain.admin_target()}, "ctl-env-bad");
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr("RECLAIM_INSECURE_PLAINTEXT"));
  }
  EXPECT_TRUE(plain.Stop());
  EXPECT_TRUE(tls.Stop());
}

TEST_F(SecurityTest, AdminTokenCreatePrintsNoLogLines) {
  // With --token-file (a token on stdout would land in the captured test
  // output, which the no_secret_in_logs scan reads): nothing on stdout, one
  // message on stderr, no info log lines (schema migrations) around it.
  const std::string token_file = dir_.File("quiet.token");
  const RunResult r = RunToCompletion(
      bin_.collector,
      {"--db", dir_.File("collector.db"), "admin-token", "create", "--name", "quiet", "--role",
       "viewer", "--token-file", token_file},
      dir_.File("admin-token-create"), seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, Not(HasSubstr(" info: "))) << r.err;
  EXPECT_THAT(r.err, HasSubstr("admin token 'quiet' (role viewer) written to"));
  EXPECT_TRUE(std::regex_match(ReadFile(token_file), std::regex("rcat_[A-Za-z0-9_-]+\n?")))
      << "the token file does not hold one token";
  // Listing or revoking in a mistyped path creates nothing.
  for (const char* verb : {"list", "revoke"}) {
    std::vector<std::string> args = {"--db", dir_.File("typo.db"), "admin-token", verb};
    if (std::string(verb) == "revoke") args.insert(args.end(), {"--name", "quiet"});
    const RunResult t = RunToCompletion(bin_.collector, args, dir_.File(std::string("tok-") + verb),
                                        seconds(30));
    EXPECT_EQ(t.exit_code, 1) << t.err;
    EXPECT_THAT(t.err, HasSubstr("no database at " + dir_.File("typo.db")));
    EXPECT_FALSE(std::filesystem::exists(dir_.File("typo.db"))) << verb;
  }
}

TEST_F(SecurityTest, ForgedCredentialIsRefusedAndTheSpoolKept) {
  WriteScript(5, dir_.File("day.script"));
  CollectorProcess collector = Collector();
  ASSERT_TRUE(collector.Start());
  const std::string cred = dir_.File("device-credential");
  WriteFile(cred, std::string(64, 'a'));
  ASSERT_EQ(chmod(cred.c_str(), 0600), 0);
  AgentArgs a = Agent(collector, dir_.File("day.script"));
  a.drain_timeout_s = 3;
  const RunResult agent = Run(a, "agent");
  EXPECT_EQ(agent.exit_code, 3) << agent.err;
  EXPECT_THAT(agent.err, HasSubstr("collector refused device it-device-01"));
  EXPECT_THAT(agent.err, HasSubstr("unknown or revoked"));
  EXPECT_EQ(StoredFocusMs(collector), 0);
  ASSERT_TRUE(collector.Stop());
  EXPECT_THAT(ReadFile(collector.log_path()), HasSubstr("refused agent stream"));
}

TEST_F(SecurityTest, RevokedDeviceKeepsItsSpoolAndDeliversItAfterEnrollingAgain) {
  const GeneratedScript day1 = WriteScript(6, dir_.File("day1.script"), /*days_back=*/1);
  const GeneratedScript day2 = WriteScript(7, dir_.File("day2.script"));
  CollectorProcess collector = Collector();
  ASSERT_TRUE(collector.Start());
  const RunResult first = Run(Agent(collector, dir_.File("day1.script")), "agent-1");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(StoredFocusMs(collector), day1.total_focus_ms);

  // Revoking takes the admin role.
  const std::string admin_token = dir_.File("admin.token");
  const RunResult made = RunToCompletion(
      bin_.collector,
      {"--db", dir_.File("collector.db"), "--log-level", "warn", "admin-token", "create",
       "--name", "security-admin", "--role", "admin", "--token-file", admin_token},
      dir_.File("admin-token-create"), seconds(30));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const RunResult revoke = Ctl({"devices", "revoke", "it-device-01", "--collector",
                                collector.admin_target(), "--ca-file", Tls("ca.pem"),
                                "--token-file", admin_token},
                               "ctl-revoke");
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  EXPECT_THAT(revoke.out, HasSubstr("it-device-01 revoked"));

  // Revoked: refused with a clear error (even though it holds the secret, it
  // does not enroll again on its own), its new day stays in the spool.
  AgentArgs second = Agent(collector, dir_.File("day2.script"));
  second.drain_timeout_s = 3;
  const RunResult refused = Run(second, "agent-2");
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("collector refused device it-device-01"));
  EXPECT_EQ(StoredFocusMs(collector), day1.total_focus_ms);

  // Enrolling again (the administrator's decision) delivers the spool.
  AgentArgs third = Agent(collector, dir_.File("day2.script"));
  third.script.clear();
  third.extra = {"--enroll"};
  third.script = dir_.File("empty.script");
  WriteFile(third.script, "+00:00:00 end\n");
  const RunResult again = Run(third, "agent-3");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_GT(PendingAtStart(again.err), 0) << again.err;
  EXPECT_EQ(StoredFocusMs(collector), day1.total_focus_ms + day2.total_focus_ms);
  EXPECT_TRUE(collector.Stop());
}

}  // namespace
}  // namespace reclaim::integration
