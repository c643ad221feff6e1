#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "agent/sources/prompter.h"

extern char** environ;

namespace reclaim::agent {

std::string PromptOutcomeName(const PromptRequest& req, const PromptReply& reply) {
  switch (reply.outcome) {
    case PromptReply::Outcome::kAnswered:
      if (reply.answer >= 0 && reply.answer < static_cast<int>(req.answers.size())) {
        return "answered:" + req.answers[reply.answer];
      }
      return "failed";
    case PromptReply::Outcome::kPostponed: return "postponed";
    case PromptReply::Outcome::kDeclined: return "declined";
    case PromptReply::Outcome::kTimedOut: return "timed_out";
    case PromptReply::Outcome::kCancelled: return "cancelled";
    case PromptReply::Outcome::kFailed: return "failed";
  }
  return "failed";
}

namespace {

class ZenityPrompter final : public ConsentPrompter {
 public:
  explicit ZenityPrompter(ZenityPrompterOptions options) : options_(std::move(options)) {}

  PromptReply Ask(const PromptRequest& req) override {
    PromptReply reply;
    if (req.answers.empty() || req.question.empty()) {
      reply.error = "a prompt needs a question and at least one answer";
      return reply;
    }
    for (const std::string& a : req.answers) {
      if (a == req.postpone_label || a == req.decline_label) {
        reply.error = "an answer has the label of the postpone or decline button";
        return reply;
      }
    }
    // zenity --question: OK exits 0; an extra button exits 1 and prints its
    // label; the cancel button, Escape and the close box exit 1 silently; the
    // timeout exits 5 (zenity(1)).
    std::vector<std::string> args = {options_.program, "--question", "--no-markup",
                                     "--title", req.sender_name.empty() ? "Reclaim"
                                                                        : req.sender_name,
                                     "--text", req.question,
                                     "--ok-label", req.answers[0],
                                     "--cancel-label", req.decline_label,
                                     "--timeout",
                                     std::to_string(std::max<long long>(1, req.timeout.count()))};
    for (size_t i = 1; i < req.answers.size(); ++i) {
      args.push_back("--extra-button");
      args.push_back(req.answers[i]);
    }
    args.push_back("--extra-button");
    args.push_back(req.postpone_label);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      reply.error = std::string("pipe: ") + std::strerror(errno);
      return reply;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      reply.error = "cannot start " + options_.program + ": " + std::strerror(rc);
      return reply;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      pid_ = pid;
      cancelled_ = false;
    }
    if (options_.on_started) options_.on_started(pid);
    std::string printed;
    char buf[512];
    while (true) {
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n > 0) {
        printed.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    bool cancelled;
    {
      std::lock_guard<std::mutex> l(mu_);
      pid_ = -1;
      cancelled = cancelled_;
    }
    while (!printed.empty() && (printed.back() == '\n' || printed.back() == '\r')) {
      printed.pop_back();
    }
    if (cancelled) {
      reply.outcome = PromptReply::Outcome::kCancelled;
      return reply;
    }
    if (!WIFEXITED(status)) {
      reply.error = options_.program + " was killed by signal " +
                    std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
      return reply;
    }
    switch (WEXITSTATUS(status)) {
      case 0:
        reply.outcome = PromptReply::Outcome::kAnswered;
        reply.answer = 0;
        return reply;
      case 1:
        if (printed.empty()) {
          reply.outcome = PromptReply::Outcome::kDeclined;
          return reply;
        }
        if (printed == req.postpone_label) {
          reply.outcome = PromptReply::Outcome::kPostponed;
          return reply;
        }
        for (size_t i = 1; i < req.answers.size(); ++i) {
          if (printed == req.answers[i]) {
            reply.outcome = PromptReply::Outcome::kAnswered;
            reply.answer = static_cast<int>(i);
            return reply;
          }
        }
        reply.error = options_.program + " printed an unknown button '" + printed + "'";
        return reply;
      case 5:
        reply.outcome = PromptReply::Outcome::kTimedOut;
        return reply;
      default:
        reply.error = options_.program + " exited with " + std::to_string(WEXITSTATUS(status)) +
                      " (no display?)";
        return reply;
    }
  }

  void Cancel() override {
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ > 0) {
      cancelled_ = true;
      kill(pid_, SIGTERM);
    }
  }

 private:
  const ZenityPrompterOptions options_;
  std::mutex mu_;
  pid_t pid_ = -1;  // guarded by mu_; the dialog while Ask() runs
  bool cancelled_ = false;
};

}  // namespace

std::unique_ptr<ConsentPrompter> MakeZenityPrompter(ZenityPrompterOptions options) {
  return std::make_unique<ZenityPrompter>(std::move(options));
}

}  // namespace reclaim::agent
