// The X11 focus and idle sources against a real X server: Xvfb + openbox +
// real applications (xterm, xmessage), driven with xdotool.
#include <mutex>

#include "agent/sources/focus_source.h"
#include "agent/sources/idle_source.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "tests/e2e_x11/x11_desktop.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::agent {
namespace {

using e2e::FindProgram;
using e2e::ReadFile;
using e2e::WaitFor;
using std::chrono::milliseconds;
using std::chrono::seconds;

class Recorder {
 public:
  EventSink sink() {
    return [this](const MeterEvent& e) {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(e);
    };
  }
  std::vector<MeterEvent> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }
  // Waits for a focus event whose app satisfies `pred` (nullopt app: pred(nullptr)).
  bool WaitFocus(const std::function<bool(const AppIdentity*)>& pred, size_t from = 0) {
    return WaitFor([&] {
      auto ev = events();
      for (size_t i = from; i < ev.size(); ++i) {
        if (ev[i].kind == MeterEvent::Kind::kFocus && pred(ev[i].app ? &*ev[i].app : nullptr))
          return true;
      }
      return false;
    }, seconds(10));
  }
  std::optional<MeterEvent> Last(MeterEvent::Kind k) {
    auto ev = events();
    for (auto it = ev.rbegin(); it != ev.rend(); ++it) {
      if (it->kind == k) return *it;
    }
    return std::nullopt;
  }

 private:
  std::mutex mu_;
  std::vector<MeterEvent> events_;
};

auto ExeIs(const std::string& name) {
  return [name](const AppIdentity* a) { return a && a->exe_name == name; };
}

class X11SourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::debug);
    ASSERT_TRUE(desktop_.StartServer());
    ASSERT_TRUE(desktop_.StartWm());
  }
  FocusSourceOptions FocusOptions() {
    FocusSourceOptions o;
    o.display = desktop_.display();
    o.reconnect_initial = milliseconds(50);
    o.reconnect_max = milliseconds(300);
    return o;
  }
  testing::TempDir dir_;
  e2e::X11Desktop desktop_{dir_.path().string()};
  SystemClock clock_;
};

TEST_F(X11SourcesTest, FocusFollowsTheActiveWindow) {
  const std::string xterm = FindProgram("xterm"), xmessage = FindProgram("xmessage");
  ASSERT_FALSE(xterm.empty() || xmessage.empty()) << "xterm/xmessage missing: install-deps.sh";
  auto t = desktop_.StartApp(xterm, {}, "xterm");
  auto tw = desktop_.WaitForWindow("XTerm", seconds(10));
  ASSERT_TRUE(tw);
  // xmessage sets no _NET_WM_PID: its PID comes from the X-Resource extension.
  auto m = desktop_.StartApp(xmessage, {"hello"}, "xmessage");
  auto mw = desktop_.WaitForWindow("Xmessage", seconds(10));
  ASSERT_TRUE(mw);
  EXPECT_EQ(desktop_.Run(FindProgram("xprop"), {"-id", std::to_string(*mw), "_NET_WM_PID"})
                .out.find("not found") != std::string::npos,
            true);

  Recorder rec;
  FocusSourceOptions o = FocusOptions();
  auto source = MakeFocusSource(o, clock_);
  source->Start(rec.sink());
  ASSERT_TRUE(desktop_.Activate(*tw));
  ASSERT_TRUE(rec.WaitFocus(ExeIs("xterm")));
  auto last = rec.Last(MeterEvent::Kind::kFocus);
  EXPECT_EQ(last->app->exe_path, xterm);
  EXPECT_EQ(last->app->window_class, "XTerm");
  EXPECT_EQ(last->app->window_title, "");  // titles off

  ASSERT_TRUE(desktop_.Activate(*mw));
  ASSERT_TRUE(rec.WaitFocus([](const AppIdentity* a) {
    return a && a->exe_path == "/usr/bin/xmessage" && a->window_class == "Xmessage";
  }));

  const size_t before = rec.events().size();
  ASSERT_TRUE(desktop_.FocusRoot());
  ASSERT_TRUE(rec.WaitFocus([](const AppIdentity* a) { return a == nullptr; }, before));

  // Window manager restart: focus is followed again afterwards.
  desktop_.KillWm();
  ASSERT_TRUE(desktop_.StartWm());
  const size_t before_wm = rec.events().size();
  ASSERT_TRUE(desktop_.Activate(*tw));
  ASSERT_TRUE(rec.WaitFocus(ExeIs("xterm"), before_wm));
  source->Stop();
  EXPECT_EQ(source->stats().connects, 1u);
}

TEST_F(X11SourcesTest, OwnWindowsAndTitles) {
  const std::string xterm = FindProgram("xterm");
  auto t = desktop_.StartApp(xterm, {"-T", std::string("caf\xc3\xa9 \xff title")}, "xterm");
  auto tw = desktop_.WaitForWindow("XTerm", seconds(10));
  ASSERT_TRUE(tw);
  Recorder rec;
  FocusSourceOptions o = FocusOptions();
  o.read_window_titles = true;
  auto source = MakeFocusSource(o, clock_);
  source->Start(rec.sink());
  ASSERT_TRUE(desktop_.Activate(*tw));
  ASSERT_TRUE(rec.WaitFocus(ExeIs("xterm")));
  const std::string title = rec.Last(MeterEvent::Kind::kFocus)->app->window_title;
  EXPECT_NE(title.find("caf"), std::string::npos) << title;
  EXPECT_EQ(title.find('\xff'), std::string::npos);  // sanitised
  source->Stop();

  // The same window, but its process is excluded (as the agent's own prompt).
  Recorder rec2;
  o.excluded_pids = {t.pid()};
  auto own = MakeFocusSource(o, clock_);
  own->Start(rec2.sink());
  ASSERT_TRUE(desktop_.FocusRoot());
  ASSERT_TRUE(desktop_.Activate(*tw));
  // Give the source a moment by waiting for a later, observable change.
  auto m = desktop_.StartApp(FindProgram("xmessage"), {"x"}, "xmessage");
  auto mw = desktop_.WaitForWindow("Xmessage", seconds(10));
  ASSERT_TRUE(mw);
  ASSERT_TRUE(desktop_.Activate(*mw));
  ASSERT_TRUE(rec2.WaitFocus([](const AppIdentity* a) { return a && a->exe_name == "xmessage"; }));
  for (const MeterEvent& e : rec2.events()) {
    if (e.app) {
      EXPECT_NE(e.app->exe_name, "xterm");
    }
  }
  own->Stop();
}

TEST_F(X11SourcesTest, XServerLossClosesFocusAndReconnects) {
  const std::string xterm = FindProgram("xterm");
  auto t = desktop_.StartApp(xterm, {}, "xterm");
  auto tw = desktop_.WaitForWindow("XTerm", seconds(10));
  ASSERT_TRUE(tw);
  Recorder rec;
  auto source = MakeFocusSource(FocusOptions(), clock_);
  source->Start(rec.sink());
  ASSERT_TRUE(desktop_.Activate(*tw));
  ASSERT_TRUE(rec.WaitFocus(ExeIs("xterm")));
  const size_t before = rec.events().size();
  const int display = desktop_.display_number();
  desktop_.KillServer();
  ASSERT_TRUE(rec.WaitFocus([](const AppIdentity* a) { return a == nullptr; }, before));
  t.KillAndReap();
  ASSERT_TRUE(WaitFor([&] { return source->stats().disconnects == 1; }, seconds(5)));
  const size_t after = rec.events().size();
  // The same display comes back.
  ASSERT_TRUE(desktop_.StartServer(display));
  ASSERT_TRUE(desktop_.StartWm());
  auto t2 = desktop_.StartApp(xterm, {}, "xterm2");
  auto tw2 = desktop_.WaitForWindow("XTerm", seconds(10));
  ASSERT_TRUE(tw2);
  ASSERT_TRUE(WaitFor([&] { return source->stats().connects == 2; }, seconds(10)));
  ASSERT_TRUE(desktop_.Activate(*tw2));
  ASSERT_TRUE(rec.WaitFocus(ExeIs("xterm"), after));
  source->Stop();
}

TEST_F(X11SourcesTest, IdleStartsAtTheLastInput) {
  Recorder rec;
  IdleSourceOptions o;
  o.display = desktop_.display();
  o.threshold = milliseconds(1500);
  auto source = MakeIdleSource(o, clock_);
  ASSERT_TRUE(desktop_.Input());
  source->Start(rec.sink());
  // Fresh input, then nothing: idle is reported ~1.5 s later, starting at the input.
  ASSERT_TRUE(WaitFor([&] { return rec.Last(MeterEvent::Kind::kActive).has_value(); }, seconds(5)));
  ASSERT_TRUE(desktop_.Input());
  const MonoTime input_at = clock_.Monotonic();
  ASSERT_TRUE(WaitFor([&] { return rec.Last(MeterEvent::Kind::kIdle).has_value(); }, seconds(10)));
  const MonoTime reported = clock_.Monotonic();
  const MeterEvent idle = *rec.Last(MeterEvent::Kind::kIdle);
  EXPECT_GE(reported - input_at, milliseconds(1400));
  EXPECT_LE((idle.at - input_at).count(), 150) << "idle must start at the last input";
  EXPECT_GE((idle.at - input_at).count(), -150);
  // Input ends it.
  const size_t actives = source->stats().active_events;
  ASSERT_TRUE(desktop_.Input());
  ASSERT_TRUE(WaitFor([&] { return source->stats().active_events > actives; }, seconds(5)));
  // And it goes idle again (the alarm is re-armed).
  const size_t idles = source->stats().idle_events;
  ASSERT_TRUE(WaitFor([&] { return source->stats().idle_events > idles; }, seconds(10)));
  source->Stop();
}

}  // namespace
}  // namespace reclaim::agent
