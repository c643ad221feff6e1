// The Windows ConsentPrompter (agent/sources/prompter.h): a top-level,
// topmost window (class "ReclaimConsentPrompt") with the sender as caption,
// the question, one button per answer, "Remind me later" and the decline
// button, and a countdown; its own modal message loop with IsDialogMessage
// (Tab, Enter = the first answer, Escape = decline). Cancel() posts a
// message to the window from any thread.
//
// Why our own window: MessageBox cannot label its buttons with the
// campaign's answers nor time out (MessageBoxTimeout is undocumented);
// TaskDialogIndirect needs comctl32 v6, which needs an activation-context
// manifest in every executable that hosts the library, and has no timeout of
// its own either (a TDN_TIMER callback would be needed). Our window has any
// number of labelled answers, works the same under Wine, and its windows are
// the agent's own, which the focus source never meters.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <algorithm>
#include <mutex>

#include "agent/sources/win32_strings_windows.h"
#include "agent/sources/prompter.h"

namespace reclaim::agent {
namespace {

constexpr wchar_t kClassName[] = L"ReclaimConsentPrompt";
constexpr int kCountdownId = 900;
constexpr int kMessageId = 901;
constexpr int kFirstChoiceId = 2000;  // combined prompts: item i's combo box
constexpr UINT_PTR kTickTimer = 1;
constexpr UINT kCancelMessage = WM_APP + 1;  // Cancel(): take the dialog down
constexpr int kMargin = 16;
constexpr int kButtonHeight = 28;
constexpr int kButtonGap = 8;

// How a dialog ended.
struct DialogResult {
  enum class Outcome { kButton, kTimedOut, kDismissed, kCancelled, kFailed };
  Outcome outcome = Outcome::kFailed;
  int button = -1;  // index into the labels for kButton
  std::vector<int> chosen;  // kButton: each combo box's selection (-1: none)
};

struct DialogState {
  int buttons = 0;
  int choices = 0;  // combo boxes (combined prompts)
  int default_button = -1;
  DialogResult result;
  bool done = false;
  ULONGLONG deadline = 0;  // GetTickCount64; 0 = none
  HFONT font = nullptr;
};

void SetCountdown(HWND hwnd, const DialogState& s) {
  if (s.deadline == 0) return;
  const ULONGLONG now = GetTickCount64();
  const ULONGLONG left_s = now >= s.deadline ? 0 : (s.deadline - now + 999) / 1000;
  std::wstring text = L"This question closes in " + std::to_wstring(left_s) + L" s.";
  SetDlgItemTextW(hwnd, kCountdownId, text.c_str());
}

void Finish(HWND hwnd, DialogState* s, DialogResult::Outcome outcome, int button) {
  if (s->done) return;
  s->done = true;
  s->result.outcome = outcome;
  s->result.button = button;
  if (outcome == DialogResult::Outcome::kButton) {
    for (int i = 0; i < s->choices; ++i) {
      const LRESULT sel = SendDlgItemMessageW(hwnd, kFirstChoiceId + i, CB_GETCURSEL, 0, 0);
      s->result.chosen.push_back(sel == CB_ERR ? -1 : static_cast<int>(sel));
    }
  }
  DestroyWindow(hwnd);
}

LRESULT CALLBACK WndProc(HWND hwnd, UINT msg, WPARAM wp, LPARAM lp) {
  if (msg == WM_NCCREATE) {
    SetWindowLongPtrW(hwnd, GWLP_USERDATA,
                      reinterpret_cast<LONG_PTR>(reinterpret_cast<CREATESTRUCTW*>(lp)->lpCreateParams));
  }
  auto* s = reinterpret_cast<DialogState*>(GetWindowLongPtrW(hwnd, GWLP_USERDATA));
  if (s == nullptr) return DefWindowProcW(hwnd, msg, wp, lp);
  switch (msg) {
    case WM_COMMAND: {
      const int id = LOWORD(wp);
      const int n = s->buttons;
      if (id >= kFirstAnswerId && id < kFirstAnswerId + n) {
        Finish(hwnd, s, DialogResult::Outcome::kButton, id - kFirstAnswerId);
      } else if (id == IDCANCEL) {
        Finish(hwnd, s, DialogResult::Outcome::kDismissed, -1);
      } else if (id == IDOK && s->default_button >= 0 && s->default_button < n) {
        Finish(hwnd, s, DialogResult::Outcome::kButton, s->default_button);
      }
      return 0;
    }
    case WM_TIMER:
      if (wp == kTickTimer) {
        if (s->deadline != 0 && GetTickCount64() >= s->deadline) {
          Finish(hwnd, s, DialogResult::Outcome::kTimedOut, -1);
        } else {
          SetCountdown(hwnd, *s);
        }
      }
      return 0;
    case kCancelMessage:
      Finish(hwnd, s, DialogResult::Outcome::kCancelled, -1);
      return 0;
    case WM_CLOSE:
      Finish(hwnd, s, DialogResult::Outcome::kDismissed, -1);
      return 0;
    case WM_ENDSESSION:
      if (wp) Finish(hwnd, s, DialogResult::Outcome::kDismissed, -1);
      return 0;
    case WM_DESTROY:
      KillTimer(hwnd, kTickTimer);
      if (!s->done) {
        s->done = true;
        s->result.outcome = DialogResult::Outcome::kDismissed;
      }
      return 0;
    default:
      return DefWindowProcW(hwnd, msg, wp, lp);
  }
}

// Height of `text` wrapped at `width` pixels in `font`.
int TextHeight(HWND hwnd, HFONT font, const std::wstring& text, int width) {
  HDC dc = GetDC(hwnd);
  HGDIOBJ old = SelectObject(dc, font);
  RECT r{0, 0, width, 0};
  DrawTextW(dc, text.c_str(), static_cast<int>(text.size()), &r,
            DT_CALCRECT | DT_WORDBREAK | DT_NOPREFIX);
  SelectObject(dc, old);
  ReleaseDC(hwnd, dc);
  return r.bottom - r.top;
}

int TextWidth(HWND hwnd, HFONT font, const std::wstring& text) {
  HDC dc = GetDC(hwnd);
  HGDIOBJ old = SelectObject(dc, font);
  SIZE size{};
  GetTextExtentPoint32W(dc, text.c_str(), static_cast<int>(text.size()), &size);
  SelectObject(dc, old);
  ReleaseDC(hwnd, dc);
  return size.cx;
}

// One dialog: caption, message, button labels (answer i is control id
// kFirstAnswerId + i), the button Enter chooses, timeout (0 = none).
struct DialogSpec {
  std::string title;
  std::string message;
  std::vector<std::string> labels;
  int default_button = -1;
  std::chrono::milliseconds timeout{0};
  /// Combined prompts: a row per item, its label and a drop-down list of
  /// its answers (control id kFirstChoiceId + i), starting empty.
  std::vector<CombinedPromptRequest::Item> choices;
};

// The outcome of a dialog whose buttons are `answer_buttons` answers (or
// one submit button), then postpone, then decline.
PromptReply::Outcome ReplyOutcome(const DialogResult& r, int answer_buttons, std::string* error) {
  switch (r.outcome) {
    case DialogResult::Outcome::kButton:
      if (r.button < answer_buttons) return PromptReply::Outcome::kAnswered;
      return r.button == answer_buttons ? PromptReply::Outcome::kPostponed
                                        : PromptReply::Outcome::kDeclined;
    case DialogResult::Outcome::kTimedOut: return PromptReply::Outcome::kTimedOut;
    case DialogResult::Outcome::kDismissed: return PromptReply::Outcome::kDeclined;
    case DialogResult::Outcome::kCancelled: return PromptReply::Outcome::kCancelled;
    case DialogResult::Outcome::kFailed: break;
  }
  *error = "cannot create the prompt window (no desktop?)";
  return PromptReply::Outcome::kFailed;
}

class DialogPrompter final : public ConsentPrompter {
 public:
  PromptReply Ask(const PromptRequest& req) override {
    PromptReply reply;
    reply.error = CheckPromptRequest(req);
    if (!reply.error.empty()) return reply;
    DialogSpec spec;
    spec.title = req.sender_name.empty() ? "Reclaim" : req.sender_name;
    spec.message = req.question;
    spec.labels = req.answers;
    spec.labels.push_back(req.postpone_label);
    spec.labels.push_back(req.decline_label);
    spec.default_button = 0;
    spec.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(req.timeout, std::chrono::seconds(1)));
    const DialogResult r = Show(spec);
    const int answers = static_cast<int>(req.answers.size());
    reply.outcome = ReplyOutcome(r, answers, &reply.error);
    if (reply.outcome == PromptReply::Outcome::kAnswered) reply.answer = r.button;
    return reply;
  }

  // One window: a drop-down list of answers per item, then Send, Remind
  // me later and Close.
  CombinedPromptReply AskCombined(const CombinedPromptRequest& req) override {
    CombinedPromptReply reply;
    reply.error = CheckPromptRequest(req);
    if (!reply.error.empty()) return reply;
    DialogSpec spec;
    spec.title = req.sender_name.empty() ? "Reclaim" : req.sender_name;
    spec.message = req.intro;
    spec.labels = {req.submit_label, req.postpone_label, req.decline_label};
    spec.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(req.timeout, std::chrono::seconds(1)));
    spec.choices = req.items;
    const DialogResult r = Show(spec);
    reply.answers.assign(req.items.size(), -1);
    reply.outcome = ReplyOutcome(r, 1, &reply.error);  // buttons: Send, postpone, decline
    if (reply.outcome == PromptReply::Outcome::kAnswered) {
      for (size_t i = 0; i < reply.answers.size() && i < r.chosen.size(); ++i) {
        reply.answers[i] = r.chosen[i];
      }
    }
    return reply;
  }

  void Cancel() override {
    std::lock_guard<std::mutex> l(hwnd_mu_);
    cancel_pending_ = hwnd_ == nullptr && asking_;
    if (hwnd_ != nullptr) PostMessageW(hwnd_, kCancelMessage, 0, 0);
  }

 private:
  DialogResult Show(const DialogSpec& prompt) {
    std::lock_guard<std::mutex> l(mu_);  // one prompt at a time
    {
      std::lock_guard<std::mutex> h(hwnd_mu_);
      asking_ = true;
      cancel_pending_ = false;
    }
    DialogResult result = Run(prompt);
    std::lock_guard<std::mutex> h(hwnd_mu_);
    asking_ = false;
    hwnd_ = nullptr;
    return result;
  }

  DialogResult Run(const DialogSpec& prompt) {
    DialogResult failed;
    if (prompt.labels.empty()) return failed;
    HINSTANCE inst = GetModuleHandleW(nullptr);
    WNDCLASSEXW wc{};
    wc.cbSize = sizeof wc;
    wc.lpfnWndProc = &WndProc;
    wc.hInstance = inst;
    wc.hCursor = LoadCursorW(nullptr, reinterpret_cast<LPCWSTR>(IDC_ARROW));
    wc.hbrBackground = reinterpret_cast<HBRUSH>(COLOR_BTNFACE + 1);
    wc.lpszClassName = kClassName;
    RegisterClassExW(&wc);  // already registered: fine

    DialogState state;
    state.buttons = static_cast<int>(prompt.labels.size());
    state.default_button = prompt.default_button;
    state.choices = static_cast<int>(prompt.choices.size());
    NONCLIENTMETRICSW ncm{};
    ncm.cbSize = sizeof ncm;
    if (SystemParametersInfoW(SPI_GETNONCLIENTMETRICS, sizeof ncm, &ncm, 0)) {
      state.font = CreateFontIndirectW(&ncm.lfMessageFont);
    }
    HFONT font = state.font ? state.font : static_cast<HFONT>(GetStockObject(DEFAULT_GUI_FONT));

    const std::wstring title = WideFromUtf8(prompt.title);
    const std::wstring message = WideFromUtf8(prompt.message);
    HWND hwnd = CreateWindowExW(WS_EX_TOPMOST | WS_EX_DLGMODALFRAME, kClassName, title.c_str(),
                                WS_POPUP | WS_CAPTION | WS_SYSMENU, CW_USEDEFAULT, CW_USEDEFAULT,
                                480, 240, nullptr, nullptr, inst, &state);
    if (hwnd == nullptr) {
      if (state.font) DeleteObject(state.font);
      return failed;
    }
    // Layout: message, countdown, a row of buttons (right-aligned).
    std::vector<std::wstring> labels;
    int buttons_width = 0;
    for (const std::string& a : prompt.labels) {
      labels.push_back(WideFromUtf8(a));
      buttons_width += std::max(88, TextWidth(hwnd, font, labels.back()) + 24) + kButtonGap;
    }
    const int content_width = std::clamp(buttons_width, 360, 900);
    const int message_height = std::max(20, TextHeight(hwnd, font, message, content_width));
    int y = kMargin;
    HWND text = CreateWindowExW(0, L"STATIC", message.c_str(), WS_CHILD | WS_VISIBLE | SS_LEFT | SS_NOPREFIX,
                                kMargin, y, content_width, message_height, hwnd,
                                reinterpret_cast<HMENU>(static_cast<INT_PTR>(kMessageId)), inst, nullptr);
    SendMessageW(text, WM_SETFONT, reinterpret_cast<WPARAM>(font), FALSE);
    y += message_height + kButtonGap;
    // Combined prompts: one row per item, its label and a drop-down list.
    for (size_t i = 0; i < prompt.choices.size(); ++i) {
      const std::wstring label = WideFromUtf8(prompt.choices[i].label);
      const int label_width = content_width / 2;
      HWND l = CreateWindowExW(0, L"STATIC", label.c_str(),
                               WS_CHILD | WS_VISIBLE | SS_LEFT | SS_NOPREFIX, kMargin, y + 4,
                               label_width - kButtonGap, 20, hwnd, nullptr, inst, nullptr);
      SendMessageW(l, WM_SETFONT, reinterpret_cast<WPARAM>(font), FALSE);
      HWND combo = CreateWindowExW(
          0, L"COMBOBOX", L"", WS_CHILD | WS_VISIBLE | WS_TABSTOP | WS_VSCROLL | CBS_DROPDOWNLIST,
          kMargin + label_width, y, content_width - label_width, 200, hwnd,
          reinterpret_cast<HMENU>(static_cast<INT_PTR>(kFirstChoiceId + static_cast<int>(i))), inst,
          nullptr);
      SendMessageW(combo, WM_SETFONT, reinterpret_cast<WPARAM>(font), FALSE);
      for (const std::string& a : prompt.choices[i].answers) {
        const std::wstring w = WideFromUtf8(a);
        SendMessageW(combo, CB_ADDSTRING, 0, reinterpret_cast<LPARAM>(w.c_str()));
      }
      y += kButtonHeight + kButtonGap;
    }
    HWND countdown = CreateWindowExW(0, L"STATIC", L"", WS_CHILD | WS_VISIBLE | SS_LEFT, kMargin, y,
                                     content_width, 20, hwnd,
                                     reinterpret_cast<HMENU>(static_cast<INT_PTR>(kCountdownId)), inst, nullptr);
    SendMessageW(countdown, WM_SETFONT, reinterpret_cast<WPARAM>(font), FALSE);
    y += 20 + kButtonGap;
    int x = kMargin + content_width;
    HWND first_button = nullptr;
    for (int i = static_cast<int>(labels.size()) - 1; i >= 0; --i) {
      const int w = std::max(88, TextWidth(hwnd, font, labels[static_cast<std::size_t>(i)]) + 24);
      x -= w;
      DWORD style = WS_CHILD | WS_VISIBLE | WS_TABSTOP |
                    (i == prompt.default_button ? BS_DEFPUSHBUTTON : BS_PUSHBUTTON);
      HWND b = CreateWindowExW(0, L"BUTTON", labels[static_cast<std::size_t>(i)].c_str(), style, x, y,
                               w, kButtonHeight, hwnd,
                               reinterpret_cast<HMENU>(static_cast<INT_PTR>(kFirstAnswerId + i)), inst,
                               nullptr);
      SendMessageW(b, WM_SETFONT, reinterpret_cast<WPARAM>(font), FALSE);
      if (i == 0) first_button = b;
      x -= kButtonGap;
    }
    y += kButtonHeight + kMargin;
    RECT rc{0, 0, content_width + 2 * kMargin, y};
    AdjustWindowRectEx(&rc, WS_POPUP | WS_CAPTION | WS_SYSMENU, FALSE, WS_EX_TOPMOST | WS_EX_DLGMODALFRAME);
    const int ww = rc.right - rc.left;
    const int wh = rc.bottom - rc.top;
    RECT work{};
    SystemParametersInfoW(SPI_GETWORKAREA, 0, &work, 0);
    SetWindowPos(hwnd, HWND_TOPMOST, work.left + (work.right - work.left - ww) / 2,
                 work.top + (work.bottom - work.top - wh) / 2, ww, wh, 0);

    if (prompt.timeout.count() > 0) {
      state.deadline = GetTickCount64() + static_cast<ULONGLONG>(prompt.timeout.count());
      SetTimer(hwnd, kTickTimer, static_cast<UINT>(std::min<long long>(1000, prompt.timeout.count())),
               nullptr);
      SetCountdown(hwnd, state);
    }
    ShowWindow(hwnd, SW_SHOWNORMAL);
    SetForegroundWindow(hwnd);
    HWND focus = !prompt.choices.empty()         ? GetDlgItem(hwnd, kFirstChoiceId)
                 : prompt.default_button >= 0
                     ? GetDlgItem(hwnd, kFirstAnswerId + prompt.default_button)
                     : first_button;
    if (focus) SetFocus(focus);
    {
      // From now on Cancel() reaches the window (a Cancel() that came while
      // it was being built is delivered now).
      std::lock_guard<std::mutex> h(hwnd_mu_);
      hwnd_ = hwnd;
      if (cancel_pending_) PostMessageW(hwnd, kCancelMessage, 0, 0);
    }

    MSG msg;
    while (!state.done) {
      const BOOL got = GetMessageW(&msg, nullptr, 0, 0);
      if (got <= 0) {  // WM_QUIT: the thread is asked to end
        if (got == 0) PostQuitMessage(static_cast<int>(msg.wParam));
        if (!state.done) {
          state.done = true;
          state.result.outcome = DialogResult::Outcome::kDismissed;
        }
        break;
      }
      if (IsWindow(hwnd) && IsDialogMessageW(hwnd, &msg)) continue;
      TranslateMessage(&msg);
      DispatchMessageW(&msg);
    }
    {
      std::lock_guard<std::mutex> h(hwnd_mu_);
      hwnd_ = nullptr;
    }
    if (IsWindow(hwnd)) DestroyWindow(hwnd);
    if (state.font) DeleteObject(state.font);
    return state.result;
  }

  std::mutex mu_;       // one dialog at a time
  std::mutex hwnd_mu_;  // guards the three below
  HWND hwnd_ = nullptr;  // the dialog on screen, for Cancel()
  bool asking_ = false;
  bool cancel_pending_ = false;  // Cancel() before the window existed
};

}  // namespace

std::unique_ptr<ConsentPrompter> MakeWindowsPrompter() {
  return std::make_unique<DialogPrompter>();
}

std::unique_ptr<ConsentPrompter> MakeDesktopPrompter() { return MakeWindowsPrompter(); }

}  // namespace reclaim::agent
