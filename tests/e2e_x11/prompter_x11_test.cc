// The zenity ConsentPrompter on a real X server (Xvfb + openbox): the dialog
// is a real, visible window titled with the sender, shown in a screenshot,
// and answered by xdotool as a user would (Return = first answer, Escape =
// decline, Shift+Tab to other buttons); time-out and withdrawal (Cancel);
// the combined dialog (one combo box per application).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <sstream>
#include <thread>

#include "agent/sources/prompter.h"
#include "tests/e2e_x11/x11_desktop.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::agent {
namespace {

using e2e::FindProgram;
using e2e::WaitFor;

class PrompterX11Test : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"Xvfb", "openbox", "xdotool", "zenity", "import"}) {
      ASSERT_FALSE(FindProgram(tool).empty()) << tool << " is missing: deploy/install-deps.sh";
    }
    desktop_ = std::make_unique<e2e::X11Desktop>(dir_.path().string());
    ASSERT_TRUE(desktop_->StartServer());
    ASSERT_TRUE(desktop_->StartWm());
    ZenityPrompterOptions o;
    o.on_started = [this](int pid) { pid_ = pid; };
    prompter_ = MakeZenityPrompter(o);
  }

  // Runs Ask() on a thread; returns its window once visible (0 if none).
  std::uint32_t Show(const PromptRequest& req) {
    pid_ = 0;
    asker_ = std::thread([this, req] { reply_ = prompter_->Ask(req); });
    return WaitForDialog();
  }
  std::uint32_t WaitForDialog() {
    std::uint32_t window = 0;
    WaitFor(
        [&] {
          if (pid_ == 0) return false;
          auto r = desktop_->Run(FindProgram("xdotool"),
                                 {"search", "--onlyvisible", "--pid", std::to_string(pid_)});
          if (r.exit_code != 0 || r.out.empty()) return false;
          window = static_cast<std::uint32_t>(std::stoul(r.out));
          return true;
        },
        std::chrono::seconds(20), std::chrono::milliseconds(20));
    return window;
  }
  std::uint32_t ShowCombined(const CombinedPromptRequest& req) {
    pid_ = 0;
    asker_ = std::thread([this, req] { combined_reply_ = prompter_->AskCombined(req); });
    return WaitForDialog();
  }
  // Clicks the dialog's button row (Close | Send | Remind me later) at
  // sixths/6 of its width.
  void ClickButtonRow(std::uint32_t w, int sixths) {
    auto geo = desktop_->Run(FindProgram("xdotool"), {"getwindowgeometry", "--shell",
                                                       std::to_string(w)});
    int width = 0, height = 0;
    std::istringstream lines(geo.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("WIDTH=", 0) == 0) width = std::stoi(line.substr(6));
      if (line.rfind("HEIGHT=", 0) == 0) height = std::stoi(line.substr(7));
    }
    ASSERT_GT(width, 0) << geo.out;
    auto r = desktop_->Run(FindProgram("xdotool"),
                           {"windowactivate", "--sync", std::to_string(w), "mousemove", "--window",
                            std::to_string(w), std::to_string(width * sixths / 6),
                            std::to_string(height - 28), "click", "1"});
    EXPECT_EQ(r.exit_code, 0) << r.out;
  }
  // Checks that window `w` is titled with the sender and saves a screenshot
  // of the screen in the test's dir as `file`; returns its path.
  std::string ExpectTitleAndScreenshot(std::uint32_t w, const std::string& file) {
    auto name = desktop_->Run(FindProgram("xdotool"), {"getwindowname", std::to_string(w)});
    EXPECT_EQ(name.out, "IT Service Desk\n");
    const std::string shot = dir_.File(file);
    auto r = desktop_->Run(FindProgram("import"), {"-window", "root", shot});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_TRUE(std::filesystem::exists(shot) && std::filesystem::file_size(shot) > 1000u);
    return shot;
  }
  PromptReply Wait() {
    asker_.join();
    return reply_;
  }
  void Keys(std::uint32_t w, const std::vector<std::string>& keys) {
    std::vector<std::string> args = {"windowactivate", "--sync", std::to_string(w), "key",
                                     "--delay", "50"};
    args.insert(args.end(), keys.begin(), keys.end());
    auto r = desktop_->Run(FindProgram("xdotool"), args);
    EXPECT_EQ(r.exit_code, 0) << r.out;
  }
  static PromptRequest Visio(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    PromptRequest req;
    req.sender_name = "IT Service Desk";
    req.question = "Do you still need Microsoft Visio?";
    req.answers = {"Yes", "No"};
    req.timeout = timeout;
    return req;
  }

  reclaim::testing::TempDir dir_;
  std::unique_ptr<e2e::X11Desktop> desktop_;
  std::unique_ptr<ConsentPrompter> prompter_;
  std::atomic<int> pid_{0};
  std::thread asker_;
  PromptReply reply_;
  CombinedPromptReply combined_reply_;
};

TEST_F(PrompterX11Test, DialogIsARealWindowAndReturnAnswersYes) {
  const PromptRequest req = Visio();
  const std::uint32_t w = Show(req);
  ASSERT_NE(w, 0u) << "no visible dialog window";
  const std::string shot = ExpectTitleAndScreenshot(w, "prompt.png");
  // Keep the screenshot for people to look at when asked to.
  if (const char* keep = std::getenv("RECLAIM_KEEP_SCREENSHOT")) {
    std::filesystem::copy_file(shot, keep, std::filesystem::copy_options::overwrite_existing);
  }
  Keys(w, {"Return"});
  const PromptReply reply = Wait();
  EXPECT_EQ(reply.outcome, PromptReply::Outcome::kAnswered) << reply.error;
  EXPECT_EQ(reply.answer, 0);
  EXPECT_EQ(PromptOutcomeName(req, reply), "answered:Yes");
}

// Button order on screen (GTK dialog): No, Remind me later, Close, Yes; the
// default (Yes) has the focus, Shift+Tab walks left, space presses.
TEST_F(PrompterX11Test, OtherAnswerThroughItsButton) {
  const PromptRequest req = Visio();
  const std::uint32_t w = Show(req);
  ASSERT_NE(w, 0u);
  Keys(w, {"shift+Tab", "shift+Tab", "shift+Tab", "space"});
  const PromptReply reply = Wait();
  EXPECT_EQ(reply.outcome, PromptReply::Outcome::kAnswered) << reply.error;
  EXPECT_EQ(PromptOutcomeName(req, reply), "answered:No");
}

TEST_F(PrompterX11Test, RemindMeLaterPostpones) {
  const PromptRequest req = Visio();
  const std::uint32_t w = Show(req);
  ASSERT_NE(w, 0u);
  Keys(w, {"shift+Tab", "shift+Tab", "space"});
  const PromptReply reply = Wait();
  EXPECT_EQ(reply.outcome, PromptReply::Outcome::kPostponed) << reply.error;
  EXPECT_EQ(PromptOutcomeName(req, reply), "postponed");
}

TEST_F(PrompterX11Test, EscapeDeclines) {
  const PromptRequest req = Visio();
  const std::uint32_t w = Show(req);
  ASSERT_NE(w, 0u);
  Keys(w, {"Escape"});
  const PromptReply reply = Wait();
  EXPECT_EQ(reply.outcome, PromptReply::Outcome::kDeclined) << reply.error;
  EXPECT_EQ(PromptOutcomeName(req, reply), "declined");
}

TEST_F(PrompterX11Test, TimesOutByItself) {
  const std::uint32_t w = Show(Visio(std::chrono::seconds(1)));
  ASSERT_NE(w, 0u);
  const PromptReply reply = Wait();
  EXPECT_EQ(reply.outcome, PromptReply::Outcome::kTimedOut) << reply.error;
}

TEST_F(PrompterX11Test, CancelTakesTheDialogDown) {
  const std::uint32_t w = Show(Visio());
  ASSERT_NE(w, 0u);
  prompter_->Cancel();
  EXPECT_EQ(Wait().outcome, PromptReply::Outcome::kCancelled);
}

CombinedPromptRequest ThreeApplications() {
  CombinedPromptRequest req;
  req.sender_name = "IT Service Desk";
  req.intro = "Do you still need these applications?";
  req.items = {{"Microsoft Visio", {"Yes", "No"}}, {"GIMP", {"Yes", "No"}},
               {"Acrobat Pro", {"Keep", "Remove"}}};
  req.timeout = std::chrono::seconds(60);
  return req;
}

// One dialog, one combo box per application (starting empty): Visio Yes,
// GIMP left empty, Acrobat Remove; Send is the middle button of the row.
TEST_F(PrompterX11Test, CombinedDialogOneAnswerPerApplication) {
  const CombinedPromptRequest req = ThreeApplications();
  const std::uint32_t w = ShowCombined(req);
  ASSERT_NE(w, 0u) << "no visible dialog window";
  ExpectTitleAndScreenshot(w, "combined.png");
  Keys(w, {"Down", "Tab", "Tab", "Down", "Down"});
  ClickButtonRow(w, 3);
  asker_.join();
  EXPECT_EQ(combined_reply_.outcome, PromptReply::Outcome::kAnswered) << combined_reply_.error;
  EXPECT_EQ(combined_reply_.answers, (std::vector<int>{0, -1, 1}));
}

TEST_F(PrompterX11Test, CombinedDialogRemindMeLaterPostponesAll) {
  const std::uint32_t w = ShowCombined(ThreeApplications());
  ASSERT_NE(w, 0u);
  ClickButtonRow(w, 5);  // Remind me later: the right button
  asker_.join();
  EXPECT_EQ(combined_reply_.outcome, PromptReply::Outcome::kPostponed) << combined_reply_.error;
  EXPECT_EQ(combined_reply_.answers, (std::vector<int>{-1, -1, -1}));
}

TEST_F(PrompterX11Test, CombinedDialogEscapeDeclinesAll) {
  const std::uint32_t w = ShowCombined(ThreeApplications());
  ASSERT_NE(w, 0u);
  Keys(w, {"Escape"});
  asker_.join();
  EXPECT_EQ(combined_reply_.outcome, PromptReply::Outcome::kDeclined) << combined_reply_.error;
}

TEST_F(PrompterX11Test, CombinedRequestWithAPipeInAnAnswerIsRefused) {
  CombinedPromptRequest req = ThreeApplications();
  req.items[0].answers = {"Yes|maybe", "No"};
  const CombinedPromptReply reply = prompter_->AskCombined(req);
  EXPECT_EQ(reply.outcome, PromptReply::Outcome::kFailed);
  EXPECT_NE(reply.error.find("cannot be offered"), std::string::npos) << reply.error;
}

TEST_F(PrompterX11Test, NoDisplayFailsCleanly) {
  ZenityPrompterOptions o;
  o.program = "/nonexistent/zenity";
  const PromptReply reply = MakeZenityPrompter(o)->Ask(Visio());
  EXPECT_EQ(reply.outcome, PromptReply::Outcome::kFailed);
  EXPECT_NE(reply.error.find("cannot start"), std::string::npos) << reply.error;
}

}  // namespace
}  // namespace reclaim::agent
