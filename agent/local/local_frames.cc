#include "agent/local/local_frames.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message_lite.h"

namespace reclaim::agent {

absl::Status WriteLocalFrame(int fd, const google::protobuf::MessageLite& message) {
  const std::size_t size = message.ByteSizeLong();
  if (size > kMaxLocalFrameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a local frame of ", size, " bytes is over the limit of ", kMaxLocalFrameBytes, " bytes"));
  }
  std::string buffer;
  {
    // What util::SerializeDelimitedToZeroCopyStream writes (a varint length,
    // then the message), with protobuf-lite's API only: the session agent
    // links protobuf-lite (agent/lean_link.cmake).
    google::protobuf::io::StringOutputStream out(&buffer);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.WriteVarint32(static_cast<std::uint32_t>(size));
    message.SerializeWithCachedSizes(&coded);  // sizes cached by ByteSizeLong above
    if (coded.HadError()) return absl::InvalidArgumentError("a local frame does not serialize");
  }
  std::size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = ::send(fd, buffer.data() + done, buffer.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("local socket send: ", std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  return absl::OkStatus();
}

LocalFrameReader::LocalFrameReader(int fd, std::size_t max_frame_bytes)
    : max_frame_bytes_(max_frame_bytes),
      input_(std::make_unique<google::protobuf::io::FileInputStream>(fd)) {}

LocalFrameReader::~LocalFrameReader() = default;

absl::Status LocalFrameReader::Read(google::protobuf::MessageLite* message) {
  // A CodedInputStream per frame: it reads ahead from input_ and gives back
  // what it did not consume when destroyed.
  google::protobuf::io::CodedInputStream coded(input_.get());
  std::uint32_t size = 0;
  if (!coded.ReadVarint32(&size)) {
    // ReadVarint32 fails both at a clean end (nothing read) and on a broken
    // or truncated varint; the stream's byte count tells them apart.
    if (input_->GetErrno() != 0) {
      return absl::UnavailableError(
          absl::StrCat("local socket read: ", std::strerror(input_->GetErrno())));
    }
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
  if (input_->GetErrno() != 0) {
    return absl::UnavailableError(
        absl::StrCat("local socket read: ", std::strerror(input_->GetErrno())));
  }
  if (!complete) return absl::UnavailableError("the connection ended inside a frame");
  if (!parsed) {
    return absl::InvalidArgumentError(
        absl::StrCat("a local frame of ", size, " bytes is not a valid ", message->GetTypeName()));
  }
  return absl::OkStatus();
}

}  // namespace reclaim::agent
