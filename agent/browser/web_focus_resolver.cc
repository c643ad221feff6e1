#include "agent/browser/web_focus_resolver.h"

namespace reclaim::agent {

void WebFocusResolver::OnEvent(const MeterEvent& event) {
  if (event.kind != MeterEvent::Kind::kFocus) {
    downstream_(event);
    return;
  }
  absl::MutexLock l(&mu_);
  x11_app_ = event.app;
  x11_pid_ = event.app ? event.pid : 0;
  EmitLocked(event.at);
}

void WebFocusResolver::OnBrowserState(std::int64_t browser_pid,
                                      const std::optional<WebBrowserState>& state) {
  absl::MutexLock l(&mu_);
  ++stats_.browser_updates;
  if (state) {
    browsers_[browser_pid] = *state;
  } else {
    browsers_.erase(browser_pid);
  }
  if (emitted_ && x11_pid_ != 0 && x11_pid_ == browser_pid) EmitLocked(clock_.Monotonic());
}

WebFocusStats WebFocusResolver::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

void WebFocusResolver::EmitLocked(MonoTime at) {
  std::optional<AppIdentity> app = x11_app_;
  if (app && x11_pid_ != 0) {
    if (auto it = browsers_.find(x11_pid_); it != browsers_.end()) {
      if (const WebWindowState* w = it->second.Focused(); w != nullptr && !w->host.empty()) {
        app->web_domain = w->host;
        // The page detail the administrator allowed (the bridge removed the
        // rest) rides in the title field; the key stays "web:<host>".
        if (std::string detail = WebPageDetail(*w); !detail.empty()) {
          app->window_title = std::move(detail);
        }
      }
    }
  }
  if (emitted_ && *emitted_ == app) return;
  emitted_ = app;
  if (app && !app->web_domain.empty()) ++stats_.web_focus_events;
  downstream_({.kind = MeterEvent::Kind::kFocus, .at = at, .app = std::move(app), .pid = x11_pid_});
}

}  // namespace reclaim::agent
