#include "collector/connectors/entra/graph_json.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "collector/connectors/entra/entra_connector.h"

namespace reclaim::collector::entra {

using Json = nlohmann::json;

std::string JsonString(const Json& object, const char* key) {
  if (!object.is_object()) return std::string();
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

GraphError ParseGraphError(std::string_view body) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  GraphError e;
  if (j.is_object()) {
    if (auto it = j.find("error"); it != j.end() && it->is_object()) {
      e.code = JsonString(*it, "code");
      e.message = JsonString(*it, "message");
    }
  }
  return e;
}

std::optional<Json> ParseGraphObject(std::string_view body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  return j;
}

GraphPage TakeGraphPage(Json& object) {
  GraphPage page;
  if (!object.is_object()) return page;
  if (auto v = object.find("value"); v != object.end() && v->is_array()) {
    for (Json& item : *v) page.values.push_back(std::move(item));
  }
  page.next_link = JsonString(object, "@odata.nextLink");
  return page;
}

DirectoryUser GraphUserFromJson(const Json& j) {
  DirectoryUser u;
  u.object_id = JsonString(j, "id");
  u.upn = JsonString(j, "userPrincipalName");
  u.display_name = JsonString(j, "displayName");
  u.sam_account_name = JsonString(j, "onPremisesSamAccountName");
  u.domain = JsonString(j, "onPremisesDomainName");
  u.sid = JsonString(j, "onPremisesSecurityIdentifier");
  if (!j.is_object()) return u;
  auto it = j.find("accountEnabled");
  u.enabled = it == j.end() || !it->is_boolean() || it->get<bool>();
  return u;
}

std::optional<TokenResponse> ParseTokenResponse(std::string_view body) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || JsonString(j, "access_token").empty()) return std::nullopt;
  TokenResponse t;
  if (auto it = j.find("expires_in"); it != j.end()) {
    if (it->is_number_integer()) t.expires_in_s = it->get<std::int64_t>();
    if (it->is_string()) (void)absl::SimpleAtoi(it->get<std::string>(), &t.expires_in_s);
  }
  t.access_token = JsonString(j, "access_token");
  return t;
}

std::chrono::milliseconds TokenRefreshAfter(std::int64_t expires_in_s, std::int64_t margin_ms) {
  // Clamped before the multiplication: expires_in comes from the network and
  // a huge value overflowed (found by tests/fuzz/graph_json_fuzzer).
  const std::int64_t lifetime_ms = std::clamp<std::int64_t>(expires_in_s, 0, kMaxTokenLifetimeS) * 1000;
  const std::int64_t margin = std::min(margin_ms, lifetime_ms / 2);
  return std::chrono::milliseconds(lifetime_ms - margin);
}

}  // namespace reclaim::collector::entra

namespace reclaim::collector {

// Longest Retry-After believed, seconds (the connector waits at most
// max_backoff anyway).
constexpr double kMaxRetryAfterS = 86400;

// Declared in entra_connector.h (its public home); defined here with the
// other parsers of what Graph sends.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& value) {
  const std::string v(absl::StripAsciiWhitespace(value));
  if (v.empty()) return std::nullopt;
  for (char c : v) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return std::nullopt;
  }
  double seconds = 0;
  if (!absl::SimpleAtod(v, &seconds) || seconds < 0) return std::nullopt;
  // Capped before the conversion: a value beyond int64 ms was undefined
  // behaviour (found by tests/fuzz/graph_json_fuzzer).
  seconds = std::min(seconds, kMaxRetryAfterS);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000.0)));
}

}  // namespace reclaim::collector
