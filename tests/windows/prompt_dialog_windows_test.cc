// The Windows ConsentPrompter (agent/sources/prompter.h, the dialog of
// agent/windows/prompt_dialog_windows.cc) under Wine (own Xvfb): the sender
// is the caption; the campaign's answers, "Remind me later" and the decline
// button are buttons; clicking an answer returns its index, the postpone
// button postpones, the decline button / Escape / close declines; the
// timeout returns kTimedOut; Cancel() from another thread takes the dialog
// down; combined questions: one window with a drop-down list per application.
// Each case takes about 2 s under Wine: with no window manager on the Xvfb,
// winex11 waits up to 2 s in DestroyWindow for the window manager to withdraw
// the window (measured: DestroyWindow of a visible window 2001 ms, creating
// and showing it 2 ms). Windows has no such wait.
#include <future>
#include <string>
#include <thread>

#include "agent/sources/prompter.h"
#include "gtest/gtest.h"
#include "tests/windows/wine_test_util.h"

namespace reclaim::agent::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

PromptRequest VisioPrompt() {
  PromptRequest p;
  p.sender_name = "Reclaim: licence review";
  p.question = "You have not used Microsoft Visio for 90 days.\nDo you still need it? (Jürgen's team)";
  p.answers = {"Keep Visio", "Remove it"};
  p.timeout = seconds(30);
  return p;
}

// The prompt window of this process, waited for.
HWND WaitForPrompt() {
  return WaitForProcessWindow(GetCurrentProcessId(), L"ReclaimConsentPrompt", seconds(10));
}

std::wstring Text(HWND w) {
  wchar_t buf[256];
  const int n = GetWindowTextW(w, buf, 256);
  return std::wstring(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

// Asks `prompt` on another thread, clicks button `index` of the dialog once
// it is up, and returns the reply.
PromptReply AskAndClick(ConsentPrompter& prompter, const PromptRequest& prompt, int index) {
  auto result = std::async(std::launch::async, [&] { return prompter.Ask(prompt); });
  HWND dialog = WaitForPrompt();
  EXPECT_NE(dialog, nullptr);
  HWND button = dialog ? GetDlgItem(dialog, kFirstAnswerId + index) : nullptr;
  EXPECT_NE(button, nullptr);
  if (button) PostMessageW(button, BM_CLICK, 0, 0);
  EXPECT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  return result.get();
}

TEST(PromptDialogWindowsTest, ButtonsAreTheAnswersThenPostponeAndDecline) {
  std::unique_ptr<ConsentPrompter> prompter = MakeWindowsPrompter();
  const PromptRequest prompt = VisioPrompt();
  auto result = std::async(std::launch::async, [&] { return prompter->Ask(prompt); });
  HWND dialog = WaitForPrompt();
  ASSERT_NE(dialog, nullptr);
  EXPECT_EQ(Text(dialog), L"Reclaim: licence review");
  EXPECT_EQ(Text(GetDlgItem(dialog, kFirstAnswerId)), L"Keep Visio");
  EXPECT_EQ(Text(GetDlgItem(dialog, kFirstAnswerId + 2)), L"Remind me later");
  EXPECT_EQ(Text(GetDlgItem(dialog, kFirstAnswerId + 3)), L"Close");
  HWND remove = GetDlgItem(dialog, kFirstAnswerId + 1);
  ASSERT_NE(remove, nullptr);
  EXPECT_EQ(Text(remove), L"Remove it");
  PostMessageW(remove, BM_CLICK, 0, 0);
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  const PromptReply r = result.get();
  EXPECT_EQ(r.outcome, PromptReply::Outcome::kAnswered);
  EXPECT_EQ(r.answer, 1);
  EXPECT_EQ(PromptOutcomeName(prompt, r), "answered:Remove it");
}

TEST(PromptDialogWindowsTest, RemindMeLaterPostpones) {
  std::unique_ptr<ConsentPrompter> prompter = MakeWindowsPrompter();
  const PromptReply r = AskAndClick(*prompter, VisioPrompt(), 2);
  EXPECT_EQ(r.outcome, PromptReply::Outcome::kPostponed);
}

TEST(PromptDialogWindowsTest, CloseButtonDeclines) {
  std::unique_ptr<ConsentPrompter> prompter = MakeWindowsPrompter();
  const PromptReply r = AskAndClick(*prompter, VisioPrompt(), 3);
  EXPECT_EQ(r.outcome, PromptReply::Outcome::kDeclined);
}

TEST(PromptDialogWindowsTest, CloseBoxDeclines) {
  std::unique_ptr<ConsentPrompter> prompter = MakeWindowsPrompter();
  const PromptRequest prompt = VisioPrompt();
  auto result = std::async(std::launch::async, [&] { return prompter->Ask(prompt); });
  HWND dialog = WaitForPrompt();
  ASSERT_NE(dialog, nullptr);
  PostMessageW(dialog, WM_CLOSE, 0, 0);
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(result.get().outcome, PromptReply::Outcome::kDeclined);
}

TEST(PromptDialogWindowsTest, CancelFromAnotherThreadTakesItDown) {
  std::unique_ptr<ConsentPrompter> prompter = MakeWindowsPrompter();
  const PromptRequest prompt = VisioPrompt();
  auto result = std::async(std::launch::async, [&] { return prompter->Ask(prompt); });
  ASSERT_NE(WaitForPrompt(), nullptr);
  prompter->Cancel();
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(result.get().outcome, PromptReply::Outcome::kCancelled);
}

TEST(PromptDialogWindowsTest, TimesOut) {
  std::unique_ptr<ConsentPrompter> prompter = MakeWindowsPrompter();
  PromptRequest prompt = VisioPrompt();
  prompt.timeout = seconds(1);
  const auto start = std::chrono::steady_clock::now();
  const PromptReply r = prompter->Ask(prompt);
  EXPECT_EQ(r.outcome, PromptReply::Outcome::kTimedOut);
  EXPECT_EQ(r.answer, -1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(990));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(6));
}

CombinedPromptRequest ThreeApplications() {
  CombinedPromptRequest req;
  req.sender_name = "IT Service Desk";
  req.intro = "Do you still need these applications?";
  req.items = {{"Microsoft Visio", {"Yes", "No"}}, {"GIMP", {"Yes", "No"}},
               {"Acrobat Pro", {"Keep", "Remove"}}};
  req.timeout = seconds(30);
  return req;
}

// One window: a drop-down list per application (kFirstChoiceId + i in the
// dialog, 2000 + i), starting empty; Send is the first button.
TEST(PromptDialogWindowsTest, CombinedDialogOneAnswerPerApplication) {
  std::unique_ptr<ConsentPrompter> prompter = MakeWindowsPrompter();
  const CombinedPromptRequest req = ThreeApplications();
  auto result = std::async(std::launch::async, [&] { return prompter->AskCombined(req); });
  HWND dialog = WaitForPrompt();
  ASSERT_NE(dialog, nullptr);
  EXPECT_EQ(Text(dialog), L"IT Service Desk");
  HWND visio = GetDlgItem(dialog, 2000);
  HWND acrobat = GetDlgItem(dialog, 2002);
  ASSERT_NE(visio, nullptr);
  ASSERT_NE(acrobat, nullptr);
  EXPECT_EQ(SendMessageW(acrobat, CB_GETCOUNT, 0, 0), 2);
  EXPECT_EQ(SendMessageW(visio, CB_GETCURSEL, 0, 0), CB_ERR) << "starts without an answer";
  SendMessageW(visio, CB_SETCURSEL, 0, 0);    // Yes
  SendMessageW(acrobat, CB_SETCURSEL, 1, 0);  // Remove
  EXPECT_EQ(Text(GetDlgItem(dialog, kFirstAnswerId)), L"Send");
  PostMessageW(GetDlgItem(dialog, kFirstAnswerId), BM_CLICK, 0, 0);
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  const CombinedPromptReply r = result.get();
  EXPECT_EQ(r.outcome, PromptReply::Outcome::kAnswered) << r.error;
  EXPECT_EQ(r.answers, (std::vector<int>{0, -1, 1}));
}

TEST(PromptDialogWindowsTest, CombinedDialogRemindMeLaterPostponesAll) {
  std::unique_ptr<ConsentPrompter> prompter = MakeWindowsPrompter();
  const CombinedPromptRequest req = ThreeApplications();
  auto result = std::async(std::launch::async, [&] { return prompter->AskCombined(req); });
  HWND dialog = WaitForPrompt();
  ASSERT_NE(dialog, nullptr);
  PostMessageW(GetDlgItem(dialog, kFirstAnswerId + 1), BM_CLICK, 0, 0);
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  const CombinedPromptReply r = result.get();
  EXPECT_EQ(r.outcome, PromptReply::Outcome::kPostponed);
  EXPECT_EQ(r.answers, (std::vector<int>{-1, -1, -1}));
}

TEST(PromptDialogWindowsTest, NoAnswersFails) {
  std::unique_ptr<ConsentPrompter> prompter = MakeWindowsPrompter();
  PromptRequest prompt = VisioPrompt();
  prompt.answers.clear();
  const PromptReply r = prompter->Ask(prompt);
  EXPECT_EQ(r.outcome, PromptReply::Outcome::kFailed);
  EXPECT_FALSE(r.error.empty());
}

}  // namespace
}  // namespace reclaim::agent::testing
