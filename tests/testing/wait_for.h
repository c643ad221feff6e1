// Waiting for a condition in tests: the one polling loop of the suite, for
// conditions that raise no event we could wait on (another process's output,
// a file appearing, a thread's counter).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace reclaim::testing {

/// Polls `predicate` every `every` until it holds (true) or `timeout` passes
/// (false; the predicate is evaluated once more at the deadline).
inline bool WaitFor(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
                    std::chrono::milliseconds every = std::chrono::milliseconds(25)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(every);
  }
  return predicate();
}

}  // namespace reclaim::testing
