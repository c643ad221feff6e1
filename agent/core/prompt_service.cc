#include "agent/core/prompt_service.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "agent/platform/process_platform.h"
#include "common/log_format.h"
#include "reclaim/v1/agent.pb.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;

constexpr char kLastNotUrgent[] = "prompt_last_not_urgent_utc_ms";
constexpr char kLastUrgent[] = "prompt_last_urgent_utc_ms";

std::int64_t MetaInt(Spool& spool, const char* key) {
  auto v = spool.GetMeta(key);
  std::int64_t out = 0;
  if (v.ok() && v->has_value() && absl::SimpleAtoi(**v, &out)) return out;
  return 0;
}

}  // namespace

PromptService::PromptService(Spool& spool, ConsentPrompter& prompter, const Clock& clock,
                             std::function<void()> notify_uplink, PromptServiceOptions options)
    : spool_(spool), prompter_(prompter), clock_(clock),
      notify_uplink_(std::move(notify_uplink)), options_(std::move(options)) {}

PromptService::~PromptService() { Stop(); }

void PromptService::Start() {
  thread_ = std::thread([this] {
    SetCurrentThreadName("prompts");
    Run();
    absl::MutexLock l(&mu_);
    finished_ = true;
  });
}

void PromptService::Wake() {
  std::vector<std::string> showing;
  {
    absl::MutexLock l(&mu_);
    wake_ = true;
    showing = showing_;
  }
  if (showing.empty()) return;
  auto open = spool_.OpenPrompts();
  if (!open.ok()) return;
  for (const std::string& id : showing) {
    bool still_open = false;
    for (const SpoolPrompt& p : *open) still_open = still_open || p.command_id == id;
    if (!still_open) {
      spdlog::info("prompt {} withdrawn while on screen; closing its dialog", id);
      prompter_.Cancel();
      return;
    }
  }
}

void PromptService::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  if (!thread_.joinable()) return;
  // A dialog may be starting just now (after the thread last looked at
  // stopping_, before the prompter can be cancelled): cancel until the
  // thread is out, so stopping never waits for a dialog's timeout.
  while (true) {
    prompter_.Cancel();
    absl::MutexLock l(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&finished_), absl::Milliseconds(50))) break;
  }
  thread_.join();
}

void PromptService::Run() {
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
      wake_ = false;
    }
    auto open = spool_.OpenPrompts();
    std::vector<PendingPromptInfo> pending;
    std::vector<std::string> payloads;
    if (!open.ok()) {
      spdlog::error("cannot read prompts from the spool: {}", open.status());
    } else {
      for (const SpoolPrompt& p : *open) {
        v1::Command cmd;
        if (!cmd.ParseFromString(p.payload) || !cmd.has_consent_prompt()) continue;
        pending.push_back({p.command_id, cmd.consent_prompt().urgent(),
                           cmd.consent_prompt().application(), p.expires_utc_ms});
        payloads.push_back(p.payload);
      }
    }
    const PromptHistory history{MetaInt(spool_, kLastNotUrgent), MetaInt(spool_, kLastUrgent)};
    const DesktopState desktop = options_.desktop ? options_.desktop() : DesktopState{};
    const std::int64_t now = clock_.WallUtcMs();
    PromptDecision d = DecidePrompts(pending, desktop, history, now, options_.policy);
    // Do-not-disturb may cost a D-Bus call or a process: asked only now.
    bool held_by_dnd = false;
    if (!d.show.empty() && !d.urgent && options_.do_not_disturb && options_.do_not_disturb()) {
      held_by_dnd = true;
      d.show.clear();
    }
    if (d.show.size() > 1) {
      // A question the dialog cannot combine (an answer with '|', from a
      // campaign stored before the collector checked answers) is asked on
      // its own first; the rest wait for the next slot. Failing the whole
      // combined dialog instead would block every question behind it.
      for (size_t i = 0; i < pending.size(); ++i) {
        if (std::find(d.show.begin(), d.show.end(), pending[i].command_id) == d.show.end()) {
          continue;
        }
        v1::Command cmd;
        cmd.ParseFromString(payloads[i]);
        const auto& answers = cmd.consent_prompt().answers();
        if (!prompter_.CanCombine({answers.begin(), answers.end()})) {
          spdlog::info("prompt {} cannot be combined with others; asked on its own",
                       pending[i].command_id);
          d.show = {pending[i].command_id};
          break;
        }
      }
    }
    if (d.show.size() == 1) {
      for (size_t i = 0; i < pending.size(); ++i) {
        if (pending[i].command_id == d.show[0]) ShowOne(d.show[0], payloads[i], d.urgent);
      }
      continue;
    }
    if (!d.show.empty()) {
      std::vector<std::string> shown_payloads;
      for (const std::string& id : d.show) {
        for (size_t i = 0; i < pending.size(); ++i) {
          if (pending[i].command_id == id) shown_payloads.push_back(payloads[i]);
        }
      }
      ShowCombined(d.show, shown_payloads);
      continue;
    }
    std::int64_t wait_ms = pending.empty() ? 3600 * 1000 : options_.max_wait.count();
    if (held_by_dnd) wait_ms = std::min<std::int64_t>(wait_ms, options_.recheck.count());
    if (d.recheck_at_utc_ms > 0) {
      wait_ms = std::min(wait_ms, std::max<std::int64_t>(0, d.recheck_at_utc_ms - now));
    }
    absl::MutexLock l(&mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&woken), absl::Milliseconds(wait_ms));
  }
}

void PromptService::RecordDisplayed(const std::vector<std::string>& ids, bool urgent) {
  {
    absl::MutexLock l(&mu_);
    showing_ = ids;
  }
  const std::int64_t now = clock_.WallUtcMs();
  for (const std::string& id : ids) {
    absl::Status s = spool_.RecordPromptOutcome(id, "displayed", false);
    if (!s.ok()) spdlog::error("cannot record prompt {} as displayed: {}", id, s);
  }
  absl::Status s =
      spool_.Append(std::nullopt, {{urgent ? kLastUrgent : kLastNotUrgent, std::to_string(now)}})
          .status();
  if (!s.ok()) spdlog::error("cannot record when prompts were shown: {}", s);
  if (notify_uplink_) notify_uplink_();
}

void PromptService::RecordFinal(const std::string& command_id, const std::string& outcome) {
  absl::Status s = spool_.RecordPromptOutcome(command_id, outcome, /*final=*/true);
  if (!s.ok()) spdlog::error("cannot record the answer to prompt {}: {}", command_id, s);
}

void PromptService::WaitAfterFailure() {
  absl::MutexLock l(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(options_.recheck.count()));
}

void PromptService::ShowOne(const std::string& command_id, const std::string& payload,
                            bool urgent) {
  v1::Command cmd;
  cmd.ParseFromString(payload);
  const v1::ConsentPrompt& p = cmd.consent_prompt();
  PromptRequest req;
  req.sender_name = p.sender_name();
  req.question = p.question();
  req.answers.assign(p.answers().begin(), p.answers().end());
  req.timeout = options_.dialog_timeout;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
  }
  RecordDisplayed({command_id}, urgent);
  spdlog::info("showing prompt {} ({})", command_id, urgent ? "urgent" : "not urgent");
  const PromptReply reply = prompter_.Ask(req);
  {
    absl::MutexLock l(&mu_);
    showing_.clear();
  }
  const std::string outcome = PromptOutcomeName(req, reply);
  spdlog::info("prompt {}: {}{}", command_id, outcome,
               reply.error.empty() ? "" : " (" + reply.error + ")");
  switch (reply.outcome) {
    case PromptReply::Outcome::kAnswered:
    case PromptReply::Outcome::kDeclined:
    case PromptReply::Outcome::kPostponed:
      RecordFinal(command_id, outcome);
      if (notify_uplink_) notify_uplink_();
      break;
    case PromptReply::Outcome::kTimedOut:   // stays open; asked again later
    case PromptReply::Outcome::kCancelled:  // withdrawn or stopping
      break;
    case PromptReply::Outcome::kFailed:     // no desktop to show it on: try again later
      WaitAfterFailure();
      break;
  }
}

void PromptService::ShowCombined(const std::vector<std::string>& command_ids,
                                 const std::vector<std::string>& payloads) {
  CombinedPromptRequest req;
  req.intro = options_.combined_intro;
  req.timeout = options_.dialog_timeout;
  std::vector<v1::ConsentPrompt> prompts;
  for (const std::string& payload : payloads) {
    v1::Command cmd;
    cmd.ParseFromString(payload);
    prompts.push_back(cmd.consent_prompt());
    const v1::ConsentPrompt& p = prompts.back();
    if (req.sender_name.empty()) req.sender_name = p.sender_name();
    req.items.push_back({p.application(), {p.answers().begin(), p.answers().end()}});
  }
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
  }
  RecordDisplayed(command_ids, /*urgent=*/false);
  spdlog::info("showing {} reclamation prompts in one dialog", command_ids.size());
  const CombinedPromptReply reply = prompter_.AskCombined(req);
  {
    absl::MutexLock l(&mu_);
    showing_.clear();
  }
  if (reply.outcome == PromptReply::Outcome::kFailed) {
    spdlog::warn("combined prompt not shown: {}", reply.error);
    WaitAfterFailure();
    return;
  }
  bool recorded = false;
  for (size_t i = 0; i < command_ids.size(); ++i) {
    PromptReply one;
    one.outcome = reply.outcome;
    one.answer = i < reply.answers.size() ? reply.answers[i] : -1;
    if (one.answer >= 0) one.outcome = PromptReply::Outcome::kAnswered;
    PromptRequest item;
    item.answers = req.items[i].answers;
    const std::string outcome = PromptOutcomeName(item, one);
    const bool final = one.answer >= 0 || one.outcome == PromptReply::Outcome::kDeclined ||
                       one.outcome == PromptReply::Outcome::kPostponed;
    spdlog::info("prompt {} ({}): {}", command_ids[i], req.items[i].label,
                 final ? outcome : "no answer; stays open");
    if (final) {
      RecordFinal(command_ids[i], outcome);
      recorded = true;
    }
  }
  if (recorded && notify_uplink_) notify_uplink_();
}

}  // namespace reclaim::agent
