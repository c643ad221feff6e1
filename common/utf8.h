// UTF-8 validation and repair (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF). Standard C++ only.
#pragma once

#include <string>
#include <string_view>

namespace reclaim {

/// True when `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

/// Returns `s` with every ill-formed sequence replaced by U+FFFD (one per
/// maximal ill-formed subpart, as the Unicode Standard §3.9 recommends), and
/// cut to at most `max_bytes` bytes without splitting a character.
std::string SanitizeUtf8(std::string_view s, size_t max_bytes = std::string::npos);

}  // namespace reclaim
