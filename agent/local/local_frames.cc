#include "agent/local/local_frames.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message_lite.h"

namespace reclaim::agent {

// protobuf-lite's CopyingInputStream over a LocalChannel: the session agent
// links protobuf-lite (agent/lean_link.cmake), which has no FileInputStream.
class ChannelInputStream final : public google::protobuf::io::CopyingInputStream {
 public:
  explicit ChannelInputStream(LocalChannel& channel) : channel_(channel) {}

  int Read(void* buffer, int size) override {
    std::size_t got = 0;
    IpcStatus s = channel_.Read(buffer, static_cast<std::size_t>(size), &got);
    if (!s.ok()) {
      error_ = std::move(s);
      return -1;
    }
    return static_cast<int>(got);
  }

  /// The read error that ended the stream, if any.
  const IpcStatus& error() const { return error_; }

 private:
  LocalChannel& channel_;
  IpcStatus error_;
};

absl::Status WriteLocalFrame(LocalChannel& channel, const google::protobuf::MessageLite& message,
                             std::chrono::milliseconds timeout) {
  const std::size_t size = message.ByteSizeLong();
  if (size > kMaxLocalFrameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a local frame of ", size, " bytes is over the limit of ", kMaxLocalFrameBytes, " bytes"));
  }
  std::string buffer;
  {
    // What util::SerializeDelimitedToZeroCopyStream writes (a varint length,
    // then the message), with protobuf-lite's API only.
    google::protobuf::io::StringOutputStream out(&buffer);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.WriteVarint32(static_cast<std::uint32_t>(size));
    message.SerializeWithCachedSizes(&coded);  // sizes cached by ByteSizeLong above
    if (coded.HadError()) return absl::InvalidArgumentError("a local frame does not serialize");
  }
  const IpcStatus s = channel.WriteAll(buffer.data(), buffer.size(), timeout);
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.code), s.message);
  return absl::OkStatus();
}

LocalFrameReader::LocalFrameReader(LocalChannel& channel, std::size_t max_frame_bytes)
    : max_frame_bytes_(max_frame_bytes),
      source_(std::make_unique<ChannelInputStream>(channel)),
      input_(std::make_unique<google::protobuf::io::CopyingInputStreamAdaptor>(source_.get())) {}

LocalFrameReader::~LocalFrameReader() = default;

absl::Status LocalFrameReader::Read(google::protobuf::MessageLite* message) {
  auto read_error = [this] {
    return absl::UnavailableError(absl::StrCat("local channel: ", source_->error().message));
  };
  // A CodedInputStream per frame: it reads ahead from input_ and gives back
  // what it did not consume when destroyed.
  google::protobuf::io::CodedInputStream coded(input_.get());
  std::uint32_t size = 0;
  if (!coded.ReadVarint32(&size)) {
    // ReadVarint32 fails both at a clean end (nothing read) and on a broken
    // or truncated varint; the stream's byte count tells them apart.
    if (!source_->error().ok()) return read_error();
    if (coded.CurrentPosition() == 0)
      return absl::OutOfRangeError("the peer closed the connection");
    return absl::UnavailableError("the connection ended inside a frame header");
  }
  if (size > max_frame_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a local frame of ", size, " bytes is over the limit of ", max_frame_bytes_, " bytes"));
  }
  const auto limit = coded.PushLimit(static_cast<int>(size));
  const bool parsed = message->ParseFromCodedStream(&coded);
  // On a parse error, skip to the frame's end: reaching it means the bytes
  // were all there but wrong; not reaching it means the stream ended inside.
  // A parse that stopped at the end of the stream before the frame's end
  // succeeds on a field boundary (a frame cut right after its header parses
  // as an empty message): that frame is incomplete too.
  const bool complete = parsed ? coded.BytesUntilLimit() == 0 : coded.Skip(coded.BytesUntilLimit());
  coded.PopLimit(limit);
  if (!source_->error().ok()) return read_error();
  if (!complete) return absl::UnavailableError("the connection ended inside a frame");
  if (!parsed) {
    return absl::InvalidArgumentError(
        absl::StrCat("a local frame of ", size, " bytes is not a valid ", message->GetTypeName()));
  }
  return absl::OkStatus();
}

}  // namespace reclaim::agent
