#include "agent/spool/spool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/testing/temp_dir.h"

namespace reclaim::agent {
namespace {

SpoolBatch MakeBatch(int intervals, std::int64_t focus_ms, size_t bytes = 100) {
  return SpoolBatch{std::string(bytes, 'x'), intervals, focus_ms};
}

class SpoolTest : public ::testing::Test {
 protected:
  std::unique_ptr<Spool> OpenSpool(std::int64_t max_bytes = 1 << 20) {
    auto s = Spool::Open({.path = dir_.File("spool.db"), .max_bytes = max_bytes}, clock_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  reclaim::testing::TempDir dir_;
  ManualClock clock_{MonoTime{0}, 1'700'000'000'000};
};

TEST_F(SpoolTest, RestartKeepsUnackedBatchesAndInstance) {
  std::string instance;
  {
    auto spool = OpenSpool();
    instance = spool->instance_id();
    EXPECT_EQ(instance.size(), 36u);
    for (int i = 1; i <= 5; ++i) {
      auto seq = spool->Append(MakeBatch(i, i * 1000));
      ASSERT_TRUE(seq.ok()) << seq.status();
      EXPECT_EQ(*seq, static_cast<std::uint64_t>(i));
    }
    ASSERT_TRUE(spool->AckThrough(2).ok());
  }
  auto spool = OpenSpool();
  EXPECT_EQ(spool->instance_id(), instance);
  EXPECT_EQ(spool->acked_through(), 2u);
  auto entries = spool->ReadAfter(spool->acked_through(), 100);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].seq, 3u);
  EXPECT_EQ((*entries)[2].seq, 5u);
  EXPECT_EQ((*entries)[2].intervals, 5);
  EXPECT_EQ((*entries)[2].focus_ms, 5000);
  // seq continues after a restart, never repeats.
  auto seq = spool->Append(MakeBatch(1, 1));
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 6u);
}

TEST_F(SpoolTest, SeqNeverRepeatsEvenWhenEverythingWasAcked) {
  {
    auto spool = OpenSpool();
    ASSERT_TRUE(spool->Append(MakeBatch(1, 1)).ok());
    ASSERT_TRUE(spool->Append(MakeBatch(1, 1)).ok());
    ASSERT_TRUE(spool->AckThrough(2).ok());
    EXPECT_EQ(spool->pending_batches(), 0);
  }
  auto spool = OpenSpool();
  auto seq = spool->Append(MakeBatch(1, 1));
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 3u);
}

TEST_F(SpoolTest, CapDropsOldestFirstWithExactCounts) {
  auto spool = OpenSpool(/*max_bytes=*/1000);
  // Ten batches of 100 bytes fill the cap exactly.
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(spool->Append(MakeBatch(i, i * 10)).ok());
  EXPECT_EQ(spool->drop_counters(), SpoolDropCounters{});
  // Three more: seqs 1, 2, 3 (1+2+3 intervals, 10+20+30 ms) go.
  for (int i = 11; i <= 13; ++i) ASSERT_TRUE(spool->Append(MakeBatch(i, i * 10)).ok());
  EXPECT_EQ(spool->drop_counters(), (SpoolDropCounters{3, 6, 60, 0}));
  // A 250-byte batch pushes out three more (4, 5, 6).
  ASSERT_TRUE(spool->Append(MakeBatch(1, 7, 250)).ok());
  EXPECT_EQ(spool->drop_counters(), (SpoolDropCounters{6, 6 + 15, 60 + 150, 0}));
  auto entries = spool->ReadAfter(0, 100);
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->front().seq, 7u);
  EXPECT_LE(spool->pending_bytes(), 1000);
  // The counters survive a restart.
  spool.reset();
  spool = OpenSpool(1000);
  EXPECT_EQ(spool->drop_counters(), (SpoolDropCounters{6, 21, 210, 0}));
}

TEST_F(SpoolTest, BatchLargerThanCapIsRefusedAndDropsNothing) {
  auto spool = OpenSpool(/*max_bytes=*/500);
  ASSERT_TRUE(spool->Append(MakeBatch(1, 1)).ok());
  auto seq = spool->Append(MakeBatch(1, 1, 600));
  EXPECT_EQ(seq.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spool->pending_batches(), 1);
  EXPECT_EQ(spool->drop_counters(), SpoolDropCounters{});
}

TEST_F(SpoolTest, MetaIsWrittenWithTheBatchAtomically) {
  auto spool = OpenSpool();
  ASSERT_TRUE(spool->Append(MakeBatch(1, 1), {{"replay.cursor_ms", "60000"}}).ok());
  ASSERT_TRUE(spool->Append(std::nullopt, {{"replay.cursor_ms", "120000"}}).ok());
  auto v = spool->GetMeta("replay.cursor_ms");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->value_or(""), "120000");
  EXPECT_EQ(spool->last_seq(), 1u);
}

TEST_F(SpoolTest, CorruptFileIsSetAsideAndCounted) {
  {
    std::ofstream f(dir_.File("spool.db"), std::ios::binary);
    for (int i = 0; i < 2000; ++i) f << "garbage, not SQLite ";
  }
  auto spool = OpenSpool();
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->drop_counters().corrupt_spools, 1u);
  bool aside = false;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    if (e.path().filename().string().starts_with("spool.db.corrupt-")) {
      aside = true;
      EXPECT_GT(std::filesystem::file_size(e.path()), 30000u) << "the damaged file is kept";
    }
  }
  EXPECT_TRUE(aside);
  ASSERT_TRUE(spool->Append(MakeBatch(1, 1)).ok());
}

TEST_F(SpoolTest, FullDiskFailsCleanlyAndKeepsStoredBatches) {
  {
    auto spool = OpenSpool(64 << 20);
    ASSERT_TRUE(spool->Append(MakeBatch(3, 3000, 1000)).ok());
  }
  // In a child process, limit the size of any file it writes (RLIMIT_FSIZE),
  // which makes the disk look full to SQLite, and try a large append.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const auto size = std::filesystem::file_size(dir_.File("spool.db"));
    rlimit lim{size + 64 * 1024, size + 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    auto spool = Spool::Open({.path = dir_.File("spool.db"), .max_bytes = 64 << 20}, clock_);
    if (!spool.ok()) ::_exit(10);
    auto seq = (*spool)->Append(MakeBatch(1, 1, 4 << 20));
    if (seq.ok()) ::_exit(11);
    const bool clear = seq.status().code() == absl::StatusCode::kResourceExhausted ||
                       seq.status().code() == absl::StatusCode::kUnavailable;
    if (!clear || (*spool)->pending_batches() != 1 || (*spool)->last_seq() != 1) ::_exit(12);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: open failed, 11: append succeeded, 12: wrong state";
  // Nothing stored before was lost, and the spool works again with space.
  auto spool = OpenSpool(64 << 20);
  auto entries = spool->ReadAfter(0, 10);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].focus_ms, 3000);
  auto seq = spool->Append(MakeBatch(1, 1, 4 << 20));
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 2u);
}

}  // namespace
}  // namespace reclaim::agent
