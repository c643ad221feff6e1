// SessionSource: reports screen lock/unlock and suspend/resume.
//
// Linux implementation (session_source_linux.cc): systemd-logind over D-Bus
// (org.freedesktop.login1, https://www.freedesktop.org/software/systemd/man/org.freedesktop.login1.html):
//  - the session object's `Lock` / `Unlock` signals -> kLock / kUnlock;
//  - its `LockedHint` property (initial value, and PropertiesChanged on
//    org.freedesktop.DBus.Properties) -> kLock / kUnlock;
//  - the manager's `PrepareForSleep(b)` signal -> kSuspend (true) / kResume (false).
// The session is `session_id` when given, else the one logind names for this
// process (Manager.GetSessionByPID). When the bus or logind is absent, the
// source retries with backoff and reports nothing; suspend is then still
// caught by the D-Bus-free SuspendDetector (suspend_detector.h), which the
// metering loop runs.
//
// Standard C++ only in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/sources/event_sink.h"
#include "common/clock.h"

namespace reclaim::agent {

/// Options; every field documents its default.
struct SessionSourceOptions {
  /// D-Bus address of the bus where logind lives. Empty: the system bus
  /// (libdbus honours DBUS_SYSTEM_BUS_ADDRESS). Default empty.
  std::string bus_address;
  /// logind session id (XDG_SESSION_ID). Empty: Manager.GetSessionByPID of
  /// this process. Default empty.
  std::string session_id;
  /// Reconnect backoff. Default 1 s doubling to 60 s.
  std::chrono::milliseconds reconnect_initial{1000};
  std::chrono::milliseconds reconnect_max{60000};
};

struct SessionSourceStats {
  std::uint64_t connects = 0;     ///< Times the session was found and watched.
  std::uint64_t failures = 0;     ///< Failed attempts and lost connections.
  std::uint64_t lock_events = 0;  ///< kLock and kUnlock emitted.
  std::uint64_t sleep_events = 0; ///< kSuspend and kResume emitted.
  std::string session_path;       ///< The watched session object, when found.
};

/// Owns one thread ("session-dbus"), started by Start() and joined by Stop().
/// Thread-safe.
class SessionSource {
 public:
  virtual ~SessionSource() = default;
  virtual void Start(EventSink sink) = 0;
  virtual void Stop() = 0;
  virtual SessionSourceStats stats() const = 0;
};

/// The platform's session source (logind on Linux). `clock` must outlive it.
std::unique_ptr<SessionSource> MakeSessionSource(SessionSourceOptions options, const Clock& clock);

}  // namespace reclaim::agent
