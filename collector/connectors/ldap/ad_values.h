// Active Directory value formats the LDAP connector reads and writes: the
// binary objectGUID and objectSid as text, ranged attribute names
// ("member;range=0-1499") and extended DNs ("<GUID=...>;<SID=...>;CN=...").
// Pure functions, standard C++ only; `std::string` holds raw bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reclaim::collector {

/// Renders a 16-byte objectGUID in the standard AD text form
/// "6ecf3339-4f2a-4eb4-b4a9-391d770a42d1" (lower case): the first three
/// fields are stored little-endian, the last 8 bytes in order (MS-DTYP 2.3.4
/// GUID, the layout `<GUID=...>` and Samba/Windows tools print). nullopt
/// unless `bytes` has exactly 16 bytes.
std::optional<std::string> FormatObjectGuid(std::string_view bytes);

/// The inverse of FormatObjectGuid: the 16 bytes as stored in objectGUID.
/// Accepts upper or lower case, with or without surrounding braces; nullopt
/// for anything else.
std::optional<std::string> ParseObjectGuid(std::string_view text);

/// Renders a binary SID (MS-DTYP 2.4.2.2: revision, sub-authority count,
/// 48-bit big-endian authority, little-endian 32-bit sub-authorities) as
/// "S-1-5-21-...". nullopt for malformed input.
std::optional<std::string> FormatSid(std::string_view bytes);

/// The relative id (last sub-authority) of a SID in text form
/// ("S-1-5-21-1-2-3-1128" -> 1128); nullopt if it has no sub-authority.
std::optional<std::uint32_t> SidRid(std::string_view sid_text);

/// An attribute description with a range option (MS-ADTS 3.1.1.3.1.3.3,
/// "Range Retrieval of Attribute Values"): "member;range=1500-*" is
/// {"member", 1500, nullopt}.
struct RangedAttribute {
  std::string attribute;
  std::uint64_t low = 0;
  /// nullopt for "*": the last values of the attribute.
  std::optional<std::uint64_t> high;
};

/// Parses "name;range=LOW-HIGH" or "name;range=LOW-*" (case-insensitive
/// "range="). nullopt when `description` carries no range option or a
/// malformed one.
std::optional<RangedAttribute> ParseRangedAttribute(std::string_view description);

/// A DN as returned with the LDAP_SERVER_EXTENDED_DN_OID control
/// (1.2.840.113556.1.4.529, MS-ADTS 3.1.1.3.4.1.5): "<GUID=g>;<SID=s>;dn".
struct ExtendedDn {
  /// objectGUID in FormatObjectGuid's text form; never empty after parsing.
  std::string guid;
  /// objectSid as "S-1-..."; empty for objects without a SID.
  std::string sid;
  /// The plain DN (display only; never compare it).
  std::string dn;
};

/// Parses an extended DN in either form the control produces: string form
/// ("<GUID=6ecf3339-...>;<SID=S-1-5-...>;CN=...", flag 1) or hex form
/// ("<GUID=3933cf6e...>;<SID=0105...>;CN=...", flag 0). nullopt without a
/// well-formed GUID part.
std::optional<ExtendedDn> ParseExtendedDn(std::string_view value);

}  // namespace reclaim::collector
