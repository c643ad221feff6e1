// relay_child.exe: the relay stand-in of relay_process_windows_test. Adopts
// the channel it inherited (--fd H, as `reclaim-agent-service relay --fd H`
// does) and then, by its third argument:
//   echo         writes back what it reads until the end of stream; exit 0
//   args A...    writes back its arguments after "args" as parsed by
//                CommandLineToArgvW(GetCommandLineW()), each followed by
//                '\0', then '\1', then the C runtime's argv the same way
//   hang         writes "ready\n", then sleeps forever
//   exit N       exits with status N
//   probe H      tries to write to handle value H (another handle of the
//                parent's): writes back "wrote" or "refused"; exit 0
// Exit status 64: bad usage; 65: no channel.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <shellapi.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "agent/local/local_channel.h"
#include "agent/sources/win32_strings_windows.h"

using reclaim::agent::LocalChannel;

int main(int argc, char** argv) {
  if (argc < 4 || std::string(argv[1]) != "--fd") return 64;
  std::unique_ptr<LocalChannel> channel;
  if (!reclaim::agent::AdoptInheritedChannel(argv[2], &channel).ok()) return 65;
  const std::string mode = argv[3];
  auto send = [&channel](const std::string& s) {
    return channel->WriteAll(s.data(), s.size(), std::chrono::seconds(10)).ok();
  };
  if (mode == "echo") {
    char buf[4096];
    while (true) {
      std::size_t n = 0;
      if (!channel->Read(buf, sizeof(buf), &n).ok() || n == 0) return 0;
      if (!send(std::string(buf, n))) return 1;
    }
  }
  if (mode == "args") {
    std::string out;
    int wargc = 0;
    wchar_t** wargv = CommandLineToArgvW(GetCommandLineW(), &wargc);
    for (int i = 4; wargv != nullptr && i < wargc; ++i) {
      out += reclaim::agent::Utf8FromWide(wargv[i]);
      out.push_back('\0');
    }
    LocalFree(wargv);
    out.push_back('\1');
    for (int i = 4; i < argc; ++i) {
      out += argv[i];
      out.push_back('\0');
    }
    return send(out) ? 0 : 1;
  }
  if (mode == "hang") {
    if (!send("ready\n")) return 1;
    Sleep(INFINITE);
  }
  if (mode == "exit" && argc == 5) return std::atoi(argv[4]);
  if (mode == "probe" && argc == 5) {
    HANDLE h = reinterpret_cast<HANDLE>(
        static_cast<std::uintptr_t>(std::strtoull(argv[4], nullptr, 10)));
    DWORD n = 0;
    const bool wrote = WriteFile(h, "leak", 4, &n, nullptr) && n == 4;
    return send(wrote ? "wrote" : "refused") ? 0 : 1;
  }
  return 64;
}
