// instance_lock_holder: the other process of instance_lock_test (Linux, and
// Windows under Wine). Takes TryLockInstance(LOCK), then writes its pid into
// READY (through a temporary file and a rename, so the test never reads half
// of it) and holds the lock until its standard input ends; then it exits
// WITHOUT releasing the lock itself (std::_Exit: no destructors), so the test
// shows that the OS releases it when the process ends.
// Exit status: 0 after holding; 2 when the lock was refused (the error on
// stdout); 64 for bad usage.
// Usage: instance_lock_holder LOCK READY
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "agent/platform/process_platform.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: instance_lock_holder LOCK READY\n";
    return 64;
  }
  std::string error;
  auto lock = reclaim::agent::TryLockInstance(argv[1], &error);
  if (lock == nullptr) {
    std::cout << error << std::endl;
    return 2;
  }
  const std::string ready = argv[2];
  {
    std::ofstream out(ready + ".tmp", std::ios::binary | std::ios::trunc);
    out << reclaim::agent::CurrentProcessId();
  }
  std::filesystem::rename(ready + ".tmp", ready);
  while (std::getchar() != EOF) {
  }
  std::fflush(stdout);
  std::_Exit(0);
}
