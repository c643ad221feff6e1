// common/secret_file: the owner-only policy for every secret file, and that
// no error message carries the secret.
#include "common/secret_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace reclaim {
namespace {

constexpr char kSecret[] = "RECLAIM-TEST-SECRET-s3cr3t-Value-42";  // tests/testing/test_secrets.h

std::string MakeFile(const testing::TempDir& dir, const std::string& name,
                     const std::string& content, mode_t mode) {
  const std::string path = dir.File(name);
  std::ofstream(path) << content;
  EXPECT_EQ(::chmod(path.c_str(), mode), 0);
  return path;
}

TEST(SecretFileTest, ReadsOwnerOnlyFileAndStripsOneNewline) {
  testing::TempDir dir;
  auto s = ReadSecretFile(MakeFile(dir, "a", std::string(kSecret) + "\r\n", 0600), "token");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, kSecret);
  auto r = ReadSecretFile(MakeFile(dir, "b", std::string(kSecret) + "\n\n", 0400), "token");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, std::string(kSecret) + "\n");
}

TEST(SecretFileTest, RefusesGroupOrWorldReadableFileWithoutLeakingIt) {
  testing::TempDir dir;
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    const std::string path = MakeFile(dir, "m" + std::to_string(mode), kSecret, mode);
    auto s = ReadSecretFile(path, "enrollment secret");
    ASSERT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << mode;
    EXPECT_NE(s.status().message().find("chmod 600"), std::string_view::npos);
    EXPECT_NE(s.status().message().find("enrollment secret file"), std::string_view::npos);
    EXPECT_EQ(s.status().message().find(kSecret), std::string_view::npos);
  }
}

TEST(SecretFileTest, ClearErrorsForMissingEmptyOversizeAndDirectory) {
  testing::TempDir dir;
  EXPECT_EQ(ReadSecretFile(dir.File("none")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadSecretFile(MakeFile(dir, "empty", "\n", 0600)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadSecretFile(MakeFile(dir, "big", std::string(100, 'x'), 0600), "x", 64)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(::mkdir(dir.File("d").c_str(), 0700), 0);
  EXPECT_EQ(ReadSecretFile(dir.File("d")).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A FIFO given as the secret file is refused at once: opening it used to
// wait for a writer, so `reclaimctl --token-file FIFO` hung forever.
TEST(SecretFileTest, RefusesFifoWithoutWaitingForAWriter) {
  testing::TempDir dir;
  const std::string path = dir.File("fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto s = ReadSecretFile(path, "admin token");
  ASSERT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
  EXPECT_NE(s.status().message().find("is not a regular file"), std::string_view::npos);
}

// gRPC aborts on an illegal header byte and prints the whole header value
// (the token) in hex: a UTF-8 BOM from an editor, a space, a control byte or
// a non-ASCII byte is refused first, without the secret in the message.
TEST(SecretFileTest, HeaderSafeSecretIsPrintableAscii) {
  EXPECT_TRUE(CheckHeaderSafeSecret(kSecret).ok());
  EXPECT_TRUE(CheckHeaderSafeSecret("rcat_AZaz09-_~!").ok());
  for (const std::string& bad :
       {std::string("\xef\xbb\xbf") + kSecret, std::string(kSecret) + " ",
        std::string(kSecret) + "\r", std::string(kSecret) + "\n", std::string("a\0b", 3),
        std::string(kSecret) + "\x7f", std::string(kSecret) + "\xc3\xa4"}) {
    absl::Status s = CheckHeaderSafeSecret(bad, "admin token");
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad.size();
    EXPECT_NE(s.message().find("admin token has a byte that is not printable ASCII"),
              std::string_view::npos)
        << s;
    EXPECT_EQ(s.message().find(kSecret), std::string_view::npos) << s;
  }
}

TEST(SecretFileTest, EnvironmentVariable) {
  ::unsetenv("RECLAIM_TEST_SECRET");
  EXPECT_EQ(ReadSecretEnv("RECLAIM_TEST_SECRET").status().code(),
            absl::StatusCode::kFailedPrecondition);
  ::setenv("RECLAIM_TEST_SECRET", "", 1);
  EXPECT_EQ(ReadSecretEnv("RECLAIM_TEST_SECRET").status().code(),
            absl::StatusCode::kInvalidArgument);
  ::setenv("RECLAIM_TEST_SECRET", kSecret, 1);
  auto s = ReadSecretEnv("RECLAIM_TEST_SECRET");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, kSecret);
  ::unsetenv("RECLAIM_TEST_SECRET");
}

TEST(SecretFileTest, WriteIsOwnerOnlyAndReadableBack) {
  testing::TempDir dir;
  const mode_t old = ::umask(0);  // even with a permissive umask
  const std::string path = dir.File("credential");
  ASSERT_TRUE(WriteSecretFile(path, kSecret).ok());
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto s = ReadSecretFile(path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, kSecret);
  EXPECT_FALSE(WriteSecretFile(dir.File("no/such/dir/file"), kSecret).ok());
}

// Another user who can write to the directory pre-creates the temporary
// file a write used to go through (<path>.tmp.<pid>, opened without O_EXCL):
// the secret then landed in a file that user owned. Now the temporary name is
// unpredictable and created exclusively; the planted file is left alone.
TEST(SecretFileTest, WriteNeverReusesAFileAnotherUserPlanted) {
  ASSERT_EQ(::geteuid(), 0u) << "this test needs root to plant another user's file";
  testing::TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0777), 0);
  const std::string path = dir.File("admin.token");
  const std::string planted = path + ".tmp." + std::to_string(::getpid());
  MakeFile(dir, "admin.token.tmp." + std::to_string(::getpid()), "", 0666);
  ASSERT_EQ(::chown(planted.c_str(), 65534, 65534), 0);
  ASSERT_TRUE(WriteSecretFile(path, kSecret).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "the secret is in a file another user owns";
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(planted.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0) << "the secret was written into the planted file";
  auto back = ReadSecretFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, kSecret);
}

TEST(SecretFileTest, WipeClears) {
  std::string s = kSecret;
  WipeSecret(s);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace reclaim
