#include "agent/browser/web_message.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"

namespace reclaim::agent {
namespace {

using nlohmann::json;

// Deepest nesting of a valid message: object > array > object.
constexpr int kMaxDepth = 4;

// Nesting depth of `text`'s arrays and objects (outside strings), so that a
// hostile "[[[[..." is refused before any parser recurses into it.
int MaxNesting(absl::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

bool IsDnsHost(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      if (label == 0 || label > 63) return false;
      if (host[i - 1] == '-' || host[i - label] == '-') return false;
      label = 0;
      continue;
    }
    const char c = host[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    ++label;
  }
  return true;
}

bool IsIpv6Literal(absl::string_view host) {
  // "[...]" with hex digits, ':' and '.' (an embedded IPv4), at least two ':'.
  if (host.size() < 4 || host.size() > 47 || host.front() != '[' || host.back() != ']') {
    return false;
  }
  int colons = 0;
  for (char c : host.substr(1, host.size() - 2)) {
    if (c == ':') {
      ++colons;
    } else if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != '.') {
      return false;
    }
  }
  return colons >= 2;
}

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("browser message refused: ", what));
}

// A window id: an integer in [0, 2^31) (Chromium and Firefox use small ints).
bool ValidWindowId(const json& v, std::int64_t* out) {
  if (!v.is_number_integer()) return false;
  const std::int64_t id = v.get<std::int64_t>();
  if (id < 0 || id > 0x7fffffff) return false;
  *out = id;
  return true;
}

// A URL path as the WHATWG URL serialiser writes it (percent-encoded, so
// printable ASCII), without query or fragment.
bool ValidPath(absl::string_view path) {
  if (path.empty() || path.size() > kMaxWebPathBytes || path.front() != '/') return false;
  for (char c : path) {
    if (c < 0x21 || c > 0x7e || c == '?' || c == '#') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<WebDetailPolicy> ParseWebDetailPolicy(absl::string_view text) {
  if (text == "origin") return WebDetailPolicy{};
  if (text == "path") return WebDetailPolicy{.path = true, .title = false};
  if (text == "title") return WebDetailPolicy{.path = false, .title = true};
  if (text == "path+title") return WebDetailPolicy{.path = true, .title = true};
  return absl::InvalidArgumentError(
      absl::StrCat("web detail \"", text, "\" is not origin, path, title or path+title"));
}

const WebWindowState* WebBrowserState::Focused() const {
  for (const WebWindowState& w : windows) {
    if (w.window_id == focused_window) return &w;
  }
  return nullptr;
}

std::string WebBrowserState::FocusedHost() const {
  const WebWindowState* w = Focused();
  return w ? w->host : "";
}

std::string WebPageDetail(const WebWindowState& window) {
  const std::string both = window.path.empty() || window.title.empty()
                               ? window.path + window.title
                               : absl::StrCat(window.path, " ", window.title);
  return SanitizeUtf8(both, kMaxWebTitleBytes);
}

absl::StatusOr<std::string> OriginHost(absl::string_view origin) {
  if (origin.size() > kMaxOriginBytes) return Invalid("origin too long");
  absl::string_view rest;
  if (absl::StartsWith(origin, "https://")) {
    rest = origin.substr(8);
  } else if (absl::StartsWith(origin, "http://")) {
    rest = origin.substr(7);
  } else {
    return Invalid("origin scheme is not http or https");
  }
  absl::string_view host = rest;
  // Port: after the last ':' that is not inside an IPv6 literal.
  const size_t bracket = rest.rfind(']');
  const size_t colon = rest.rfind(':');
  if (colon != absl::string_view::npos && (bracket == absl::string_view::npos || colon > bracket)) {
    host = rest.substr(0, colon);
    const absl::string_view port_text = rest.substr(colon + 1);
    int port = 0;
    if (port_text.empty() || port_text.size() > 5 ||
        port_text.find_first_not_of("0123456789") != absl::string_view::npos ||
        !absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
      return Invalid("origin port is not 1-65535");
    }
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (!IsDnsHost(host) && !IsIpv6Literal(host)) {
    // IPv4 literals pass IsDnsHost (digits and dots).
    return Invalid("origin host is not a DNS name or an IP address");
  }
  return absl::AsciiStrToLower(host);
}

absl::StatusOr<WebBrowserState> ParseWebMessage(absl::string_view text,
                                                const WebDetailPolicy& accept,
                                                std::uint64_t* details_dropped) {
  if (text.size() > kMaxWebMessageBytes) {
    return Invalid(absl::StrCat("message of ", text.size(), " bytes (limit ",
                                kMaxWebMessageBytes, ")"));
  }
  if (MaxNesting(text) > kMaxDepth) return Invalid("nested too deeply");
  const json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Invalid("not JSON");
  if (!doc.is_object()) return Invalid("not a JSON object");
  const auto v = doc.find("v");
  if (v == doc.end() || !v->is_number_integer() || v->get<std::int64_t>() != 1) {
    return Invalid("unknown version (expected \"v\": 1)");
  }
  const auto type = doc.find("type");
  if (type == doc.end() || !type->is_string() || type->get<std::string>() != "state") {
    return Invalid("unknown type (expected \"type\": \"state\")");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "v" && key != "type" && key != "focused" && key != "windows") {
      return Invalid("unknown field");
    }
  }
  WebBrowserState state;
  const auto focused = doc.find("focused");
  if (focused == doc.end() || !focused->is_number_integer()) {
    return Invalid("\"focused\" is not an integer");
  }
  if (focused->get<std::int64_t>() != -1 && !ValidWindowId(*focused, &state.focused_window)) {
    return Invalid("\"focused\" is not a window id or -1");
  }
  const auto windows = doc.find("windows");
  if (windows == doc.end() || !windows->is_array()) return Invalid("\"windows\" is not an array");
  if (windows->size() > kMaxWebWindows) return Invalid("too many windows");
  std::set<std::int64_t> ids;
  std::uint64_t dropped = 0;
  for (const json& w : *windows) {
    if (!w.is_object()) return Invalid("a window is not {id, origin[, path, title]}");
    for (const auto& [key, value] : w.items()) {
      if (key != "id" && key != "origin" && key != "path" && key != "title") {
        return Invalid("a window is not {id, origin[, path, title]}");
      }
    }
    WebWindowState ws;
    const auto id = w.find("id");
    if (id == w.end() || !ValidWindowId(*id, &ws.window_id)) {
      return Invalid("a window id is not an integer in [0, 2^31)");
    }
    if (!ids.insert(ws.window_id).second) return Invalid("duplicate window id");
    const auto origin = w.find("origin");
    if (origin == w.end()) return Invalid("a window has no origin");
    if (origin->is_string()) {
      absl::StatusOr<std::string> host = OriginHost(origin->get_ref<const std::string&>());
      if (!host.ok()) return host.status();
      ws.host = *std::move(host);
    } else if (!origin->is_null()) {
      return Invalid("an origin is neither a string nor null");
    }
    if (const auto path = w.find("path"); path != w.end() && !path->is_null()) {
      if (!path->is_string() || !ValidPath(path->get_ref<const std::string&>())) {
        return Invalid("a path is not a URL path of at most 2048 bytes");
      }
      if (accept.path && !ws.host.empty()) {
        ws.path = path->get<std::string>();
      } else {
        ++dropped;
      }
    }
    if (const auto title = w.find("title"); title != w.end() && !title->is_null()) {
      if (!title->is_string()) return Invalid("a title is not a string");
      if (accept.title && !ws.host.empty()) {
        ws.title = SanitizeUtf8(title->get_ref<const std::string&>(), kMaxWebTitleBytes);
      } else {
        ++dropped;
      }
    }
    state.windows.push_back(std::move(ws));
  }
  if (details_dropped) *details_dropped += dropped;
  return state;
}

std::string SerializeWebMessage(const WebBrowserState& state) {
  json windows = json::array();
  for (const WebWindowState& w : state.windows) {
    json window = {{"id", w.window_id},
                   {"origin", w.host.empty() ? json(nullptr) : json("https://" + w.host)}};
    if (!w.path.empty()) window["path"] = w.path;
    if (!w.title.empty()) window["title"] = w.title;
    windows.push_back(std::move(window));
  }
  return json{{"v", 1}, {"type", "state"}, {"focused", state.focused_window},
              {"windows", std::move(windows)}}
      .dump();
}

}  // namespace reclaim::agent
