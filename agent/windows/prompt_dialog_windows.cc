// The Windows consent prompt (prompter.h): a top-level, topmost window with
// the message, one button per answer and a countdown; its own modal message
// loop with IsDialogMessage (Tab, Enter = the default answer, Escape = dismiss).
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <algorithm>
#include <mutex>

#include "agent/sources/win32_strings_windows.h"
#include "agent/windows/prompter.h"

namespace reclaim::agent {
namespace {

constexpr wchar_t kClassName[] = L"ReclaimConsentPrompt";
constexpr int kCountdownId = 900;
constexpr int kMessageId = 901;
constexpr UINT_PTR kTickTimer = 1;
constexpr int kMargin = 16;
constexpr int kButtonHeight = 28;
constexpr int kButtonGap = 8;

struct DialogState {
  const ConsentPrompt* prompt = nullptr;
  PromptResult result;
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

void Finish(HWND hwnd, DialogState* s, PromptResult::Outcome outcome, int answer) {
  if (s->done) return;
  s->done = true;
  s->result.outcome = outcome;
  s->result.answer = answer;
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
      const int n = static_cast<int>(s->prompt->answers.size());
      if (id >= kFirstAnswerId && id < kFirstAnswerId + n) {
        Finish(hwnd, s, PromptResult::Outcome::kAnswered, id - kFirstAnswerId);
      } else if (id == IDCANCEL) {
        Finish(hwnd, s, PromptResult::Outcome::kDismissed, -1);
      } else if (id == IDOK && s->prompt->default_answer >= 0 && s->prompt->default_answer < n) {
        Finish(hwnd, s, PromptResult::Outcome::kAnswered, s->prompt->default_answer);
      }
      return 0;
    }
    case WM_TIMER:
      if (wp == kTickTimer) {
        if (s->deadline != 0 && GetTickCount64() >= s->deadline) {
          Finish(hwnd, s, PromptResult::Outcome::kTimedOut, -1);
        } else {
          SetCountdown(hwnd, *s);
        }
      }
      return 0;
    case WM_CLOSE:
      Finish(hwnd, s, PromptResult::Outcome::kDismissed, -1);
      return 0;
    case WM_ENDSESSION:
      if (wp) Finish(hwnd, s, PromptResult::Outcome::kDismissed, -1);
      return 0;
    case WM_DESTROY:
      KillTimer(hwnd, kTickTimer);
      if (!s->done) {
        s->done = true;
        s->result.outcome = PromptResult::Outcome::kDismissed;
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

class DialogPrompter final : public Prompter {
 public:
  PromptResult Ask(const ConsentPrompt& prompt) override {
    std::lock_guard<std::mutex> l(mu_);  // one prompt at a time
    PromptResult failed;
    if (prompt.answers.empty()) return failed;
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
    state.prompt = &prompt;
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
    for (const std::string& a : prompt.answers) {
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
                    (i == prompt.default_answer ? BS_DEFPUSHBUTTON : BS_PUSHBUTTON);
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
    HWND focus = prompt.default_answer >= 0
                     ? GetDlgItem(hwnd, kFirstAnswerId + prompt.default_answer)
                     : first_button;
    if (focus) SetFocus(focus);

    MSG msg;
    while (!state.done) {
      const BOOL got = GetMessageW(&msg, nullptr, 0, 0);
      if (got <= 0) {  // WM_QUIT: the thread is asked to end
        if (got == 0) PostQuitMessage(static_cast<int>(msg.wParam));
        if (!state.done) {
          state.done = true;
          state.result.outcome = PromptResult::Outcome::kDismissed;
        }
        break;
      }
      if (IsWindow(hwnd) && IsDialogMessageW(hwnd, &msg)) continue;
      TranslateMessage(&msg);
      DispatchMessageW(&msg);
    }
    if (IsWindow(hwnd)) DestroyWindow(hwnd);
    if (state.font) DeleteObject(state.font);
    return state.result;
  }

 private:
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<Prompter> MakePrompter() { return std::make_unique<DialogPrompter>(); }

}  // namespace reclaim::agent
