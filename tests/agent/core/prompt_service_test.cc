// PromptService with a real spool (temp dir), a manual clock and a fake
// ConsentPrompter: combined reclamation questions become one dialog whose
// answers go back per campaign; an application left empty stays open; the
// desktop state holds not-urgent prompts back until a Wake; a withdrawn
// prompt takes its dialog down.
#include "agent/core/prompt_service.h"

#include <gtest/gtest.h>

#include <future>

#include "absl/synchronization/mutex.h"
#include "agent/core/desktop_state.h"
#include "reclaim/v1/agent.pb.h"
#include "tests/testing/wait_for.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::agent {
namespace {

namespace v1 = ::reclaim::v1;

// Records what it was asked and answers with the scripted replies; blocks
// until Cancel() when told to.
class FakePrompter final : public ConsentPrompter {
 public:
  // Like a real dialog, Cancel() reaches only a dialog that is up: one
  // that came before Ask() started is lost.
  PromptReply Ask(const PromptRequest& request) override {
    absl::MutexLock l(&mu_);
    asked_.push_back(request.question);
    if (block_) {
      in_ask_ = true;
      cancelled_ = false;
      mu_.Await(absl::Condition(&cancelled_));
      in_ask_ = false;
      return {PromptReply::Outcome::kCancelled, -1, ""};
    }
    return single_;
  }
  CombinedPromptReply AskCombined(const CombinedPromptRequest& request) override {
    absl::MutexLock l(&mu_);
    combined_.push_back(request);
    return combined_reply_;
  }
  // Like the zenity form: an answer with '|' cannot be a combo value.
  bool CanCombine(const std::vector<std::string>& answers) const override {
    for (const std::string& a : answers) {
      if (a.find('|') != std::string::npos) return false;
    }
    return true;
  }
  void Cancel() override {
    absl::MutexLock l(&mu_);
    if (in_ask_) cancelled_ = true;
  }
  size_t asks() {
    absl::MutexLock l(&mu_);
    return asked_.size();
  }
  absl::Mutex mu_;
  std::vector<std::string> asked_ ABSL_GUARDED_BY(mu_);
  std::vector<CombinedPromptRequest> combined_ ABSL_GUARDED_BY(mu_);
  PromptReply single_ ABSL_GUARDED_BY(mu_){PromptReply::Outcome::kAnswered, 0, ""};
  CombinedPromptReply combined_reply_ ABSL_GUARDED_BY(mu_);
  bool block_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool in_ask_ ABSL_GUARDED_BY(mu_) = false;
};

class PromptServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Spool::Open({.path = dir_.File("spool.db"), .max_bytes = 1 << 20}, clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    spool_ = std::move(*s);
  }
  void Store(const std::string& id, const std::string& application, bool urgent = false,
             std::vector<std::string> answers = {"Yes", "No"}) {
    v1::Command cmd;
    v1::ConsentPrompt* p = cmd.mutable_consent_prompt();
    p->set_sender_name("IT Service Desk");
    p->set_question("Do you still need " + (application.empty() ? id : application) + "?");
    for (const std::string& a : answers) p->add_answers(a);
    p->set_urgent(urgent);
    p->set_application(application);
    auto stored = spool_->StorePrompt({id, cmd.SerializeAsString(), 0, 0});
    ASSERT_TRUE(stored.ok() && *stored);
  }
  // The results queued for `id`, oldest first.
  std::vector<std::string> Results(const std::string& id) {
    std::vector<std::string> out;
    auto r = spool_->PendingResults();
    EXPECT_TRUE(r.ok());
    for (const SpoolCommandResult& c : *r) {
      if (c.command_id == id) out.push_back(c.outcome);
    }
    return out;
  }
  // Starts the service; `notified` counts uplink notifications.
  void Start(PromptServiceOptions options = {}) {
    service_ = std::make_unique<PromptService>(*spool_, prompter_, clock_,
                                               [this] {
                                                 ++notified_;
                                                 if (on_notify_) on_notify_();
                                               },
                                               options);
    service_->Start();
  }
  // Whether `pred` holds within `polls` x 10 ms.
  template <typename Pred>
  bool Eventually(Pred pred, int polls = 500) {
    return reclaim::testing::WaitFor(pred, std::chrono::milliseconds(10) * polls,
                                     std::chrono::milliseconds(10));
  }

  reclaim::testing::TempDir dir_;
  ManualClock clock_{MonoTime{0}, 1'800'000'000'000};
  std::unique_ptr<Spool> spool_;
  FakePrompter prompter_;
  std::atomic<int> notified_{0};
  std::function<void()> on_notify_;  // set before Start()
  std::unique_ptr<PromptService> service_;
};

TEST_F(PromptServiceTest, ReclamationQuestionsAreCombinedAndAnsweredPerCampaign) {
  Store("prompt-1", "Microsoft Visio");
  Store("prompt-2", "GIMP");
  Store("prompt-3", "Acrobat Pro");
  {
    absl::MutexLock l(&prompter_.mu_);
    prompter_.combined_reply_ = {PromptReply::Outcome::kAnswered, {0, 1, -1}, ""};
  }
  Start();
  ASSERT_TRUE(Eventually([&] { return Results("prompt-2").size() == 3; }));
  service_->Stop();
  {
    absl::MutexLock l(&prompter_.mu_);
    ASSERT_EQ(prompter_.combined_.size(), 1u);
    const CombinedPromptRequest& req = prompter_.combined_[0];
    EXPECT_EQ(req.sender_name, "IT Service Desk");
    ASSERT_EQ(req.items.size(), 3u);
    EXPECT_EQ(req.items[0].label, "Microsoft Visio");
    EXPECT_EQ(req.items[2].answers, (std::vector<std::string>{"Yes", "No"}));
    EXPECT_TRUE(prompter_.asked_.empty());
  }
  EXPECT_EQ(Results("prompt-1"),
            (std::vector<std::string>{"delivered", "displayed", "answered:Yes"}));
  EXPECT_EQ(Results("prompt-2"),
            (std::vector<std::string>{"delivered", "displayed", "answered:No"}));
  // Left without an answer: displayed, still open (asked again later).
  EXPECT_EQ(Results("prompt-3"), (std::vector<std::string>{"delivered", "displayed"}));
  auto open = spool_->OpenPrompts();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].command_id, "prompt-3");
  EXPECT_GT(notified_.load(), 0);
}

TEST_F(PromptServiceTest, AQuestionThatCannotBeCombinedIsAskedAloneAndBlocksNoOther) {
  // A campaign stored before the collector refused '|' in answers: the
  // combined dialog cannot offer it, so it is asked on its own, and the
  // others are combined at the next slot instead of failing forever.
  Store("prompt-1", "Microsoft Visio");
  Store("prompt-2", "GIMP", false, {"Yes|keep", "No"});
  Store("prompt-3", "Acrobat Pro");
  {
    absl::MutexLock l(&prompter_.mu_);
    prompter_.single_ = {PromptReply::Outcome::kAnswered, 1, ""};
    prompter_.combined_reply_ = {PromptReply::Outcome::kAnswered, {0, 0}, ""};
  }
  PromptServiceOptions options;
  options.policy.min_not_urgent_interval = std::chrono::milliseconds(0);
  Start(options);
  ASSERT_TRUE(Eventually([&] { return Results("prompt-2").size() == 3; }));
  EXPECT_EQ(Results("prompt-2").back(), "answered:No");
  ASSERT_TRUE(Eventually([&] { return Results("prompt-3").size() == 3; }));
  service_->Stop();
  EXPECT_EQ(Results("prompt-1").back(), "answered:Yes");
  EXPECT_EQ(Results("prompt-3").back(), "answered:Yes");
  absl::MutexLock l(&prompter_.mu_);
  EXPECT_EQ(prompter_.asked_, (std::vector<std::string>{"Do you still need GIMP?"}));
  ASSERT_EQ(prompter_.combined_.size(), 1u);
  ASSERT_EQ(prompter_.combined_[0].items.size(), 2u);
  EXPECT_EQ(prompter_.combined_[0].items[0].label, "Microsoft Visio");
  EXPECT_EQ(prompter_.combined_[0].items[1].label, "Acrobat Pro");
}

TEST_F(PromptServiceTest, CombinedPostponeAppliesToEveryCampaign) {
  Store("prompt-1", "Microsoft Visio");
  Store("prompt-2", "GIMP");
  {
    absl::MutexLock l(&prompter_.mu_);
    prompter_.combined_reply_ = {PromptReply::Outcome::kPostponed, {-1, -1}, ""};
  }
  Start();
  ASSERT_TRUE(Eventually([&] { return Results("prompt-2").size() == 3; }));
  service_->Stop();
  EXPECT_EQ(Results("prompt-1").back(), "postponed");
  EXPECT_EQ(Results("prompt-2").back(), "postponed");
}

TEST_F(PromptServiceTest, DesktopStateHoldsNotUrgentBackUntilWoken) {
  Store("prompt-1", "");
  DesktopStateTracker desktop({.do_not_disturb = DoNotDisturbMode::kAuto,
                               .do_not_disturb_probe = {},
                               .on_change = [this] {
                                 if (service_) service_->Wake();
                               }});
  desktop.SetFullscreen(true);
  PromptServiceOptions o;
  o.desktop = [&desktop] { return desktop.Get(); };
  o.max_wait = std::chrono::hours(1);  // only a Wake can show it
  Start(o);
  // Held back: never displayed while the full-screen window is in front.
  EXPECT_FALSE(Eventually([&] { return prompter_.asks() > 0; }, 30));
  EXPECT_EQ(Results("prompt-1"), (std::vector<std::string>{"delivered"}));
  desktop.SetFullscreen(false);  // wakes the service
  ASSERT_TRUE(Eventually([&] { return Results("prompt-1").size() == 3; }));
  service_->Stop();
  EXPECT_EQ(Results("prompt-1").back(), "answered:Yes");
}

TEST_F(PromptServiceTest, DoNotDisturbIsAskedOnlyWhenANotUrgentPromptWouldShow) {
  std::atomic<int> asked{0};
  std::atomic<bool> dnd{true};
  PromptServiceOptions o;
  o.do_not_disturb = [&] {
    ++asked;
    return dnd.load();
  };
  o.recheck = std::chrono::milliseconds(20);
  o.policy.quiet_after_urgent = std::chrono::milliseconds(0);
  Start(o);
  Store("prompt-9", "", /*urgent=*/true);
  service_->Wake();
  ASSERT_TRUE(Eventually([&] { return Results("prompt-9").size() == 3; }));
  EXPECT_EQ(asked.load(), 0) << "urgent prompts ignore do-not-disturb";
  Store("prompt-1", "");
  service_->Wake();
  ASSERT_TRUE(Eventually([&] { return asked.load() >= 3; }));  // rechecked while on
  EXPECT_EQ(Results("prompt-1"), (std::vector<std::string>{"delivered"}));
  dnd = false;
  ASSERT_TRUE(Eventually([&] { return Results("prompt-1").size() == 3; }));
  service_->Stop();
}

TEST_F(PromptServiceTest, WithdrawnPromptTakesItsDialogDown) {
  Store("prompt-1", "");
  {
    absl::MutexLock l(&prompter_.mu_);
    prompter_.block_ = true;
  }
  Start();
  ASSERT_TRUE(Eventually([&] { return prompter_.asks() == 1; }));
  ASSERT_TRUE(spool_->RemovePrompt("prompt-1").ok());
  service_->Wake();
  // Cancelled: no final outcome, and not shown again (it is gone).
  ASSERT_TRUE(Eventually([&] {
    absl::MutexLock l(&prompter_.mu_);
    return !prompter_.in_ask_ && prompter_.asked_.size() == 1;
  }));
  service_->Stop();
  EXPECT_EQ(Results("prompt-1"), (std::vector<std::string>{"delivered", "displayed"}));
}

// Stop() while a dialog is about to start (the service recorded it as
// displayed, the dialog is not up yet, so the first Cancel() is lost):
// Stop() still takes it down instead of waiting for the dialog's timeout.
TEST_F(PromptServiceTest, StopWhileADialogIsStartingDoesNotWaitForIt) {
  Store("prompt-1", "");
  {
    absl::MutexLock l(&prompter_.mu_);
    prompter_.block_ = true;
  }
  std::promise<void> displayed;
  on_notify_ = [&displayed, first = true]() mutable {
    if (!first) return;
    first = false;
    displayed.set_value();
    // Hold the service between "displayed" and Ask() while Stop() begins.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  };
  Start();
  displayed.get_future().wait();
  auto stopped = std::async(std::launch::async, [this] { service_->Stop(); });
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  absl::MutexLock l(&prompter_.mu_);
  EXPECT_EQ(prompter_.asked_.size(), 1u) << "the dialog did start after the first Cancel()";
}

}  // namespace
}  // namespace reclaim::agent
