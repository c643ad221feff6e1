#include "common/sqlite.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/testing/temp_dir.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace reclaim::sqlite {
namespace {

TEST(SqliteTest, TransactionRollsBackUnlessCommitted) {
  auto db = Database::Open(":memory:");
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(x INTEGER)").ok());
  {
    auto tx = Transaction::Begin(**db);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*db)->Exec("INSERT INTO t VALUES (1)").ok());
  }
  EXPECT_EQ(*(*db)->QueryInt("SELECT count(*) FROM t"), 0);
  {
    auto tx = Transaction::Begin(**db);
    ASSERT_TRUE(tx.ok());
    auto st = (*db)->Prepare("INSERT INTO t VALUES (?)");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(st->Bind(1, std::int64_t{7}).Run().ok());
    ASSERT_TRUE(tx->Commit().ok());
  }
  EXPECT_EQ(*(*db)->QueryInt("SELECT sum(x) FROM t"), 7);
}

// Databases hold usage data and credential hashes: never readable by other
// users, whatever the umask (found by adversarial testing: 0644 before).
TEST(SqliteTest, NewDatabaseAndItsWalAreOwnerOnly) {
  reclaim::testing::TempDir dir;
  const std::string path = dir.File("owner-only.db");
  const mode_t old = ::umask(022);
  auto db = Database::Open(path);
  ::umask(old);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Exec("PRAGMA journal_mode=WAL").ok());
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)").ok());
  for (const std::string& f : {path, path + "-wal", path + "-shm"}) {
    struct stat st {};
    ASSERT_EQ(::stat(f.c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
}

TEST(SqliteTest, GarbageFileIsDataLoss) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("reclaim_sqlite_test_" + std::to_string(::getpid()) + ".db");
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 1000; ++i) f << "this is not an sqlite database ";
  }
  auto db = Database::Open(path.string());
  absl::Status s = db.ok() ? (*db)->Exec("SELECT * FROM sqlite_master") : db.status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  std::filesystem::remove(path);
}

TEST(SqliteTest, ConstraintViolationIsAlreadyExists) {
  auto db = Database::Open(":memory:");
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t(x INTEGER PRIMARY KEY)").ok());
  ASSERT_TRUE((*db)->Exec("INSERT INTO t VALUES (1)").ok());
  EXPECT_EQ((*db)->Exec("INSERT INTO t VALUES (1)").code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace reclaim::sqlite
