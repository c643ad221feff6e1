#include "collector/reclaim/catalog.h"

#include <gtest/gtest.h>

namespace reclaim::collector {
namespace {

TEST(GlobTest, Table) {
  struct Case {
    const char* pattern;
    const char* text;
    bool want;
  } cases[] = {
      {"*.lightning.force.com", "na1.lightning.force.com", true},
      {"*.lightning.force.com", "NA1.Lightning.Force.com", true},
      {"*.lightning.force.com", "lightning.force.com", false},
      {"*.lightning.force.com", "evil.com/?x=.lightning.force.com.evil", false},
      {"VISIO.EXE", "visio.exe", true},
      {"gimp*", "gimp-2.10", true},
      {"gimp?", "gimp-2.10", false},
      {"/opt/*/bin/app", "/opt/a/b/bin/app", true},
      {"a*b*c", "aXbYc", true},
      {"a*b*c", "aXbY", false},
      {"", "", true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(GlobMatch(c.pattern, c.text), c.want) << c.pattern << " vs " << c.text;
  }
}

TEST(CatalogTest, RuleKinds) {
  AppIdentityRecord gimp{.exe_path = "/usr/bin/gimp-2.10", .exe_name = "",
                         .window_class = "Gimp-2.10"};
  AppIdentityRecord flatpak{.package_id = "org.gimp.GIMP"};
  AppIdentityRecord visio{.exe_path = "C:\\Program Files\\Microsoft Office\\VISIO.EXE",
                          .exe_name = "VISIO.EXE", .product_name = "Microsoft Visio"};
  AppIdentityRecord sf{.exe_name = "chrome", .web_domain = "eu12.lightning.force.com"};
  EXPECT_TRUE(RuleMatches({RuleKind::kExe, "gimp-*"}, gimp));  // from the path
  EXPECT_TRUE(RuleMatches({RuleKind::kPath, "/usr/bin/gimp*"}, gimp));
  EXPECT_TRUE(RuleMatches({RuleKind::kClass, "gimp*"}, gimp));
  EXPECT_TRUE(RuleMatches({RuleKind::kPackage, "org.gimp.GIMP"}, flatpak));
  EXPECT_FALSE(RuleMatches({RuleKind::kExe, "gimp*"}, flatpak));  // empty field never matches
  EXPECT_TRUE(RuleMatches({RuleKind::kExe, "visio.exe"}, visio));
  EXPECT_TRUE(RuleMatches({RuleKind::kProduct, "Microsoft Visio"}, visio));
  EXPECT_TRUE(RuleMatches({RuleKind::kWeb, "*.lightning.force.com"}, sf));
  EXPECT_FALSE(RuleMatches({RuleKind::kExe, "visio.exe"}, sf));
  Application app{.name = "GIMP", .rules = {{RuleKind::kExe, "gimp*"},
                                            {RuleKind::kPackage, "org.gimp.GIMP"}}};
  EXPECT_TRUE(ApplicationMatches(app, gimp));
  EXPECT_TRUE(ApplicationMatches(app, flatpak));
  EXPECT_FALSE(ApplicationMatches(app, visio));
}

TEST(CatalogTest, Validation) {
  EXPECT_FALSE(ValidateRule({RuleKind::kExe, ""}).ok());
  EXPECT_FALSE(ValidateRule({RuleKind::kExe, "**"}).ok());
  EXPECT_TRUE(ValidateRule({RuleKind::kExe, "*.exe"}).ok());
  EXPECT_FALSE(ParseRuleKind("bogus").ok());
  EXPECT_EQ(*ParseRuleKind("WEB"), RuleKind::kWeb);
}

}  // namespace
}  // namespace reclaim::collector
