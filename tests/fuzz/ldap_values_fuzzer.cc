// Fuzz target: LDAP filter and DN escaping (collector/connectors/ldap/
// ldap_escape.h) and the Active Directory value parsers (ad_values.h).
// Input: any bytes, used as a value, a GUID/SID in binary or text form, a
// ranged attribute name and an extended DN.
// Properties:
//  - EscapeLdapFilterValue / EscapeLdapFilterBytes: no NUL, `(`, `)` or `*`
//    in the output, every `\` starts `\xx` (two hex digits), unescaping gives
//    the input back (RFC 4515);
//  - EscapeLdapDnValue: no unescaped `,` `+` `"` `;` `<` `>` `=` and no
//    control characters, unescaping gives the input back (RFC 4514);
//  - GUID text form round-trips; FormatSid output starts "S-1-" and has a
//    rid when it has sub-authorities; parsers never crash.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "collector/connectors/ldap/ad_values.h"
#include "collector/connectors/ldap/ldap_escape.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Undoes RFC 4515 valueencoding; nullopt if a `\` is not followed by two hex
// digits or a forbidden character appears unescaped.
std::optional<std::string> UnescapeFilter(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\0' || c == '(' || c == ')' || c == '*') return std::nullopt;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = Hex(s[i + 1]), lo = Hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// Undoes RFC 4514 escaping (`\` + special or `\xx`); nullopt if a special
// character appears unescaped.
std::optional<std::string> UnescapeDn(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return std::nullopt;
    if (std::string_view(",+\";<>=").find(static_cast<char>(c)) != std::string_view::npos) {
      return std::nullopt;
    }
    if (c != '\\') {
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (i + 1 >= s.size()) return std::nullopt;
    const int hi = Hex(s[i + 1]);
    const int lo = i + 2 < s.size() ? Hex(s[i + 2]) : -1;
    if (hi >= 0 && lo >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i + 1]);
      i += 1;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace reclaim::collector;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  const std::string filter = EscapeLdapFilterValue(in);
  const auto f = UnescapeFilter(filter);
  FUZZ_CHECK(f.has_value());
  FUZZ_CHECK(*f == in);
  const std::string bytes = EscapeLdapFilterBytes(in);
  FUZZ_CHECK(bytes.size() == 3 * in.size());
  const auto b = UnescapeFilter(bytes);
  FUZZ_CHECK(b.has_value() && *b == in);

  const std::string dn = EscapeLdapDnValue(in);
  const auto d = UnescapeDn(dn);
  FUZZ_CHECK(d.has_value());
  FUZZ_CHECK(*d == in);
  if (!dn.empty()) {
    FUZZ_CHECK(dn.front() != '#' && dn.front() != ' ');
    // A trailing space must be escaped.
    if (dn.back() == ' ') FUZZ_CHECK(dn.size() >= 2 && dn[dn.size() - 2] == '\\');
  }

  if (auto g = FormatObjectGuid(in)) {
    FUZZ_CHECK(g->size() == 36);
    const auto back = ParseObjectGuid(*g);
    FUZZ_CHECK(back.has_value() && *back == in);
  }
  if (auto g = ParseObjectGuid(in)) {
    FUZZ_CHECK(g->size() == 16);
    const auto text = FormatObjectGuid(*g);
    FUZZ_CHECK(text.has_value());
    FUZZ_CHECK(ParseObjectGuid(*text) == g);
  }
  if (auto sid = FormatSid(in)) {
    FUZZ_CHECK(sid->rfind("S-", 0) == 0);
    (void)SidRid(*sid);
  }
  (void)SidRid(in);
  if (auto r = ParseRangedAttribute(in)) {
    FUZZ_CHECK(!r->attribute.empty());
    if (r->high) FUZZ_CHECK(r->low <= *r->high);
  }
  if (auto x = ParseExtendedDn(in)) {
    FUZZ_CHECK(!x->guid.empty());
    FUZZ_CHECK(ParseObjectGuid(x->guid).has_value());
  }
  return 0;
}
