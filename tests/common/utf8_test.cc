#include "common/utf8.h"

#include <gtest/gtest.h>

namespace reclaim {
namespace {

TEST(Utf8Test, AcceptsWellFormed) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("GIMP"));
  EXPECT_TRUE(IsValidUtf8("Gr\xC3\xBC\xC3\x9F" "e \xE2\x82\xAC \xF0\x9F\x98\x80"));
}

TEST(Utf8Test, RejectsIllFormed) {
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("abc\xE2\x82"));       // truncated
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(Utf8Test, SanitizeReplacesEachMaximalSubpart) {
  EXPECT_EQ(SanitizeUtf8("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  // A truncated 3-byte sequence is one replacement, not two.
  EXPECT_EQ(SanitizeUtf8("\xE2\x82x"), "\xEF\xBF\xBDx");
  EXPECT_TRUE(IsValidUtf8(SanitizeUtf8("\xC0\xAF\xED\xA0\x80\xF4\x90\x80\x80")));
}

TEST(Utf8Test, SanitizeTruncatesOnCharacterBoundary) {
  // "€" is 3 bytes; a 4-byte budget keeps "a€", a 3-byte one only "a".
  EXPECT_EQ(SanitizeUtf8("a\xE2\x82\xAC" "b", 4), "a\xE2\x82\xAC");
  EXPECT_EQ(SanitizeUtf8("a\xE2\x82\xAC" "b", 3), "a");
}

}  // namespace
}  // namespace reclaim
