// agent_footprint_bench: the real reclaim-agent's CPU and memory on a real X
// server (Xvfb + openbox + two xterms), reporting to a real collector.
// Phase 1: `--seconds` (default 60) with a focus change every 10 s (xdotool;
// its own CPU is not counted). Phase 2: the same time with nothing happening.
// CPU is the agent's on-CPU time summed over its threads from
// /proc/PID/task/*/schedstat (ns resolution), as % of one core; memory is
// VmHWM (peak RSS) and VmRSS from /proc/PID/status. Default agent settings
// (idle threshold 300 s, heartbeat 60 s) except --logind-bus none (no system
// bus runs here; on a desktop logind adds one idle D-Bus connection).
// Prints figures; not a test. Usage: agent_footprint_bench [--seconds N]
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tests/e2e_x11/child_process.h"
#include "tests/e2e_x11/x11_desktop.h"

namespace {

using reclaim::e2e::Child;
using reclaim::e2e::FindProgram;
using reclaim::e2e::ReadFile;
using reclaim::e2e::WaitFor;
using std::chrono::seconds;

// Sum of on-CPU ns over the threads of `pid`.
std::uint64_t CpuNs(pid_t pid) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(t.path() / "schedstat");
    std::uint64_t ns = 0;
    if (f >> ns) total += ns;
  }
  return total;
}

// On-CPU ns per thread name of `pid`.
std::map<std::string, std::uint64_t> CpuNsByThread(pid_t pid) {
  std::map<std::string, std::uint64_t> out;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(t.path() / "schedstat");
    std::uint64_t ns = 0;
    std::string name = ReadFile((t.path() / "comm").string());
    while (!name.empty() && name.back() == '\n') name.pop_back();
    if (f >> ns) out[name] += ns;
  }
  return out;
}

// A "VmXXX:  123 kB" field of /proc/PID/status, in kB.
long StatusKb(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int secs = 60;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--seconds") secs = std::stoi(argv[i + 1]);
  }
  char tmpl[] = "/tmp/reclaim-footprint-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto file = [&](const std::string& n) { return dir + "/" + n; };
  int rc = 1;
  {
    reclaim::e2e::X11Desktop desktop(dir);
    if (auto r = desktop.StartServer(); !r) {
      std::fprintf(stderr, "%s\n", r.message());
      return 1;
    }
    if (auto r = desktop.StartWm(); !r) {
      std::fprintf(stderr, "%s\n", r.message());
      return 1;
    }
    Child collector = Child::Spawn(RECLAIM_COLLECTOR_BIN,
                                   {"--db", file("c.db"), "--listen", "127.0.0.1:0",
                                    "--admin-listen", "127.0.0.1:0", "--port-file", file("ports"),
                                    "--log-file", file("collector.log"), "--insecure-plaintext",
                                    "--allow-unenrolled-agents"});
    if (!WaitFor([&] { return !ReadFile(file("ports")).empty(); }, seconds(30))) return 1;
    int agent_port = 0;
    std::stringstream(ReadFile(file("ports"))) >> agent_port;
    Child t1 = desktop.StartApp(FindProgram("xterm"), {"-T", "one"}, "xterm1");
    auto w1 = desktop.WaitForWindow("XTerm", seconds(10));
    Child t2 = desktop.StartApp(FindProgram("xterm"), {"-T", "two"}, "xterm2");
    auto w2 = w1 ? desktop.WaitForWindow("XTerm", seconds(10), {*w1}) : std::nullopt;
    if (!w1 || !w2) {
      std::fprintf(stderr, "xterm windows did not appear\n");
      return 1;
    }
    Child agent = Child::Spawn(RECLAIM_AGENT_BIN,
                               {"--collector", "127.0.0.1:" + std::to_string(agent_port),
                                "--spool", file("spool.db"), "--device-id", "bench",
                                "--display", desktop.display(), "--logind-bus", "none",
                                "--log-file", file("agent.log"), "--insecure-plaintext"});
    if (!WaitFor([&] {
          const std::string log = ReadFile(file("agent.log"));
          return log.find("watching IDLETIME") != std::string::npos &&
                 log.find("watching _NET_ACTIVE_WINDOW") != std::string::npos &&
                 log.find("connected to collector") != std::string::npos;
        }, seconds(30))) {
      std::fprintf(stderr, "the agent did not start: %s\n", ReadFile(file("agent.log")).c_str());
      return 1;
    }
    WaitFor([] { return false; }, seconds(3));  // let start-up settle

    const pid_t pid = agent.pid();
    const std::uint64_t cpu0 = CpuNs(pid);
    const auto t0 = std::chrono::steady_clock::now();
    int changes = 0;
    for (int i = 0; i < secs / 10; ++i) {
      desktop.Activate(i % 2 ? *w1 : *w2);
      ++changes;
      WaitFor([] { return false; }, seconds(10) - std::chrono::milliseconds(100),
              std::chrono::milliseconds(500));
    }
    const std::uint64_t cpu1 = CpuNs(pid);
    const auto by_thread1 = CpuNsByThread(pid);
    const auto t1_ = std::chrono::steady_clock::now();
    WaitFor([] { return false; }, seconds(secs), std::chrono::milliseconds(1000));
    const std::uint64_t cpu2 = CpuNs(pid);
    const auto t2_ = std::chrono::steady_clock::now();

    auto pct = [](std::uint64_t ns, std::chrono::steady_clock::duration d) {
      return 100.0 * static_cast<double>(ns) /
             static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
    };
    const double active_s = std::chrono::duration<double>(t1_ - t0).count();
    const double idle_s = std::chrono::duration<double>(t2_ - t1_).count();
    std::printf("reclaim-agent footprint on a real X server (Xvfb %s + openbox), default "
                "settings\n", desktop.display().c_str());
    std::printf("  focus change every 10 s: %d changes in %.1f s: CPU %.3f ms = %.4f %% of one "
                "core\n",
                changes, active_s, (cpu1 - cpu0) / 1e6, pct(cpu1 - cpu0, t1_ - t0));
    std::printf("  idle (nothing happens):  %.1f s: CPU %.3f ms = %.4f %% of one core\n", idle_s,
                (cpu2 - cpu1) / 1e6, pct(cpu2 - cpu1, t2_ - t1_));
    std::printf("  memory: peak RSS (VmHWM) %.1f MB, RSS now %.1f MB, threads %ld\n",
                StatusKb(pid, "VmHWM") / 1024.0, StatusKb(pid, "VmRSS") / 1024.0,
                StatusKb(pid, "Threads"));
    std::printf("  idle phase CPU by thread:");
    for (const auto& [name, ns] : CpuNsByThread(pid)) {
      const auto it = by_thread1.find(name);
      const std::uint64_t before = it == by_thread1.end() ? 0 : it->second;
      if (ns > before) std::printf(" %s %.2f ms;", name.c_str(), (ns - before) / 1e6);
    }
    std::printf("\n  target: <= 0.02 %% of one core on average, <= 8 MB RSS\n");
    agent.Signal(SIGTERM);
    agent.Wait(seconds(30));
    rc = 0;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}
