#include "collector/connectors/ldap/ldap_escape.h"

#include "common/utf8.h"

namespace reclaim::collector {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendHexEscape(std::string& out, unsigned char c) {
  out.push_back('\\');
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0x0f]);
}

}  // namespace

std::string EscapeLdapFilterValue(std::string_view value) {
  const bool utf8 = IsValidUtf8(value);
  std::string out;
  out.reserve(value.size() + 8);
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0 || c == '(' || c == ')' || c == '*' || c == '\\' || (c >= 0x80 && !utf8)) {
      AppendHexEscape(out, c);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string EscapeLdapFilterBytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 3);
  for (char ch : bytes) AppendHexEscape(out, static_cast<unsigned char>(ch));
  return out;
}

std::string EscapeLdapDnValue(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    const bool first = i == 0;
    const bool last = i + 1 == value.size();
    if (c < 0x20 || c == 0x7f) {
      AppendHexEscape(out, c);
    } else if (c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\' ||
               c == '=' || (first && c == '#') || (c == ' ' && (first || last))) {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace reclaim::collector
