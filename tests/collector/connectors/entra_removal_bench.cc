// Entra removal benchmark (not a test): N removals through the real
// EntraConnector (libcurl, real clock and sleeps) against the fake Graph
// throttled to R requests/s (429 + Retry-After past the budget, burst 2).
// Prints the achieved removal rate as a share of the allowed rate (target
// >= 95 %) and the errors (target 0). Exit code 1 when a target is missed.
//
//   entra_removal_bench [--removals 10000] [--rate 200]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "CLI/CLI.hpp"
#include "collector/connectors/entra/entra_connector.h"
#include "spdlog/spdlog.h"
#include "tests/collector/connectors/entra_test_support.h"

using namespace reclaim;
using namespace reclaim::collector;

int main(int argc, char** argv) {
  int removals = 10000;
  double rate = 200;
  CLI::App app("Entra removal benchmark against a throttled fake Microsoft Graph");
  app.add_option("--removals", removals, "members to remove (default 10000)");
  app.add_option("--rate", rate, "allowed Graph requests per second (default 200)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  SystemClock clock;
  entra::RealSleeper sleeper;
  testing::FakeGraph graph(clock);
  testing::TempDir dir;
  const std::string group_id = testing::FakeGuid(1, 6);
  testing::FakeGraphGroup group{.id = group_id, .display_name = "Bench Users"};
  for (int i = 0; i < removals; ++i) {
    const std::string id = testing::FakeGuid(i, 5);
    graph.AddUser({.id = id, .upn = "u" + std::to_string(i) + "@example.com"});
    group.members.push_back(id);
  }
  graph.AddGroup(group);
  auto options = testing::FakeGraphOptions(graph, testing::WriteSecret(dir, "secret", testing::kFakeGraphClientSecret));
  auto conn = EntraConnector::Create(options, entra::MakeCurlHttpClient({}), clock, sleeper, 1);
  if (!conn.ok()) {
    std::fprintf(stderr, "%s\n", conn.status().ToString().c_str());
    return 1;
  }
  auto g = (*conn)->GetGroup(group_id);  // token + group read, before the clock starts
  if (!g.ok()) {
    std::fprintf(stderr, "%s\n", g.status().ToString().c_str());
    return 1;
  }
  graph.SetRate(rate, /*burst=*/2);
  int errors = 0;
  std::vector<double> latency_ms;
  latency_ms.reserve(static_cast<size_t>(removals));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < removals; ++i) {
    DirectoryUser u;
    u.object_id = testing::FakeGuid(i, 5);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = (*conn)->RemoveMember(*g, u);
    latency_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (!r.ok() || r->outcome != ChangeOutcome::kRemoved) {
      if (++errors <= 5) std::fprintf(stderr, "removal %d: %s\n", i, r.ok() ? "not removed" : r.status().ToString().c_str());
    }
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latency_ms.begin(), latency_ms.end());
  const GraphCallStats& st = (*conn)->stats();
  const double achieved = removals / elapsed;
  const double share = achieved / rate * 100.0;
  const size_t left = graph.Members(group_id).size();
  std::printf("entra removal benchmark: %d removals, allowed rate %.0f requests/s (fake Graph, burst 2)\n",
              removals, rate);
  std::printf("  elapsed            %.2f s\n", elapsed);
  std::printf("  achieved rate      %.1f removals/s = %.1f %% of the allowed rate (target >= 95 %%)\n",
              achieved, share);
  std::printf("  errors             %d (target 0); members left in the group: %zu\n", errors, left);
  std::printf("  429 answers        %lld; retries %lld; time waited on Retry-After %.2f s\n",
              static_cast<long long>(st.throttled), static_cast<long long>(st.retries),
              st.waited.count() / 1000.0);
  std::printf("  removal latency    p50 %.2f ms, p99 %.2f ms, max %.2f ms (incl. throttling waits)\n",
              latency_ms[latency_ms.size() / 2], latency_ms[latency_ms.size() * 99 / 100],
              latency_ms.back());
  const bool ok = share >= 95.0 && errors == 0 && left == 0;
  std::printf("  targets            %s\n", ok ? "met" : "MISSED");
  return ok ? 0 : 1;
}
