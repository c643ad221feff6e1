#include "tests/windows/script_replay_std.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace reclaim::agent::testing {
namespace {

bool Digits(std::string_view s, std::size_t pos, std::size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a civil date (H. Hinnant, "chrono-Compatible
// Low-Level Date Algorithms", days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// YYYY-MM-DDTHH:MM:SS[.f]Z -> UTC ms.
std::optional<UtcMs> ParseTime(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (s.size() < 20 || !Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &h) || s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' ||
      !Digits(s, 17, 2, &se)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  int ms = 0;
  if (s[pos] == '.') {
    int digits = 0;
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) ms = ms * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (int i = digits; i < 3; ++i) ms *= 10;
  }
  if (pos + 1 != s.size() || (s[pos] != 'Z' && s[pos] != 'z')) return std::nullopt;
  const std::int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi) * 60000 + se * 1000 + ms;
}

// +HH:MM:SS[.mmm] -> ms.
std::optional<MonoTime> ParseOffset(std::string_view s) {
  if (s.empty() || s[0] != '+') return std::nullopt;
  std::size_t pos = 1;
  std::int64_t h = 0;
  int hd = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && hd < 6) {
    h = h * 10 + (s[pos++] - '0');
    ++hd;
  }
  int m, sec, ms = 0;
  if (hd == 0 || pos >= s.size() || s[pos] != ':' || !Digits(s, pos + 1, 2, &m) || m > 59 ||
      pos + 3 >= s.size() || s[pos + 3] != ':' || !Digits(s, pos + 4, 2, &sec) || sec > 59) {
    return std::nullopt;
  }
  pos += 6;
  if (pos < s.size()) {
    if (s[pos] != '.' || !Digits(s, pos + 1, 3, &ms) || pos + 4 != s.size()) return std::nullopt;
  }
  return MonoTime{((h * 60 + m) * 60 + sec) * 1000 + ms};
}

// Splits a line into tokens; quoted values keep their content, unescaped.
bool Tokenize(std::string_view line, std::vector<std::string>* out, std::string* error) {
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i >= line.size() || line[i] == '#') return true;
    std::string tok;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
      if (line[i] == '"') {
        ++i;
        bool closed = false;
        while (i < line.size()) {
          if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
            tok += line[i + 1];
            i += 2;
          } else if (line[i] == '"') {
            ++i;
            closed = true;
            break;
          } else {
            tok += line[i++];
          }
        }
        if (!closed) {
          *error = "unterminated quote";
          return false;
        }
      } else {
        tok += line[i++];
      }
    }
    out->push_back(std::move(tok));
  }
  return true;
}

}  // namespace

std::optional<StdScript> ParseScriptStd(std::string_view text, std::string* error) {
  StdScript script;
  bool ended = false;
  int line_no = 0;
  MonoTime last{0};
  auto fail = [&](const std::string& what) {
    *error = "line " + std::to_string(line_no) + ": " + what;
    return std::nullopt;
  };
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    std::vector<std::string> tok;
    std::string terr;
    if (!Tokenize(line, &tok, &terr)) return fail(terr);
    if (tok.empty()) continue;
    if (ended) return fail("statement after end");
    if (tok[0] == "start") {
      if (tok.size() != 2 || script.start_utc_ms || !script.events.empty()) return fail("bad start");
      script.start_utc_ms = ParseTime(tok[1]);
      if (!script.start_utc_ms) return fail("bad start time");
      continue;
    }
    std::optional<MonoTime> at = ParseOffset(tok[0]);
    if (!at || tok.size() < 2) return fail("expected +HH:MM:SS verb");
    if (*at < last) return fail("offset goes back");
    last = *at;
    const std::string& verb = tok[1];
    using Kind = MeterEvent::Kind;
    MeterEvent e;
    e.at = *at;
    if (verb == "end") {
      script.end = *at;
      ended = true;
      continue;
    }
    if (verb == "focus") {
      AppIdentity app;
      if (tok.size() < 3) return fail("focus without keys");
      for (std::size_t i = 2; i < tok.size(); ++i) {
        const std::size_t eq = tok[i].find('=');
        if (eq == std::string::npos) return fail("expected key=value");
        const std::string key = tok[i].substr(0, eq);
        const std::string value = tok[i].substr(eq + 1);
        std::string* field = key == "exe"       ? &app.exe_path
                             : key == "name"    ? &app.exe_name
                             : key == "class"   ? &app.window_class
                             : key == "package" ? &app.package_id
                             : key == "product" ? &app.product_name
                             : key == "version" ? &app.product_version
                             : key == "web"     ? &app.web_domain
                             : key == "title"   ? &app.window_title
                                                : nullptr;
        if (field == nullptr) return fail("unknown key " + key);
        *field = value;
      }
      e.kind = Kind::kFocus;
      e.app = app;
    } else if (tok.size() != 2) {
      return fail(verb + " takes no arguments");
    } else if (verb == "nofocus") {
      e.kind = Kind::kFocus;
    } else if (verb == "idle") {
      e.kind = Kind::kIdle;
    } else if (verb == "active") {
      e.kind = Kind::kActive;
    } else if (verb == "lock") {
      e.kind = Kind::kLock;
    } else if (verb == "unlock") {
      e.kind = Kind::kUnlock;
    } else if (verb == "suspend") {
      e.kind = Kind::kSuspend;
    } else if (verb == "resume") {
      e.kind = Kind::kResume;
    } else {
      return fail("unknown verb " + verb);
    }
    script.events.push_back(std::move(e));
  }
  if (!ended) return fail("missing end");
  return script;
}

std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::vector<FocusInterval> ReplayStd(const StdScript& script, MeterOptions options,
                                     UtcMs start_utc_ms) {
  const std::chrono::milliseconds every =
      options.heartbeat > std::chrono::milliseconds(0) ? options.heartbeat
                                                       : std::chrono::milliseconds(60000);
  Meter meter(options);
  meter.StartAt(MonoTime{0});
  std::vector<FocusInterval> out;
  std::size_t next = 0;
  auto record_through = [&](MonoTime t) {
    while (next < script.events.size() && script.events[next].at <= t) meter.Record(script.events[next++]);
  };
  auto append = [&out](std::vector<FocusInterval> v) {
    for (auto& i : v) out.push_back(std::move(i));
  };
  record_through(MonoTime{0});
  for (MonoTime b = every; b <= script.end; b += every) {
    record_through(b);
    append(meter.Poll(b, start_utc_ms + b.count()));
  }
  record_through(script.end);
  append(meter.Finish(script.end, start_utc_ms + script.end.count()));
  return out;
}

std::string FormatTotals(const std::vector<FocusInterval>& intervals) {
  struct Total {
    std::int64_t ms = 0;
    int pieces = 0;
    int continuations = 0;
    UtcMs first_start = 0;
  };
  std::map<std::string, Total> totals;
  std::int64_t all_ms = 0;
  for (const FocusInterval& i : intervals) {
    const AppIdentity& a = i.app;
    const std::string key = a.exe_path + "|" + a.exe_name + "|" + a.window_class + "|" +
                            a.package_id + "|" + a.product_name + "|" + a.product_version + "|" +
                            a.web_domain + "|" + a.window_title;
    Total& t = totals[key];
    if (t.pieces == 0) t.first_start = i.start_utc_ms;
    t.ms += i.active_duration_ms;
    t.pieces++;
    t.continuations += i.continuation ? 1 : 0;
    all_ms += i.active_duration_ms;
  }
  std::ostringstream os;
  for (const auto& [key, t] : totals) {
    os << t.ms << ' ' << t.pieces << ' ' << t.continuations << ' ' << t.first_start << " | " << key
       << '\n';
  }
  os << "total " << all_ms << ' ' << intervals.size() << '\n';
  return os.str();
}

}  // namespace reclaim::agent::testing
