// Parsing of Microsoft Graph and identity-platform response bodies for the
// Entra connector: pure functions (no I/O, no state), separated from the
// connector so that they can be fuzzed (tests/fuzz/graph_json_fuzzer.cc).
// Every function accepts any byte string: malformed JSON, wrong types and
// missing members give empty values, never an exception.
//
// Shapes (Graph v1.0 reference, learn.microsoft.com/graph):
//   error    {"error": {"code": "...", "message": "..."}}  ("Microsoft Graph
//            error responses and resource types")
//   page     {"value": [...], "@odata.nextLink": "..."}    ("Paging Microsoft
//            Graph data in your app")
//   token    {"access_token": "...", "expires_in": 3599}   (OAuth 2.0 client
//            credentials flow; expires_in may be a number or a string)
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/connectors/connector.h"
#include "nlohmann/json.hpp"

namespace reclaim::collector::entra {

/// The code and message of a Graph error body; both empty when the body is
/// not a Graph error object.
struct GraphError {
  std::string code;
  std::string message;
};
GraphError ParseGraphError(std::string_view body);

/// The body as a JSON object; nullopt when it is not valid JSON or not an
/// object.
std::optional<nlohmann::json> ParseGraphObject(std::string_view body);

/// One page of a Graph collection, moved out of a parsed object: the items of
/// `value` (empty when missing or not an array) and `@odata.nextLink` (empty
/// on the last page). The caller checks where the link points.
struct GraphPage {
  std::vector<nlohmann::json> values;
  std::string next_link;
};
GraphPage TakeGraphPage(nlohmann::json& object);

/// A user object (the connector's $select fields). accountEnabled missing or
/// not a boolean counts as enabled.
DirectoryUser GraphUserFromJson(const nlohmann::json& user);

/// A successful token response; nullopt unless the body is an object with a
/// non-empty access_token. `expires_in_s` (seconds) defaults to 3599 when
/// missing or unreadable.
struct TokenResponse {
  std::string access_token;
  std::int64_t expires_in_s = 3599;
};
std::optional<TokenResponse> ParseTokenResponse(std::string_view body);

/// The longest token lifetime believed, seconds (7 days; Entra access tokens
/// live 60-90 minutes, at most about a day). Longer ones are cut to this.
inline constexpr std::int64_t kMaxTokenLifetimeS = 7LL * 24 * 3600;

/// How long after its receipt a token with lifetime `expires_in_s` is
/// fetched again: the lifetime (clamped to [0, kMaxTokenLifetimeS], so any
/// value from the network is safe) minus `margin_ms`, the margin at most half
/// the lifetime. Never negative for a non-negative margin.
std::chrono::milliseconds TokenRefreshAfter(std::int64_t expires_in_s, std::int64_t margin_ms);

/// The member `key` of `object` when it is a string, else "".
std::string JsonString(const nlohmann::json& object, const char* key);

}  // namespace reclaim::collector::entra
