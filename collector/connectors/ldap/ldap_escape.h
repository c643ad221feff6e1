// Escaping of values placed into LDAP search filters (RFC 4515) and into
// distinguished names (RFC 4514). Pure functions, standard C++ only.
//
// Every value that comes from outside the connector (a login typed by an
// administrator, a group name from a policy, a GUID) passes through one of
// these before it becomes part of a filter or DN string, so `*`, `(` or a
// comma in a user name can never change what a search or modify addresses.
#pragma once

#include <string>
#include <string_view>

namespace reclaim::collector {

/// Escapes `value` for use as an assertion value in a search filter
/// (RFC 4515 section 3, `valueencoding`): NUL, `(`, `)`, `*` and `\` become
/// `\00`, `\28`, `\29`, `\2a` and `\5c`. Well-formed UTF-8 passes through
/// unchanged (RFC 4515 allows UTFMB); if `value` is not well-formed UTF-8,
/// every byte >= 0x80 is escaped as `\xx` too, so the filter string stays a
/// valid LDAP string. Example: "a*(b)" -> "a\2a\28b\29".
std::string EscapeLdapFilterValue(std::string_view value);

/// Escapes every byte of `bytes` as `\xx` (lower-case hex): the form for
/// binary assertion values such as a 16-byte objectGUID (RFC 4515 section 3).
std::string EscapeLdapFilterBytes(std::string_view bytes);

/// Escapes `value` for use as an attribute value in a DN string
/// (RFC 4514 section 2.4): `"` `+` `,` `;` `<` `>` `\` anywhere, `#` or a
/// space at the start and a space at the end are backslash-escaped; NUL and
/// other control characters (< 0x20, 0x7f) become `\xx`. `=` is escaped as
/// well (RFC 4514 allows escaping any character; Active Directory escapes
/// it, see "Distinguished Names" in the AD DS documentation). UTF-8 passes
/// through. Example: "Smith, Anna" -> "Smith\, Anna".
std::string EscapeLdapDnValue(std::string_view value);

}  // namespace reclaim::collector
