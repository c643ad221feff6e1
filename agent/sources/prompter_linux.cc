// The zenity ConsentPrompter (prompter.h). zenity(1) 3.x exit codes: OK 0;
// an extra button 1 and prints its label; the cancel button, Escape and the
// close box 1 silently; the timeout 5. --forms prints the chosen values
// joined by --separator after OK.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "agent/sources/prompter.h"

extern char** environ;

namespace reclaim::agent {
namespace {

// Separates the values --forms prints (ASCII unit separator: never typed in
// a label, and refused in answers below).
constexpr char kFormSeparator[] = "\x1f";

// What one zenity run ended with.
struct DialogRun {
  bool started = false;
  bool cancelled = false;  // Cancel() took it down
  int exit_code = -1;      // -1: killed by a signal
  int signal = 0;
  std::string printed;     // standard output, trailing newlines removed
  std::string error;       // why it did not start
};

class ZenityPrompter final : public ConsentPrompter {
 public:
  explicit ZenityPrompter(ZenityPrompterOptions options) : options_(std::move(options)) {}

  PromptReply Ask(const PromptRequest& req) override {
    PromptReply reply;
    reply.error = CheckPromptRequest(req);
    if (!reply.error.empty()) return reply;
    std::vector<std::string> args = {options_.program, "--question", "--no-markup",
                                     "--title", Title(req.sender_name),
                                     "--text", req.question,
                                     "--ok-label", req.answers[0],
                                     "--cancel-label", req.decline_label,
                                     "--timeout", Seconds(req.timeout)};
    for (size_t i = 1; i < req.answers.size(); ++i) {
      args.push_back("--extra-button");
      args.push_back(req.answers[i]);
    }
    args.push_back("--extra-button");
    args.push_back(req.postpone_label);
    const DialogRun run = Run(args);
    reply.outcome = Common(run, req.postpone_label, &reply.error);
    if (reply.outcome != PromptReply::Outcome::kAnswered) return reply;
    if (run.exit_code == 0) {
      reply.answer = 0;
      return reply;
    }
    for (size_t i = 1; i < req.answers.size(); ++i) {
      if (run.printed == req.answers[i]) {
        reply.answer = static_cast<int>(i);
        return reply;
      }
    }
    reply.outcome = PromptReply::Outcome::kFailed;
    reply.error = options_.program + " printed an unknown button '" + run.printed + "'";
    return reply;
  }

  CombinedPromptReply AskCombined(const CombinedPromptRequest& req) override {
    CombinedPromptReply reply;
    reply.error = CheckPromptRequest(req);
    if (reply.error.empty()) {
      for (const auto& item : req.items) {
        if (!CanCombine(item.answers)) {
          reply.error = "an answer of '" + item.label + "' cannot be offered in a combined prompt";
        }
      }
    }
    if (!reply.error.empty()) return reply;
    reply.answers.assign(req.items.size(), -1);
    std::vector<std::string> args = {options_.program, "--forms",
                                     "--title", Title(req.sender_name),
                                     "--text", req.intro,
                                     "--separator", kFormSeparator,
                                     "--ok-label", req.submit_label,
                                     "--cancel-label", req.decline_label,
                                     "--extra-button", req.postpone_label,
                                     "--timeout", Seconds(req.timeout)};
    for (const auto& item : req.items) {
      std::string values;
      for (const std::string& a : item.answers) values += (values.empty() ? "" : "|") + a;
      args.insert(args.end(), {"--add-combo", item.label, "--combo-values", values});
    }
    const DialogRun run = Run(args);
    reply.outcome = Common(run, req.postpone_label, &reply.error);
    if (reply.outcome != PromptReply::Outcome::kAnswered) return reply;
    if (run.exit_code != 0) {
      reply.outcome = PromptReply::Outcome::kFailed;
      reply.error = options_.program + " printed an unknown button '" + run.printed + "'";
      return reply;
    }
    // One value per item, in order; an empty value: no answer chosen.
    std::vector<std::string> values;
    size_t start = 0;
    while (true) {
      const size_t end = run.printed.find(kFormSeparator, start);
      values.push_back(run.printed.substr(start, end == std::string::npos ? end : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    for (size_t i = 0; i < req.items.size() && i < values.size(); ++i) {
      const auto& answers = req.items[i].answers;
      const auto it = std::find(answers.begin(), answers.end(), values[i]);
      if (it != answers.end()) reply.answers[i] = static_cast<int>(it - answers.begin());
    }
    return reply;
  }

  bool CanCombine(const std::vector<std::string>& answers) const override {
    // --combo-values splits at '|'; the form's output at kFormSeparator.
    for (const std::string& a : answers) {
      if (a.find('|') != std::string::npos || a.find(kFormSeparator) != std::string::npos) {
        return false;
      }
    }
    return true;
  }

  void Cancel() override {
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ > 0) {
      cancelled_ = true;
      kill(pid_, SIGTERM);
    }
  }

 private:
  // `program` itself when it names a path, else the first executable of
  // that name in $PATH; empty when none.
  static std::string FindInPath(const std::string& program) {
    if (program.find('/') != std::string::npos) {
      return access(program.c_str(), X_OK) == 0 ? program : "";
    }
    const char* env = std::getenv("PATH");
    const std::string dirs = env ? env : "/usr/local/bin:/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
      const size_t end = std::min(dirs.find(':', start), dirs.size());
      const std::string dir = end > start ? dirs.substr(start, end - start) : ".";
      const std::string candidate = dir + "/" + program;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
      start = end + 1;
    }
    return "";
  }
  static std::string Title(const std::string& sender) {
    return sender.empty() ? "Reclaim" : sender;
  }
  static std::string Seconds(std::chrono::seconds timeout) {
    return std::to_string(std::max<long long>(1, timeout.count()));
  }

  // The outcome every dialog kind shares: kAnswered stands for "an OK exit
  // or an extra button other than postpone" (the caller looks closer).
  PromptReply::Outcome Common(const DialogRun& run, const std::string& postpone_label,
                              std::string* error) const {
    if (!run.started) {
      *error = run.error;
      return PromptReply::Outcome::kFailed;
    }
    if (run.cancelled) return PromptReply::Outcome::kCancelled;
    if (run.exit_code < 0) {
      *error = options_.program + " was killed by signal " + std::to_string(run.signal);
      return PromptReply::Outcome::kFailed;
    }
    switch (run.exit_code) {
      case 0: return PromptReply::Outcome::kAnswered;
      case 1:
        if (run.printed.empty()) return PromptReply::Outcome::kDeclined;
        if (run.printed == postpone_label) return PromptReply::Outcome::kPostponed;
        return PromptReply::Outcome::kAnswered;
      case 5: return PromptReply::Outcome::kTimedOut;
      default:
        *error = options_.program + " exited with " + std::to_string(run.exit_code) +
                 " (no display?)";
        return PromptReply::Outcome::kFailed;
    }
  }

  // Runs the dialog program with `args` until it exits (or Cancel()).
  DialogRun Run(std::vector<std::string> args) {
    DialogRun run;
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      run.error = std::string("pipe: ") + std::strerror(errno);
      return run;
    }
    // vfork + exec rather than posix_spawn, for two things posix_spawn
    // cannot do: the dialog gets PR_SET_PDEATHSIG (prctl(2)), so it goes
    // away when the agent dies, even by SIGKILL, instead of staying on screen
    // answering nobody (it is tied to this thread, which lives until the
    // prompt service stops); and a clean signal mask (the agent blocks
    // SIGTERM/SIGINT in every thread for its signal thread; a dialog that
    // inherited that could not be taken down by Cancel()). The program is
    // looked up in PATH before; the child makes only system calls, then
    // execve or _exit (vfork, as glibc's posix_spawn does: no pthread_atfork
    // handlers of gRPC or others run, and no copy of the address space).
    const std::string path = FindInPath(options_.program);
    if (path.empty()) {
      close(out[0]);
      close(out[1]);
      run.error = "cannot start " + options_.program + ": not found";
      return run;
    }
    const pid_t parent = getpid();
    const pid_t pid = vfork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);  // the agent died meanwhile
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      dup2(out[1], STDOUT_FILENO);
      const int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0) dup2(devnull, STDERR_FILENO);
      execve(path.c_str(), argv.data(), environ);
      _exit(127);
    }
    const int fork_errno = errno;
    close(out[1]);
    if (pid < 0) {
      close(out[0]);
      run.error = "cannot start " + options_.program + ": " + std::strerror(fork_errno);
      return run;
    }
    run.started = true;
    {
      std::lock_guard<std::mutex> l(mu_);
      pid_ = pid;
      cancelled_ = false;
    }
    if (options_.on_started) options_.on_started(pid);
    char buf[512];
    while (true) {
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n > 0) {
        run.printed.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      pid_ = -1;
      run.cancelled = cancelled_;
    }
    while (!run.printed.empty() && (run.printed.back() == '\n' || run.printed.back() == '\r')) {
      run.printed.pop_back();
    }
    if (WIFEXITED(status)) {
      run.exit_code = WEXITSTATUS(status);
    } else {
      run.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    return run;
  }

  const ZenityPrompterOptions options_;
  std::mutex mu_;
  pid_t pid_ = -1;  // guarded by mu_; the dialog while Ask() runs
  bool cancelled_ = false;
};

}  // namespace

std::unique_ptr<ConsentPrompter> MakeZenityPrompter(ZenityPrompterOptions options) {
  return std::make_unique<ZenityPrompter>(std::move(options));
}

std::unique_ptr<ConsentPrompter> MakeDesktopPrompter() { return MakeZenityPrompter(); }

}  // namespace reclaim::agent
