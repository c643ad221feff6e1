// LdapConnector against a real Samba AD DC (tests/testing/samba): lookups of
// users with names that need escaping, membership (direct, nested, primary
// group, 1,600 members by ranged reads, cycles), removal and restore checked
// in the directory with ldapsearch, idempotence, and the error paths (bad
// password, unreachable directory, password file permissions, TLS with the
// right and a wrong CA, insufficient rights).
//
// The seed data is described in tests/testing/samba/seed.ldif. Tests that
// change the directory each own a group there, so they do not depend on
// their order.
#include "collector/connectors/ldap/ldap_connector.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/connectors/ldap/ad_values.h"
#include "tests/testing/samba/samba_ad.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_secrets.h"

namespace reclaim::collector {
namespace {

using ::reclaim::testing::SambaAd;
using ::reclaim::testing::SambaAdEnvironment;

const auto* const kSambaEnv = ::testing::AddGlobalTestEnvironment(new SambaAdEnvironment);

class LdapConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ad_ = SambaAdEnvironment::Get();
    ASSERT_NE(ad_, nullptr) << SambaAdEnvironment::StartError();
  }

  std::string WritePasswordFile(const std::string& password, mode_t mode = 0600) {
    const std::string path = dir_.File(absl::StrCat("password", ++files_));
    std::ofstream(path) << password << "\n";
    ::chmod(path.c_str(), mode);
    return path;
  }

  /// Options for the service account over LDAPS with the test CA.
  LdapConnectorOptions ServiceOptions() {
    LdapConnectorOptions o;
    o.uri = ad_->info().ldaps_uri;
    o.ca_file = ad_->info().ca_file;
    o.bind_dn = ad_->info().service_upn;
    o.password_file = WritePasswordFile(ad_->info().service_password);
    o.network_timeout = absl::Seconds(5);
    o.operation_timeout = absl::Seconds(30);
    return o;
  }

  std::unique_ptr<LdapConnector> Connector(LdapConnectorOptions o) {
    auto c = LdapConnector::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }
  std::unique_ptr<LdapConnector> Service() { return Connector(ServiceOptions()); }

  std::vector<std::string> DirectMembers(const std::string& group_sam) {
    auto m = ad_->DirectMemberSams(group_sam);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : std::vector<std::string>{};
  }

  SambaAd* ad_ = nullptr;
  reclaim::testing::TempDir dir_;
  int files_ = 0;
};

std::map<std::string, GroupMember> BySam(const std::vector<GroupMember>& members) {
  std::map<std::string, GroupMember> out;
  for (const auto& m : members) out[m.user.sam_account_name] = m;
  return out;
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// ------------------------------------------------------------------ lookups --

TEST_F(LdapConnectorTest, ConnectReadsBaseDnAndNetbiosDomain) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Connect().ok());
  EXPECT_EQ(c->base_dn(), "DC=example,DC=test");
  EXPECT_EQ(c->netbios_domain(), "EXAMPLE");
  EXPECT_EQ(c->kind(), "ad");
}

TEST_F(LdapConnectorTest, FindsUsersWhoseNamesNeedEscaping) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  struct Case {
    std::string login;
    std::string display_name;
  };
  const std::vector<Case> cases = {
      {"asmith", "Smith, Anna"},
      {"alee", "Anna \"Nan\" Lee"},
      {"h#tag", "#hash Tag"},
      {"cpp.dev", "C++ Dev"},
      {"semicolon", "semi;colon"},
      {"j\xc3\xbcrgen", "J\xc3\xbcrgen Gr\xc3\xb6\xc3\x9f"},
      {"zoe(ops)", "Zo\xc3\xab (Ops) *star* <x> back\\slash"},
      {"o'brien", "Sean O'Brien"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.login);
    auto u = c->FindUser(tc.login, "");
    ASSERT_TRUE(u.ok()) << u.status();
    EXPECT_EQ(u->sam_account_name, tc.login);
    EXPECT_EQ(u->display_name, tc.display_name);
    EXPECT_EQ(u->domain, "EXAMPLE");
    EXPECT_EQ(u->upn, tc.login + "@example.test");
    EXPECT_TRUE(ParseObjectGuid(u->object_id)) << u->object_id;
    EXPECT_TRUE(absl::StartsWith(u->sid, "S-1-5-21-")) << u->sid;
    // The GUID text addresses the same object on the server.
    auto ldif = ad_->AdminSearch("<GUID=" + u->object_id + ">", "(objectClass=user)", {"objectSid"},
                                 "base");
    ASSERT_TRUE(ldif.ok()) << ldif.status();
    EXPECT_EQ(ldif->rfind("dn:", 0), 0u) << *ldif;
    auto by_sid = ad_->AdminSearch("<SID=" + u->sid + ">", "(objectClass=user)", {"1.1"}, "base");
    ASSERT_TRUE(by_sid.ok()) << by_sid.status();
    EXPECT_EQ(FirstLine(*by_sid), FirstLine(*ldif));
  }
}

TEST_F(LdapConnectorTest, FindUserByUpnDomainAndDisabledFlag) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto a = c->FindUser("alice@example.test", "");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->sam_account_name, "alice");
  EXPECT_TRUE(a->enabled);
  auto b = c->FindUser("EXAMPLE\\alice", "");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->object_id, a->object_id);
  auto d = c->FindUser("alice", "example.test");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->object_id, a->object_id);
  auto carol = c->FindUser("carol", "EXAMPLE");
  ASSERT_TRUE(carol.ok()) << carol.status();
  EXPECT_FALSE(carol->enabled);
}

TEST_F(LdapConnectorTest, FilterMetacharactersAreNotWildcards) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  for (const std::string login : {"*", "zoe*", "a*", "alice)(sAMAccountName=*", "zoe\\28ops\\29"}) {
    SCOPED_TRACE(login);
    auto u = c->FindUser(login, "");
    EXPECT_EQ(u.status().code(), absl::StatusCode::kNotFound) << u.status();
  }
  EXPECT_EQ(c->FindUser("alice", "OTHERDOMAIN").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c->FindUser("", "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LdapConnectorTest, GetGroupByNameGuidSidAndDn) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Visio Users");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->display_name, "Visio Users");
  EXPECT_EQ(g->dn, "CN=Visio Users,CN=Users,DC=example,DC=test");
  // 11 users + the nested group (the primary-group member has no value).
  EXPECT_EQ(g->direct_member_count, 12);
  auto by_guid = c->GetGroup(g->object_id);
  ASSERT_TRUE(by_guid.ok()) << by_guid.status();
  EXPECT_EQ(by_guid->object_id, g->object_id);
  auto by_dn = c->GetGroup(g->dn);
  ASSERT_TRUE(by_dn.ok()) << by_dn.status();
  EXPECT_EQ(by_dn->object_id, g->object_id);

  EXPECT_EQ(c->GetGroup("No Such Group").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c->GetGroup("00000000-0000-0000-0000-000000000001").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(c->GetGroup("CN=Nope,CN=Users,DC=example,DC=test").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(c->GetGroup("Visio*").status().code(), absl::StatusCode::kNotFound);
}

// --------------------------------------------------------------- membership --

TEST_F(LdapConnectorTest, ListsDirectNestedAndPrimaryGroupMembers) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Visio Users");
  ASSERT_TRUE(g.ok()) << g.status();
  auto members = c->ListMembers(*g);
  ASSERT_TRUE(members.ok()) << members.status();
  auto m = BySam(*members);
  EXPECT_EQ(members->size(), m.size()) << "a user listed twice";

  for (const std::string sam : {"asmith", "alee", "h#tag", "cpp.dev", "semicolon", "j\xc3\xbcrgen",
                                "zoe(ops)", "o'brien", "bob", "carol"}) {
    SCOPED_TRACE(sam);
    ASSERT_EQ(m.count(sam), 1u);
    EXPECT_EQ(m[sam].kind, MembershipKind::kDirect);
    EXPECT_FALSE(m[sam].also_via_group.has_value());
    EXPECT_TRUE(ParseObjectGuid(m[sam].user.object_id));
  }
  EXPECT_EQ(m["zoe(ops)"].user.display_name, "Zo\xc3\xab (Ops) *star* <x> back\\slash");
  EXPECT_FALSE(m["carol"].user.enabled);
  // Direct and nested: kDirect with also_via_group.
  ASSERT_EQ(m.count("alice"), 1u);
  EXPECT_EQ(m["alice"].kind, MembershipKind::kDirect);
  EXPECT_EQ(m["alice"].also_via_group, "Visio Contractors");
  // Nested only; erin is two levels down.
  ASSERT_EQ(m.count("dave"), 1u);
  EXPECT_EQ(m["dave"].kind, MembershipKind::kNested);
  EXPECT_EQ(m["dave"].via_group, "Visio Contractors");
  ASSERT_EQ(m.count("erin"), 1u);
  EXPECT_EQ(m["erin"].kind, MembershipKind::kNested);
  EXPECT_EQ(m["erin"].via_group, "Visio Temps");
  // primaryGroupID = the group's RID: not in `member` at all.
  ASSERT_EQ(m.count("pgroup.user"), 1u);
  EXPECT_EQ(m["pgroup.user"].kind, MembershipKind::kPrimaryGroup);
  // Primary group is a nested group.
  ASSERT_EQ(m.count("pgnested.user"), 1u);
  EXPECT_EQ(m["pgnested.user"].kind, MembershipKind::kNested);
  EXPECT_EQ(m["pgnested.user"].via_group, "Visio Contractors");
  EXPECT_EQ(m.size(), 15u);
  EXPECT_EQ(m.count("Visio Contractors"), 0u) << "groups are expanded, not listed";
}

TEST_F(LdapConnectorTest, ListsMoreThan1500MembersByRangedReads) {
  for (int range : {1500, 250}) {
    SCOPED_TRACE(range);
    auto o = ServiceOptions();
    o.member_range_size = range;
    auto c = Connector(o);
    ASSERT_NE(c, nullptr);
    auto g = c->GetGroup("Big Group");
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_EQ(g->direct_member_count, ad_->info().big_group_size);
    auto members = c->ListMembers(*g);
    ASSERT_TRUE(members.ok()) << members.status();
    ASSERT_EQ(members->size(), static_cast<size_t>(ad_->info().big_group_size));
    std::set<std::string> sams;
    for (const auto& m : *members) {
      EXPECT_EQ(m.kind, MembershipKind::kDirect);
      sams.insert(m.user.sam_account_name);
    }
    EXPECT_EQ(sams.size(), 1600u);
    EXPECT_EQ(*sams.begin(), "big0001");
    EXPECT_EQ(*sams.rbegin(), "big1600");
  }
}

TEST_F(LdapConnectorTest, MembershipCyclesTerminate) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Cycle A");
  ASSERT_TRUE(g.ok()) << g.status();
  auto members = c->ListMembers(*g);
  ASSERT_TRUE(members.ok()) << members.status();
  auto m = BySam(*members);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m["olivia"].kind, MembershipKind::kDirect);
  EXPECT_EQ(m["mallory"].kind, MembershipKind::kNested);
  EXPECT_EQ(m["mallory"].via_group, "Cycle B");
}

// ------------------------------------------------------- removal / restore --

TEST_F(LdapConnectorTest, RemoveDeletesOneMemberValueAndIsIdempotent) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Remove Test");
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(DirectMembers("Remove Test"),
            (std::vector<std::string>{"asmith", "frank", "grace", "heidi"}));
  auto frank = c->FindUser("frank", "EXAMPLE");
  ASSERT_TRUE(frank.ok()) << frank.status();

  auto r = c->RemoveMember(*g, *frank);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, ChangeOutcome::kRemoved) << r->detail;
  EXPECT_EQ(r->request, absl::StrCat("LDAP modify <GUID=", g->object_id,
                                     ">: delete member <GUID=", frank->object_id, ">"));
  // The directory itself, asked by someone else.
  EXPECT_EQ(DirectMembers("Remove Test"), (std::vector<std::string>{"asmith", "grace", "heidi"}));

  auto again = c->RemoveMember(*g, *frank);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome, ChangeOutcome::kAlreadyRemoved) << again->detail;

  // A fresh connection agrees.
  auto fresh = Service();
  ASSERT_NE(fresh, nullptr);
  auto members = fresh->ListMembers(*g);
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(BySam(*members).count("frank"), 0u);
  EXPECT_EQ(members->size(), 3u);

  // A name full of DN metacharacters is removed by GUID just the same.
  auto anna = c->FindUser("asmith", "");
  ASSERT_TRUE(anna.ok()) << anna.status();
  auto ra = c->RemoveMember(*g, *anna);
  ASSERT_TRUE(ra.ok()) << ra.status();
  EXPECT_EQ(ra->outcome, ChangeOutcome::kRemoved) << ra->detail;
  EXPECT_EQ(DirectMembers("Remove Test"), (std::vector<std::string>{"grace", "heidi"}));
  EXPECT_STREQ(ChangeOutcomeName(ra->outcome), "removed");
}

TEST_F(LdapConnectorTest, MemberRemovedBehindOurBackIsAlreadyRemoved) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Remove Test");
  ASSERT_TRUE(g.ok()) << g.status();
  auto grace = c->FindUser("grace", "");
  ASSERT_TRUE(grace.ok()) << grace.status();
  // An administrator removes grace with ldapmodify between dry run and run.
  ASSERT_TRUE(
      ad_->AdminModify("dn: CN=Remove Test,CN=Users,DC=example,DC=test\nchangetype: modify\n"
                       "delete: member\nmember: CN=Grace Gale,CN=Users,DC=example,DC=test\n")
          .ok());
  ASSERT_FALSE(Contains(DirectMembers("Remove Test"), "grace"));
  auto r = c->RemoveMember(*g, *grace);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, ChangeOutcome::kAlreadyRemoved) << r->detail;
  EXPECT_TRUE(Contains(DirectMembers("Remove Test"), "heidi"));
}

TEST_F(LdapConnectorTest, PrimaryGroupNeedsManualActionAndNothingIsSent) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Visio Users");
  ASSERT_TRUE(g.ok()) << g.status();
  auto p = c->FindUser("pgroup.user", "");
  ASSERT_TRUE(p.ok()) << p.status();
  auto before =
      ad_->AdminSearch(ad_->info().base_dn, "(sAMAccountName=pgroup.user)", {"primaryGroupID"});
  ASSERT_TRUE(before.ok()) << before.status();
  auto r = c->RemoveMember(*g, *p);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, ChangeOutcome::kNeedsManualAction);
  EXPECT_TRUE(absl::StrContains(r->detail, "primary group")) << r->detail;
  auto after =
      ad_->AdminSearch(ad_->info().base_dn, "(sAMAccountName=pgroup.user)", {"primaryGroupID"});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *before);
  // Restoring a primary-group member changes nothing either.
  auto a = c->AddMember(*g, *p);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->outcome, ChangeOutcome::kAlreadyMember);
}

TEST_F(LdapConnectorTest, StillLicensedThroughANestedGroup) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Nested Remove Test");
  ASSERT_TRUE(g.ok()) << g.status();
  auto judy = c->FindUser("judy", "");
  ASSERT_TRUE(judy.ok()) << judy.status();
  auto r = c->RemoveMember(*g, *judy);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, ChangeOutcome::kStillLicensedThrough);
  EXPECT_TRUE(absl::StrContains(r->detail, "Nested Remove Inner")) << r->detail;
  // The direct value is gone; the nested membership is untouched.
  EXPECT_FALSE(Contains(DirectMembers("Nested Remove Test"), "judy"));
  EXPECT_TRUE(Contains(DirectMembers("Nested Remove Inner"), "judy"));
  auto again = c->RemoveMember(*g, *judy);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome, ChangeOutcome::kStillLicensedThrough);

  auto mallory = c->FindUser("mallory", "");
  ASSERT_TRUE(mallory.ok()) << mallory.status();
  auto rm = c->RemoveMember(*g, *mallory);
  ASSERT_TRUE(rm.ok()) << rm.status();
  EXPECT_EQ(rm->outcome, ChangeOutcome::kRemoved) << rm->detail;
}

TEST_F(LdapConnectorTest, RestoreAddsTheMemberBack) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Restore Test");
  ASSERT_TRUE(g.ok()) << g.status();
  for (const std::string sam : {"ivan", "j\xc3\xbcrgen"}) {
    SCOPED_TRACE(sam);
    auto u = c->FindUser(sam, "");
    ASSERT_TRUE(u.ok()) << u.status();
    auto r = c->RemoveMember(*g, *u);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->outcome, ChangeOutcome::kRemoved);
    EXPECT_FALSE(Contains(DirectMembers("Restore Test"), sam));
    auto a = c->AddMember(*g, *u);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->outcome, ChangeOutcome::kAdded) << a->detail;
    EXPECT_EQ(a->request, absl::StrCat("LDAP modify <GUID=", g->object_id,
                                       ">: add member <GUID=", u->object_id, ">"));
    EXPECT_TRUE(Contains(DirectMembers("Restore Test"), sam));
    auto again = c->AddMember(*g, *u);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->outcome, ChangeOutcome::kAlreadyMember);
  }
}

TEST_F(LdapConnectorTest, WithoutWriteRightsIsPermissionDeniedAndNothingChanges) {
  auto o = ServiceOptions();
  o.bind_dn = ad_->info().reader_upn;
  o.password_file = WritePasswordFile(ad_->info().reader_password);
  auto c = Connector(o);
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Restore Test");
  ASSERT_TRUE(g.ok()) << g.status();
  auto ivan = c->FindUser("ivan", "");
  ASSERT_TRUE(ivan.ok()) << ivan.status();
  auto r = c->RemoveMember(*g, *ivan);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_TRUE(Contains(DirectMembers("Restore Test"), "ivan"));
}

TEST_F(LdapConnectorTest, RefusesCriticalSystemGroupsAndBadReferences) {
  auto c = Service();
  ASSERT_NE(c, nullptr);
  auto g = c->GetGroup("Domain Admins");
  ASSERT_TRUE(g.ok()) << g.status();
  auto admin = c->FindUser("Administrator", "");
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ(c->RemoveMember(*g, *admin).status().code(), absl::StatusCode::kFailedPrecondition);
  DirectoryUser bad;
  bad.object_id = "CN=Administrator,CN=Users,DC=example,DC=test";
  EXPECT_EQ(c->RemoveMember(*g, bad).status().code(), absl::StatusCode::kInvalidArgument);
  DirectoryUser missing;
  missing.object_id = "00000000-0000-0000-0000-000000000001";
  auto vg = c->GetGroup("Visio Users");
  ASSERT_TRUE(vg.ok());
  EXPECT_EQ(c->RemoveMember(*vg, missing).status().code(), absl::StatusCode::kNotFound);
}

// ------------------------------------------------------- errors and TLS ----

TEST_F(LdapConnectorTest, WrongPasswordIsUnauthenticatedWithoutThePassword) {
  const std::string wrong = reclaim::testing::TestSecret("wrong-ldap-password");
  auto o = ServiceOptions();
  o.password_file = WritePasswordFile(wrong);
  auto c = Connector(o);
  ASSERT_NE(c, nullptr);
  absl::Status st = c->Connect();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "bind")) << st;
  EXPECT_FALSE(absl::StrContains(st.message(), wrong)) << st;
  EXPECT_FALSE(absl::StrContains(st.message(), ad_->info().service_password)) << st;
  // Operations report the same, not a crash or an empty result.
  EXPECT_EQ(c->FindUser("alice", "").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(LdapConnectorTest, UnreachableDirectoryIsUnavailableNamingTheUri) {
  for (const std::string uri : {"ldap://127.0.0.1:1", "ldaps://127.0.0.1:2"}) {
    SCOPED_TRACE(uri);
    auto o = ServiceOptions();
    o.uri = uri;
    o.network_timeout = absl::Seconds(2);
    auto c = Connector(o);
    ASSERT_NE(c, nullptr);
    absl::Status st = c->Connect();
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
    EXPECT_TRUE(absl::StrContains(st.message(), uri)) << st;
    auto g = c->GetGroup("Visio Users");
    EXPECT_EQ(g.status().code(), absl::StatusCode::kUnavailable) << g.status();
  }
}

TEST_F(LdapConnectorTest, HungDirectoryTimesOutThenTheConnectionIsReopened) {
  const pid_t samba = std::atoi(ad_->info().env.at("RECLAIM_AD_SAMBA_PID").c_str());
  ASSERT_GT(samba, 0);
  auto o = ServiceOptions();
  o.operation_timeout = absl::Seconds(1);
  o.network_timeout = absl::Seconds(1);
  auto c = Connector(o);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Connect().ok());
  ASSERT_EQ(::kill(samba, SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{samba};
  auto hung = c->FindUser("alice", "");
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kUnavailable) << hung.status();
  EXPECT_TRUE(absl::StrContains(hung.status().message(), ad_->info().ldaps_uri)) << hung.status();
  ::kill(samba, SIGCONT);
  auto again = c->FindUser("alice", "");
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(LdapConnectorTest, PasswordFileMustBeOwnerOnly) {
  for (mode_t mode : {0640, 0604, 0660}) {
    SCOPED_TRACE(mode);
    auto o = ServiceOptions();
    o.password_file = WritePasswordFile(ad_->info().service_password, mode);
    auto c = Connector(o);
    ASSERT_NE(c, nullptr);
    absl::Status st = c->Connect();
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
    EXPECT_TRUE(absl::StrContains(st.message(), o.password_file)) << st;
    EXPECT_TRUE(absl::StrContains(st.message(), "group or others")) << st;
    EXPECT_FALSE(absl::StrContains(st.message(), ad_->info().service_password)) << st;
  }
  auto o = ServiceOptions();
  o.password_file = dir_.File("missing");
  auto c = Connector(o);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Connect().code(), absl::StatusCode::kNotFound);
  // 0400 is fine.
  o.password_file = WritePasswordFile(ad_->info().service_password, 0400);
  c = Connector(o);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->Connect().ok());
}

TEST_F(LdapConnectorTest, PasswordFromEnvironment) {
  auto o = ServiceOptions();
  o.password_file.clear();
  o.password_env = "RECLAIM_TEST_LDAP_PASSWORD";
  ::unsetenv(o.password_env.c_str());
  auto c = Connector(o);
  ASSERT_NE(c, nullptr);
  absl::Status unset = c->Connect();
  EXPECT_EQ(unset.code(), absl::StatusCode::kFailedPrecondition) << unset;
  EXPECT_TRUE(absl::StrContains(unset.message(), "RECLAIM_TEST_LDAP_PASSWORD")) << unset;
  ::setenv(o.password_env.c_str(), ad_->info().service_password.c_str(), 1);
  EXPECT_TRUE(c->Connect().ok());
  ::unsetenv(o.password_env.c_str());
}

TEST_F(LdapConnectorTest, TlsVerifiesTheServerAgainstTheCaFile) {
  // LDAPS and StartTLS with the right CA.
  for (const std::string& uri : {ad_->info().ldaps_uri, ad_->info().ldap_uri}) {
    SCOPED_TRACE(uri);
    auto o = ServiceOptions();
    o.uri = uri;
    auto c = Connector(o);
    ASSERT_NE(c, nullptr);
    absl::Status st = c->Connect();
    EXPECT_TRUE(st.ok()) << st;
  }
  // A wrong CA: a clear TLS error, for both transports.
  for (const std::string& uri : {ad_->info().ldaps_uri, ad_->info().ldap_uri}) {
    SCOPED_TRACE(uri);
    auto o = ServiceOptions();
    o.uri = uri;
    o.ca_file = ad_->info().wrong_ca_file;
    auto c = Connector(o);
    ASSERT_NE(c, nullptr);
    absl::Status st = c->Connect();
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
    EXPECT_TRUE(absl::StrContains(st.message(), "TLS")) << st;
    EXPECT_TRUE(absl::StrContains(st.message(), o.ca_file)) << st;
    EXPECT_FALSE(absl::StrContains(st.message(), ad_->info().service_password)) << st;
  }
}

TEST_F(LdapConnectorTest, PlainLdapOnlyWhenAllowed) {
  auto o = ServiceOptions();
  o.uri = ad_->info().ldap_uri;
  o.ca_file = ad_->info().wrong_ca_file;  // proves no TLS is attempted
  o.allow_plaintext = true;
  auto c = Connector(o);
  ASSERT_NE(c, nullptr);
  absl::Status st = c->Connect();
  EXPECT_TRUE(st.ok()) << st;
  auto u = c->FindUser("alice", "");
  EXPECT_TRUE(u.ok()) << u.status();
}

}  // namespace
}  // namespace reclaim::collector
