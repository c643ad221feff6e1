// reclaimctl output (collector/ctl/table.h): alignment by display width,
// terminal-safe cells, CSV quoting, JSON rows.
#include "collector/ctl/table.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace reclaim::ctl {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(CtlTableTest, DisplayWidthCountsColumnsNotBytes) {
  EXPECT_EQ(DisplayWidth("jurgen"), 6u);
  EXPECT_EQ(DisplayWidth("j\xC3\xBCrgen"), 6u);            // jürgen: 7 bytes
  EXPECT_EQ(DisplayWidth("\xE5\xB1\xB1\xE7\x94\xB0"), 4u);  // 山田: two wide characters
  EXPECT_EQ(DisplayWidth("e\xCC\x81"), 1u);                 // e + combining acute
  EXPECT_EQ(DisplayWidth(""), 0u);
}

TEST(CtlTableTest, ColumnsLineUpWithNonAsciiNames) {
  Table t;
  t.columns = {"user", "app"};
  t.rows = {{"j\xC3\xBCrgen", "GIMP"}, {"ana", "Excel"}, {"\xE5\xB1\xB1\xE7\x94\xB0", "Word"}};
  std::ostringstream os;
  Print(t, "table", os);
  const auto lines = Lines(os.str());
  ASSERT_EQ(lines.size(), 4u);
  // "app" starts at display column 8 on every line (widest user 6 + 2).
  EXPECT_EQ(lines[0], "user    app");
  EXPECT_EQ(lines[1], "j\xC3\xBCrgen  GIMP");
  EXPECT_EQ(lines[2], "ana     Excel");
  EXPECT_EQ(lines[3], "\xE5\xB1\xB1\xE7\x94\xB0    Word");
}

TEST(CtlTableTest, ControlCharactersNeverReachTheTerminal) {
  EXPECT_EQ(TerminalSafe("a\x1b[31mred"), "a\xEF\xBF\xBD[31mred");
  EXPECT_EQ(TerminalSafe("bell\x07"), "bell\xEF\xBF\xBD");
  EXPECT_EQ(TerminalSafe("c1\xC2\x9B" "2J"), "c1\xEF\xBF\xBD" "2J");  // U+009B CSI
  EXPECT_EQ(TerminalSafe("bad\xFF"), "bad\xEF\xBF\xBD");
  EXPECT_EQ(TerminalSafe("caf\xC3\xA9"), "caf\xC3\xA9");
  Table t;
  t.columns = {"app"};
  t.rows = {{"evil\x1b]0;title\x07"}};
  std::ostringstream os;
  Print(t, "table", os);
  EXPECT_EQ(os.str().find('\x1b'), std::string::npos);
  EXPECT_EQ(os.str().find('\x07'), std::string::npos);
}

TEST(CtlTableTest, CsvQuotesAndKeepsBytes) {
  Table t;
  t.columns = {"a", "b"};
  t.rows = {{"x,y", "say \"hi\""}, {"line\nbreak", "plain"}};
  std::ostringstream os;
  Print(t, "csv", os);
  EXPECT_EQ(os.str(), "a,b\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n\"line\nbreak\",plain\r\n");
}

TEST(CtlTableTest, JsonUsesTypedRowsAndEmptyTableSaysSo) {
  Table t;
  t.columns = {"user", "seconds"};
  t.rows = {{"ana", "60"}};
  t.json_rows = {nlohmann::ordered_json{{"user", "ana"}, {"seconds", 60}}};
  std::ostringstream js;
  Print(t, "json", js);
  EXPECT_THAT(js.str(), HasSubstr("\"seconds\": 60"));
  Table empty;
  empty.columns = {"user"};
  std::ostringstream os;
  Print(empty, "table", os);
  EXPECT_EQ(os.str(), "user\n(no rows)\n");
}

}  // namespace
}  // namespace reclaim::ctl
