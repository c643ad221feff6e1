// RFC 4515 (filter) and RFC 4514 (DN) escaping, with the RFCs' own examples.
#include "collector/connectors/ldap/ldap_escape.h"

#include <gtest/gtest.h>

#include <string>

namespace reclaim::collector {
namespace {

using namespace std::string_literals;

TEST(EscapeLdapFilterValueTest, Rfc4515Examples) {
  // RFC 4515 section 4.
  EXPECT_EQ(EscapeLdapFilterValue("Parens R Us (for all your parenthetical needs)"),
            "Parens R Us \\28for all your parenthetical needs\\29");
  EXPECT_EQ(EscapeLdapFilterValue("*"), "\\2a");
  EXPECT_EQ(EscapeLdapFilterValue("C:\\MyFile"), "C:\\5cMyFile");
  EXPECT_EQ(EscapeLdapFilterValue("\0\0\0\4"s), "\\00\\00\\00\4");
}

TEST(EscapeLdapFilterValueTest, EscapesEverySpecialCharacterEverywhere) {
  EXPECT_EQ(EscapeLdapFilterValue(""), "");
  EXPECT_EQ(EscapeLdapFilterValue("jdoe"), "jdoe");
  EXPECT_EQ(EscapeLdapFilterValue("a*"), "a\\2a");  // no wildcard search for "a..."
  EXPECT_EQ(EscapeLdapFilterValue("*)(objectClass=*"), "\\2a\\29\\28objectClass=\\2a");
  EXPECT_EQ(EscapeLdapFilterValue("zoe(ops)"), "zoe\\28ops\\29");
  EXPECT_EQ(EscapeLdapFilterValue("\\\\"), "\\5c\\5c");
  EXPECT_EQ(EscapeLdapFilterValue("a\0b"s), "a\\00b");
}

TEST(EscapeLdapFilterValueTest, LeavesDnAndLdifCharactersAlone) {
  // Only NUL ( ) * \ are special in a filter value.
  EXPECT_EQ(EscapeLdapFilterValue("Smith, Anna; #1 + \"x\" <y> =z & | ! ~ '"),
            "Smith, Anna; #1 + \"x\" <y> =z & | ! ~ '");
}

TEST(EscapeLdapFilterValueTest, Utf8PassesThroughBadBytesAreEscaped) {
  // RFC 4515 allows UTF-8 (UTFMB) unescaped: "Lučić".
  EXPECT_EQ(EscapeLdapFilterValue("Lu\xc4\x8di\xc4\x87"), "Lu\xc4\x8di\xc4\x87");
  EXPECT_EQ(EscapeLdapFilterValue("j\xc3\xbcrgen"), "j\xc3\xbcrgen");
  // Not UTF-8 (Latin-1 'ü'): every high byte becomes \xx.
  EXPECT_EQ(EscapeLdapFilterValue("j\xfcrgen*"), "j\\fcrgen\\2a");
}

TEST(EscapeLdapFilterBytesTest, EscapesEveryByte) {
  EXPECT_EQ(EscapeLdapFilterBytes(""), "");
  EXPECT_EQ(EscapeLdapFilterBytes("\0\0\0\4"s), "\\00\\00\\00\\04");
  EXPECT_EQ(EscapeLdapFilterBytes("\x39\x33\xcf\x6e(*"), "\\39\\33\\cf\\6e\\28\\2a");
}

TEST(EscapeLdapDnValueTest, Rfc4514Examples) {
  // RFC 4514 section 4.
  EXPECT_EQ(EscapeLdapDnValue("James \"Jim\" Smith, III"), "James \\\"Jim\\\" Smith\\, III");
  EXPECT_EQ(EscapeLdapDnValue("Before\rAfter"), "Before\\0dAfter");
  EXPECT_EQ(EscapeLdapDnValue("Lu\xc4\x8di\xc4\x87"), "Lu\xc4\x8di\xc4\x87");
}

TEST(EscapeLdapDnValueTest, SpecialCharacters) {
  EXPECT_EQ(EscapeLdapDnValue(""), "");
  EXPECT_EQ(EscapeLdapDnValue("Smith, Anna"), "Smith\\, Anna");
  EXPECT_EQ(EscapeLdapDnValue("C++ Dev"), "C\\+\\+ Dev");
  EXPECT_EQ(EscapeLdapDnValue("semi;colon"), "semi\\;colon");
  EXPECT_EQ(EscapeLdapDnValue("<x>"), "\\<x\\>");
  EXPECT_EQ(EscapeLdapDnValue("back\\slash"), "back\\\\slash");
  EXPECT_EQ(EscapeLdapDnValue("a=b"), "a\\=b");
  EXPECT_EQ(EscapeLdapDnValue("nul\0"s), "nul\\00");
  // Parentheses and '*' need no escaping in a DN.
  EXPECT_EQ(EscapeLdapDnValue("Zoe (Ops) *star*"), "Zoe (Ops) *star*");
}

TEST(EscapeLdapDnValueTest, LeadingHashAndSpacesOnlyAtTheEdges) {
  EXPECT_EQ(EscapeLdapDnValue("#hash Tag"), "\\#hash Tag");
  EXPECT_EQ(EscapeLdapDnValue("a#b"), "a#b");
  EXPECT_EQ(EscapeLdapDnValue(" lead"), "\\ lead");
  EXPECT_EQ(EscapeLdapDnValue("trail "), "trail\\ ");
  EXPECT_EQ(EscapeLdapDnValue("in side"), "in side");
  EXPECT_EQ(EscapeLdapDnValue(" "), "\\ ");
  EXPECT_EQ(EscapeLdapDnValue("  "), "\\ \\ ");
}

}  // namespace
}  // namespace reclaim::collector
