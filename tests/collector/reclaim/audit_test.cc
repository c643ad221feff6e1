#include "collector/reclaim/audit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace reclaim::collector {
namespace {

std::vector<AuditEntry> Chain(int n) {
  std::vector<AuditEntry> out;
  std::string prev = kGenesisHash;
  for (int i = 1; i <= n; ++i) {
    AuditEntry e;
    e.seq = i;
    e.time_utc_ms = 1000 * i;
    e.actor = "admin:a";
    e.action = "remove.result";
    e.subject = "guid-" + std::to_string(i);
    e.detail = R"({"outcome":"removed"})";
    e.prev_hash = prev;
    e.hash = ComputeAuditHash(e);
    prev = e.hash;
    out.push_back(e);
  }
  return out;
}

TEST(AuditTest, Sha256KnownAnswer) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuditTest, IntactChainVerifies) {
  auto v = VerifyAuditChain(Chain(5));
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.entries, 5);
  EXPECT_EQ(v.head_hash, Chain(5).back().hash);
  EXPECT_TRUE(VerifyAuditChain({}).ok);
}

TEST(AuditTest, FieldBoundariesAreUnambiguous) {
  AuditEntry a = Chain(1)[0], b = a;
  a.actor = "ab";
  a.action = "c";
  b.actor = "a";
  b.action = "bc";
  EXPECT_NE(ComputeAuditHash(a), ComputeAuditHash(b));
}

TEST(AuditTest, TamperingNamesTheFirstBadEntry) {
  {
    auto c = Chain(5);
    c[2].detail = R"({"outcome":"kept"})";  // edited in place
    auto v = VerifyAuditChain(c);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_seq, 3);
    EXPECT_THAT(v.problem, ::testing::HasSubstr("modified"));
  }
  {
    auto c = Chain(5);
    c[2].subject = "someone-else";  // edited and re-hashed: the next link breaks
    c[2].hash = ComputeAuditHash(c[2]);
    auto v = VerifyAuditChain(c);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_seq, 4);
  }
  {
    auto c = Chain(5);
    c.erase(c.begin() + 1);  // deleted
    auto v = VerifyAuditChain(c);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_seq, 3);
    EXPECT_THAT(v.problem, ::testing::HasSubstr("deleted"));
  }
}

}  // namespace
}  // namespace reclaim::collector
