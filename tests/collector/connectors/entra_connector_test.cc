// The Entra connector against a local fake Microsoft Graph (entra_fake_graph.h):
// token cache and refresh, paging, removal/restore requests exactly as sent,
// refused group kinds, throttling (Retry-After fractional / integer /
// missing, 503, across requests), 404/403/400 mapping, replication delay,
// options. Time is a ManualClock moved by the connector's sleeper: no test
// sleeps for real.
#include "collector/connectors/entra/entra_connector.h"
#include "collector/connectors/entra/graph_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>

#include "absl/strings/str_split.h"
#include "tests/collector/connectors/entra_test_support.h"

namespace reclaim::collector {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeGraph;
using testing::FakeGraphGroup;
using testing::FakeGraphUser;
using testing::FakeGuid;
using testing::GraphFault;
using testing::GraphRequestLog;

const std::string kGroup = FakeGuid(1, 0x6);

class EntraConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 250; ++i) {
      graph_.AddUser({.id = FakeGuid(i, 0x5),
                      .upn = "user" + std::to_string(i) + "@example.com",
                      .display_name = "User " + std::to_string(i),
                      .sam = "user" + std::to_string(i),
                      .domain = "example.com",
                      .enabled = i % 7 != 0});
    }
    FakeGraphGroup g{.id = kGroup, .display_name = "Visio Users"};
    for (int i = 0; i < 250; ++i) g.members.push_back(FakeGuid(i, 0x5));
    graph_.AddGroup(g);
    secret_file_ = testing::WriteSecret(dir_, "secret", testing::kFakeGraphClientSecret);
    conn_ = Make(testing::FakeGraphOptions(graph_, secret_file_));
  }

  std::unique_ptr<EntraConnector> Make(EntraConnectorOptions o) {
    auto c = EntraConnector::Create(std::move(o), entra::MakeCurlHttpClient({}), clock_, sleeper_,
                                    /*backoff_seed=*/42);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  DirectoryUser User(int i) {
    DirectoryUser u;
    u.object_id = FakeGuid(i, 0x5);
    u.upn = "user" + std::to_string(i) + "@example.com";
    return u;
  }
  AuthorizationGroup Group(const std::string& id = kGroup) {
    AuthorizationGroup g;
    g.object_id = id;
    g.display_name = "Visio Users";
    return g;
  }

  // "METHOD target" of Graph requests (token requests excluded).
  std::vector<std::string> Sent() {
    std::vector<std::string> out;
    for (const GraphRequestLog& r : graph_.Requests()) {
      if (r.path.find("/oauth2/") != std::string::npos) continue;
      out.push_back(r.method + " " + r.path);
    }
    return out;
  }

  void ExpectNoDangerousDelete() {
    for (const GraphRequestLog& r : graph_.Requests()) {
      if (r.method != "DELETE") continue;
      EXPECT_THAT(r.path, AllOf(::testing::EndsWith("/$ref"), Not(HasSubstr("/users/"))));
    }
  }

  testing::TempDir dir_;
  ManualClock clock_{MonoTime{1000000}, 1796000000000};
  testing::ClockSleeper sleeper_{clock_};
  FakeGraph graph_{clock_};
  std::string secret_file_;
  std::unique_ptr<EntraConnector> conn_;
};

TEST_F(EntraConnectorTest, ClientCredentialsTokenIsCachedAndRefreshedBeforeExpiry) {
  ASSERT_TRUE(conn_->FindUser("user1@example.com", "").ok());
  ASSERT_TRUE(conn_->FindUser("user2@example.com", "").ok());
  EXPECT_EQ(graph_.token_requests(), 1);
  const auto form = graph_.last_token_form();
  EXPECT_EQ(form.at("grant_type"), "client_credentials");
  EXPECT_EQ(form.at("client_id"), "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  EXPECT_EQ(form.at("client_secret"), testing::kFakeGraphClientSecret);  // trailing newline stripped
  EXPECT_EQ(form.at("scope"), graph_.url() + "/.default");
  // 3599 s lifetime, refreshed 5 min before: still cached at +54 min.
  clock_.Advance(std::chrono::minutes(54));
  ASSERT_TRUE(conn_->FindUser("user3@example.com", "").ok());
  EXPECT_EQ(graph_.token_requests(), 1);
  clock_.Advance(std::chrono::minutes(1));
  ASSERT_TRUE(conn_->FindUser("user4@example.com", "").ok());
  EXPECT_EQ(graph_.token_requests(), 2);
  // Every Graph request carried a bearer token.
  for (const GraphRequestLog& r : graph_.Requests()) EXPECT_EQ(r.status, 200) << r.target;
}

TEST_F(EntraConnectorTest, ExpiredTokenIsRefreshedOnceOn401) {
  ASSERT_TRUE(conn_->FindUser("user1@example.com", "").ok());
  graph_.ExpireTokens();  // revoked / expired early: Graph answers 401
  graph_.ClearRequests();
  auto u = conn_->FindUser("user2@example.com", "");
  ASSERT_TRUE(u.ok()) << u.status();
  std::vector<std::string> seen;
  for (const GraphRequestLog& r : graph_.Requests()) {
    seen.push_back(r.method + " " + std::to_string(r.status) + (r.path.find("oauth2") != std::string::npos ? " token" : " graph"));
  }
  EXPECT_THAT(seen, ElementsAre("GET 401 graph", "POST 200 token", "GET 200 graph"));
  // A token refused again after the refresh: kUnauthenticated, one refresh only.
  graph_.AddFault({.method = "GET", .path_contains = "/users/", .status = 401,
                   .code = "InvalidAuthenticationToken", .message = "Access token validation failure.",
                   .times = 5});
  const int tokens_before = graph_.token_requests();
  auto bad = conn_->FindUser("user3@example.com", "");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnauthenticated) << bad.status();
  EXPECT_EQ(graph_.token_requests(), tokens_before + 1);
}

TEST_F(EntraConnectorTest, WrongSecretIsUnauthenticatedWithoutTheSecretInTheMessage) {
  graph_.SetSecret(::reclaim::testing::TestSecret("another-secret"));
  auto u = conn_->FindUser("user1@example.com", "");
  EXPECT_EQ(u.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(u.status().message(), HasSubstr("AADSTS7000215"));
  EXPECT_THAT(u.status().message(), Not(HasSubstr(::reclaim::testing::kTestSecretMarker)));
}

TEST_F(EntraConnectorTest, SecretFileReadableByOthersIsRefused) {
  auto o = testing::FakeGraphOptions(graph_, testing::WriteSecret(dir_, "open", "x", 0644));
  auto c = Make(o);
  auto u = c->FindUser("user1@example.com", "");
  EXPECT_EQ(u.status().code(), absl::StatusCode::kFailedPrecondition) << u.status();
  EXPECT_EQ(graph_.token_requests(), 0);
}

TEST_F(EntraConnectorTest, SecretFromEnvironment) {
  auto o = testing::FakeGraphOptions(graph_, "");
  o.client_secret_env = "RECLAIM_TEST_ENTRA_SECRET";
  ::setenv("RECLAIM_TEST_ENTRA_SECRET", testing::kFakeGraphClientSecret.c_str(), 1);
  auto c = Make(o);
  EXPECT_TRUE(c->FindUser("user1@example.com", "").ok());
  ::unsetenv("RECLAIM_TEST_ENTRA_SECRET");
}

TEST_F(EntraConnectorTest, ListMembersFollowsNextLinkOverThreePages) {
  auto g = conn_->GetGroup("Visio Users");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->object_id, kGroup);
  graph_.ClearRequests();
  auto members = conn_->ListMembers(*g);
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 250u);
  const std::vector<GraphRequestLog> reqs = graph_.Requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_THAT(reqs[0].target, HasSubstr("$top=100"));
  EXPECT_THAT(reqs[1].target, HasSubstr("$skiptoken=100"));
  EXPECT_THAT(reqs[2].target, HasSubstr("$skiptoken=200"));
  int disabled = 0;
  for (const GroupMember& m : *members) {
    EXPECT_EQ(m.kind, MembershipKind::kDirect);
    EXPECT_FALSE(m.user.upn.empty());
    EXPECT_FALSE(m.user.object_id.empty());
    disabled += !m.user.enabled;
  }
  EXPECT_EQ(disabled, 36);  // i % 7 == 0 for 0..249
}

TEST_F(EntraConnectorTest, FindUserByUpnAndBySamAccountName) {
  auto u = conn_->FindUser("user5@example.com", "");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->object_id, FakeGuid(5, 0x5));
  EXPECT_EQ(u->sam_account_name, "user5");
  auto s = conn_->FindUser("user6", "EXAMPLE");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->upn, "user6@example.com");
  EXPECT_EQ(conn_->FindUser("nobody@example.com", "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EntraConnectorTest, RemovalIsDeleteOfTheMemberRefAndRestoreIsPostOfTheOdataId) {
  auto g = conn_->GetGroup(kGroup);
  ASSERT_TRUE(g.ok());
  graph_.ClearRequests();
  auto r = conn_->RemoveMember(*g, User(3));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, ChangeOutcome::kRemoved);
  const std::string ref = "/v1.0/groups/" + kGroup + "/members/" + FakeGuid(3, 0x5) + "/$ref";
  EXPECT_EQ(r->request, "DELETE " + graph_.url() + ref);
  EXPECT_THAT(Sent(), ElementsAre("DELETE " + ref));
  EXPECT_EQ(graph_.Members(kGroup).size(), 249u);

  graph_.ClearRequests();
  auto a = conn_->AddMember(*g, User(3));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->outcome, ChangeOutcome::kAdded);
  const auto reqs = graph_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/v1.0/groups/" + kGroup + "/members/$ref");
  EXPECT_EQ(nlohmann::json::parse(reqs[0].body),
            nlohmann::json({{"@odata.id", graph_.url() + "/v1.0/directoryObjects/" + FakeGuid(3, 0x5)}}));
  EXPECT_EQ(graph_.Members(kGroup).size(), 250u);
  // Again: already a member (Graph's 400 "already exist").
  auto again = conn_->AddMember(*g, User(3));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome, ChangeOutcome::kAlreadyMember);
  ExpectNoDangerousDelete();
}

TEST_F(EntraConnectorTest, RefusedGroupKindsAreClearErrorsBeforeAnyChange) {
  struct Case {
    FakeGraphGroup group;
    const char* want;
  } cases[] = {
      {{.id = FakeGuid(10, 6), .display_name = "Dyn", .group_types = {"DynamicMembership"},
        .membership_rule = "user.department -eq \"Sales\""},
       "dynamic membership"},
      {{.id = FakeGuid(11, 6), .display_name = "Synced", .on_prem_sync = true},
       "synced from on-premises Active Directory"},
      {{.id = FakeGuid(12, 6), .display_name = "MailSec", .mail_enabled = true},
       "mail-enabled security group"},
      {{.id = FakeGuid(13, 6), .display_name = "DL", .mail_enabled = true, .security_enabled = false},
       "distribution list"},
      {{.id = FakeGuid(14, 6), .display_name = "Admins", .role_assignable = true},
       "role-assignable"},
  };
  for (Case& c : cases) {
    c.group.members = {FakeGuid(1, 5)};
    graph_.AddGroup(c.group);
    auto by_id = conn_->GetGroup(c.group.id);
    EXPECT_EQ(by_id.status().code(), absl::StatusCode::kFailedPrecondition) << c.group.display_name;
    EXPECT_THAT(by_id.status().message(), HasSubstr(c.want));
    auto by_name = conn_->GetGroup(c.group.display_name);
    EXPECT_EQ(by_name.status().code(), absl::StatusCode::kFailedPrecondition);
    // Even handed a group directly (e.g. its kind changed after the policy
    // was created), a fresh connector reads the kind before changing it.
    auto fresh = Make(testing::FakeGraphOptions(graph_, secret_file_));
    auto rm = fresh->RemoveMember(Group(c.group.id), User(1));
    EXPECT_EQ(rm.status().code(), absl::StatusCode::kFailedPrecondition) << c.group.display_name;
    auto add = fresh->AddMember(Group(c.group.id), User(2));
    EXPECT_EQ(add.status().code(), absl::StatusCode::kFailedPrecondition);
  }
  // A Microsoft 365 group (mail-enabled, Unified) is allowed.
  graph_.AddGroup({.id = FakeGuid(15, 6), .display_name = "Team", .group_types = {"Unified"},
                   .mail_enabled = true});
  EXPECT_TRUE(conn_->GetGroup(FakeGuid(15, 6)).ok());
  for (const GraphRequestLog& r : graph_.Requests()) {
    EXPECT_NE(r.method, "DELETE") << r.target;
    if (r.path.find("oauth2") == std::string::npos) {
      EXPECT_NE(r.method, "POST") << r.target;
    }
  }
}

TEST_F(EntraConnectorTest, ThrottlingHonoursRetryAfterFractionalIntegerAndMissing) {
  auto g = conn_->GetGroup(kGroup);
  ASSERT_TRUE(g.ok());
  const std::string del = "/members/" + FakeGuid(7, 5);
  graph_.AddFault({.method = "DELETE", .path_contains = del, .status = 429, .retry_after = "0.249"});
  graph_.AddFault({.method = "DELETE", .path_contains = del, .status = 429, .retry_after = "2"});
  graph_.AddFault({.method = "DELETE", .path_contains = del, .status = 429});
  graph_.AddFault({.method = "DELETE", .path_contains = del, .status = 503, .code = "ServiceUnavailable"});
  graph_.AddFault({.method = "DELETE", .path_contains = del, .status = 504, .retry_after = "1",
                   .code = "GatewayTimeout"});
  graph_.ClearRequests();
  sleeper_.clear();
  auto r = conn_->RemoveMember(*g, User(7));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, ChangeOutcome::kRemoved);
  const auto sleeps = sleeper_.sleeps();
  ASSERT_EQ(sleeps.size(), 5u);
  EXPECT_EQ(sleeps[0], 249);
  EXPECT_EQ(sleeps[1], 2000);
  // Missing Retry-After: full-jitter backoff, [initial/2, initial * 2^n].
  EXPECT_GE(sleeps[2], 500);
  EXPECT_LE(sleeps[2], 1000);
  EXPECT_GE(sleeps[3], 500);
  EXPECT_LE(sleeps[3], 2000);
  EXPECT_EQ(sleeps[4], 1000);
  // The fake saw the retries exactly that far apart.
  const auto reqs = graph_.Requests();
  ASSERT_EQ(reqs.size(), 6u);
  for (size_t i = 1; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i].mono_ms - reqs[i - 1].mono_ms, sleeps[i - 1]) << i;
    EXPECT_EQ(reqs[i].method, "DELETE");
  }
  EXPECT_EQ(conn_->stats().throttled, 5);
  ExpectNoDangerousDelete();
}

TEST_F(EntraConnectorTest, RetryAfterSlowsDownLaterRequestsAndRetriesAreBounded) {
  auto o = testing::FakeGraphOptions(graph_, secret_file_);
  o.max_retries = 2;
  auto c = Make(o);
  auto g = c->GetGroup(kGroup);
  ASSERT_TRUE(g.ok());
  // The pause asked for by a 429 delays the connector's next request too.
  graph_.AddFault({.method = "DELETE", .status = 429, .retry_after = "3"});
  graph_.ClearRequests();
  ASSERT_TRUE(c->RemoveMember(*g, User(1)).ok());
  ASSERT_TRUE(c->RemoveMember(*g, User(2)).ok());
  auto reqs = graph_.Requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].mono_ms - reqs[0].mono_ms, 3000);
  // Throttled past max_retries: kUnavailable (a directory-wide error that
  // ends the run, leaving the rest untouched), the membership unchanged.
  graph_.AddFault({.method = "DELETE", .status = 429, .retry_after = "1", .times = 3});
  auto r = c->RemoveMember(*g, User(4));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("after 2 retries"));
  EXPECT_EQ(graph_.Members(kGroup).size(), 248u);
}

TEST_F(EntraConnectorTest, NotFoundOnRemovalChecksTheGroup) {
  auto g = conn_->GetGroup(kGroup);
  ASSERT_TRUE(g.ok());
  graph_.AddUser({.id = FakeGuid(900, 5), .upn = "outsider@example.com"});
  graph_.ClearRequests();
  auto r = conn_->RemoveMember(*g, User(900));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, ChangeOutcome::kAlreadyRemoved);
  EXPECT_THAT(Sent(), ElementsAre("DELETE /v1.0/groups/" + kGroup + "/members/" + FakeGuid(900, 5) + "/$ref",
                                  "GET /v1.0/groups/" + kGroup));
  // The group is gone: an error, not a success.
  graph_.RemoveGroup(kGroup);
  auto gone = conn_->RemoveMember(*g, User(5));
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound) << gone.status();
  EXPECT_THAT(gone.status().message(), HasSubstr("no longer exists"));
}

TEST_F(EntraConnectorTest, ForbiddenNamesTheGraphPermissionAndBadRequestCarriesGraphsMessage) {
  auto g = conn_->GetGroup(kGroup);
  ASSERT_TRUE(g.ok());
  graph_.AddFault({.method = "DELETE", .status = 403, .code = "Authorization_RequestDenied",
                   .message = "Insufficient privileges to complete the operation."});
  auto r = conn_->RemoveMember(*g, User(1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr("GroupMember.ReadWrite.All"), HasSubstr("Insufficient privileges")));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("tok-")));
  graph_.AddFault({.method = "DELETE", .status = 400, .code = "Request_BadRequest",
                   .message = "Invalid object identifier 'x'."});
  auto b = conn_->RemoveMember(*g, User(1));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(b.status().message(), HasSubstr("Invalid object identifier 'x'."));
  // Not-GUID ids never reach a URL.
  DirectoryUser odd;
  odd.object_id = "../../users/" + FakeGuid(1, 5);
  EXPECT_EQ(conn_->RemoveMember(*g, odd).status().code(), absl::StatusCode::kInvalidArgument);
  ExpectNoDangerousDelete();
}

TEST_F(EntraConnectorTest, MemberStillListedAfterRemovalIsNeitherAFailureNorRemovedAgain) {
  graph_.SetSticky(FakeGuid(8, 5));
  auto g = conn_->GetGroup(kGroup);
  ASSERT_TRUE(g.ok());
  auto r = conn_->RemoveMember(*g, User(8));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, ChangeOutcome::kRemoved);
  // The same connector (one run) omits it from listings and sends nothing again.
  auto members = conn_->ListMembers(*g);
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(members->size(), 249u);
  graph_.ClearRequests();
  auto again = conn_->RemoveMember(*g, User(8));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, ChangeOutcome::kAlreadyRemoved);
  EXPECT_TRUE(Sent().empty());
  // A later run still sees it listed; its removal is "already removed".
  auto later = Make(testing::FakeGraphOptions(graph_, secret_file_));
  auto listed = later->ListMembers(*g);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 250u);
  auto r2 = later->RemoveMember(*g, User(8));
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->outcome, ChangeOutcome::kAlreadyRemoved);
}

TEST_F(EntraConnectorTest, CertificateCredentialsSendASignedClientAssertion) {
  const std::string key = dir_.File("key.pem"), cert = dir_.File("cert.pem");
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " +
                          cert + " -days 1 -subj /CN=reclaim-test 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl CLI (deploy/install-deps.sh)";
  ::chmod(key.c_str(), 0600);
  ::chmod(cert.c_str(), 0600);
  auto o = testing::FakeGraphOptions(graph_, "");
  o.certificate_file = cert;
  o.private_key_file = key;
  auto c = Make(o);
  ASSERT_TRUE(c->FindUser("user1@example.com", "").ok());
  const auto form = graph_.last_token_form();
  EXPECT_EQ(form.at("client_assertion_type"),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  EXPECT_FALSE(form.contains("client_secret"));
  std::vector<std::string> parts = absl::StrSplit(form.at("client_assertion"), '.');
  ASSERT_EQ(parts.size(), 3u);
  // Verify the RS256 signature with the certificate's public key.
  auto b64 = [](std::string s) {
    for (char& ch : s) ch = ch == '-' ? '+' : ch == '_' ? '/' : ch;
    while (s.size() % 4) s.push_back('=');
    std::string out(s.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
    out.resize(static_cast<size_t>(n) - (s.size() - s.find_last_not_of('=') - 1));
    return out;
  };
  const auto header = nlohmann::json::parse(b64(parts[0]));
  const auto claims = nlohmann::json::parse(b64(parts[1]));
  EXPECT_EQ(header["alg"], "RS256");
  EXPECT_TRUE(header.contains("x5t#S256"));
  EXPECT_EQ(claims["aud"], graph_.url() + "/" + FakeGraph::kTenant + "/oauth2/v2.0/token");
  EXPECT_EQ(claims["iss"], o.client_id);
  EXPECT_EQ(claims["sub"], o.client_id);
  FILE* f = std::fopen(cert.c_str(), "r");
  ASSERT_NE(f, nullptr);
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ASSERT_NE(x, nullptr);
  EVP_PKEY* pub = X509_get_pubkey(x);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const std::string input = parts[0] + "." + parts[1];
  const std::string sig = b64(parts[2]);
  EXPECT_EQ(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pub), 1);
  EXPECT_EQ(EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pub);
  X509_free(x);
}

TEST(EntraConnectorOptionsTest, SettingsAndValidation) {
  auto o = EntraConnectorOptionsFromSettings({{"tenant_id", "t"},
                                              {"client_id", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
                                              {"client_secret_file", "/etc/reclaim/entra.secret"},
                                              {"graph_url", "https://graph.microsoft.us"},
                                              {"max_backoff", "30s"},
                                              {"max_retries", "3"},
                                              {"allow_http", "false"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->graph_url, "https://graph.microsoft.us");
  EXPECT_EQ(o->authority_url, "https://login.microsoftonline.com");
  EXPECT_EQ(o->max_backoff, absl::Seconds(30));
  EXPECT_EQ(o->max_retries, 3);
  EXPECT_TRUE(EntraConnector::Create(*o).ok());

  auto unknown = EntraConnectorOptionsFromSettings({{"client_secret", ::reclaim::testing::TestSecret("inline")}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), AllOf(HasSubstr("client_secret_file"), Not(HasSubstr(::reclaim::testing::kTestSecretMarker))));
  EXPECT_FALSE(EntraConnectorOptionsFromSettings({{"max_retries", "x"}}).ok());
  EXPECT_FALSE(EntraConnectorOptionsFromSettings({{"allow_http", "yes"}}).ok());

  auto two = *o;
  two.client_secret_env = "X";
  EXPECT_THAT(EntraConnector::Create(two).status().message(), HasSubstr("exactly one"));
  auto http = *o;
  http.graph_url = "http://graph.example";
  EXPECT_THAT(EntraConnector::Create(http).status().message(), HasSubstr("https://"));
  auto client = *o;
  client.client_id = "my-app";
  EXPECT_FALSE(EntraConnector::Create(client).ok());
}

TEST(EntraRetryAfterTest, Parsing) {
  EXPECT_EQ(ParseRetryAfter("0.249"), std::chrono::milliseconds(249));
  EXPECT_EQ(ParseRetryAfter("2"), std::chrono::milliseconds(2000));
  EXPECT_EQ(ParseRetryAfter(" 10 "), std::chrono::milliseconds(10000));
  EXPECT_EQ(ParseRetryAfter(""), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-1"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  // Regression (tests/fuzz/corpus/graph_json_fuzzer/crash-retry-after-huge-seconds):
  // beyond int64 ms the double-to-int conversion was undefined.
  EXPECT_EQ(ParseRetryAfter("99999999999999999999"), std::chrono::milliseconds(86400000));
}

// Regression (tests/fuzz/corpus/graph_json_fuzzer/crash-token-expires-in-*):
// expires_in from the network was multiplied by 1000 unchecked (signed
// overflow) and a negative one gave a negative refresh delay.
TEST(EntraTokenResponseTest, ExpiresInIsClampedBeforeUse) {
  auto t = entra::ParseTokenResponse(R"({"access_token":"t","expires_in":9223372036854775807})");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(entra::TokenRefreshAfter(t->expires_in_s, 300000),
            std::chrono::milliseconds(entra::kMaxTokenLifetimeS * 1000 - 300000));
  t = entra::ParseTokenResponse(R"({"access_token":"t","expires_in":-1})");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(entra::TokenRefreshAfter(t->expires_in_s, 300000), std::chrono::milliseconds(0));
  t = entra::ParseTokenResponse(R"({"access_token":"t","expires_in":"3599"})");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(entra::TokenRefreshAfter(t->expires_in_s, 300000), std::chrono::milliseconds(3299000));
  EXPECT_FALSE(entra::ParseTokenResponse(R"({"expires_in":1})").has_value());
  EXPECT_FALSE(entra::ParseTokenResponse("not json").has_value());
}

}  // namespace
}  // namespace reclaim::collector
