#include "tests/testing/samba/samba_ad.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace reclaim::testing {
namespace {

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

/// Waits for `pid` up to `timeout`; SIGKILLs it after that. Returns the
/// wait status.
int WaitOrKill(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return status;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a child, not a thread
  }
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

SambaAd* g_instance = nullptr;
absl::Status* g_start_error = nullptr;

}  // namespace

absl::StatusOr<std::unique_ptr<SambaAd>> SambaAd::Start(const SambaAdOptions& options_in) {
  SambaAdOptions options = options_in;
#ifdef RECLAIM_SAMBA_SCRIPT
  if (options.script.empty()) options.script = RECLAIM_SAMBA_SCRIPT;
#endif
#ifdef RECLAIM_SAMBA_CACHE_DIR
  if (options.cache_dir.empty()) options.cache_dir = RECLAIM_SAMBA_CACHE_DIR;
#endif
  if (options.script.empty() || ::access(options.script.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("start-samba-ad.sh not found or not executable: '", options.script, "'"));
  }
  std::unique_ptr<SambaAd> ad(new SambaAd());
  std::string tmpl = (std::filesystem::temp_directory_path() / "reclaim-samba-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  ad->state_dir_ = tmpl;
  const std::string script_log = ad->state_dir_ + "/start-samba-ad.log";

  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, script_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args = {options.script, "--dir", ad->state_dir_};
  if (!options.cache_dir.empty()) {
    args.push_back("--cache");
    args.push_back(options.cache_dir);
  }
  auto argv = CStrings(args);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, options.script.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    return absl::InternalError(
        absl::StrCat("cannot start ", options.script, ": ", std::strerror(rc)));
  }
  ad->script_pid_ = pid;
  ad->script_stdin_ = in_pipe[1];

  // Read stdout until "READY <env file>" (or EOF: the script failed).
  std::string out;
  std::string env_file;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(options.start_timeout_s);
  while (env_file.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{out_pipe[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (size_t pos = out.find("READY "); pos != std::string::npos) {
      size_t end = out.find('\n', pos);
      if (end != std::string::npos) env_file = out.substr(pos + 6, end - pos - 6);
    }
  }
  ::close(out_pipe[0]);
  if (env_file.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("start-samba-ad.sh did not report READY within ", options.start_timeout_s,
                     " s; its log:\n", Tail(ReadFileOrEmpty(script_log), 4000)));
  }

  for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(env_file), '\n')) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    ad->info_.env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  auto& env = ad->info_.env;
  SambaAdInfo& i = ad->info_;
  i.netns = env["RECLAIM_AD_NETNS"];
  i.ldap_uri = env["RECLAIM_AD_LDAP_URI"];
  i.ldaps_uri = env["RECLAIM_AD_LDAPS_URI"];
  i.base_dn = env["RECLAIM_AD_BASE_DN"];
  i.domain = env["RECLAIM_AD_DOMAIN"];
  i.realm = env["RECLAIM_AD_REALM"];
  i.ca_file = env["RECLAIM_AD_CA_FILE"];
  i.wrong_ca_file = env["RECLAIM_AD_WRONG_CA_FILE"];
  i.admin_dn = env["RECLAIM_AD_ADMIN_DN"];
  i.admin_password = env["RECLAIM_AD_ADMIN_PASSWORD"];
  i.service_upn = env["RECLAIM_AD_SERVICE_UPN"];
  i.service_password = env["RECLAIM_AD_SERVICE_PASSWORD"];
  i.reader_upn = env["RECLAIM_AD_READER_UPN"];
  i.reader_password = env["RECLAIM_AD_READER_PASSWORD"];
  i.sam_ldb = env["RECLAIM_AD_SAM_LDB"];
  i.log_file = env["RECLAIM_AD_LOG"];
  i.big_group_size = std::atoi(env["RECLAIM_AD_BIG_GROUP_SIZE"].c_str());
  if (i.netns.empty() || i.ldaps_uri.empty()) {
    return absl::InternalError(absl::StrCat("incomplete env file ", env_file));
  }

  // Join the namespace (this thread; later threads and children inherit it).
  ad->original_netns_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const std::string ns_path = "/run/netns/" + i.netns;
  const int ns_fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ad->original_netns_ < 0 || ns_fd < 0 || ::setns(ns_fd, CLONE_NEWNET) != 0) {
    const int err = errno;
    if (ns_fd >= 0) ::close(ns_fd);
    return absl::InternalError(
        absl::StrCat("cannot join network namespace ", ns_path, ": ", std::strerror(err)));
  }
  ::close(ns_fd);
  return ad;
}

SambaAd::~SambaAd() {
  if (original_netns_ >= 0) {
    ::setns(original_netns_, CLONE_NEWNET);
    ::close(original_netns_);
  }
  if (script_stdin_ >= 0) ::close(script_stdin_);  // EOF: the script tears down
  if (script_pid_ > 0) WaitOrKill(script_pid_, std::chrono::seconds(20));
  if (!state_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(state_dir_, ec);
  }
}

CommandResult SambaAd::Run(const std::vector<std::string>& argv_in,
                           const std::string& stdin_data) const {
  CommandResult result;
  const std::string in_path = state_dir_ + "/cmd.in";
  const std::string out_path = state_dir_ + "/cmd.out";
  const std::string err_path = state_dir_ + "/cmd.err";
  {
    std::ofstream in(in_path, std::ios::binary | std::ios::trunc);
    in << stdin_data;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "LDAPTLS_", 8) != 0) env_strings.emplace_back(*e);
  }
  env_strings.push_back("LDAPTLS_CACERT=" + info_.ca_file);
  env_strings.push_back("LDAPTLS_REQCERT=demand");
  auto envp = CStrings(env_strings);
  std::vector<std::string> argv_copy = argv_in;
  auto argv = CStrings(argv_copy);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    result.err = absl::StrCat("cannot run ", argv_in[0], ": ", std::strerror(rc));
    return result;
  }
  const int status = WaitOrKill(pid, std::chrono::seconds(60));
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFileOrEmpty(out_path);
  result.err = ReadFileOrEmpty(err_path);
  return result;
}

absl::StatusOr<std::string> SambaAd::AdminSearch(const std::string& base, const std::string& filter,
                                                 const std::vector<std::string>& attrs,
                                                 const std::string& scope) const {
  std::vector<std::string> argv = {
      "ldapsearch",    "-x", "-LLL",         "-o",  "ldif-wrap=no",       "-H",
      info_.ldaps_uri, "-D", info_.admin_dn, "-w",  info_.admin_password, "-s",
      scope,           "-b", base,           filter};
  argv.insert(argv.end(), attrs.begin(), attrs.end());
  CommandResult r = Run(argv);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("ldapsearch -b '", base, "' '", filter, "' exited ",
                                            r.exit_code, ": ", r.err));
  }
  return r.out;
}

absl::Status SambaAd::AdminModify(const std::string& ldif) const {
  CommandResult r = Run(
      {"ldapmodify", "-x", "-H", info_.ldaps_uri, "-D", info_.admin_dn, "-w", info_.admin_password},
      ldif);
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("ldapmodify exited ", r.exit_code, ": ", r.err, "\nLDIF:\n", ldif));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SambaAd::GroupDn(const std::string& group_sam) const {
  auto ldif =
      AdminSearch(info_.base_dn,
                  absl::StrCat("(&(objectClass=group)(sAMAccountName=", group_sam, "))"), {"1.1"});
  if (!ldif.ok()) return ldif.status();
  for (absl::string_view line : absl::StrSplit(*ldif, '\n')) {
    if (absl::ConsumePrefix(&line, "dn: ")) return std::string(line);
  }
  return absl::NotFoundError(absl::StrCat("no group ", group_sam));
}

absl::StatusOr<std::vector<std::string>> SambaAd::DirectMemberSams(
    const std::string& group_sam) const {
  auto dn = GroupDn(group_sam);
  if (!dn.ok()) return dn.status();
  // Filter values that are DNs: RFC 4515-escape the characters that matter.
  std::string escaped;
  for (char c : *dn) {
    switch (c) {
      case '(':
        escaped += "\\28";
        break;
      case ')':
        escaped += "\\29";
        break;
      case '*':
        escaped += "\\2a";
        break;
      case '\\':
        escaped += "\\5c";
        break;
      default:
        escaped += c;
    }
  }
  auto ldif =
      AdminSearch(info_.base_dn, absl::StrCat("(memberOf=", escaped, ")"), {"sAMAccountName"});
  if (!ldif.ok()) return ldif.status();
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(*ldif, '\n')) {
    if (absl::ConsumePrefix(&line, "sAMAccountName: ")) {
      out.emplace_back(line);
    } else if (absl::ConsumePrefix(&line, "sAMAccountName:: ")) {  // base64: non-ASCII
      std::string decoded;
      if (!absl::Base64Unescape(line, &decoded)) {
        return absl::InternalError(absl::StrCat("bad base64 from ldapsearch: ", line));
      }
      out.push_back(std::move(decoded));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void SambaAdEnvironment::SetUp() {
  auto ad = SambaAd::Start();
  if (!ad.ok()) {
    g_start_error = new absl::Status(ad.status());
    ADD_FAILURE() << "Samba AD did not start: " << ad.status();
    return;
  }
  g_instance = ad->release();
}

void SambaAdEnvironment::TearDown() {
  delete g_instance;
  g_instance = nullptr;
}

SambaAd* SambaAdEnvironment::Get() { return g_instance; }

absl::Status SambaAdEnvironment::StartError() {
  if (g_start_error != nullptr) return *g_start_error;
  if (g_instance == nullptr) return absl::FailedPreconditionError("SambaAdEnvironment not set up");
  return absl::OkStatus();
}

}  // namespace reclaim::testing
