// objectGUID / objectSid text forms, ranged attribute names, extended DNs.
#include "collector/connectors/ldap/ad_values.h"

#include <gtest/gtest.h>

#include <string>

namespace reclaim::collector {
namespace {

using namespace std::string_literals;

// objectGUID bytes as stored, and the text Samba's ldbsearch prints for them.
const std::string kGuidBytes = "\x39\x33\xcf\x6e\x2a\x4f\xb4\x4e\xb4\xa9\x39\x1d\x77\x0a\x42\xd1"s;
constexpr char kGuidText[] = "6ecf3339-4f2a-4eb4-b4a9-391d770a42d1";

TEST(ObjectGuidTest, FormatsInAdByteOrder) {
  EXPECT_EQ(FormatObjectGuid(kGuidBytes), kGuidText);
  EXPECT_EQ(FormatObjectGuid(std::string(16, '\0')), "00000000-0000-0000-0000-000000000000");
  EXPECT_FALSE(FormatObjectGuid("short"));
  EXPECT_FALSE(FormatObjectGuid(std::string(17, 'a')));
}

TEST(ObjectGuidTest, ParsesBack) {
  EXPECT_EQ(ParseObjectGuid(kGuidText), kGuidBytes);
  EXPECT_EQ(ParseObjectGuid("6ECF3339-4F2A-4EB4-B4A9-391D770A42D1"), kGuidBytes);
  EXPECT_EQ(ParseObjectGuid("{6ecf3339-4f2a-4eb4-b4a9-391d770a42d1}"), kGuidBytes);
  EXPECT_FALSE(ParseObjectGuid(""));
  EXPECT_FALSE(ParseObjectGuid("6ecf33394f2a4eb4b4a9391d770a42d1"));
  EXPECT_FALSE(ParseObjectGuid("6ecf3339-4f2a-4eb4-b4a9-391d770a42dg"));
  EXPECT_FALSE(ParseObjectGuid("6ecf3339-4f2a-4eb4-b4a9_391d770a42d1"));
  EXPECT_FALSE(ParseObjectGuid("CN=Users,DC=example,DC=test"));
}

TEST(SidTest, FormatsBinarySid) {
  // S-1-5-21-1156156135-740417029-33185386-1102
  const std::string sid =
      "\x01\x05\x00\x00\x00\x00\x00\x05"
      "\x15\x00\x00\x00"
      "\xe7\x8a\xe9\x44"
      "\x05\xde\x21\x2c"
      "\x6a\x5e\xfa\x01"
      "\x4e\x04\x00\x00"s;
  EXPECT_EQ(FormatSid(sid), "S-1-5-21-1156156135-740417029-33185386-1102");
  // Well-known S-1-5-32-548 (Account Operators).
  EXPECT_EQ(FormatSid("\x01\x02\x00\x00\x00\x00\x00\x05\x20\x00\x00\x00\x24\x02\x00\x00"s),
            "S-1-5-32-548");
  EXPECT_FALSE(FormatSid(""));
  EXPECT_FALSE(FormatSid("\x01\x02\x00\x00\x00\x00\x00\x05\x20\x00\x00\x00"s));  // count says 2
  EXPECT_FALSE(FormatSid("\x02\x00\x00\x00\x00\x00\x00\x05"s));                  // revision 2
}

TEST(SidTest, Rid) {
  EXPECT_EQ(SidRid("S-1-5-21-1-2-3-1128"), 1128u);
  EXPECT_EQ(SidRid("S-1-5-32-548"), 548u);
  EXPECT_FALSE(SidRid("S-1-5"));
  EXPECT_FALSE(SidRid("S-1-5-21-x"));
  EXPECT_FALSE(SidRid("1128"));
}

TEST(RangedAttributeTest, Parses) {
  auto r = ParseRangedAttribute("member;range=0-1499");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->attribute, "member");
  EXPECT_EQ(r->low, 0u);
  EXPECT_EQ(r->high, 1499u);
  r = ParseRangedAttribute("member;Range=1500-*");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->low, 1500u);
  EXPECT_FALSE(r->high);
  EXPECT_FALSE(ParseRangedAttribute("member"));
  EXPECT_FALSE(ParseRangedAttribute("member;binary"));
  EXPECT_FALSE(ParseRangedAttribute("member;range=10-5"));
  EXPECT_FALSE(ParseRangedAttribute("member;range=a-5"));
  EXPECT_FALSE(ParseRangedAttribute("member;range=5"));
  EXPECT_FALSE(ParseRangedAttribute(";range=0-1"));
}

TEST(ExtendedDnTest, StringForm) {
  auto x = ParseExtendedDn(
      "<GUID=6ecf3339-4f2a-4eb4-b4a9-391d770a42d1>;<SID=S-1-5-21-1-2-3-1102>;"
      "CN=Smith\\, Anna,CN=Users,DC=example,DC=test");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->guid, kGuidText);
  EXPECT_EQ(x->sid, "S-1-5-21-1-2-3-1102");
  EXPECT_EQ(x->dn, "CN=Smith\\, Anna,CN=Users,DC=example,DC=test");
}

TEST(ExtendedDnTest, HexFormAndNoSid) {
  auto x = ParseExtendedDn("<GUID=3933cf6e2a4fb44eb4a9391d770a42d1>;CN=Visio Temps,DC=x");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->guid, kGuidText);
  EXPECT_EQ(x->sid, "");
  EXPECT_EQ(x->dn, "CN=Visio Temps,DC=x");
  x = ParseExtendedDn(
      "<GUID=3933cf6e2a4fb44eb4a9391d770a42d1>;<SID=010200000000000520000000"
      "24020000>;CN=Account Operators");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->sid, "S-1-5-32-548");
}

TEST(ExtendedDnTest, RejectsWithoutGuid) {
  EXPECT_FALSE(ParseExtendedDn("CN=Smith\\, Anna,CN=Users,DC=example,DC=test"));
  EXPECT_FALSE(ParseExtendedDn("<SID=S-1-5-32-548>;CN=x"));
  EXPECT_FALSE(ParseExtendedDn("<GUID=zz>;CN=x"));
  EXPECT_FALSE(ParseExtendedDn("<GUID=6ecf3339-4f2a-4eb4-b4a9-391d770a42d1;CN=x"));
}

}  // namespace
}  // namespace reclaim::collector
