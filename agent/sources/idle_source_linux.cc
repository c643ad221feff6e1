// X11 idle source (see idle_source.h). References: X Synchronization
// Extension Protocol 3.1 (system counter IDLETIME, alarms with
// PositiveComparison / NegativeComparison tests: an alarm whose test is true
// when it is created or changed triggers at once; with delta 0 it becomes
// Inactive after triggering until changed again); MIT-SCREEN-SAVER 1.1
// (QueryInfo: ms_since_user_input).
#include <poll.h>
#include <pthread.h>
#include <xcb/screensaver.h>
#include <xcb/sync.h>
#include <xcb/xcb.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "agent/sources/idle_source.h"
#include "agent/sources/x11_connection_linux.h"
#include "common/backoff.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

template <typename T>
struct FreeDeleter {
  void operator()(T* p) const { std::free(p); }
};
template <typename T>
using XcbReply = std::unique_ptr<T, FreeDeleter<T>>;

xcb_sync_int64_t ToSync(std::int64_t v) {
  return {.hi = static_cast<std::int32_t>(v >> 32),
          .lo = static_cast<std::uint32_t>(v & 0xffffffffu)};
}

// The IDLETIME system counter from a ListSystemCounters reply, parsed by hand:
// libxcb's systemcounter iterator mis-steps over the padding after each name
// (each entry is counter CARD32, resolution INT64, name_len CARD16, name,
// padded to 4 bytes; SYNC protocol 3.1 section 11). 0 when absent.
xcb_sync_counter_t FindIdleTimeCounter(const xcb_sync_list_system_counters_reply_t* r) {
  const auto* base = reinterpret_cast<const std::uint8_t*>(r + 1);
  const size_t total = static_cast<size_t>(r->length) * 4;
  size_t off = 0;
  for (std::uint32_t i = 0; i < r->counters_len; ++i) {
    if (off + 14 > total) break;
    std::uint32_t counter = 0;
    std::uint16_t name_len = 0;
    std::memcpy(&counter, base + off, 4);
    std::memcpy(&name_len, base + off + 12, 2);
    if (off + 14 + name_len > total) break;
    const std::string name(reinterpret_cast<const char*>(base + off + 14), name_len);
    if (name == "IDLETIME") return counter;
    off += (14 + name_len + 3) & ~size_t{3};
  }
  return 0;
}

class X11IdleSource final : public IdleSource {
 public:
  X11IdleSource(IdleSourceOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}
  ~X11IdleSource() override { Stop(); }

  void Start(EventSink sink) override {
    sink_ = std::move(sink);
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "idle-x11");
      Run();
    });
  }

  void Stop() override {
    if (!thread_.joinable()) return;
    stopping_ = true;
    wake_.Notify();
    thread_.join();
  }

  IdleSourceStats stats() const override {
    absl::MutexLock l(&mu_);
    return stats_;
  }

 private:
  void Run() {
    Backoff backoff({.initial = options_.reconnect_initial, .max = options_.reconnect_max});
    bool logged_failure = false;
    while (!stopping_) {
      std::string error;
      std::unique_ptr<x11::Connection> x = x11::Connect(options_.display, &error);
      if (!x) {
        if (!logged_failure) spdlog::warn("idle source: {}; retrying with backoff", error);
        else spdlog::debug("idle source: {}", error);
        logged_failure = true;
        x11::WaitForWake(wake_, backoff.NextDelay());
        continue;
      }
      {
        absl::MutexLock l(&mu_);
        ++stats_.connects;
      }
      if (!Serve(*x, &error)) {
        if (!stopping_) {
          absl::MutexLock l(&mu_);
          ++stats_.disconnects;
        }
        // Bounded logging: one warning per outage.
        if (!stopping_ && !logged_failure) {
          spdlog::warn("idle source: {}; retrying with backoff", error);
        } else {
          spdlog::debug("idle source: {}", error);
        }
        logged_failure = true;
        x11::WaitForWake(wake_, backoff.NextDelay());
        continue;
      }
      backoff.Reset();
      logged_failure = false;
    }
  }

  // Milliseconds since the last input, or -1 on error.
  std::int64_t IdleMs(xcb_connection_t* c, xcb_window_t root) {
    XcbReply<xcb_screensaver_query_info_reply_t> r(xcb_screensaver_query_info_reply(
        c, xcb_screensaver_query_info(c, root), nullptr));
    return r ? static_cast<std::int64_t>(r->ms_since_user_input) : -1;
  }

  // Re-arms the alarm: while active, trigger when idle time >= threshold;
  // while idle, trigger when it drops below (input).
  void Arm(xcb_connection_t* c, xcb_sync_alarm_t alarm, xcb_sync_counter_t counter, bool idle,
           bool create) {
    const xcb_sync_int64_t value = ToSync(options_.threshold.count());
    const xcb_sync_int64_t delta = ToSync(0);
    const std::uint32_t test = idle ? XCB_SYNC_TESTTYPE_NEGATIVE_COMPARISON
                                    : XCB_SYNC_TESTTYPE_POSITIVE_COMPARISON;
    const std::uint32_t values[] = {counter,
                                    XCB_SYNC_VALUETYPE_ABSOLUTE,
                                    static_cast<std::uint32_t>(value.hi),
                                    value.lo,
                                    test,
                                    static_cast<std::uint32_t>(delta.hi),
                                    delta.lo,
                                    1};
    const std::uint32_t mask = XCB_SYNC_CA_COUNTER | XCB_SYNC_CA_VALUE_TYPE | XCB_SYNC_CA_VALUE |
                               XCB_SYNC_CA_TEST_TYPE | XCB_SYNC_CA_DELTA | XCB_SYNC_CA_EVENTS;
    if (create) {
      xcb_sync_create_alarm(c, alarm, mask, values);
    } else {
      xcb_sync_change_alarm(c, alarm, mask, values);
    }
    xcb_flush(c);
  }

  // Serves one connection; false when it failed or broke (reconnect), true
  // when stopping.
  bool Serve(x11::Connection& x, std::string* error) {
    *error = "lost X display " + x.display;
    xcb_connection_t* c = x.conn;
    const xcb_query_extension_reply_t* sync_ext = xcb_get_extension_data(c, &xcb_sync_id);
    const xcb_query_extension_reply_t* ss_ext = xcb_get_extension_data(c, &xcb_screensaver_id);
    if (!sync_ext || !sync_ext->present || !ss_ext || !ss_ext->present) {
      *error = "X display " + x.display + " lacks the SYNC or MIT-SCREEN-SAVER extension";
      return false;
    }
    XcbReply<xcb_sync_initialize_reply_t> init(
        xcb_sync_initialize_reply(c, xcb_sync_initialize(c, 3, 1), nullptr));
    XcbReply<xcb_sync_list_system_counters_reply_t> counters(xcb_sync_list_system_counters_reply(
        c, xcb_sync_list_system_counters(c), nullptr));
    if (!init || !counters) return false;
    const xcb_sync_counter_t idletime = FindIdleTimeCounter(counters.get());
    if (idletime == 0) {
      *error = "X display " + x.display + " has no IDLETIME counter";
      return false;
    }
    const std::int64_t idle_ms = IdleMs(c, x.root);
    if (idle_ms < 0) return false;
    const MonoTime now = clock_.Monotonic();
    const std::int64_t threshold = options_.threshold.count();
    idle_ = idle_ms >= threshold;
    // On a new connection (or a new X server) the state is reported afresh.
    Emit(idle_, now - std::chrono::milliseconds(idle_ms));
    const xcb_sync_alarm_t alarm = xcb_generate_id(c);
    Arm(c, alarm, idletime, idle_, /*create=*/true);
    spdlog::info("idle source: watching IDLETIME on X display {} (threshold {} s)", x.display,
                 threshold / 1000.0);

    while (!stopping_) {
      pollfd fds[2] = {{.fd = xcb_get_file_descriptor(c), .events = POLLIN, .revents = 0},
                       {.fd = wake_.fd(), .events = POLLIN, .revents = 0}};
      poll(fds, 2, -1);
      if (stopping_) return true;
      bool fired = false;
      while (xcb_generic_event_t* ev = xcb_poll_for_event(c)) {
        if ((ev->response_type & 0x7f) == sync_ext->first_event + XCB_SYNC_ALARM_NOTIFY) {
          fired = true;
        }
        std::free(ev);
      }
      if (xcb_connection_has_error(c)) return false;
      if (!fired) continue;
      const std::int64_t ms = IdleMs(c, x.root);
      if (ms < 0) return false;
      const MonoTime t = clock_.Monotonic();
      const bool idle = ms >= threshold;
      if (idle != idle_) {
        idle_ = idle;
        // Idle starts at the last input; activity too (the input `ms` ago).
        Emit(idle_, t - std::chrono::milliseconds(ms));
      }
      Arm(c, alarm, idletime, idle_, /*create=*/false);
    }
    return true;
  }

  void Emit(bool idle, MonoTime at) {
    {
      absl::MutexLock l(&mu_);
      ++(idle ? stats_.idle_events : stats_.active_events);
    }
    sink_({.kind = idle ? MeterEvent::Kind::kIdle : MeterEvent::Kind::kActive, .at = at, .app = {}});
  }

  const IdleSourceOptions options_;
  const Clock& clock_;
  EventSink sink_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  x11::WakeFd wake_;
  bool idle_ = false;  // the "idle-x11" thread only
  mutable absl::Mutex mu_;
  IdleSourceStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<IdleSource> MakeIdleSource(IdleSourceOptions options, const Clock& clock) {
  return std::make_unique<X11IdleSource>(std::move(options), clock);
}

}  // namespace reclaim::agent
