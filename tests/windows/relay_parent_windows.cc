// relay_parent.exe: the "agent" of relay_process_windows_test's job-object
// test. Starts CHILD through MakeProcessRelaySpawner ("--fd {fd} hang"),
// waits for its "ready", writes the relay's pid into PIDFILE (a temporary
// file renamed, so the test never reads half of it) and sleeps until the
// test ends it. Exit status 1 when the relay cannot be started.
// Usage: relay_parent.exe CHILD PIDFILE
#include <windows.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "agent/local/relay_process.h"

int main(int argc, char** argv) {
  if (argc != 3) return 64;
  auto spawner = reclaim::agent::MakeProcessRelaySpawner(argv[1]);
  std::unique_ptr<reclaim::agent::RelayProcess> relay;
  if (const auto s = spawner->Spawn({"--fd", "{fd}", "hang"}, &relay); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message.c_str());
    return 1;
  }
  auto channel = relay->TakeChannel();
  char buf[16];
  std::size_t n = 0;
  if (!channel->Read(buf, sizeof(buf), &n).ok() || n == 0) return 1;
  const std::string pidfile = argv[2];
  {
    std::ofstream out(pidfile + ".tmp", std::ios::binary | std::ios::trunc);
    out << relay->pid();
  }
  std::filesystem::rename(pidfile + ".tmp", pidfile);
  Sleep(INFINITE);
}
