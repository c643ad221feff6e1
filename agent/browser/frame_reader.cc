#include "agent/browser/frame_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace reclaim::agent {

void FrameReader::Feed(absl::string_view bytes) {
  if (failed_) return;
  if (skip_ > 0) {
    const std::size_t n = std::min(skip_, bytes.size());
    skip_ -= n;
    bytes.remove_prefix(n);
  }
  buffer_.append(bytes.data(), bytes.size());
}

absl::Status FrameReader::Next(std::optional<std::string>* frame) {
  frame->reset();
  while (!failed_) {
    if (skip_ > 0) {
      const std::size_t n = std::min(skip_, buffer_.size());
      skip_ -= n;
      buffer_.erase(0, n);
      if (skip_ > 0) return absl::OkStatus();
    }
    if (buffer_.size() < 4) return absl::OkStatus();
    std::uint32_t length = 0;
    std::memcpy(&length, buffer_.data(), 4);
    if (length > max_stream_frame_) {
      failed_ = true;
      buffer_.clear();
      break;
    }
    if (length > max_frame_) {
      ++stats_.oversize;
      buffer_.erase(0, 4);
      skip_ = length;
      continue;
    }
    if (buffer_.size() < 4 + static_cast<std::size_t>(length)) return absl::OkStatus();
    *frame = buffer_.substr(4, length);
    buffer_.erase(0, 4 + static_cast<std::size_t>(length));
    ++stats_.frames;
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("a frame length above ", max_stream_frame_, " bytes: the stream is not framed"));
}

std::string EncodeFrame(absl::string_view payload) {
  const auto length = static_cast<std::uint32_t>(payload.size());
  std::string out(4, '\0');
  std::memcpy(out.data(), &length, 4);
  out.append(payload.data(), payload.size());
  return out;
}

}  // namespace reclaim::agent
