#include "collector/ingest/validation.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace reclaim::collector {
namespace {

// Longest quarantine detail, bytes.
constexpr size_t kMaxDetailBytes = 4096;
// Hello limits, bytes (agent.proto).
constexpr size_t kMaxDeviceIdBytes = 128;
constexpr size_t kMaxAgentInstanceIdBytes = 64;
constexpr size_t kMaxHelloStringBytes = 1024;

std::int64_t SaturatingAdd(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  }
  return sum;
}

// Prints string and bytes fields in text format keeping well-formed UTF-8 sequences as
// they are (readable titles and paths) and escaping everything else in C
// style, each ill-formed byte as \ooo, so the exact bytes an agent sent stay
// visible and the text parses back to the same value. protobuf's own
// SetUseUtf8StringEscaping escapes every byte >= 0x80 in the 3.21 we build
// with.
class Utf8KeepingValuePrinter final : public google::protobuf::TextFormat::FastFieldValuePrinter {
 public:
  void PrintString(const std::string& value,
                   google::protobuf::TextFormat::BaseTextGenerator* generator) const override {
    Print(value, generator);
  }
  // Agent-observed text is declared `bytes` on the wire (agent.proto) but is
  // meant to be UTF-8 text: printed the same way.
  void PrintBytes(const std::string& value,
                  google::protobuf::TextFormat::BaseTextGenerator* generator) const override {
    Print(value, generator);
  }

 private:
  static void Print(const std::string& value,
                    google::protobuf::TextFormat::BaseTextGenerator* generator) {
    std::string out = "\"";
    for (size_t i = 0; i < value.size();) {
      const auto c = static_cast<unsigned char>(value[i]);
      const size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      if (c >= 0x80 && i + n <= value.size() && IsValidUtf8(std::string_view(value).substr(i, n))) {
        out.append(value, i, n);
        i += n;
        continue;
      }
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '"':
          out += "\\\"";
          break;
        case '\'':
          out += "\\'";
          break;
        case '\\':
          out += "\\\\";
          break;
        default:
          if (c < 0x20 || c >= 0x7F) {
            const char octal[] = {'\\', static_cast<char>('0' + (c >> 6)),
                                  static_cast<char>('0' + ((c >> 3) & 7)),
                                  static_cast<char>('0' + (c & 7))};
            out.append(octal, sizeof(octal));
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
    }
    out.push_back('"');
    generator->PrintString(out);
  }
};

// The interval in one-line protobuf text format, valid UTF-8, at most 4 KiB.
std::string Detail(const reclaim::v1::FocusInterval& interval) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  printer.SetDefaultFieldValuePrinter(new Utf8KeepingValuePrinter());  // Takes ownership.
  std::string text;
  if (!printer.PrintToString(interval, &text)) text = "<unprintable>";
  while (!text.empty() && text.back() == ' ') text.pop_back();  // Single-line mode's trailer.
  // Already valid UTF-8; SanitizeUtf8 cuts at 4 KiB without splitting a character.
  return SanitizeUtf8(text, kMaxDetailBytes);
}

// Returns the quarantine reason for one interval, or "" when it is valid.
// Checks run in the order documented on ValidateBatch.
std::string_view CheckInterval(const reclaim::v1::FocusInterval& interval,
                               const ValidationLimits& limits, UtcMs now_utc_ms) {
  const reclaim::v1::AppIdentity& app = interval.app();
  if (app.exe_path().empty() && app.exe_name().empty() && app.window_class().empty() &&
      app.package_id().empty() && app.web_domain().empty()) {
    return "missing_app";
  }
  const std::string* const strings[] = {
      &app.exe_path(),     &app.exe_name(),        &app.window_class(), &app.package_id(),
      &app.product_name(), &app.product_version(), &app.web_domain(),   &app.window_title()};
  for (const std::string* s : strings) {
    if (!IsValidUtf8(*s)) return "invalid_utf8";
  }
  for (const std::string* s : strings) {
    const size_t limit = s == &app.exe_path() ? limits.max_path_bytes : limits.max_string_bytes;
    if (s->size() > limit) return "string_too_long";
  }
  const std::int64_t duration = interval.active_duration_ms();
  if (duration <= 0 || duration > limits.max_duration_ms) return "duration_out_of_range";
  const std::int64_t start = interval.start_utc_ms();
  if (start < limits.min_start_utc_ms) return "start_out_of_range";
  // end = start + duration > now + skew, written so that it cannot overflow.
  const std::int64_t latest_end = SaturatingAdd(now_utc_ms, limits.max_future_skew_ms);
  if (start > SaturatingAdd(latest_end, -duration)) return "start_in_future";
  return "";
}

AppIdentityRecord ToRecord(const reclaim::v1::AppIdentity& app) {
  AppIdentityRecord r;
  r.exe_path = app.exe_path();
  r.exe_name = app.exe_name();
  r.window_class = app.window_class();
  r.package_id = app.package_id();
  r.product_name = app.product_name();
  r.product_version = app.product_version();
  r.web_domain = app.web_domain();
  r.window_title = app.window_title();
  return r;
}

absl::Status CheckHelloString(const char* field, const std::string& value, size_t max_bytes,
                              bool required) {
  if (value.empty()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat("Hello.", field, " is missing"));
    return absl::OkStatus();
  }
  if (!IsValidUtf8(value)) {
    return absl::InvalidArgumentError(absl::StrCat("Hello.", field, " is not valid UTF-8"));
  }
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("Hello.", field, " is ", value.size(),
                                                   " bytes, over the limit of ", max_bytes));
  }
  // Identifiers end up in logs, reports and CSV: no control characters (C0
  // and DEL), which would forge log lines or terminal output.
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7F) {
      return absl::InvalidArgumentError(
          absl::StrCat("Hello.", field, " contains a control character"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

ValidatedBatch ValidateBatch(const reclaim::v1::UsageBatch& batch, const ValidationLimits& limits,
                             UtcMs now_utc_ms) {
  ValidatedBatch out;
  out.seq = batch.seq();
  const int n = batch.intervals_size();
  const int keep = std::max(0, std::min(n, limits.max_intervals_per_batch));
  out.intervals.reserve(static_cast<size_t>(keep));
  for (int i = 0; i < n; ++i) {
    const reclaim::v1::FocusInterval& interval = batch.intervals(i);
    const std::string_view reason = i >= keep ? std::string_view("batch_too_large")
                                              : CheckInterval(interval, limits, now_utc_ms);
    if (reason.empty()) {
      IntervalRecord& r = out.intervals.emplace_back();
      r.app = ToRecord(interval.app());
      r.start_utc_ms = interval.start_utc_ms();
      r.active_duration_ms = interval.active_duration_ms();
      r.continuation = interval.continuation();
    } else {
      out.quarantined.push_back(
          QuarantineRecord{static_cast<std::uint32_t>(i), std::string(reason), Detail(interval)});
    }
  }
  return out;
}

absl::Status ValidateHello(const reclaim::v1::Hello& hello) {
  struct Field {
    const char* name;
    const std::string& value;
    size_t max_bytes;
    bool required;
  };
  const Field fields[] = {
      {"device_id", hello.device_id(), kMaxDeviceIdBytes, true},
      {"agent_instance_id", hello.agent_instance_id(), kMaxAgentInstanceIdBytes, true},
      {"agent_version", hello.agent_version(), kMaxHelloStringBytes, false},
      {"os_version", hello.os_version(), kMaxHelloStringBytes, false},
      {"hostname", hello.hostname(), kMaxHelloStringBytes, false},
  };
  for (const Field& f : fields) {
    if (absl::Status s = CheckHelloString(f.name, f.value, f.max_bytes, f.required); !s.ok()) {
      return s;
    }
  }
  if (!hello.has_user()) return absl::InvalidArgumentError("Hello.user is missing");
  const reclaim::v1::SessionUser& user = hello.user();
  const Field user_fields[] = {
      {"user.login_name", user.login_name(), kMaxHelloStringBytes, true},
      {"user.domain", user.domain(), kMaxHelloStringBytes, true},
      {"user.sid", user.sid(), kMaxHelloStringBytes, false},
      {"user.upn", user.upn(), kMaxHelloStringBytes, false},
  };
  for (const Field& f : user_fields) {
    if (absl::Status s = CheckHelloString(f.name, f.value, f.max_bytes, f.required); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

AgentInfo ToAgentInfo(const reclaim::v1::Hello& hello) {
  AgentInfo a;
  a.device_id = hello.device_id();
  a.agent_instance_id = hello.agent_instance_id();
  a.agent_version = hello.agent_version();
  a.os_version = hello.os_version();
  a.hostname = hello.hostname();
  const reclaim::v1::SessionUser& user = hello.user();
  a.user.login_name = user.login_name();
  a.user.domain = user.domain();
  a.user.sid = user.sid();
  if (user.has_uid()) a.user.uid = user.uid();
  a.user.upn = user.upn();
  return a;
}

DropCounters ToDropCounters(const reclaim::v1::DroppedDataReport& report) {
  DropCounters c;
  c.dropped_batches = report.dropped_batches();
  c.dropped_intervals = report.dropped_intervals();
  c.dropped_focus_ms = report.dropped_focus_ms();
  c.corrupt_spools = report.corrupt_spools();
  return c;
}

}  // namespace reclaim::collector
