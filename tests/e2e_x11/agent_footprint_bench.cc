// agent_footprint_bench: the real reclaim-agent's CPU and memory on a real X
// server (Xvfb + openbox + two xterms), reporting to a real collector through
// reclaim-agent-service, in both ways the agent can run on Linux:
//   (a) machine service: `reclaim-agent-service run` (enrolled once with
//       `reclaim-agent-service enroll`), the agent on its socket;
//   (b) direct mode: `reclaim-agent --collector ...`, which starts a personal
//       `reclaim-agent-service relay` per stream.
// For each: phase 1 `--seconds` (default 60) with a focus change every 10 s
// (xdotool; its own CPU is not counted), phase 2 the same time with nothing
// happening. CPU is on-CPU time summed over a process's threads from
// /proc/PID/task/*/schedstat (ns resolution), as % of one core; memory is
// VmHWM (peak RSS) and VmRSS from /proc/PID/status. The agent is measured
// alone; the service's or relay's figures are printed on their own line (they
// are not the agent's: the machine service is one per machine, the relay one
// per direct-mode agent). Default agent settings (idle threshold 300 s,
// heartbeat 60 s) except --logind-bus none (no system bus runs here; on a
// desktop logind adds one idle D-Bus connection).
// Prints figures; not a test. Usage: agent_footprint_bench [--seconds N]
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

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

// Children of `parent` whose name starts with `comm` (15 characters at most).
std::vector<pid_t> ChildrenNamed(pid_t parent, const std::string& comm) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = ReadFile((e.path() / "stat").string());
    const auto open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    if (stat.compare(open + 1, comm.size(), comm) != 0) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent &&
        state != 'Z') {
      out.push_back(std::stoi(name));
    }
  }
  return out;
}

// One process's figures over the two phases.
struct Figures {
  std::uint64_t active_ns = 0, idle_ns = 0;
  long hwm_kb = -1, rss_kb = -1, threads = -1;
};

void PrintFigures(const char* who, const Figures& f, double active_s, double idle_s) {
  std::printf("  %s\n", who);
  std::printf("    focus change every 10 s: %.1f s: CPU %.3f ms = %.4f %% of one core\n",
              active_s, f.active_ns / 1e6, 100.0 * f.active_ns / 1e9 / active_s);
  std::printf("    idle (nothing happens):  %.1f s: CPU %.3f ms = %.4f %% of one core\n", idle_s,
              f.idle_ns / 1e6, 100.0 * f.idle_ns / 1e9 / idle_s);
  std::printf("    memory: peak RSS (VmHWM) %.1f MB, RSS now %.1f MB, threads %ld\n",
              f.hwm_kb / 1024.0, f.rss_kb / 1024.0, f.threads);
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
    {
      std::ofstream secret(file("enrollment.secret"));
      secret << "footprint-bench-enrollment-secret\n";
    }
    chmod(file("enrollment.secret").c_str(), 0600);
    Child collector = Child::Spawn(RECLAIM_COLLECTOR_BIN,
                                   {"--db", file("c.db"), "--listen", "127.0.0.1:0",
                                    "--admin-listen", "127.0.0.1:0", "--port-file", file("ports"),
                                    "--log-file", file("collector.log"), "--insecure-plaintext",
                                    "--enrollment-secret-file", file("enrollment.secret")});
    if (!WaitFor([&] { return !ReadFile(file("ports")).empty(); }, seconds(30))) return 1;
    int agent_port = 0;
    std::stringstream(ReadFile(file("ports"))) >> agent_port;
    const std::string target = "127.0.0.1:" + std::to_string(agent_port);
    Child t1 = desktop.StartApp(FindProgram("xterm"), {"-T", "one"}, "xterm1");
    auto w1 = desktop.WaitForWindow("XTerm", seconds(10));
    Child t2 = desktop.StartApp(FindProgram("xterm"), {"-T", "two"}, "xterm2");
    auto w2 = w1 ? desktop.WaitForWindow("XTerm", seconds(10), {*w1}) : std::nullopt;
    if (!w1 || !w2) {
      std::fprintf(stderr, "xterm windows did not appear\n");
      return 1;
    }

    // (a) The machine service, enrolled once.
    const auto enrolled = reclaim::e2e::RunToCompletion(
        RECLAIM_AGENT_SERVICE_BIN,
        {"enroll", "--collector", target, "--insecure-plaintext", "--device-id", "bench-machine",
         "--credential-file", file("machine-credential"), "--enrollment-secret-file",
         file("enrollment.secret")},
        file("enroll.out"));
    if (enrolled.exit_code != 0) {
      std::fprintf(stderr, "reclaim-agent-service enroll failed: %s\n", enrolled.out.c_str());
      return 1;
    }
    Child service = Child::Spawn(
        RECLAIM_AGENT_SERVICE_BIN,
        {"run", "--collector", target, "--insecure-plaintext", "--device-id", "bench-machine",
         "--credential-file", file("machine-credential"), "--address", file("agent.sock"),
         "--log-file", file("service.log")});

    struct Mode {
      const char* title;
      const char* helper;  // what the helper process is
      std::vector<std::string> args;
      std::function<pid_t(pid_t agent)> helper_pid;
    };
    const std::vector<Mode> modes = {
        {"(a) machine service: reclaim-agent --service-address (reclaim-agent-service run)",
         "reclaim-agent-service run (one per machine, not the agent's)",
         {"--service-address", file("agent.sock")},
         [&](pid_t) { return service.pid(); }},
        {"(b) direct mode: reclaim-agent --collector (personal reclaim-agent-service relay)",
         "its reclaim-agent-service relay (one per direct-mode agent)",
         {"--collector", target, "--insecure-plaintext", "--enrollment-secret-file",
          file("enrollment.secret"), "--credential-file", file("direct-credential")},
         [](pid_t agent) {
           const auto kids = ChildrenNamed(agent, "reclaim-agent-s");
           return kids.empty() ? pid_t{0} : kids.front();
         }},
    };
    std::printf("reclaim-agent footprint on a real X server (Xvfb %s + openbox), default "
                "settings, %d s per phase\n", desktop.display().c_str(), secs);
    for (size_t m = 0; m < modes.size(); ++m) {
      const Mode& mode = modes[m];
      const std::string log = file("agent" + std::to_string(m) + ".log");
      std::vector<std::string> args = {"--spool", file("spool" + std::to_string(m) + ".db"),
                                       "--device-id", "bench", "--display", desktop.display(),
                                       "--logind-bus", "none", "--log-file", log};
      args.insert(args.end(), mode.args.begin(), mode.args.end());
      Child agent = Child::Spawn(RECLAIM_AGENT_BIN, args);
      if (!WaitFor([&] {
            const std::string text = ReadFile(log);
            return text.find("watching IDLETIME") != std::string::npos &&
                   text.find("watching _NET_ACTIVE_WINDOW") != std::string::npos &&
                   text.find("connected to collector") != std::string::npos;
          }, seconds(30))) {
        std::fprintf(stderr, "the agent did not start: %s\n", ReadFile(log).c_str());
        return 1;
      }
      WaitFor([] { return false; }, seconds(3));  // let start-up settle
      const pid_t pid = agent.pid();
      const pid_t helper = mode.helper_pid(pid);
      Figures a, h;
      const std::uint64_t cpu0 = CpuNs(pid), hcpu0 = helper ? CpuNs(helper) : 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < secs / 10; ++i) {
        desktop.Activate(i % 2 ? *w1 : *w2);
        WaitFor([] { return false; }, seconds(10) - std::chrono::milliseconds(100),
                std::chrono::milliseconds(500));
      }
      const std::uint64_t cpu1 = CpuNs(pid), hcpu1 = helper ? CpuNs(helper) : 0;
      const auto by_thread1 = CpuNsByThread(pid);
      const auto t1_ = std::chrono::steady_clock::now();
      WaitFor([] { return false; }, seconds(secs), std::chrono::milliseconds(1000));
      const std::uint64_t cpu2 = CpuNs(pid), hcpu2 = helper ? CpuNs(helper) : 0;
      const auto t2_ = std::chrono::steady_clock::now();
      a = {cpu1 - cpu0, cpu2 - cpu1, StatusKb(pid, "VmHWM"), StatusKb(pid, "VmRSS"),
           StatusKb(pid, "Threads")};
      if (helper) {
        h = {hcpu1 - hcpu0, hcpu2 - hcpu1, StatusKb(helper, "VmHWM"), StatusKb(helper, "VmRSS"),
             StatusKb(helper, "Threads")};
      }
      const double active_s = std::chrono::duration<double>(t1_ - t0).count();
      const double idle_s = std::chrono::duration<double>(t2_ - t1_).count();
      std::printf("%s\n", mode.title);
      PrintFigures("reclaim-agent (the session agent alone):", a, active_s, idle_s);
      const double avg_pct =
          100.0 * static_cast<double>(a.active_ns + a.idle_ns) / 1e9 / (active_s + idle_s);
      const bool met = avg_pct <= 0.02 && a.hwm_kb >= 0 && a.hwm_kb <= 8 * 1024;
      std::printf("    issue 3 target (<= 0.02 %% of one core on average, <= 8 MB peak RSS): %s\n",
                  met ? "met" : "NOT met");
      std::printf("    idle phase CPU by thread:");
      for (const auto& [name, ns] : CpuNsByThread(pid)) {
        const auto it = by_thread1.find(name);
        const std::uint64_t before = it == by_thread1.end() ? 0 : it->second;
        if (ns > before) std::printf(" %s %.2f ms;", name.c_str(), (ns - before) / 1e6);
      }
      std::printf("\n");
      if (helper) {
        PrintFigures((std::string("not the agent: ") + mode.helper).c_str(), h, active_s, idle_s);
      } else {
        std::printf("  %s: not found\n", mode.helper);
      }
      agent.Signal(SIGTERM);
      agent.Wait(seconds(30));
    }
    std::printf("target for reclaim-agent: <= 0.02 %% of one core on average, <= 8 MB RSS\n");
    service.Signal(SIGTERM);
    service.Wait(seconds(30));
    rc = 0;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}
