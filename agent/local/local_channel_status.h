// IpcStatus (agent/local/local_channel.h, standard C++ only) as absl::Status,
// for the code above the local channel.
#pragma once

#include "absl/status/status.h"
#include "agent/local/local_channel.h"

namespace reclaim::agent {

/// `s` as an absl::Status with the same code (IpcStatus uses absl's
/// numbering) and message.
inline absl::Status ToStatus(const IpcStatus& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.code), s.message);
}

}  // namespace reclaim::agent
