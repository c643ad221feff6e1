// Frames on the local channel between a session's reclaim-agent and the
// machine's reclaim-agent-service (proto/reclaim/v1/local.proto): one
// protobuf message preceded by its size as a varint32, protobuf's "delimited"
// format (google/protobuf/util/delimited_message_util.h), over a
// LocalChannel (agent/local/local_channel.h: a UNIX socket, a named pipe).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "agent/local/local_channel.h"

namespace google::protobuf {
class MessageLite;
namespace io {
class CopyingInputStreamAdaptor;
}
}  // namespace google::protobuf

namespace reclaim::agent {

/// Default limit on one frame's payload: 4 MiB, the collector's default
/// maximum gRPC message size.
inline constexpr std::size_t kMaxLocalFrameBytes = 4 << 20;

/// Writes `message` as one frame to `channel`, blocking until all of it is
/// written or `timeout` passed (zero: no limit). Errors: UNAVAILABLE when the
/// peer is gone or the write failed, naming the OS error; DEADLINE_EXCEEDED
/// when the peer did not read in time (the stream is then out of step: close
/// it); INVALID_ARGUMENT when the message is larger than kMaxLocalFrameBytes
/// or does not serialize. Not thread-safe per channel: one writer at a time.
absl::Status WriteLocalFrame(LocalChannel& channel, const google::protobuf::MessageLite& message,
                             std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

class ChannelInputStream;

/// Reads frames from one channel. Not thread-safe: one reader per channel.
class LocalFrameReader {
 public:
  /// Reads from `channel` (not owned; it must outlive the reader). A frame
  /// over `max_frame_bytes` is refused without allocating it.
  explicit LocalFrameReader(LocalChannel& channel,
                            std::size_t max_frame_bytes = kMaxLocalFrameBytes);
  ~LocalFrameReader();
  LocalFrameReader(const LocalFrameReader&) = delete;
  LocalFrameReader& operator=(const LocalFrameReader&) = delete;

  /// Blocks until one whole frame is read and parses it into `message`.
  /// Errors: OUT_OF_RANGE at a clean end of stream (the peer closed between
  /// frames, or the channel was shut down); UNAVAILABLE when the stream ends
  /// inside a frame or the read failed; RESOURCE_EXHAUSTED for a frame over
  /// the limit; INVALID_ARGUMENT when the frame does not parse as `message`'s
  /// type. After any error the stream is out of step: close the connection.
  absl::Status Read(google::protobuf::MessageLite* message);

 private:
  const std::size_t max_frame_bytes_;
  std::unique_ptr<ChannelInputStream> source_;
  std::unique_ptr<google::protobuf::io::CopyingInputStreamAdaptor> input_;
};

}  // namespace reclaim::agent
