#include "collector/connectors/ldap/ad_values.h"

#include <cctype>
#include <charconv>

namespace reclaim::collector {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendHexByte(std::string& out, unsigned char c) {
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0x0f]);
}

/// Decodes an even-length hex string into bytes.
std::optional<std::string> DecodeHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexValue(hex[i]);
    const int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::optional<std::uint64_t> ParseUint(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

// Byte order of the text form: Data1 (4 bytes LE), Data2 (2 LE), Data3 (2 LE),
// Data4 (8 bytes as stored). kGuidOrder[i] = stored index of text byte i.
constexpr int kGuidOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

}  // namespace

std::optional<std::string> FormatObjectGuid(std::string_view bytes) {
  if (bytes.size() != 16) return std::nullopt;
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    AppendHexByte(out, static_cast<unsigned char>(bytes[kGuidOrder[i]]));
  }
  return out;
}

std::optional<std::string> ParseObjectGuid(std::string_view text) {
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') {
    text = text.substr(1, 36);
  }
  if (text.size() != 36) return std::nullopt;
  std::string hex;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
    } else {
      hex.push_back(text[i]);
    }
  }
  auto ordered = DecodeHex(hex);
  if (!ordered) return std::nullopt;
  std::string bytes(16, '\0');
  for (int i = 0; i < 16; ++i) bytes[kGuidOrder[i]] = (*ordered)[i];
  return bytes;
}

std::optional<std::string> FormatSid(std::string_view bytes) {
  if (bytes.size() < 8) return std::nullopt;
  const auto b = [&](size_t i) {
    return static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i]));
  };
  const std::uint64_t revision = b(0);
  const size_t count = b(1);
  if (revision != 1 || count > 15 || bytes.size() != 8 + 4 * count) return std::nullopt;
  std::uint64_t authority = 0;
  for (size_t i = 2; i < 8; ++i) authority = (authority << 8) | b(i);
  std::string out = "S-" + std::to_string(revision) + "-" + std::to_string(authority);
  for (size_t k = 0; k < count; ++k) {
    const size_t o = 8 + 4 * k;
    const std::uint64_t sub = b(o) | (b(o + 1) << 8) | (b(o + 2) << 16) | (b(o + 3) << 24);
    out += "-" + std::to_string(sub);
  }
  return out;
}

std::optional<std::uint32_t> SidRid(std::string_view sid_text) {
  if (!StartsWithNoCase(sid_text, "S-")) return std::nullopt;
  // S-<revision>-<authority> has no sub-authority: need at least three dashes.
  size_t dashes = 0;
  for (char c : sid_text) dashes += c == '-';
  if (dashes < 3) return std::nullopt;
  auto rid = ParseUint(sid_text.substr(sid_text.rfind('-') + 1));
  if (!rid || *rid > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(*rid);
}

std::optional<RangedAttribute> ParseRangedAttribute(std::string_view description) {
  const size_t semi = description.find(';');
  if (semi == std::string_view::npos || semi == 0) return std::nullopt;
  std::string_view option = description.substr(semi + 1);
  if (!StartsWithNoCase(option, "range=")) return std::nullopt;
  option.remove_prefix(6);
  const size_t dash = option.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  RangedAttribute out;
  out.attribute = std::string(description.substr(0, semi));
  auto low = ParseUint(option.substr(0, dash));
  if (!low) return std::nullopt;
  out.low = *low;
  std::string_view high = option.substr(dash + 1);
  if (high != "*") {
    auto h = ParseUint(high);
    if (!h || *h < *low) return std::nullopt;
    out.high = *h;
  }
  return out;
}

std::optional<ExtendedDn> ParseExtendedDn(std::string_view value) {
  ExtendedDn out;
  while (!value.empty() && value.front() == '<') {
    const size_t close = value.find('>');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view part = value.substr(1, close - 1);
    value.remove_prefix(close + 1);
    if (!value.empty() && value.front() == ';') value.remove_prefix(1);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view key = part.substr(0, eq);
    std::string_view text = part.substr(eq + 1);
    if (StartsWithNoCase(key, "GUID") && key.size() == 4) {
      std::optional<std::string> bytes =
          text.size() == 32 ? DecodeHex(text) : ParseObjectGuid(text);
      if (!bytes) return std::nullopt;
      out.guid = *FormatObjectGuid(*bytes);
    } else if (StartsWithNoCase(key, "SID") && key.size() == 3) {
      if (StartsWithNoCase(text, "S-")) {
        out.sid = std::string(text);
      } else {
        auto bytes = DecodeHex(text);
        auto sid = bytes ? FormatSid(*bytes) : std::nullopt;
        if (!sid) return std::nullopt;
        out.sid = *sid;
      }
    }  // other components (e.g. <WKGUID=...>) are ignored
  }
  if (out.guid.empty()) return std::nullopt;
  out.dn = std::string(value);
  return out;
}

}  // namespace reclaim::collector
