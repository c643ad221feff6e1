// LdapConnectorOptions: validation by Create and reading from config
// settings. No directory needed.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "collector/connectors/ldap/ldap_connector.h"
#include "tests/testing/test_secrets.h"

namespace reclaim::collector {
namespace {

TEST(LdapConnectorOptionsTest, InvalidOptionsAreRejected) {
  LdapConnectorOptions good;
  good.uri = "ldaps://dc1.example.com";
  good.bind_dn = "svc@example.com";
  good.password_env = "X";
  EXPECT_TRUE(LdapConnector::Create(good).ok());
  auto bad = [&](auto mutate) {
    LdapConnectorOptions o = good;
    mutate(o);
    return LdapConnector::Create(o).status().code();
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(bad([](auto& o) { o.uri.clear(); }), kInvalid);
  EXPECT_EQ(bad([](auto& o) { o.uri = "http://dc1"; }), kInvalid);
  EXPECT_EQ(bad([](auto& o) { o.uri = "ldapi:///"; }), kInvalid);
  EXPECT_EQ(bad([](auto& o) { o.uri = "ldaps://a ldaps://b"; }), kInvalid);
  EXPECT_EQ(bad([](auto& o) { o.bind_dn.clear(); }), kInvalid);
  EXPECT_EQ(bad([](auto& o) { o.password_file = "/x"; }), kInvalid);  // both set
  EXPECT_EQ(bad([](auto& o) { o.password_env.clear(); }), kInvalid);  // neither
  EXPECT_EQ(bad([](auto& o) { o.member_range_size = 0; }), kInvalid);
  EXPECT_EQ(bad([](auto& o) { o.operation_timeout = absl::ZeroDuration(); }), kInvalid);
}

TEST(LdapConnectorOptionsTest, FromSettings) {
  auto o = LdapConnectorOptionsFromSettings({{"url", "ldaps://dc1.example.com"},
                                             {"ca_file", "/etc/reclaim/ad-ca.pem"},
                                             {"bind_dn", "svc-reclaim@example.com"},
                                             {"password_file", "/etc/reclaim/ad.pw"},
                                             {"base_dn", "DC=example,DC=com"},
                                             {"netbios_domain", "EXAMPLE"},
                                             {"network_timeout", "5"},
                                             {"operation_timeout", "1m"},
                                             {"member_range_size", "1000"},
                                             {"allow_plaintext", "false"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->uri, "ldaps://dc1.example.com");
  EXPECT_EQ(o->ca_file, "/etc/reclaim/ad-ca.pem");
  EXPECT_EQ(o->bind_dn, "svc-reclaim@example.com");
  EXPECT_EQ(o->password_file, "/etc/reclaim/ad.pw");
  EXPECT_EQ(o->base_dn, "DC=example,DC=com");
  EXPECT_EQ(o->netbios_domain, "EXAMPLE");
  EXPECT_EQ(o->network_timeout, absl::Seconds(5));
  EXPECT_EQ(o->operation_timeout, absl::Minutes(1));
  EXPECT_EQ(o->member_range_size, 1000);
  EXPECT_FALSE(o->allow_plaintext);
  EXPECT_EQ(o->page_size, 500);  // default kept
  EXPECT_TRUE(LdapConnector::Create(*o).ok());
}

TEST(LdapConnectorOptionsTest, FromSettingsRefusesUnknownKeysAndBadValues) {
  auto unknown = LdapConnectorOptionsFromSettings({{"password", reclaim::testing::TestSecret("inline-password")}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "unknown setting 'password'"));
  EXPECT_FALSE(absl::StrContains(unknown.status().message(), reclaim::testing::kTestSecretMarker));
  EXPECT_FALSE(LdapConnectorOptionsFromSettings({{"allow_plaintext", "yes"}}).ok());
  EXPECT_FALSE(LdapConnectorOptionsFromSettings({{"network_timeout", "soon"}}).ok());
  EXPECT_FALSE(LdapConnectorOptionsFromSettings({{"page_size", "many"}}).ok());
}

}  // namespace
}  // namespace reclaim::collector
