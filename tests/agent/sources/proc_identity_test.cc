// Window -> AppIdentity mapping against a fixture /proc tree.
#include "agent/sources/proc_identity.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace reclaim::agent {
namespace {

namespace fs = std::filesystem;

WindowFacts F(std::optional<std::int64_t> pid, std::string window_class, std::string title) {
  WindowFacts f;
  f.pid = pid;
  f.window_class = std::move(window_class);
  f.title = std::move(title);
  return f;
}

AppIdentity A(std::string exe_name, std::string window_class) {
  AppIdentity a;
  a.exe_name = std::move(exe_name);
  a.window_class = std::move(window_class);
  return a;
}

class ProcIdentityTest : public ::testing::Test {
 protected:
  // Makes proc/<pid> with an exe symlink to `exe` (if not empty) and files.
  fs::path Proc(int pid, const std::string& exe, const std::string& cmdline = "",
                const std::string& cgroup = "0::/user.slice/user-1000.slice/session-2.scope\n") {
    const fs::path d = dir_.path() / "proc" / std::to_string(pid);
    fs::create_directories(d / "root");
    if (!exe.empty()) fs::create_symlink(exe, d / "exe");
    Write(d / "cmdline", cmdline);
    Write(d / "cgroup", cgroup);
    Write(d / "comm", "comm-name\n");
    return d;
  }
  static void Write(const fs::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary);
    f << text;
  }
  std::string root() const { return (dir_.path() / "proc").string(); }
  testing::TempDir dir_;
};

TEST_F(ProcIdentityTest, ExecutableAndClass) {
  Proc(100, "/usr/bin/xterm", std::string("xterm\0-e\0bash\0", 15));
  AppIdentity app = IdentifyWindow(F(100, "XTerm", "t"), false, root());
  EXPECT_EQ(app.exe_path, "/usr/bin/xterm");
  EXPECT_EQ(app.exe_name, "xterm");
  EXPECT_EQ(app.window_class, "XTerm");
  EXPECT_EQ(app.package_id, "");
  EXPECT_EQ(app.window_title, "");  // titles off
}

TEST_F(ProcIdentityTest, DeletedExecutableAfterUpgrade) {
  Proc(101, "/usr/lib/firefox-esr/firefox-esr (deleted)");
  AppIdentity app = IdentifyWindow(F(101, "firefox-esr", ""), false, root());
  EXPECT_EQ(app.exe_path, "/usr/lib/firefox-esr/firefox-esr");
  EXPECT_EQ(app.exe_name, "firefox-esr");
}

TEST_F(ProcIdentityTest, TwoExecutablesSharingAClassAreTwoIdentities) {
  Proc(200, "/opt/Slack/slack");
  Proc(201, "/usr/share/code/code");
  AppIdentity a = IdentifyWindow(F(200, "Electron", ""), false, root());
  AppIdentity b = IdentifyWindow(F(201, "Electron", ""), false, root());
  EXPECT_EQ(a.window_class, b.window_class);
  EXPECT_NE(a, b);
}

TEST_F(ProcIdentityTest, UnreadableExeFallsBackToArgv0ThenComm) {
  Proc(300, "", std::string("/usr/bin/secret-app\0--flag\0", 27));
  AppIdentity a = IdentifyWindow(F(300, "Secret", ""), false, root());
  EXPECT_EQ(a.exe_path, "");  // never a guess
  EXPECT_EQ(a.exe_name, "secret-app");
  Proc(301, "", "");
  AppIdentity b = IdentifyWindow(F(301, "", ""), false, root());
  EXPECT_EQ(b.exe_name, "comm-name");
}

TEST_F(ProcIdentityTest, NoPidGivesClassOnly) {
  AppIdentity a = IdentifyWindow(F(std::nullopt, "Xmessage", ""), false, root());
  EXPECT_EQ(a.window_class, "Xmessage");
  EXPECT_EQ(a.exe_path, "");
  // A process that vanished: the same.
  AppIdentity b = IdentifyWindow(F(999, "Gone", ""), false, root());
  EXPECT_EQ(b.exe_name, "");
  EXPECT_EQ(b.window_class, "Gone");
}

TEST_F(ProcIdentityTest, FlatpakAppIdFromFlatpakInfo) {
  const fs::path d = Proc(400, "/app/bin/gimp-2.10");
  Write(d / "root" / ".flatpak-info",
        "[Application]\nname=org.gimp.GIMP\nruntime=runtime/org.gnome.Platform/x86_64/44\n"
        "\n[Instance]\ninstance-id=1234\n");
  AppIdentity a = IdentifyWindow(F(400, "Gimp-2.10", ""), false, root());
  EXPECT_EQ(a.package_id, "org.gimp.GIMP");
  EXPECT_EQ(a.exe_path, "/app/bin/gimp-2.10");
}

TEST_F(ProcIdentityTest, FlatpakAppIdFromCgroupWhenRootIsHidden) {
  Proc(401, "/usr/bin/bwrap", "", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                                  "app-flatpak-com.slack.Slack-98765.scope\n");
  AppIdentity a = IdentifyWindow(F(401, "Slack", ""), false, root());
  EXPECT_EQ(a.package_id, "com.slack.Slack");  // the app, not the sandbox helper
}

TEST_F(ProcIdentityTest, SnapNameFromCgroupAndFromPath) {
  Proc(500, "/snap/firefox/3600/usr/lib/firefox/firefox", "",
       "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
       "snap.firefox.firefox-1b2c3d.scope\n");
  EXPECT_EQ(IdentifyWindow(F(500, "", ""), false, root()).package_id, "firefox");
  Proc(501, "/snap/code/140/usr/share/code/code");
  EXPECT_EQ(IdentifyWindow(F(501, "", ""), false, root()).package_id, "code");
}

TEST_F(ProcIdentityTest, TitleSanitisedWhenEnabled) {
  Proc(600, "/usr/bin/xterm");
  const std::string bad = "caf\xc3\xa9 \xff\xfe ok";
  AppIdentity a = IdentifyWindow(F(600, "XTerm", bad), true, root());
  EXPECT_EQ(a.window_title, "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd ok");
  std::string long_title(5000, 'x');
  EXPECT_EQ(IdentifyWindow(F(600, "", long_title), true, root()).window_title.size(),
            1024u);
}

TEST_F(ProcIdentityTest, InvalidUtf8InClassAndPathIsRepaired) {
  Proc(700, "/opt/\xff" "app/run");
  AppIdentity a = IdentifyWindow(F(700, "Bad\xc0", ""), false, root());
  EXPECT_EQ(a.exe_path, "/opt/\xef\xbf\xbd" "app/run");
  EXPECT_EQ(a.window_class, "Bad\xef\xbf\xbd");
}

TEST(LockScreenTest, LockersAreNotApplications) {
  EXPECT_TRUE(IsLockScreen(A("i3lock", "")));
  EXPECT_TRUE(IsLockScreen(A("", "XScreenSaver")));
  EXPECT_FALSE(IsLockScreen(A("xterm", "XTerm")));
}

}  // namespace
}  // namespace reclaim::agent
