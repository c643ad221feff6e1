#include "common/utf8.h"

#include <cstdint>

namespace reclaim {
namespace {

// Length of the well-formed sequence at s[i], or 0 if ill-formed there; sets
// *bad_len to the length of the maximal ill-formed subpart in that case.
size_t WellFormedLength(std::string_view s, size_t i, size_t* bad_len) {
  const auto b = [&](size_t k) { return static_cast<std::uint8_t>(s[k]); };
  const std::uint8_t c = b(i);
  *bad_len = 1;
  if (c < 0x80) return 1;
  size_t n;
  std::uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) {
      *bad_len = k;
      return 0;
    }
    const std::uint8_t ck = b(i + k);
    const std::uint8_t l = (k == 1) ? lo : 0x80;
    const std::uint8_t h = (k == 1) ? hi : 0xBF;
    if (ck < l || ck > h) {
      *bad_len = k;
      return 0;
    }
  }
  return n;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  size_t i = 0, bad = 0;
  while (i < s.size()) {
    const size_t n = WellFormedLength(s, i, &bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view s, size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size() < max_bytes ? s.size() : max_bytes);
  size_t i = 0, bad = 0;
  while (i < s.size()) {
    const size_t n = WellFormedLength(s, i, &bad);
    const std::string_view piece = n ? s.substr(i, n) : kReplacement;
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece);
    i += n ? n : bad;
  }
  return out;
}

}  // namespace reclaim
