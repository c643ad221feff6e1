#include "agent/browser/web_focus_resolver.h"

#include <vector>

#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

using Kind = MeterEvent::Kind;

AppIdentity App(const std::string& exe) {
  AppIdentity a;
  a.exe_path = "/usr/bin/" + exe;
  a.exe_name = exe;
  return a;
}

MeterEvent Focus(std::optional<AppIdentity> app, std::int64_t pid, std::int64_t at_ms) {
  return {.kind = Kind::kFocus, .at = MonoTime(at_ms), .app = std::move(app), .pid = pid};
}

// Windows as (id, host) pairs.
WebBrowserState Tabs(std::int64_t focused,
                     const std::vector<std::pair<std::int64_t, std::string>>& windows) {
  WebBrowserState s;
  s.focused_window = focused;
  for (const auto& [id, host] : windows) {
    WebWindowState w;
    w.window_id = id;
    w.host = host;
    s.windows.push_back(std::move(w));
  }
  return s;
}

class WebFocusResolverTest : public ::testing::Test {
 protected:
  std::string Site(size_t i) const {
    return events_.at(i).app ? events_.at(i).app->web_domain : "<none>";
  }
  ManualClock clock_;
  std::vector<MeterEvent> events_;
  WebFocusResolver resolver_{[this](const MeterEvent& e) { events_.push_back(e); }, clock_};
};

TEST_F(WebFocusResolverTest, BrowserInFrontGetsTheSiteOfItsFocusedWindow) {
  resolver_.OnBrowserState(100, Tabs(1, {{1, "a.example.test"}, {2, "b.example.test"}}));
  EXPECT_TRUE(events_.empty());  // nothing in front yet
  resolver_.OnEvent(Focus(App("xterm"), 50, 10));
  resolver_.OnEvent(Focus(App("chromium"), 100, 20));
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(Site(0), "");
  EXPECT_EQ(Site(1), "a.example.test");
  EXPECT_EQ(events_[1].app->exe_name, "chromium");  // the browser's identity + the site
  EXPECT_EQ(events_[1].at, MonoTime(20));

  // Tab switch: a new focus event at the clock's time.
  clock_.Advance(std::chrono::milliseconds(500));
  resolver_.OnBrowserState(100, Tabs(1, {{1, "c.example.test"}, {2, "b.example.test"}}));
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(Site(2), "c.example.test");
  EXPECT_EQ(events_[2].at, clock_.Monotonic());
  // Another window of the browser in front.
  resolver_.OnBrowserState(100, Tabs(2, {{1, "c.example.test"}, {2, "b.example.test"}}));
  EXPECT_EQ(Site(3), "b.example.test");
  // The same state again changes nothing.
  resolver_.OnBrowserState(100, Tabs(2, {{1, "c.example.test"}, {2, "b.example.test"}}));
  EXPECT_EQ(events_.size(), 4u);
  // A page that is no web site (new tab): the browser itself.
  resolver_.OnBrowserState(100, Tabs(2, {{1, "c.example.test"}, {2, ""}}));
  ASSERT_EQ(events_.size(), 5u);
  EXPECT_EQ(Site(4), "");
  EXPECT_EQ(events_[4].app->exe_name, "chromium");
}

TEST_F(WebFocusResolverTest, UpdatesOfABrowserInTheBackgroundChangeNothing) {
  resolver_.OnEvent(Focus(App("xterm"), 50, 10));
  resolver_.OnBrowserState(100, Tabs(1, {{1, "a.example.test"}}));
  resolver_.OnBrowserState(100, Tabs(1, {{1, "b.example.test"}}));
  ASSERT_EQ(events_.size(), 1u);
  // A second browser (another process) does not speak for the first.
  resolver_.OnBrowserState(200, Tabs(1, {{1, "z.example.test"}}));
  resolver_.OnEvent(Focus(App("chromium"), 100, 30));
  EXPECT_EQ(Site(1), "b.example.test");
}

TEST_F(WebFocusResolverTest, UnknownSiteMeansTheBrowser) {
  // No extension state at all.
  resolver_.OnEvent(Focus(App("firefox-esr"), 300, 10));
  EXPECT_EQ(Site(0), "");
  // The extension connects, then goes away.
  resolver_.OnBrowserState(300, Tabs(4, {{4, "d.example.test"}}));
  EXPECT_EQ(Site(1), "d.example.test");
  resolver_.OnBrowserState(300, std::nullopt);
  EXPECT_EQ(Site(2), "");
  // Focused window id missing from the list.
  resolver_.OnBrowserState(300, Tabs(9, {{4, "d.example.test"}}));
  EXPECT_EQ(events_.size(), 3u);
  // No foreground window: none, whatever the browser says.
  resolver_.OnEvent(Focus(std::nullopt, 0, 40));
  EXPECT_EQ(Site(3), "<none>");
  resolver_.OnBrowserState(300, Tabs(4, {{4, "e.example.test"}}));
  EXPECT_EQ(events_.size(), 4u);
}

// The page detail the administrator allowed (already filtered by the
// bridge) rides in the title field; the site stays the key.
TEST_F(WebFocusResolverTest, PageDetailGoesToTheTitleNotTheKey) {
  WebBrowserState s = Tabs(1, {{1, "crm.example.test"}, {2, "b.example.test"}});
  s.windows[0].path = "/accounts/42";
  s.windows[0].title = "Acme Corp";
  s.windows[1].title = "not in front";
  resolver_.OnBrowserState(100, s);
  resolver_.OnEvent(Focus(App("chromium"), 100, 10));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(Site(0), "crm.example.test");
  EXPECT_EQ(events_[0].app->window_title, "/accounts/42 Acme Corp");
  // Another page of the same site: same key, new detail.
  s.windows[0].path = "/accounts/43";
  s.windows[0].title = "";
  resolver_.OnBrowserState(100, s);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(Site(1), "crm.example.test");
  EXPECT_EQ(events_[1].app->window_title, "/accounts/43");
  // Without detail, the browser's own title (if any) is left as it was.
  AppIdentity titled = App("chromium");
  titled.window_title = "X11 title";
  resolver_.OnBrowserState(100, Tabs(1, {{1, "crm.example.test"}}));
  resolver_.OnEvent(Focus(titled, 100, 20));
  EXPECT_EQ(events_.back().app->window_title, "X11 title");
}

TEST_F(WebFocusResolverTest, IdleLockAndSuspendPassThrough) {
  resolver_.OnEvent(Focus(App("chromium"), 100, 10));
  for (Kind k : {Kind::kIdle, Kind::kActive, Kind::kLock, Kind::kUnlock, Kind::kSuspend,
                 Kind::kResume}) {
    resolver_.OnEvent({.kind = k, .at = MonoTime(20), .app = std::nullopt});
  }
  ASSERT_EQ(events_.size(), 7u);
  EXPECT_EQ(events_[1].kind, Kind::kIdle);
  EXPECT_EQ(events_[6].kind, Kind::kResume);
}

}  // namespace
}  // namespace reclaim::agent
