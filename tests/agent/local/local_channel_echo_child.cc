// The child process of local_channel_test's inherited-channel test: adopts
// the channel named by argv[1] (HandleForChild()'s text) and writes back
// every byte it reads until the end of stream. Exit status 0 after a clean
// end of stream, 2 on bad arguments or an error (printed on stderr).
#include <cstdio>
#include <memory>
#include <vector>

#include "agent/local/local_channel.h"

int main(int argc, char** argv) {
  using namespace reclaim::agent;
  if (argc != 2) {
    std::fprintf(stderr, "usage: local_channel_echo_child HANDLE\n");
    return 2;
  }
  std::unique_ptr<LocalChannel> channel;
  IpcStatus s = AdoptInheritedChannel(argv[1], &channel);
  if (!s.ok()) {
    std::fprintf(stderr, "echo child: %s\n", s.message.c_str());
    return 2;
  }
  std::vector<char> buf(64 << 10);
  for (;;) {
    std::size_t n = 0;
    s = channel->Read(buf.data(), buf.size(), &n);
    if (!s.ok()) break;
    if (n == 0) return 0;
    s = channel->WriteAll(buf.data(), n, std::chrono::milliseconds(30000));
    if (!s.ok()) break;
  }
  std::fprintf(stderr, "echo child: %s\n", s.message.c_str());
  return 2;
}
