// Frames on the local socket between a session's reclaim-agent and the
// machine's reclaim-agent-service (proto/reclaim/v1/local.proto): one
// protobuf message preceded by its size as a varint32, protobuf's "delimited"
// format (google/protobuf/util/delimited_message_util.h).
#pragma once

#include <cstddef>
#include <memory>

#include "absl/status/status.h"

namespace google::protobuf {
class MessageLite;
namespace io {
class FileInputStream;
}
}  // namespace google::protobuf

namespace reclaim::agent {

/// Default limit on one frame's payload: 4 MiB, the collector's default
/// maximum gRPC message size.
inline constexpr std::size_t kMaxLocalFrameBytes = 4 << 20;

/// Writes `message` as one frame to the stream socket `fd`, blocking until all
/// of it is written (partial writes and EINTR are continued; SIGPIPE is never
/// raised: MSG_NOSIGNAL). Errors: UNAVAILABLE when the peer is gone (EPIPE,
/// ECONNRESET) or another send(2) error, naming errno; INVALID_ARGUMENT when the
/// message is larger than kMaxLocalFrameBytes or does not serialize.
absl::Status WriteLocalFrame(int fd, const google::protobuf::MessageLite& message);

/// Reads frames from one stream socket. Not thread-safe: one reader per fd.
class LocalFrameReader {
 public:
  /// Reads from `fd` (not owned; the caller closes it after the reader is
  /// gone). A frame over `max_frame_bytes` is refused without allocating it.
  explicit LocalFrameReader(int fd, std::size_t max_frame_bytes = kMaxLocalFrameBytes);
  ~LocalFrameReader();
  LocalFrameReader(const LocalFrameReader&) = delete;
  LocalFrameReader& operator=(const LocalFrameReader&) = delete;

  /// Blocks until one whole frame is read and parses it into `message`.
  /// Errors: OUT_OF_RANGE at a clean end of stream (the peer closed between
  /// frames); UNAVAILABLE when the stream ends inside a frame or read(2) fails
  /// (shutdown(2) of the socket from another thread ends a blocked read this
  /// way or as OUT_OF_RANGE); RESOURCE_EXHAUSTED for a frame over the limit;
  /// INVALID_ARGUMENT when the frame does not parse as `message`'s type. After
  /// any error the stream is out of step: close the connection.
  absl::Status Read(google::protobuf::MessageLite* message);

 private:
  const std::size_t max_frame_bytes_;
  std::unique_ptr<google::protobuf::io::FileInputStream> input_;
};

}  // namespace reclaim::agent
