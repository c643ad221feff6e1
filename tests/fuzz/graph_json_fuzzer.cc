// Fuzz target: Microsoft Graph response parsing of the Entra connector
// (collector/connectors/entra/graph_json.h, ParseRetryAfter). Input: a
// response body, parsed as an error, a page of users and a token response, as
// the connector does, and as a Retry-After header value.
// Properties: no exception escapes, nothing crashes (no UB); the token
// refresh delay is not negative for the parsed lifetime and the connector's
// default 5 min margin; a parsed Retry-After is not negative.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "collector/connectors/entra/entra_connector.h"  // ParseRetryAfter
#include "collector/connectors/entra/graph_json.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace reclaim::collector::entra;
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  (void)ParseGraphError(body);
  if (auto object = ParseGraphObject(body)) {
    FUZZ_CHECK(object->is_object());
    (void)GraphUserFromJson(*object);
    GraphPage page = TakeGraphPage(*object);
    for (const auto& item : page.values) {
      (void)JsonString(item, "@odata.type");
      (void)GraphUserFromJson(item);
    }
  }
  if (auto token = ParseTokenResponse(body)) {
    FUZZ_CHECK(!token->access_token.empty());
    const auto refresh = TokenRefreshAfter(token->expires_in_s, 5 * 60 * 1000);
    FUZZ_CHECK(refresh.count() >= 0);
  }
  if (auto wait = reclaim::collector::ParseRetryAfter(std::string(body))) {
    FUZZ_CHECK(wait->count() >= 0);
  }
  return 0;
}
