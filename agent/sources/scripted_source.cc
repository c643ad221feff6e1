#include "agent/sources/scripted_source.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace reclaim::agent {
namespace {

using std::chrono::milliseconds;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` decimal digits at `*pos` into `*value`.
bool ReadDigits(std::string_view s, size_t* pos, size_t n, std::int64_t* value) {
  if (s.size() - *pos < n) return false;
  std::int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[*pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *value = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

// "+HH:MM:SS[.mmm]", HH 1 to 6 digits, MM and SS below 60.
std::optional<MonoTime> ParseOffset(std::string_view w) {
  size_t pos = 0;
  if (!Expect(w, &pos, '+')) return std::nullopt;
  size_t hour_digits = 0;
  while (pos + hour_digits < w.size() && IsDigit(w[pos + hour_digits])) ++hour_digits;
  std::int64_t h = 0, m = 0, s = 0, ms = 0;
  if (hour_digits < 1 || hour_digits > 6 || !ReadDigits(w, &pos, hour_digits, &h) ||
      !Expect(w, &pos, ':') || !ReadDigits(w, &pos, 2, &m) || m >= 60 || !Expect(w, &pos, ':') ||
      !ReadDigits(w, &pos, 2, &s) || s >= 60) {
    return std::nullopt;
  }
  if (pos < w.size() && (!Expect(w, &pos, '.') || !ReadDigits(w, &pos, 3, &ms))) {
    return std::nullopt;
  }
  if (pos != w.size()) return std::nullopt;
  return MonoTime{((h * 60 + m) * 60 + s) * 1000 + ms};
}

// RFC 3339 date-time in UTC: YYYY-MM-DDTHH:MM:SS[.fraction]Z (fraction 1 to 9
// digits, truncated to ms).
std::optional<UtcMs> ParseUtc(std::string_view w) {
  size_t pos = 0;
  std::int64_t y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  if (!ReadDigits(w, &pos, 4, &y) || !Expect(w, &pos, '-') || !ReadDigits(w, &pos, 2, &mo) ||
      !Expect(w, &pos, '-') || !ReadDigits(w, &pos, 2, &d)) {
    return std::nullopt;
  }
  if (pos >= w.size() || (w[pos] != 'T' && w[pos] != 't')) return std::nullopt;
  ++pos;
  if (!ReadDigits(w, &pos, 2, &h) || h >= 24 || !Expect(w, &pos, ':') ||
      !ReadDigits(w, &pos, 2, &mi) || mi >= 60 || !Expect(w, &pos, ':') ||
      !ReadDigits(w, &pos, 2, &s) || s >= 60) {
    return std::nullopt;
  }
  if (Expect(w, &pos, '.')) {
    size_t digits = 0;
    for (; pos < w.size() && IsDigit(w[pos]); ++pos, ++digits) {
      if (digits < 3) ms = ms * 10 + (w[pos] - '0');
    }
    if (digits < 1 || digits > 9) return std::nullopt;
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (pos >= w.size() || (w[pos] != 'Z' && w[pos] != 'z') || pos + 1 != w.size()) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{static_cast<int>(y)},
                                        std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  return ((days * 24 + h) * 60 + mi) * 60 * 1000 + s * 1000 + ms;
}

// The `focus` keys and the AppIdentity fields they set.
struct FocusKey {
  std::string_view key;
  std::string AppIdentity::*field;
};
constexpr FocusKey kFocusKeys[] = {
    {"exe", &AppIdentity::exe_path},         {"name", &AppIdentity::exe_name},
    {"class", &AppIdentity::window_class},   {"package", &AppIdentity::package_id},
    {"product", &AppIdentity::product_name}, {"version", &AppIdentity::product_version},
    {"web", &AppIdentity::web_domain},       {"title", &AppIdentity::window_title},
};

bool HasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// A token echoed in an error message: valid UTF-8, at most 64 bytes.
std::string Echo(std::string_view token) { return SanitizeUtf8(token, 64); }

// Splits one line into tokens; see the lexical rules in the header.
class LineCursor {
 public:
  explicit LineCursor(std::string_view line) : line_(line) {}

  // Skips blanks; true at the end of the line or at a comment.
  bool AtEnd() {
    while (pos_ < line_.size() && IsBlank(line_[pos_])) ++pos_;
    return pos_ == line_.size() || line_[pos_] == '#';
  }

  // The run of non-blank characters at the cursor (call after AtEnd()).
  std::string_view Word() {
    const size_t begin = pos_;
    while (pos_ < line_.size() && !IsBlank(line_[pos_])) ++pos_;
    return line_.substr(begin, pos_ - begin);
  }

  // Reads `key=value` at the cursor (call after AtEnd() returned false).
  // Returns an error message, or "" on success.
  std::string KeyValue(std::string* key, std::string* value) {
    const size_t begin = pos_;
    while (pos_ < line_.size() && !IsBlank(line_[pos_]) && line_[pos_] != '=') ++pos_;
    *key = std::string(line_.substr(begin, pos_ - begin));
    if (pos_ == line_.size() || line_[pos_] != '=') {
      return absl::StrCat("expected key=value, got '", Echo(*key), "'");
    }
    ++pos_;
    value->clear();
    if (pos_ == line_.size() || IsBlank(line_[pos_])) {
      return absl::StrCat("empty value for '", Echo(*key), "' (write \"\" for an empty value)");
    }
    if (line_[pos_] != '"') {
      const size_t vbegin = pos_;
      while (pos_ < line_.size() && !IsBlank(line_[pos_])) ++pos_;
      *value = std::string(line_.substr(vbegin, pos_ - vbegin));
      if (value->find('"') != std::string::npos) {
        return absl::StrCat("'\"' inside the unquoted value of '", Echo(*key),
                            "' (quote the whole value)");
      }
      return "";
    }
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= line_.size())
        return absl::StrCat("unterminated quote in value of '", Echo(*key), "'");
      const char c = line_[pos_++];
      if (c == '"') break;
      if (c != '\\') {
        value->push_back(c);
        continue;
      }
      if (pos_ >= line_.size())
        return absl::StrCat("unterminated quote in value of '", Echo(*key), "'");
      const char escaped = line_[pos_++];
      if (escaped != '"' && escaped != '\\') {
        return absl::StrCat("bad escape '\\", Echo(std::string(1, escaped)), "' in value of '",
                            Echo(*key), "' (only \\\" and \\\\)");
      }
      value->push_back(escaped);
    }
    if (pos_ < line_.size() && !IsBlank(line_[pos_])) {
      return absl::StrCat("unexpected text after the closing quote of '", Echo(*key), "'");
    }
    return "";
  }

 private:
  std::string_view line_;
  size_t pos_ = 0;
};

std::optional<MeterEvent::Kind> SimpleVerb(std::string_view verb) {
  using Kind = MeterEvent::Kind;
  if (verb == "nofocus") return Kind::kFocus;
  if (verb == "idle") return Kind::kIdle;
  if (verb == "active") return Kind::kActive;
  if (verb == "lock") return Kind::kLock;
  if (verb == "unlock") return Kind::kUnlock;
  if (verb == "suspend") return Kind::kSuspend;
  if (verb == "resume") return Kind::kResume;
  return std::nullopt;
}

std::string FormatOffset(MonoTime t) {
  const std::int64_t ms = t.count();
  char buf[32];
  std::snprintf(buf, sizeof(buf), "+%02lld:%02lld:%02lld.%03lld",
                static_cast<long long>(ms / 3600000), static_cast<long long>(ms / 60000 % 60),
                static_cast<long long>(ms / 1000 % 60), static_cast<long long>(ms % 1000));
  return buf;
}

}  // namespace

absl::StatusOr<Script> ParseScript(std::string_view text, std::string_view source_name) {
  const std::string source(source_name);
  int line_no = 0;
  auto error = [&](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", line_no, ": ", std::string(what)));
  };

  Script script;
  bool seen_timed = false;
  bool seen_end = false;
  MonoTime last{0};
  size_t pos = 0;
  while (pos < text.size()) {
    size_t newline = text.find('\n', pos);
    if (newline == std::string_view::npos) newline = text.size();
    std::string_view line = text.substr(pos, newline - pos);
    pos = newline + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    LineCursor cursor(line);
    if (cursor.AtEnd()) continue;
    if (seen_end) return error("text after 'end'");
    const std::string first(cursor.Word());

    if (first == "start") {
      if (script.start_utc_ms.has_value()) return error("duplicate 'start'");
      if (seen_timed) return error("'start' must come before the first timed line");
      if (cursor.AtEnd()) return error("'start' needs a time (YYYY-MM-DDTHH:MM:SSZ)");
      const std::string when(cursor.Word());
      script.start_utc_ms = ParseUtc(when);
      if (!script.start_utc_ms) {
        return error(absl::StrCat("bad start time '", Echo(when),
                                  "' (expected RFC 3339 UTC: YYYY-MM-DDTHH:MM:SS[.fraction]Z)"));
      }
      if (!cursor.AtEnd()) return error("unexpected text after the start time");
      continue;
    }

    if (first.empty() || first[0] != '+') {
      return error(absl::StrCat("expected '+HH:MM:SS[.mmm] <verb>' or 'start <time>', got '",
                                Echo(first), "'"));
    }
    const std::optional<MonoTime> at = ParseOffset(first);
    if (!at) {
      return error(absl::StrCat("bad time offset '", Echo(first), "' (expected +HH:MM:SS[.mmm])"));
    }
    if (*at < last) {
      return error(
          absl::StrCat("offset ", first, " is before the previous offset ", FormatOffset(last)));
    }
    last = *at;
    seen_timed = true;
    if (cursor.AtEnd()) return error(absl::StrCat("missing verb after ", first));
    const std::string verb(cursor.Word());

    if (verb == "end") {
      if (!cursor.AtEnd()) return error("'end' takes no arguments");
      script.end = *at;
      seen_end = true;
      continue;
    }
    MeterEvent event;
    event.at = *at;
    if (verb == "focus") {
      AppIdentity app;
      bool seen[std::size(kFocusKeys)] = {};
      bool any = false;
      while (!cursor.AtEnd()) {
        std::string key, value;
        if (std::string what = cursor.KeyValue(&key, &value); !what.empty()) return error(what);
        const auto* k = std::find_if(std::begin(kFocusKeys), std::end(kFocusKeys),
                                     [&](const FocusKey& fk) { return fk.key == key; });
        if (k == std::end(kFocusKeys)) {
          return error(absl::StrCat(
              "unknown key '", Echo(key),
              "' (expected exe, name, class, package, product, version, web or title)"));
        }
        bool& seen_key = seen[k - std::begin(kFocusKeys)];
        if (seen_key) return error(absl::StrCat("duplicate key '", key, "'"));
        seen_key = true;
        if (!IsValidUtf8(value)) {
          return error(absl::StrCat("value of '", key, "' is not valid UTF-8"));
        }
        if (HasControlCharacter(value)) {
          return error(absl::StrCat("control character in value of '", key, "'"));
        }
        app.*(k->field) = std::move(value);
        any = true;
      }
      if (!any) {
        return error("'focus' needs at least one key=value ('nofocus' for no foreground window)");
      }
      event.kind = MeterEvent::Kind::kFocus;
      event.app = std::move(app);
    } else if (const std::optional<MeterEvent::Kind> kind = SimpleVerb(verb)) {
      if (!cursor.AtEnd()) return error(absl::StrCat("'", verb, "' takes no arguments"));
      event.kind = *kind;
    } else {
      return error(absl::StrCat("unknown verb '", Echo(verb),
                                "' (expected focus, nofocus, idle, active, lock, unlock, "
                                "suspend, resume or end)"));
    }
    script.events.push_back(std::move(event));
  }
  if (!seen_end) {
    line_no = std::max(line_no, 1);
    return error("missing 'end' line");
  }
  return script;
}

absl::StatusOr<Script> LoadScript(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("script ", path, " is a directory"));
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) {
    const int err = errno;
    const std::string what =
        absl::StrCat("cannot open script ", path, ": ", std::generic_category().message(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(what);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(what);
    return absl::UnavailableError(what);
  }
  const auto too_large = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("script ", path, " is larger than ", kMaxScriptBytes, " bytes"));
  };
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxScriptBytes) return too_large();

  std::string text;
  char buf[1 << 16];
  while (true) {
    const size_t n = std::fread(buf, 1, sizeof(buf), file.get());
    text.append(buf, n);
    // Also guards files that grow while being read, and ones without a size.
    if (text.size() > kMaxScriptBytes) return too_large();
    if (n < sizeof(buf)) break;
  }
  if (std::ferror(file.get())) {
    return absl::UnavailableError(
        absl::StrCat("cannot read script ", path, ": ", std::generic_category().message(errno)));
  }
  return ParseScript(text, path);
}

ScriptReplay::ScriptReplay(const Script& script, MeterOptions options, UtcMs start_utc_ms,
                           MonoTime resume_from)
    : script_(script),
      start_utc_ms_(start_utc_ms),
      poll_every_(options.heartbeat > milliseconds(0) ? options.heartbeat : milliseconds(60000)),
      meter_(options) {
  meter_.StartAt(resume_from);
  now_ = std::clamp(resume_from, MonoTime{0}, std::max(script_.end, MonoTime{0}));
  RecordThrough(now_);
}

std::vector<FocusInterval> ScriptReplay::AdvanceTo(MonoTime t) {
  std::vector<FocusInterval> out;
  if (done_) return out;
  const MonoTime target = std::min(std::max(t, now_), script_.end);
  auto append = [&out](std::vector<FocusInterval> v) {
    for (auto& i : v) out.push_back(std::move(i));
  };
  // Poll at every multiple of poll_every_ in (now_, target]: the same polls
  // whatever steps the caller advances by.
  for (MonoTime b = (now_ / poll_every_ + 1) * poll_every_; b <= target; b += poll_every_) {
    RecordThrough(b);
    append(meter_.Poll(b, WallAt(b)));
  }
  RecordThrough(target);
  now_ = target;
  if (now_ == script_.end) {
    append(meter_.Finish(now_, WallAt(now_)));
    done_ = true;
  }
  return out;
}

void ScriptReplay::RecordThrough(MonoTime t) {
  while (next_event_ < script_.events.size() && script_.events[next_event_].at <= t) {
    meter_.Record(script_.events[next_event_++]);
  }
}

}  // namespace reclaim::agent
