#include "agent/browser/web_message.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/browser/browser_address.h"
#include "agent/browser/frame_reader.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace reclaim::agent {
namespace {

std::string State(const std::string& windows, const std::string& focused = "1") {
  return R"({"v":1,"type":"state","focused":)" + focused + R"(,"windows":[)" + windows + "]}";
}

TEST(WebMessageTest, ParsesAState) {
  absl::StatusOr<WebBrowserState> s = ParseWebMessage(State(
      R"({"id":1,"origin":"https://NA1.Lightning.Force.com"},{"id":7,"origin":null},)"
      R"({"id":9,"origin":"http://127.0.0.1:8080"},{"id":10,"origin":"http://[::1]:99"})"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->focused_window, 1);
  ASSERT_EQ(s->windows.size(), 4u);
  EXPECT_EQ(s->windows[0].host, "na1.lightning.force.com");
  EXPECT_EQ(s->windows[1].host, "");
  EXPECT_EQ(s->windows[2].host, "127.0.0.1");
  EXPECT_EQ(s->windows[3].host, "[::1]");
  EXPECT_EQ(s->FocusedHost(), "na1.lightning.force.com");
  // No focused window; no windows.
  s = ParseWebMessage(State("", "-1"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->FocusedHost(), "");
}

TEST(WebMessageTest, RoundTrips) {
  WebBrowserState st{.focused_window = 3,
                     .windows = {{.window_id = 3,
                                  .host = "a.example.test",
                                  .path = "/lightning/r/Account/001%20x",
                                  .title = "Acme \u00e4 | Salesforce"},
                                 {.window_id = 4, .host = "", .path = "", .title = ""}}};
  const WebDetailPolicy all{.path = true, .title = true};
  absl::StatusOr<WebBrowserState> back = ParseWebMessage(SerializeWebMessage(st), all);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, st);
}

// The administrator's opt-in: by default a page's path and title are removed
// (and counted), whatever the extension sends; each is kept only when allowed.
TEST(WebMessageTest, PathAndTitleOnlyWhenTheAdministratorAllowsThem) {
  const std::string msg = State(
      R"({"id":1,"origin":"https://crm.example.test","path":"/accounts/42","title":"Acme Corp"},)"
      R"({"id":2,"origin":null,"path":"/x","title":"New tab"},)"
      R"({"id":3,"origin":"https://b.example.test","path":null,"title":null})");
  std::uint64_t dropped = 0;
  absl::StatusOr<WebBrowserState> s = ParseWebMessage(msg, {}, &dropped);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(dropped, 4u);  // two paths, two titles; nulls are not details
  for (const WebWindowState& w : s->windows) {
    EXPECT_EQ(w.path, "");
    EXPECT_EQ(w.title, "");
  }
  EXPECT_EQ(s->FocusedHost(), "crm.example.test");
  EXPECT_EQ(WebPageDetail(*s->Focused()), "");

  dropped = 0;
  s = ParseWebMessage(msg, {.path = true, .title = false}, &dropped);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(dropped, 3u);  // the titles, and the path of a window without a site
  EXPECT_EQ(s->windows[0].path, "/accounts/42");
  EXPECT_EQ(s->windows[0].title, "");
  EXPECT_EQ(s->windows[1].path, "");
  EXPECT_EQ(WebPageDetail(*s->Focused()), "/accounts/42");

  dropped = 0;
  s = ParseWebMessage(msg, {.path = false, .title = true}, &dropped);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(dropped, 3u);
  EXPECT_EQ(WebPageDetail(*s->Focused()), "Acme Corp");

  dropped = 0;
  s = ParseWebMessage(msg, {.path = true, .title = true}, &dropped);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(dropped, 2u);  // only window 2's (no site)
  EXPECT_EQ(s->windows[0].path, "/accounts/42");
  EXPECT_EQ(s->windows[0].title, "Acme Corp");
  EXPECT_EQ(WebPageDetail(*s->Focused()), "/accounts/42 Acme Corp");
}

TEST(WebMessageTest, PathAndTitleSizeLimits) {
  const WebDetailPolicy all{.path = true, .title = true};
  const auto with = [](const std::string& path, const std::string& title) {
    return State(R"({"id":1,"origin":"https://a.example.test","path":")" + path +
                 R"(","title":")" + title + "\"}");
  };
  // A path of exactly 2 KiB passes; one byte more refuses the message.
  const std::string path_max = "/" + std::string(kMaxWebPathBytes - 1, 'p');
  absl::StatusOr<WebBrowserState> s = ParseWebMessage(with(path_max, "t"), all);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->windows[0].path, path_max);
  EXPECT_FALSE(ParseWebMessage(with(path_max + "p", "t"), all).ok());
  // Even when paths are not kept, an oversize one is refused (validated first).
  EXPECT_FALSE(ParseWebMessage(with(path_max + "p", "t"), {}).ok());
  // A long title is cut to 1 KiB at a character boundary (2-byte characters).
  std::string long_title;
  for (int i = 0; i < 800; ++i) long_title += "\u00e4";
  s = ParseWebMessage(with("/", long_title), all);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->windows[0].title.size(), kMaxWebTitleBytes);
  EXPECT_EQ(s->windows[0].title.substr(0, 4), "\xc3\xa4\xc3\xa4");
  // A lone surrogate (ill-formed UTF-16; the extension sends well-formed
  // titles) refuses the message.
  EXPECT_FALSE(ParseWebMessage(with("/", "a\\ud800b"), all).ok());
  // The combined detail stays within the title limit.
  s = ParseWebMessage(with(path_max, long_title), all);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_LE(WebPageDetail(s->windows[0]).size(), kMaxWebTitleBytes);
  EXPECT_EQ(WebPageDetail(s->windows[0]).substr(0, 10), path_max.substr(0, 10));
}

TEST(WebMessageTest, WebDetailOption) {
  EXPECT_EQ(*ParseWebDetailPolicy("origin"), (WebDetailPolicy{}));
  EXPECT_EQ(*ParseWebDetailPolicy("path"), (WebDetailPolicy{.path = true, .title = false}));
  EXPECT_EQ(*ParseWebDetailPolicy("title"), (WebDetailPolicy{.path = false, .title = true}));
  EXPECT_EQ(*ParseWebDetailPolicy("path+title"), (WebDetailPolicy{.path = true, .title = true}));
  for (const char* bad : {"", "url", "all", "Path", "title+path"}) {
    EXPECT_EQ(ParseWebDetailPolicy(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(WebMessageTest, OriginSyntax) {
  for (const char* good : {"https://a.b", "http://localhost", "https://x-y.example.test:443",
                           "https://a.example.com.", "http://10.0.0.1:1", "https://[fe80::1]",
                           "https://under_score.example"}) {
    EXPECT_TRUE(OriginHost(good).ok()) << good;
  }
  for (const char* bad :
       {"", "https://", "ftp://a.b", "file:///etc/passwd", "chrome://newtab", "javascript:x",
        "https://a.b/path", "https://a.b?q", "https://a.b#f", "https://user@a.b",
        "https://a.b:0", "https://a.b:65536", "https://a.b:", "https://a.b:12a",
        "https://-a.b", "https://a-.b", "https://a..b", "https://a b", "https://ä.de",
        "https://[::1", "https://[zz::1]", "HTTPS://a.b", "https://a.b:443:1",
        "https://a.b\n", "https://a.b%2f"}) {
    EXPECT_FALSE(OriginHost(bad).ok()) << bad;
  }
  EXPECT_FALSE(OriginHost("https://" + std::string(64, 'a') + ".b").ok());  // label > 63
  std::string long_host;
  for (int i = 0; i < 60; ++i) long_host += "abcd.";
  EXPECT_FALSE(OriginHost("https://" + long_host + "x").ok());  // > 253
}

TEST(WebMessageTest, RefusesMalformedAndHostileInput) {
  const std::string cases[] = {
      "",
      "null",
      "[]",
      "42",
      "\"state\"",
      "{",
      "{\"v\":1,\"type\":\"state\",\"focused\":1,\"windows\":[]",  // truncated
      R"({"type":"state","focused":1,"windows":[]})",             // no version
      R"({"v":2,"type":"state","focused":1,"windows":[]})",
      R"({"v":"1","type":"state","focused":1,"windows":[]})",
      R"({"v":1,"type":"hello","focused":1,"windows":[]})",
      R"({"v":1,"type":"state","windows":[]})",
      R"({"v":1,"type":"state","focused":"1","windows":[]})",
      R"({"v":1,"type":"state","focused":1.5,"windows":[]})",
      R"({"v":1,"type":"state","focused":-2,"windows":[]})",
      R"({"v":1,"type":"state","focused":1e300,"windows":[]})",
      R"({"v":1,"type":"state","focused":99999999999,"windows":[]})",
      R"({"v":1,"type":"state","focused":1,"windows":{}})",
      R"({"v":1,"type":"state","focused":1,"windows":[], "url":"https://a.b/secret"})",
      State(R"(1)"),
      State(R"({"id":1})"),
      State(R"({"origin":"https://a.b"})"),
      State(R"({"id":-1,"origin":"https://a.b"})"),
      State(R"({"id":1,"origin":"https://a.b","url":"https://a.b/secret"})"),
      State(R"({"id":1,"origin":"https://a.b","title":42})"),
      State(R"({"id":1,"origin":"https://a.b","title":["x"]})"),
      State(R"({"id":1,"origin":"https://a.b","path":"secret"})"),            // not absolute
      State(R"({"id":1,"origin":"https://a.b","path":"/secret?q=1"})"),       // query
      State(R"({"id":1,"origin":"https://a.b","path":"/secret#f"})"),         // fragment
      State(R"({"id":1,"origin":"https://a.b","path":"/a secret"})"),         // not encoded
      State(R"({"id":1,"origin":"https://a.b","path":"/secret/ä"})"),    // not encoded
      State(R"({"id":1,"origin":"https://a.b","path":{"secret":1}})"),
      State(R"({"id":1,"origin":42})"),
      State(R"({"id":1,"origin":["https://a.b"]})"),
      State(R"({"id":1,"origin":"https://a.b/path?q=1"})"),
      State(R"({"id":1,"origin":"https://a.b"},{"id":1,"origin":"https://c.d"})"),
      State(R"({"id":1,"origin":"https://a\u0000.b"})"),
      State("{\"id\":1,\"origin\":\"https://a.b\xff\"}"),  // invalid UTF-8
      std::string(100, '[') + std::string(100, ']'),        // nesting
      std::string(5000, '{'),
      std::string("{\"v\":1\0,\"type\":\"state\"}", 24),     // embedded NUL
  };
  for (const std::string& c : cases) {
    absl::StatusOr<WebBrowserState> s = ParseWebMessage(c);
    EXPECT_FALSE(s.ok()) << c;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c;
      // The error never echoes the input.
      EXPECT_EQ(std::string(s.status().message()).find("secret"), std::string::npos);
    }
  }
}

TEST(WebMessageTest, SizeLimits) {
  // Too many windows.
  std::string many;
  for (size_t i = 0; i <= kMaxWebWindows; ++i) {
    many += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(i) + R"(,"origin":null})";
  }
  EXPECT_FALSE(ParseWebMessage(State(many)).ok());
  // Oversize, even if well-formed (padding inside a string).
  std::string big = State(R"({"id":1,"origin":null})");
  big.insert(1, "\"pad\":\"" + std::string(kMaxWebMessageBytes, 'x') + "\",");
  absl::StatusOr<WebBrowserState> s = ParseWebMessage(big);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("bytes"), std::string::npos);
  // The largest legal state fits in the limit.
  std::string full;
  const std::string host = "https://" + std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                           std::string(63, 'c') + "." + std::string(61, 'd') + ":65535";
  for (size_t i = 0; i < kMaxWebWindows; ++i) {
    full += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(2147483000 + i) +
            R"(,"origin":")" + host + "\"}";
  }
  EXPECT_TRUE(ParseWebMessage(State(full, "2147483000")).ok());
}

nlohmann::json ReadJson(const std::string& relative) {
  std::ifstream f(std::string(RECLAIM_SOURCE_DIR) + "/" + relative);
  EXPECT_TRUE(f) << relative;
  std::stringstream text;
  text << f.rdbuf();
  return nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
}

// The extension's managed-storage schema (the administrator's page-detail
// settings) is valid JSON, declared by the manifest, and the policy templates
// set both settings to false (origin only) under the browsers' "3rdparty" keys.
TEST(ExtensionFilesTest, ManagedSchemaIsDeclaredAndOffByDefault) {
  nlohmann::json manifest = ReadJson("agent/browser/extension/manifest.json");
  ASSERT_TRUE(manifest.is_object());
  ASSERT_TRUE(manifest.contains("storage"));
  const std::string schema_file = manifest["storage"].value("managed_schema", "");
  EXPECT_EQ(schema_file, "managed_schema.json");
  EXPECT_NE(std::find(manifest["permissions"].begin(), manifest["permissions"].end(), "storage"),
            manifest["permissions"].end());
  nlohmann::json schema = ReadJson("agent/browser/extension/" + schema_file);
  ASSERT_TRUE(schema.is_object());
  EXPECT_EQ(schema.value("type", ""), "object");
  ASSERT_TRUE(schema["properties"].is_object());
  EXPECT_EQ(schema["properties"].size(), 2u);
  for (const char* key : {"sendPath", "sendTitle"}) {
    EXPECT_EQ(schema["properties"][key].value("type", ""), "boolean") << key;
    EXPECT_FALSE(schema["properties"][key].value("description", "").empty()) << key;
  }
  nlohmann::json chromium = ReadJson("deploy/browser/chromium-policy.json.in");
  ASSERT_TRUE(chromium.is_object());
  nlohmann::json& c = chromium["3rdparty"]["extensions"]["@CHROMIUM_ID@"];
  EXPECT_EQ(c, (nlohmann::json{{"sendPath", false}, {"sendTitle", false}}));
  nlohmann::json firefox = ReadJson("deploy/browser/firefox-policies.json.in");
  ASSERT_TRUE(firefox.is_object());
  nlohmann::json& f = firefox["policies"]["3rdparty"]["Extensions"]["@FIREFOX_ID@"];
  EXPECT_EQ(f, (nlohmann::json{{"sendPath", false}, {"sendTitle", false}}));
}

TEST(FrameReaderTest, SplitsFramesAcrossReads) {
  FrameReader r(100, 1000);
  const std::string stream = EncodeFrame("first") + EncodeFrame("") + EncodeFrame("third");
  std::vector<std::string> got;
  for (char c : stream) {  // one byte at a time
    r.Feed(absl::string_view(&c, 1));
    std::optional<std::string> f;
    ASSERT_TRUE(r.Next(&f).ok());
    while (f) {
      got.push_back(*f);
      ASSERT_TRUE(r.Next(&f).ok());
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"first", "", "third"}));
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameReaderTest, SkipsOversizeFramesAndFailsOnUnframedStreams) {
  FrameReader r(10, 1000);
  r.Feed(EncodeFrame(std::string(500, 'x')) + EncodeFrame("ok"));
  std::optional<std::string> f;
  ASSERT_TRUE(r.Next(&f).ok());
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, "ok");
  EXPECT_EQ(r.stats().oversize, 1u);
  // A length of 2 GB: not framed.
  r.Feed("\xff\xff\xff\x7f{}");
  EXPECT_EQ(r.Next(&f).code(), absl::StatusCode::kDataLoss);
  r.Feed(EncodeFrame("late"));
  EXPECT_FALSE(r.Next(&f).ok());  // stays failed
}

TEST(SocketPathTest, Defaults) {
  EXPECT_EQ(DefaultBrowserSocketPath("/x/s", "/run/user/5", 5), "/x/s");
  EXPECT_EQ(DefaultBrowserSocketPath("", "/run/user/5", 5), "/run/user/5/reclaim/browser.sock");
  EXPECT_EQ(DefaultBrowserSocketPath("", "", 5), "/tmp/reclaim-5/browser.sock");
}

// The one choice between the platforms' defaults (browser_address.h); the
// pipe's name and DACL are checked against Win32 under Wine
// (tests/windows/browser_pipe_windows_test.cc).
TEST(SocketPathTest, DefaultAddressPerPlatform) {
  const std::string sid = "S-1-5-21-1004336348-1177238915-682003330-512";
  EXPECT_EQ(DefaultBrowserAddress("/x/s", "/run/user/5", 5, sid), "/x/s");
  EXPECT_EQ(DefaultBrowserAddress("", "/run/user/5", 5, ""), "/run/user/5/reclaim/browser.sock");
  EXPECT_EQ(DefaultBrowserAddress("", "", 5, ""), "/tmp/reclaim-5/browser.sock");
  EXPECT_EQ(DefaultBrowserAddress("", "", 0, sid), "\\\\.\\pipe\\reclaim-browser-" + sid);
}

}  // namespace
}  // namespace reclaim::agent
