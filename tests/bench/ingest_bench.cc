// ingest_bench: how fast the collector ingests focus intervals, end to end,
// compared with the raw speed of SQLite on the same disk.
//
// Each run measures, with the same interval rows:
//   1. End to end: N agent streams (real gRPC clients on loopback, each its
//      own TCP connection, device, agent instance and user) send M batches of
//      K intervals each, pipelined like the real agent (agent/uplink: up to
//      `max_in_flight` batches unacknowledged), to the collector's real server
//      stack in this process: AgentService reactor -> validation ->
//      IngestPipeline (group commit) -> SqliteUsageStore (WAL,
//      synchronous=FULL) -> ack after the commit. The clock starts when the
//      first batch is written (every stream has already sent its Hello and
//      received its first Ack) and stops when the last ack has arrived. The
//      messages are built before the clock starts.
//   2. Raw SQLite: the same rows inserted into a fresh file holding only the
//      store's `intervals` table, WAL + synchronous=FULL, one prepared
//      single-row INSERT, `raw_rows_per_tx` rows per transaction: the ceiling
//      for the store, which also writes the exactly-once ledger and the daily
//      rollup and looks up identities.
// It prints both rates, their ratio (target: end to end >= 50 % of raw), the
// pipeline's counters, where the CPU went during the timed window (the
// ingest thread, gRPC's threads, the bench's agents), peak RSS, and checks
// that the store's usage totals equal what was sent (exit 1 on a mismatch or
// failure, 2 on bad flags). Several runs (default 5) give medians: on a
// shared machine single runs scatter.
//
// The agents run in the collector's process and share its cores, so on a
// small machine the end-to-end figure is pessimistic: real agents serialize
// and send on their own machines.
//
// Run it with `ninja -C <build> bench` (see tests/bench/CMakeLists.txt) or
// directly: `ingest_bench --agents 4 --batches 500 --intervals 100`.
//
// Figures depend on the disk's fsync latency: the work directory should be on
// the disk the collector would use, not on tmpfs (the bench says which file
// system it ran on).
#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "collector/server/ingest_pipeline.h"
#include "collector/server/services.h"
#include "collector/store/sqlite_usage_store.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/sqlite.h"
#include "common/status_macros.h"
#include "reclaim/v1/agent.grpc.pb.h"

namespace reclaim::bench {
namespace {

namespace v1 = ::reclaim::v1;
using collector::IngestPipeline;
using collector::IngestPipelineOptions;
using collector::IngestStats;
using collector::SqliteUsageStore;

constexpr std::int64_t kMsPerSecond = 1000;
constexpr std::int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr std::int64_t kMsPerDay = 24 * 60 * kMsPerMinute;

/// Options of one run; every field documents its default.
struct BenchOptions {
  /// Concurrent agent streams. Default 4.
  int agents = 4;
  /// Batches each agent sends. Default 500 (4 x 500 x 100 = 200,000 intervals).
  int batches = 500;
  /// Focus intervals per batch. Default 100.
  int intervals = 100;
  /// Batches an agent keeps unacknowledged (agent/uplink's max_in_flight), and
  /// the collector's per-stream in-flight limit. Default 64.
  int max_in_flight = 64;
  /// Most batches per store transaction (IngestPipelineOptions). Default 512.
  int max_batches_per_commit = 512;
  /// Rows per transaction of the raw SQLite run. Default 10,000.
  int raw_rows_per_tx = 10000;
  /// Directory in which the run's fresh work directory is made (and removed).
  /// Default: the system temporary directory.
  std::string dir;
  /// Measured runs (end to end, then raw, each on fresh files); the summary
  /// gives medians. Default 5.
  int runs = 5;
  /// Seed of the workload generator. Default 1.
  std::uint64_t seed = 1;
  /// Collector log level (spdlog). Default "warn".
  std::string log_level = "warn";
};

// ---------------------------------------------------------------------------
// Workload.

/// One application as an endpoint reports it.
struct CatalogApp {
  const char* exe_path;
  const char* exe_name;
  const char* window_class;
  const char* package_id;
  const char* product_name;
  const char* product_version;
  const char* web_domain;
};

constexpr CatalogApp kLinuxApps[] = {
    {"/usr/bin/gimp-2.10", "gimp-2.10", "Gimp", "", "", "", ""},
    {"/usr/lib/libreoffice/program/soffice.bin", "soffice.bin", "libreoffice-writer", "", "", "",
     ""},
    {"/usr/share/code/code", "code", "Code", "code.desktop", "", "", ""},
    {"/usr/lib/firefox-esr/firefox-esr", "firefox-esr", "firefox-esr", "", "", "",
     "na1.lightning.force.com"},
    {"/usr/bin/inkscape", "inkscape", "Inkscape", "", "", "", ""},
    {"/opt/google/chrome/chrome", "chrome", "Google-chrome", "", "", "", "app.smartsheet.com"},
    {"/usr/libexec/gnome-terminal-server", "gnome-terminal-server", "Gnome-terminal", "", "", "",
     ""},
    {"/app/bin/blender", "blender", "Blender", "org.blender.Blender", "", "", ""},
};

constexpr CatalogApp kWindowsApps[] = {
    {"C:\\Program Files\\Microsoft Office\\root\\Office16\\VISIO.EXE", "VISIO.EXE", "", "",
     "Microsoft Visio", "16.0.17328.20162", ""},
    {"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", "EXCEL.EXE", "", "",
     "Microsoft Excel", "16.0.17328.20162", ""},
    {"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", "WINWORD.EXE", "", "",
     "Microsoft Word", "16.0.17328.20162", ""},
    {"C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\Acrobat.exe", "Acrobat.exe", "", "",
     "Adobe Acrobat", "24.1.20643.0", ""},
    {"C:\\Program Files\\Autodesk\\AutoCAD 2024\\acad.exe", "acad.exe", "", "", "AutoCAD",
     "24.3.61.0", ""},
    {"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", "chrome.exe", "", "",
     "Google Chrome", "121.0.6167.140", "na1.lightning.force.com"},
    {"C:\\Program Files\\Microsoft VS Code\\Code.exe", "Code.exe", "", "", "Visual Studio Code",
     "1.86.0", ""},
    {"C:\\Program Files\\Tableau\\Tableau 2023.3\\bin\\tableau.exe", "tableau.exe", "", "",
     "Tableau", "2023.3.0.0", ""},
};

constexpr int kAppsPerUser = 5;

/// One interval as the raw table stores it.
struct RawRow {
  std::int64_t agent_id;
  std::int64_t user_id;
  std::int64_t identity_id;
  std::int64_t start_utc_ms;
  std::int64_t duration_ms;
  bool continuation;
};

/// Everything one agent sends, built before the clock starts.
struct AgentWorkload {
  v1::AgentMessage* hello = nullptr;       // on `arena`
  std::vector<v1::AgentMessage*> batches;  // on `arena`, seq 1..M
  std::unique_ptr<google::protobuf::Arena> arena;
  std::int64_t focus_ms = 0;  // sum of the durations sent
  std::int64_t sessions = 0;  // intervals with continuation = false
};

struct Workload {
  std::vector<AgentWorkload> agents;
  std::vector<RawRow> rows;  // every interval, for the raw run
  std::int64_t intervals = 0;
  std::int64_t focus_ms = 0;
  std::int64_t sessions = 0;
};

std::string Hex(std::mt19937_64& rng, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < digits; ++i) s.push_back(kDigits[rng() % 16]);
  return s;
}

// Focus sessions on a handful of applications: a session lasts 1 s to 5
// min; the agent's heartbeat flush splits it into pieces of 1-60 s, the
// pieces after the first marked continuation. Sessions follow each
// other with short switches and the odd idle break, from about 14 days ago;
// a timeline that reaches the present wraps to its start.
Workload BuildWorkload(const BenchOptions& opt, UtcMs now) {
  Workload w;
  w.rows.reserve(static_cast<size_t>(opt.agents) * opt.batches * opt.intervals);
  for (int a = 0; a < opt.agents; ++a) {
    std::mt19937_64 rng(opt.seed * 1000003 + static_cast<std::uint64_t>(a));
    const bool windows = a % 2 == 1;
    const CatalogApp* catalog = windows ? kWindowsApps : kLinuxApps;
    const int catalog_size =
        static_cast<int>(windows ? std::size(kWindowsApps) : std::size(kLinuxApps));
    // This user's applications, by index into the catalog (a rotation, so
    // users differ), and their identity ids in the raw table.
    std::vector<int> apps;
    for (int i = 0; i < kAppsPerUser; ++i) apps.push_back((a / 2 + i * 3) % catalog_size);
    const std::int64_t identity_base = windows ? std::ssize(kLinuxApps) + 1 : 1;

    AgentWorkload& aw = w.agents.emplace_back();
    aw.arena = std::make_unique<google::protobuf::Arena>();
    aw.hello = google::protobuf::Arena::CreateMessage<v1::AgentMessage>(aw.arena.get());
    v1::Hello* h = aw.hello->mutable_hello();
    h->set_device_id(Hex(rng, 32));
    h->set_agent_instance_id(absl::StrCat(Hex(rng, 8), "-", Hex(rng, 4), "-4", Hex(rng, 3), "-8",
                                          Hex(rng, 3), "-", Hex(rng, 12)));
    h->set_agent_version("0.1.0");
    h->set_os_family(windows ? v1::OS_FAMILY_WINDOWS : v1::OS_FAMILY_LINUX);
    h->set_os_version(windows ? "Windows 11 23H2" : "Debian GNU/Linux 12 (bookworm)");
    h->set_hostname(absl::StrFormat(windows ? "WS-%04d" : "ws-%04d", a + 1));
    v1::SessionUser* u = h->mutable_user();
    const std::string login = absl::StrFormat("user%04d", a + 1);
    u->set_login_name(login);
    u->set_domain("EXAMPLE");
    if (windows) {
      u->set_sid(absl::StrCat("S-1-5-21-3623811015-3361044348-30300820-", 1100 + a));
    } else {
      u->set_uid(static_cast<std::uint32_t>(10000 + a));
    }
    u->set_upn(absl::StrCat(login, "@example.com"));

    const UtcMs window_start = now - 14 * kMsPerDay;
    const UtcMs window_end = now - 10 * kMsPerMinute;
    UtcMs t = window_start + static_cast<std::int64_t>(rng() % kMsPerDay);
    std::int64_t session_left = 0;  // ms left in the current focus session
    int app = 0;
    for (int b = 0; b < opt.batches; ++b) {
      v1::AgentMessage* m =
          google::protobuf::Arena::CreateMessage<v1::AgentMessage>(aw.arena.get());
      v1::UsageBatch* batch = m->mutable_batch();
      batch->set_seq(static_cast<std::uint64_t>(b) + 1);
      for (int i = 0; i < opt.intervals; ++i) {
        bool continuation = session_left > 0;
        if (!continuation) {
          // A new session: switch application (favouring the first ones),
          // after a short switch gap or, now and then, an idle break.
          t += (rng() % 20 == 0) ? static_cast<std::int64_t>(rng() % (2 * 3600 * 1000))
                                 : static_cast<std::int64_t>(rng() % 5000);
          app = std::min(static_cast<int>(rng() % 8), static_cast<int>(rng() % 8)) % kAppsPerUser;
          // Most sessions fit one heartbeat (1-60 s); one in six runs one to
          // four heartbeats longer and is split into continued pieces.
          const std::int64_t whole_minutes =
              rng() % 6 == 0 ? 1 + static_cast<std::int64_t>(rng() % 4) : 0;
          session_left = whole_minutes * kMsPerMinute + kMsPerSecond +
                         static_cast<std::int64_t>(rng() % (59 * kMsPerSecond));
        }
        if (t + kMsPerMinute >= window_end) {
          t = window_start;  // wrap; a wrapped session starts afresh
          continuation = false;
        }
        const std::int64_t duration = std::min(session_left, kMsPerMinute);
        session_left -= duration;
        const CatalogApp& c = catalog[apps[app]];
        v1::FocusInterval* iv = batch->add_intervals();
        v1::AppIdentity* id = iv->mutable_app();
        // Empty fields stay unset, as the agent leaves them.
        const auto set = [](const char* value, auto setter) {
          if (*value != '\0') setter(value);
        };
        set(c.exe_path, [id](const char* v) { id->set_exe_path(v); });
        set(c.exe_name, [id](const char* v) { id->set_exe_name(v); });
        set(c.window_class, [id](const char* v) { id->set_window_class(v); });
        set(c.package_id, [id](const char* v) { id->set_package_id(v); });
        set(c.product_name, [id](const char* v) { id->set_product_name(v); });
        set(c.product_version, [id](const char* v) { id->set_product_version(v); });
        set(c.web_domain, [id](const char* v) { id->set_web_domain(v); });
        iv->set_start_utc_ms(t);
        iv->set_active_duration_ms(duration);
        iv->set_continuation(continuation);
        w.rows.push_back({a + 1, a + 1, identity_base + apps[app], t, duration, continuation});
        aw.focus_ms += duration;
        if (!continuation) ++aw.sessions;
        t += duration;
      }
      batch->set_created_utc_ms(std::min(t, now));
      aw.batches.push_back(m);
    }
    w.intervals += static_cast<std::int64_t>(opt.batches) * opt.intervals;
    w.focus_ms += aw.focus_ms;
    w.sessions += aw.sessions;
  }
  return w;
}

// ---------------------------------------------------------------------------
// Process and file-system facts.

/// Peak resident set size of this process so far, bytes (getrusage).
std::int64_t PeakRssBytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::int64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

/// Current resident set size, bytes (/proc/self/statm), 0 when unknown.
std::int64_t CurrentRssBytes() {
  std::ifstream f("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  if (!(f >> size >> resident)) return 0;
  return resident * sysconf(_SC_PAGESIZE);
}

/// The 1-minute load average (/proc/loadavg): other processes compete for the cores.
std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  return (f >> one) ? one : "unknown";
}

double MiB(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

/// The file system type of `path`, by statfs magic.
std::string FileSystemType(const std::string& path) {
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) != 0) return "unknown";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case TMPFS_MAGIC:
      return "tmpfs (in memory: fsync costs nothing, figures are NOT disk figures)";
    case EXT4_SUPER_MAGIC:
      return "ext2/3/4";
    case XFS_SUPER_MAGIC:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlayfs";
    default:
      return absl::StrFormat("statfs type 0x%x", static_cast<unsigned long>(fs.f_type));
  }
}

/// A fresh directory, removed with everything in it on destruction.
class WorkDir {
 public:
  static absl::StatusOr<std::unique_ptr<WorkDir>> Create(const std::string& parent) {
    std::error_code ec;
    const std::filesystem::path base =
        parent.empty() ? std::filesystem::temp_directory_path(ec) : std::filesystem::path(parent);
    if (ec) return absl::UnavailableError(absl::StrCat("no temporary directory: ", ec.message()));
    std::filesystem::create_directories(base, ec);
    std::string tmpl = (base / "ingest-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot create a directory in ", base.string()));
    }
    return std::unique_ptr<WorkDir>(new WorkDir(std::filesystem::absolute(tmpl)));
  }
  ~WorkDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  explicit WorkDir(std::filesystem::path p) : path_(std::move(p)) {}
  std::filesystem::path path_;
};

/// CPU time of this process's threads, seconds, by group: the collector's
/// ingest thread, the bench's agent threads, and every other thread (gRPC's,
/// shared by the in-process server and clients). `ingest_waiting` is the time
/// the ingest thread was runnable but waited for a CPU (other processes or
/// threads had the cores).
struct CpuSplit {
  double ingest = 0;
  double ingest_waiting = 0;
  double clients = 0;
  double other = 0;
};

/// CPU time of the calling thread so far, seconds (getrusage).
double ThreadCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  const auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

/// One thread's scheduler counters (/proc/self/task/<tid>/schedstat: ns on
/// a CPU, ns waiting on a run queue).
struct ThreadSched {
  int tid = 0;
  std::string name;
  std::int64_t run_ns = 0;
  std::int64_t wait_ns = 0;
};

std::vector<ThreadSched> SnapshotThreads() {
  std::vector<ThreadSched> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    ThreadSched t;
    std::ifstream sched(e.path() / "schedstat");
    std::ifstream comm(e.path() / "comm");
    if (!(sched >> t.run_ns >> t.wait_ns) || !std::getline(comm, t.name)) continue;
    t.tid = std::stoi(e.path().filename().string());
    out.push_back(std::move(t));
  }
  return out;
}

/// CPU used between two snapshots by the ingest thread and gRPC's threads
/// (threads that ended in between are not counted; the main thread is left
/// out: it only waits; the bench's own threads, most of which have ended by
/// then, count themselves: BenchAgent::cpu_seconds).
CpuSplit CpuBetween(const std::vector<ThreadSched>& before, const std::vector<ThreadSched>& after) {
  const int main_tid = static_cast<int>(getpid());
  CpuSplit split;
  for (const ThreadSched& a : after) {
    if (a.tid == main_tid) continue;
    ThreadSched base;
    for (const ThreadSched& b : before) {
      if (b.tid == a.tid) base = b;
    }
    const double run = static_cast<double>(a.run_ns - base.run_ns) / 1e9;
    if (a.name == "ingest") {
      split.ingest += run;
      split.ingest_waiting += static_cast<double>(a.wait_ns - base.wait_ns) / 1e9;
    } else if (a.name.rfind("bench-", 0) == 0) {
      // The bench's agent threads: counted by BenchAgent (most have ended).
    } else {
      split.other += run;
    }
  }
  return split;
}

// ---------------------------------------------------------------------------
// End to end.

/// Where the agent streams are: main starts the clock once every stream is
/// connected and reads the CPU counters once every stream has its last ack
/// (or has broken). Thread-safe.
class RunGate {
 public:
  explicit RunGate(int streams) : streams_(streams) {}
  void Connected() {
    absl::MutexLock l(&mu_);
    ++connected_;
  }
  void Finished() {
    absl::MutexLock l(&mu_);
    ++finished_;
  }
  void WaitAllConnected() {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(this, &RunGate::AllConnected));
  }
  void WaitAllFinished() {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(this, &RunGate::AllFinished));
  }

 private:
  bool AllConnected() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return connected_ == streams_; }
  bool AllFinished() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return finished_ == streams_; }

  const int streams_;
  absl::Mutex mu_;
  int connected_ ABSL_GUARDED_BY(mu_) = 0;
  int finished_ ABSL_GUARDED_BY(mu_) = 0;
};

/// One agent stream, shaped like agent/uplink: a writer (the caller of Run)
/// keeps up to `max_in_flight` batches unacknowledged; a reader thread
/// ("bench-read-N") takes the cumulative acks.
class BenchAgent {
 public:
  BenchAgent(const AgentWorkload& work, std::shared_ptr<grpc::Channel> channel, int max_in_flight,
             const Clock& clock, RunGate& gate)
      : work_(work),
        stub_(v1::AgentService::NewStub(channel)),
        max_in_flight_(static_cast<std::uint64_t>(max_in_flight)),
        clock_(clock),
        gate_(gate) {}

  /// Opens the stream, sends the Hello and waits for the first Ack. Errors:
  /// kUnavailable when the stream breaks, kFailedPrecondition when the first
  /// ack is not 0 (the store is not fresh).
  absl::Status Connect() {
    stream_ = stub_->Connect(&context_);
    if (!stream_->Write(*work_.hello)) return Broken("writing the Hello");
    v1::CollectorMessage msg;
    if (!stream_->Read(&msg) || !msg.has_ack()) return Broken("reading the first Ack");
    if (msg.ack().acked_through_seq() != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("first ack is ", msg.ack().acked_through_seq(), ", expected 0"));
    }
    return absl::OkStatus();
  }

  /// Sends every batch, pipelined, then half-closes and waits for the
  /// collector to finish the stream. Call after Connect succeeded.
  absl::Status Send(int index) {
    const double cpu_at_start = ThreadCpuSeconds();
    std::thread reader([this, index] {
      pthread_setname_np(pthread_self(), absl::StrCat("bench-read-", index).c_str());
      ReadAcks();
      AddCpu(ThreadCpuSeconds());
    });
    const std::uint64_t last = work_.batches.size();
    bool write_failed = false;
    for (std::uint64_t seq = 1; seq <= last; ++seq) {
      {
        absl::MutexLock l(&mu_);
        mu_.Await(absl::Condition(
            +[](BenchAgent* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->mu_) {
              return a->read_ended_ || a->sent_ - a->acked_ < a->max_in_flight_;
            },
            this));
        if (read_ended_) break;
      }
      if (!stream_->Write(*work_.batches[seq - 1])) {
        write_failed = true;
        break;
      }
      absl::MutexLock l(&mu_);
      sent_ = seq;
    }
    stream_->WritesDone();
    AddCpu(ThreadCpuSeconds() - cpu_at_start);
    reader.join();
    const grpc::Status status = stream_->Finish();
    absl::MutexLock l(&mu_);
    if (acked_ != last) {
      return absl::UnavailableError(
          absl::StrCat("stream ended with ", acked_, " of ", last, " batches acknowledged",
                       write_failed ? " (a write failed)" : "", "; status ", status.error_code(),
                       ": ", status.error_message()));
    }
    if (!status.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "stream finished with status ", status.error_code(), ": ", status.error_message()));
    }
    return absl::OkStatus();
  }

  /// CPU time the writer and reader threads spent in Send, seconds.
  double cpu_seconds() const {
    absl::MutexLock l(&mu_);
    return cpu_seconds_;
  }

  /// When the last batch's ack arrived (monotonic), valid after Send.
  MonoTime last_ack_at() const {
    absl::MutexLock l(&mu_);
    return last_ack_at_;
  }

 private:
  void AddCpu(double seconds) {
    absl::MutexLock l(&mu_);
    cpu_seconds_ += seconds;
  }

  void ReadAcks() {
    const std::uint64_t last = work_.batches.size();
    v1::CollectorMessage msg;
    bool finished = false;
    while (stream_->Read(&msg)) {
      if (!msg.has_ack()) continue;
      absl::MutexLock l(&mu_);
      acked_ = std::max(acked_, msg.ack().acked_through_seq());
      if (acked_ >= last && !finished) {
        last_ack_at_ = clock_.Monotonic();
        finished = true;
        gate_.Finished();
      }
    }
    if (!finished) gate_.Finished();  // broken stream
    absl::MutexLock l(&mu_);
    read_ended_ = true;
  }

  absl::Status Broken(const std::string& what) {
    const grpc::Status s = stream_->Finish();
    return absl::UnavailableError(
        absl::StrCat(what, " failed: ", s.error_code(), ": ", s.error_message()));
  }

  const AgentWorkload& work_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  const std::uint64_t max_in_flight_;
  const Clock& clock_;
  RunGate& gate_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>> stream_;

  mutable absl::Mutex mu_;
  std::uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  bool read_ended_ ABSL_GUARDED_BY(mu_) = false;
  MonoTime last_ack_at_ ABSL_GUARDED_BY(mu_){0};
  double cpu_seconds_ ABSL_GUARDED_BY(mu_) = 0;
};

struct EndToEndResult {
  double seconds = 0;
  CpuSplit cpu;  // during the timed window
  IngestStats pipeline;
  collector::AgentServiceStats service;
  bool correct = false;
  std::string check;  // what the correctness check found
};

// Compares the store's contents with what was sent.
void CheckStore(SqliteUsageStore& store, const Workload& w, const BenchOptions& opt,
                EndToEndResult& r) {
  auto usage = store.QueryUsage({});
  if (!usage.ok()) {
    r.check = absl::StrCat("QueryUsage failed: ", usage.status().ToString());
    return;
  }
  std::int64_t focus_ms = 0, sessions = 0;
  for (const collector::UsageRow& row : *usage) {
    focus_ms += row.focus_ms;
    sessions += row.sessions;
  }
  auto devices = store.ListDevices();
  if (!devices.ok()) {
    r.check = absl::StrCat("ListDevices failed: ", devices.status().ToString());
    return;
  }
  int fully_acked = 0;
  for (const collector::DeviceRow& d : *devices) {
    if (d.acked_through_seq == static_cast<std::uint64_t>(opt.batches)) ++fully_acked;
  }
  r.correct = focus_ms == w.focus_ms && sessions == w.sessions &&
              r.pipeline.intervals_stored == static_cast<std::uint64_t>(w.intervals) &&
              r.pipeline.intervals_quarantined == 0 && r.pipeline.batches_duplicate == 0 &&
              r.pipeline.store_errors == 0 && fully_acked == opt.agents &&
              std::ssize(*devices) == opt.agents;
  r.check = absl::StrCat("focus ", focus_ms, " ms stored / ", w.focus_ms, " ms sent; sessions ",
                         sessions, " / ", w.sessions, "; intervals ", r.pipeline.intervals_stored,
                         " / ", w.intervals, "; agents at seq ", opt.batches, ": ", fully_acked,
                         " / ", opt.agents);
}

absl::StatusOr<EndToEndResult> RunEndToEnd(const BenchOptions& opt, const Workload& w,
                                           const std::string& db_path) {
  SystemClock clock;
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteUsageStore> store,
                   SqliteUsageStore::Open({.path = db_path}));
  IngestPipeline pipeline(*store, clock,
                          IngestPipelineOptions{.max_batches_per_commit = static_cast<size_t>(
                                                    opt.max_batches_per_commit)});
  collector::AgentServiceOptions service_opts;
  service_opts.max_in_flight_batches = opt.max_in_flight;
  auto service = collector::MakeAgentService(pipeline, clock, service_opts);

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service->service());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return absl::UnavailableError("cannot listen on 127.0.0.1:0");
  const std::string target = absl::StrCat("127.0.0.1:", port);

  // Each agent on its own channel and TCP connection, as real agents are.
  RunGate gate(static_cast<int>(w.agents.size()));
  std::vector<std::unique_ptr<BenchAgent>> agents;
  for (const AgentWorkload& aw : w.agents) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    agents.push_back(std::make_unique<BenchAgent>(
        aw, grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args),
        opt.max_in_flight, clock, gate));
  }

  // Every stream is connected (Hello sent, first Ack read) before the clock starts.
  std::vector<absl::Status> results(agents.size());
  absl::Notification go;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < agents.size(); ++i) {
    threads.emplace_back([&, i] {
      pthread_setname_np(pthread_self(), absl::StrCat("bench-agent-", i).c_str());
      absl::Status s = agents[i]->Connect();
      gate.Connected();
      if (!s.ok()) gate.Finished();
      if (s.ok()) {
        go.WaitForNotification();
        s = agents[i]->Send(static_cast<int>(i));
      }
      results[i] = s;
    });
  }
  gate.WaitAllConnected();
  const IngestStats before = pipeline.stats();  // the Hellos' tasks are not commits
  const auto threads_before = SnapshotThreads();
  const MonoTime start = clock.Monotonic();
  go.Notify();
  gate.WaitAllFinished();
  const auto threads_after = SnapshotThreads();
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      server->Shutdown();
      pipeline.Stop();
      return absl::Status(results[i].code(), absl::StrCat("agent ", i, ": ", results[i].message()));
    }
  }
  MonoTime end = start;
  for (const auto& a : agents) end = std::max(end, a->last_ack_at());

  EndToEndResult r;
  r.seconds = static_cast<double>((end - start).count()) / 1000.0;
  r.cpu = CpuBetween(threads_before, threads_after);
  for (const auto& a : agents) r.cpu.clients += a->cpu_seconds();
  r.service = service->stats();
  server->Shutdown();
  pipeline.Stop();
  r.pipeline = pipeline.stats();
  r.pipeline.commits -= before.commits;
  CheckStore(*store, w, opt, r);
  return r;
}

// ---------------------------------------------------------------------------
// Raw SQLite.

// The store's raw table, copied from collector/store/sqlite_usage_store.cc
// (schema version 1); keep the two in step.
constexpr const char* kIntervalsDdl = R"sql(
CREATE TABLE intervals(
  id INTEGER PRIMARY KEY,
  agent_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  identity_id INTEGER NOT NULL,
  start_utc_ms INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  continuation INTEGER NOT NULL);
)sql";

struct RawResult {
  double seconds = 0;
  std::string journal_mode;
  std::int64_t synchronous = -1;
  std::int64_t transactions = 0;
};

absl::StatusOr<RawResult> RunRawSqlite(const BenchOptions& opt, const Workload& w,
                                       const std::string& db_path) {
  SystemClock clock;
  RawResult r;
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db, sqlite::Database::Open(db_path));
  {
    ASSIGN_OR_RETURN(sqlite::Statement mode, db->Prepare("PRAGMA journal_mode=WAL"));
    ASSIGN_OR_RETURN(bool has_row, mode.Step());
    if (has_row) r.journal_mode = mode.ColumnText(0);
  }
  RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  ASSIGN_OR_RETURN(r.synchronous, db->QueryInt("PRAGMA synchronous"));
  RETURN_IF_ERROR(db->Exec(kIntervalsDdl));
  ASSIGN_OR_RETURN(sqlite::Statement insert, db->Prepare(R"sql(
INSERT INTO intervals(agent_id, user_id, identity_id, start_utc_ms, duration_ms, continuation)
VALUES(?1, ?2, ?3, ?4, ?5, ?6))sql"));

  const MonoTime start = clock.Monotonic();
  const size_t per_tx = static_cast<size_t>(opt.raw_rows_per_tx);
  for (size_t i = 0; i < w.rows.size(); i += per_tx) {
    ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db));
    const size_t end = std::min(w.rows.size(), i + per_tx);
    for (size_t k = i; k < end; ++k) {
      const RawRow& row = w.rows[k];
      RETURN_IF_ERROR(insert.Bind(1, row.agent_id)
                          .Bind(2, row.user_id)
                          .Bind(3, row.identity_id)
                          .Bind(4, row.start_utc_ms)
                          .Bind(5, row.duration_ms)
                          .Bind(6, std::int64_t{row.continuation ? 1 : 0})
                          .Run());
    }
    RETURN_IF_ERROR(tx.Commit());
    ++r.transactions;
  }
  r.seconds = static_cast<double>((clock.Monotonic() - start).count()) / 1000.0;

  ASSIGN_OR_RETURN(const std::int64_t count, db->QueryInt("SELECT count(*) FROM intervals"));
  if (count != w.intervals) {
    return absl::InternalError(
        absl::StrCat("raw table holds ", count, " rows, expected ", w.intervals));
  }
  return r;
}

// ---------------------------------------------------------------------------

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

int Run(const BenchOptions& opt) {
  auto dir = WorkDir::Create(opt.dir);
  if (!dir.ok()) {
    std::fprintf(stderr, "ingest_bench: %s\n", dir.status().ToString().c_str());
    return 1;
  }
  SystemClock clock;
  const Workload w = BuildWorkload(opt, clock.WallUtcMs());
  const std::int64_t rss_after_build = CurrentRssBytes();

  std::printf("Reclaim ingest benchmark\n");
  std::printf("  agent streams             %d (each its own TCP connection, device, user)\n",
              opt.agents);
  std::printf("  batches per agent         %d\n", opt.batches);
  std::printf("  intervals per batch       %d\n", opt.intervals);
  std::printf("  intervals in total        %" PRId64
              " per run (%d apps per user, 1-60 s each, "
              "%.1f %% continuations)\n",
              w.intervals, kAppsPerUser,
              100.0 * static_cast<double>(w.intervals - w.sessions) /
                  static_cast<double>(std::max<std::int64_t>(1, w.intervals)));
  std::printf("  in flight per stream      %d batches (agent window = collector limit)\n",
              opt.max_in_flight);
  std::printf("  group commit              at most %d batches per transaction\n",
              opt.max_batches_per_commit);
  std::printf("  raw SQLite transactions   %d rows each\n", opt.raw_rows_per_tx);
  std::printf("  durability                WAL, synchronous=FULL (store and raw file)\n");
  std::printf(
      "  runs                      %d (end to end, then raw; fresh files each; "
      "medians reported)\n",
      opt.runs);
  std::printf("  work directory            %s (%s)\n", dir->get()->path().c_str(),
              FileSystemType(dir->get()->path()).c_str());
  std::printf("  hardware threads          %u (load average before the run: %s)\n",
              std::thread::hardware_concurrency(), LoadAverage().c_str());
  std::fflush(stdout);

  std::vector<double> e2e_rates, raw_rates, ratios;
  bool all_correct = true;
  for (int run = 1; run <= opt.runs; ++run) {
    auto e2e = RunEndToEnd(opt, w, (*dir)->File(absl::StrCat("collector-", run, ".db")));
    if (!e2e.ok()) {
      std::fprintf(stderr, "ingest_bench: end-to-end run %d failed: %s\n", run,
                   e2e.status().ToString().c_str());
      return 1;
    }
    auto raw = RunRawSqlite(opt, w, (*dir)->File(absl::StrCat("raw-", run, ".db")));
    if (!raw.ok()) {
      std::fprintf(stderr, "ingest_bench: raw SQLite run %d failed: %s\n", run,
                   raw.status().ToString().c_str());
      return 1;
    }
    const double e2e_rate = static_cast<double>(w.intervals) / std::max(e2e->seconds, 1e-3);
    const double raw_rate = static_cast<double>(w.intervals) / std::max(raw->seconds, 1e-3);
    e2e_rates.push_back(e2e_rate);
    raw_rates.push_back(raw_rate);
    ratios.push_back(100.0 * e2e_rate / raw_rate);
    all_correct = all_correct && e2e->correct;
    const IngestStats& ps = e2e->pipeline;
    std::printf("\nRun %d\n", run);
    std::printf("  end to end                %.3f s, %.0f intervals/s (%.0f batches/s)\n",
                e2e->seconds, e2e_rate,
                static_cast<double>(ps.batches_stored) / std::max(e2e->seconds, 1e-3));
    std::printf("    pipeline                %" PRIu64
                " commits, %.1f batches per commit, "
                "%" PRIu64 " batches stored, %" PRIu64 " duplicates, %" PRIu64
                " quarantined, %" PRIu64 " store errors\n",
                ps.commits,
                static_cast<double>(ps.batches_stored) /
                    static_cast<double>(std::max<std::uint64_t>(1, ps.commits)),
                ps.batches_stored, ps.batches_duplicate, ps.intervals_quarantined, ps.store_errors);
    std::printf(
        "    CPU in the window       ingest thread %.3f s (%.0f %% of elapsed; %.3f s "
        "more runnable but waiting for a core), gRPC threads %.3f s, bench agents "
        "%.3f s\n",
        e2e->cpu.ingest, 100.0 * e2e->cpu.ingest / std::max(e2e->seconds, 1e-3),
        e2e->cpu.ingest_waiting, e2e->cpu.other, e2e->cpu.clients);
    std::printf("    agent service           %" PRIu64 " streams, %" PRIu64 " protocol errors\n",
                e2e->service.streams_opened, e2e->service.protocol_errors);
    std::printf("    correctness             %s: %s\n", e2e->correct ? "OK" : "MISMATCH",
                e2e->check.c_str());
    std::printf(
        "  raw SQLite                %.3f s, %.0f intervals/s (journal_mode=%s, "
        "synchronous=%" PRId64 ", %" PRId64 " transactions)\n",
        raw->seconds, raw_rate, raw->journal_mode.c_str(), raw->synchronous, raw->transactions);
    std::printf("  ratio                     %.1f %%\n", ratios.back());
    std::fflush(stdout);
  }

  const double ratio = Median(ratios);
  std::printf("\nSummary (median of %d run(s))\n", opt.runs);
  std::printf(
      "  end to end                %.0f intervals/s  (gRPC loopback -> validation -> "
      "IngestPipeline -> SqliteUsageStore, ack after commit)\n",
      Median(e2e_rates));
  std::printf(
      "  raw SQLite                %.0f intervals/s  (one prepared INSERT, intervals "
      "table only)\n",
      Median(raw_rates));
  std::printf("  ratio                     %.1f %% of raw (target >= 50 %%: %s)\n", ratio,
              ratio >= 50.0 ? "met" : "NOT met");
  std::printf(
      "  peak RSS                  %.1f MiB (getrusage; the pre-built client messages "
      "account for %.1f MiB of RSS before the first run)\n",
      MiB(PeakRssBytes()), MiB(rss_after_build));
  std::printf("  correctness               %s\n",
              all_correct ? "OK (store totals = sent totals in every run)" : "MISMATCH");
  std::fflush(stdout);
  return all_correct ? 0 : 1;
}

}  // namespace
}  // namespace reclaim::bench

int main(int argc, char** argv) {
  reclaim::bench::BenchOptions opt;
  CLI::App app{
      "ingest_bench: end-to-end ingest rate of the collector (gRPC agents on "
      "loopback -> durable SQLite commit) against raw SQLite inserts of the same rows."};
  app.add_option("--agents", opt.agents, "Concurrent agent streams")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--batches", opt.batches, "Batches per agent")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  app.add_option("--intervals", opt.intervals, "Focus intervals per batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--max-in-flight", opt.max_in_flight,
                 "Unacknowledged batches per stream (agent window and collector limit)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--max-batches-per-commit", opt.max_batches_per_commit,
                 "Most batches per store transaction (group commit)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--raw-rows-per-tx", opt.raw_rows_per_tx,
                 "Rows per transaction in the raw SQLite run")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000000));
  app.add_option("--dir", opt.dir,
                 "Directory for the run's temporary work directory (default: system temp)");
  app.add_option("--runs", opt.runs, "Measured runs; the summary reports medians")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--seed", opt.seed, "Workload generator seed")->capture_default_str();
  app.add_option("--log-level", opt.log_level, "Collector log level")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (absl::Status s =
          reclaim::SetUpLogging({.level = opt.log_level, .file = "", .name = "ingest_bench"});
      !s.ok()) {
    std::fprintf(stderr, "ingest_bench: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return reclaim::bench::Run(opt);
}
