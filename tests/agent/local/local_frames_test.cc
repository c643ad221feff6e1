// The local channel's framing (varint32 size + message) over a real
// LocalChannelPair (a socketpair on Linux): round trips, a clean end, a
// truncated frame, an oversize header refused before anything is allocated,
// garbage, a write to a closed peer and to a peer that does not read.
#include "agent/local/local_frames.h"

#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "reclaim/v1/agent.pb.h"
#include "reclaim/v1/local.pb.h"

namespace reclaim::agent {
namespace {

class LocalFramesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const IpcStatus s = LocalChannelPair(&writer_, &reader_end_);
    ASSERT_TRUE(s.ok()) << s.message;
  }
  void CloseWriter() { writer_.reset(); }
  void WriteRaw(const std::string& bytes) {
    const IpcStatus s = writer_->WriteAll(bytes.data(), bytes.size(), std::chrono::seconds(5));
    ASSERT_TRUE(s.ok()) << s.message;
  }
  std::unique_ptr<LocalChannel> writer_, reader_end_;
};

TEST_F(LocalFramesTest, MessagesRoundTripInOrder) {
  v1::AgentMessage hello;
  hello.mutable_hello()->set_device_id("laptop-0042");
  hello.mutable_hello()->mutable_user()->set_login_name("jdoe");
  v1::AgentMessage batch;
  batch.mutable_batch()->set_seq(7);
  batch.mutable_batch()->add_intervals()->set_active_duration_ms(1500);
  v1::AgentMessage empty;  // a zero-byte frame is valid
  ASSERT_TRUE(WriteLocalFrame(*writer_, hello).ok());
  ASSERT_TRUE(WriteLocalFrame(*writer_, batch).ok());
  ASSERT_TRUE(WriteLocalFrame(*writer_, empty).ok());
  CloseWriter();

  LocalFrameReader reader(*reader_end_);
  v1::AgentMessage got;
  ASSERT_TRUE(reader.Read(&got).ok());
  EXPECT_EQ(got.hello().device_id(), "laptop-0042");
  EXPECT_EQ(got.hello().user().login_name(), "jdoe");
  ASSERT_TRUE(reader.Read(&got).ok());
  EXPECT_EQ(got.batch().seq(), 7u);
  ASSERT_EQ(got.batch().intervals_size(), 1);
  EXPECT_EQ(got.batch().intervals(0).active_duration_ms(), 1500);
  ASSERT_TRUE(reader.Read(&got).ok());
  EXPECT_EQ(got.kind_case(), v1::AgentMessage::KIND_NOT_SET);
  EXPECT_EQ(reader.Read(&got).code(), absl::StatusCode::kOutOfRange);
}

TEST_F(LocalFramesTest, LargeFrameCrossesManyReads) {
  v1::LocalServiceMessage big;
  big.mutable_end()->set_message(std::string(3 << 20, 'x'));
  std::thread writer([&] { EXPECT_TRUE(WriteLocalFrame(*writer_, big).ok()); });
  LocalFrameReader reader(*reader_end_);
  v1::LocalServiceMessage got;
  ASSERT_TRUE(reader.Read(&got).ok());
  writer.join();
  EXPECT_EQ(got.end().message().size(), std::size_t{3} << 20);
}

TEST_F(LocalFramesTest, EndInsideAFrameIsUnavailable) {
  WriteRaw(std::string("\x0a\x08", 2));  // announces 10 bytes, sends 1
  CloseWriter();
  LocalFrameReader reader(*reader_end_);
  v1::AgentMessage got;
  absl::Status s = reader.Read(&got);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

// A frame cut at a field boundary (here: right after its header) parses as a
// valid (empty) message; before the fix Read returned it as a whole frame.
TEST_F(LocalFramesTest, EndRightAfterTheHeaderIsUnavailable) {
  WriteRaw(std::string("\x05", 1));  // announces 5 bytes, sends none
  CloseWriter();
  LocalFrameReader reader(*reader_end_);
  v1::AgentMessage got;
  absl::Status s = reader.Read(&got);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

TEST_F(LocalFramesTest, EndInsideTheHeaderIsUnavailable) {
  WriteRaw(std::string("\x80", 1));  // a varint with its continuation bit set
  CloseWriter();
  LocalFrameReader reader(*reader_end_);
  v1::AgentMessage got;
  EXPECT_EQ(reader.Read(&got).code(), absl::StatusCode::kUnavailable);
}

TEST_F(LocalFramesTest, OversizeHeaderIsRefusedBeforeReadingThePayload) {
  // 0xFFFFFFFF as a varint32: 4 GiB announced, nothing behind it. The reader
  // refuses on the header alone (it would otherwise wait for the payload).
  WriteRaw(std::string("\xff\xff\xff\xff\x0f", 5));
  LocalFrameReader reader(*reader_end_, /*max_frame_bytes=*/1024);
  v1::AgentMessage got;
  absl::Status s = reader.Read(&got);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("over the limit of 1024 bytes"), std::string::npos) << s;
}

TEST_F(LocalFramesTest, GarbageIsInvalidArgument) {
  // 4 bytes: field 1 (hello) with wire type 7, which does not exist.
  WriteRaw(std::string("\x04\x0f\x01\x02\x03", 5));
  CloseWriter();
  LocalFrameReader reader(*reader_end_);
  v1::AgentMessage got;
  absl::Status s = reader.Read(&got);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("reclaim.v1.AgentMessage"), std::string::npos) << s;
}

TEST_F(LocalFramesTest, WriteToAClosedPeerIsUnavailableWithoutSigpipe) {
  reader_end_.reset();
  v1::AgentMessage m;
  m.mutable_batch()->set_seq(1);
  // Without MSG_NOSIGNAL this would kill the test process with SIGPIPE.
  absl::Status s = WriteLocalFrame(*writer_, m);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

TEST_F(LocalFramesTest, WriteToAPeerThatDoesNotReadEndsAtTheTimeout) {
  // More than any socket buffer holds, and nobody reads.
  v1::LocalServiceMessage big;
  big.mutable_end()->set_message(std::string(3 << 20, 'x'));
  absl::Status s = WriteLocalFrame(*writer_, big, std::chrono::milliseconds(200));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
}

TEST_F(LocalFramesTest, ShutdownEndsABlockedReadAsTheEndOfStream) {
  LocalFrameReader reader(*reader_end_);
  std::thread stopper([&] { reader_end_->Shutdown(); });
  v1::AgentMessage got;
  EXPECT_EQ(reader.Read(&got).code(), absl::StatusCode::kOutOfRange);
  stopper.join();
}

TEST_F(LocalFramesTest, OversizeMessageIsNotWritten) {
  v1::LocalServiceMessage big;
  big.mutable_end()->set_message(std::string(kMaxLocalFrameBytes + 1, 'x'));
  EXPECT_EQ(WriteLocalFrame(*writer_, big).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reclaim::agent
