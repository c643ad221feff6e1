// The consent prompt dialog under Wine (own Xvfb): the campaign's answers
// are buttons; clicking one returns its index; Escape / close dismisses; the
// timeout returns kTimedOut.
// Each case takes about 2 s under Wine: with no window manager on the Xvfb,
// winex11 waits up to 2 s in DestroyWindow for the window manager to withdraw
// the window (measured: DestroyWindow of a visible window 2001 ms, creating
// and showing it 2 ms). Windows has no such wait.
#include <future>
#include <string>
#include <thread>

#include "agent/windows/prompter.h"
#include "gtest/gtest.h"
#include "tests/windows/wine_test_util.h"

namespace reclaim::agent::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ConsentPrompt VisioPrompt() {
  ConsentPrompt p;
  p.title = "Reclaim: licence review";
  p.message = "You have not used Microsoft Visio for 90 days.\nDo you still need it? (Jürgen's team)";
  p.answers = {"Keep Visio", "Remove it", "Ask me later"};
  p.default_answer = 0;
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

TEST(PromptDialogWindowsTest, ClickingAnAnswerReturnsIt) {
  std::unique_ptr<Prompter> prompter = MakePrompter();
  const ConsentPrompt prompt = VisioPrompt();
  auto result = std::async(std::launch::async, [&] { return prompter->Ask(prompt); });
  HWND dialog = WaitForPrompt();
  ASSERT_NE(dialog, nullptr);
  EXPECT_EQ(Text(dialog), L"Reclaim: licence review");
  HWND remove = GetDlgItem(dialog, kFirstAnswerId + 1);
  ASSERT_NE(remove, nullptr);
  EXPECT_EQ(Text(remove), L"Remove it");
  EXPECT_EQ(Text(GetDlgItem(dialog, kFirstAnswerId + 2)), L"Ask me later");
  PostMessageW(remove, BM_CLICK, 0, 0);
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  const PromptResult r = result.get();
  EXPECT_EQ(r.outcome, PromptResult::Outcome::kAnswered);
  EXPECT_EQ(r.answer, 1);
}

TEST(PromptDialogWindowsTest, CloseDismisses) {
  std::unique_ptr<Prompter> prompter = MakePrompter();
  const ConsentPrompt prompt = VisioPrompt();
  auto result = std::async(std::launch::async, [&] { return prompter->Ask(prompt); });
  HWND dialog = WaitForPrompt();
  ASSERT_NE(dialog, nullptr);
  PostMessageW(dialog, WM_CLOSE, 0, 0);
  ASSERT_EQ(result.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(result.get().outcome, PromptResult::Outcome::kDismissed);
}

TEST(PromptDialogWindowsTest, TimesOut) {
  std::unique_ptr<Prompter> prompter = MakePrompter();
  ConsentPrompt prompt = VisioPrompt();
  prompt.timeout = milliseconds(400);
  const auto start = std::chrono::steady_clock::now();
  const PromptResult r = prompter->Ask(prompt);
  EXPECT_EQ(r.outcome, PromptResult::Outcome::kTimedOut);
  EXPECT_EQ(r.answer, -1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(390));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
}

TEST(PromptDialogWindowsTest, NoAnswersFails) {
  std::unique_ptr<Prompter> prompter = MakePrompter();
  ConsentPrompt prompt = VisioPrompt();
  prompt.answers.clear();
  EXPECT_EQ(prompter->Ask(prompt).outcome, PromptResult::Outcome::kFailed);
}

}  // namespace
}  // namespace reclaim::agent::testing
