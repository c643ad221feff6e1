// Native-messaging framing: each message is a 32-bit length in native byte
// order followed by that many bytes of UTF-8 JSON (Chrome "Native messaging",
// https://developer.chrome.com/docs/extensions/develop/concepts/native-messaging
// and MDN "Native messaging"). The same framing carries messages from
// reclaim-native-host to the agent's socket / pipe.
//
// Pure and portable: the bytes come from whatever stream the caller reads
// (stdin, a LocalChannel). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace reclaim::agent {

/// Counters of a FrameReader.
struct FrameStats {
  std::uint64_t frames = 0;    ///< Frames delivered (within the size limit).
  std::uint64_t oversize = 0;  ///< Frames over the limit, skipped unread.
};

/// Splits a byte stream into frames. Frames longer than `max_frame` bytes are
/// skipped (their bytes are consumed and dropped, counted in oversize); a
/// length above `max_stream_frame` means the stream is not framed as agreed
/// (or hostile) and makes the reader fail for good.
class FrameReader {
 public:
  /// `max_frame`: largest frame delivered, bytes. `max_stream_frame`: largest
  /// length skipped before the stream is declared broken, bytes.
  FrameReader(std::size_t max_frame, std::size_t max_stream_frame)
      : max_frame_(max_frame), max_stream_frame_(max_stream_frame) {}

  /// Appends received bytes.
  void Feed(absl::string_view bytes);
  /// The next complete frame's payload, if any. Errors: kDataLoss once a
  /// length above max_stream_frame was seen (the reader stays failed).
  [[nodiscard]] absl::Status Next(std::optional<std::string>* frame);
  /// Bytes of a partial frame buffered (for tests).
  std::size_t buffered() const { return buffer_.size(); }
  const FrameStats& stats() const { return stats_; }

 private:
  const std::size_t max_frame_;
  const std::size_t max_stream_frame_;
  std::string buffer_;
  std::size_t skip_ = 0;  // bytes of an oversize frame still to drop
  bool failed_ = false;
  FrameStats stats_;
};

/// The length prefix plus `payload`.
std::string EncodeFrame(absl::string_view payload);

}  // namespace reclaim::agent
