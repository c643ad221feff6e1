// reclaimctl: the administrator's command line for the Reclaim collector.
//
//   reclaimctl usage [--user U] [--app A] [--since DAY] [--until DAY] [--by-day]
//                    [--output table|json|csv]
//   reclaimctl devices [--output ...]
//   reclaimctl quarantine [--limit N] [--output ...]
//
// Exit codes: 0 success, 1 the collector answered with an error or could not
// be reached (message on stderr), 2 bad flags.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "common/utc_day.h"
#include "nlohmann/json.hpp"
#include "reclaim/v1/admin.grpc.pb.h"

namespace {

namespace v1 = ::reclaim::v1;

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<nlohmann::ordered_json> json_rows;  // typed values for --output json
};

// RFC 4180 field quoting.
std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void Print(const Table& t, const std::string& format) {
  if (format == "json") {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& r : t.json_rows) arr.push_back(r);
    std::cout << arr.dump(2) << "\n";
    return;
  }
  if (format == "csv") {
    for (size_t i = 0; i < t.columns.size(); ++i) {
      std::cout << (i ? "," : "") << CsvField(t.columns[i]);
    }
    std::cout << "\r\n";
    for (const auto& r : t.rows) {
      for (size_t i = 0; i < r.size(); ++i) std::cout << (i ? "," : "") << CsvField(r[i]);
      std::cout << "\r\n";
    }
    return;
  }
  std::vector<size_t> width(t.columns.size());
  for (size_t i = 0; i < t.columns.size(); ++i) width[i] = t.columns[i].size();
  for (const auto& r : t.rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(t.columns);
  for (const auto& r : t.rows) line(r);
  if (t.rows.empty()) std::cout << "(no rows)\n";
}

// "1h 02m 03s" for a duration in ms.
std::string HumanDuration(std::int64_t ms) {
  const std::int64_t s = ms / 1000;
  if (s >= 3600) return absl::StrFormat("%dh %02dm %02ds", s / 3600, (s / 60) % 60, s % 60);
  if (s >= 60) return absl::StrFormat("%dm %02ds", s / 60, s % 60);
  return absl::StrFormat("%.1fs", ms / 1000.0);
}

int Fail(const grpc::Status& s, const std::string& target) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::fprintf(stderr, "reclaimctl: cannot reach the collector's admin API at %s: %s\n",
                 target.c_str(), s.error_message().c_str());
  } else {
    std::fprintf(stderr, "reclaimctl: the collector refused the request: %s\n",
                 s.error_message().c_str());
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:7444";
  int timeout_s = 30;
  std::string output = "table";
  CLI::App app{"reclaimctl: drives a Reclaim collector (usage reports, devices, quarantine)."};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.add_option("--collector", target, "Collector admin API address (host:port)")
      ->capture_default_str()->envname("RECLAIM_COLLECTOR");
  app.add_option("--timeout", timeout_s, "Seconds to wait for the collector")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  const auto add_output = [&](CLI::App* sub) {
    sub->add_option("-o,--output", output, "table, json or csv")
        ->capture_default_str()->check(CLI::IsMember({"table", "json", "csv"}));
  };

  v1::UsageQuery query;
  std::string user, application, since, until;
  bool by_day = false;
  CLI::App* usage = app.add_subcommand(
      "usage", "Focus time per user and application identity (summed over the range)");
  usage->add_option("--user", user, "DOMAIN\\login, login or UPN (case-insensitive)");
  usage->add_option("--app,--application", application,
                    "Application identity containing this text ('*' wildcard)");
  usage->add_option("--since", since, "First UTC day, YYYY-MM-DD");
  usage->add_option("--until", until, "Last UTC day, YYYY-MM-DD");
  usage->add_flag("--by-day", by_day, "One row per UTC day");
  add_output(usage);

  CLI::App* devices = app.add_subcommand(
      "devices", "Agent instances: delivery state and data-loss counters");
  add_output(devices);

  int limit = 100;
  CLI::App* quarantine = app.add_subcommand("quarantine", "Intervals the collector refused");
  quarantine->add_option("--limit", limit, "At most this many, newest first")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  add_output(quarantine);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help or the error
    return rc == 0 ? 0 : 2;
  }
  for (const std::string* day : {&since, &until}) {
    if (!day->empty() && !reclaim::ParseUtcDay(*day).ok()) {
      std::fprintf(stderr, "reclaimctl: '%s' is not a day in the form YYYY-MM-DD\n",
                   day->c_str());
      return 2;
    }
  }

  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = v1::AdminService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  Table t;

  if (*usage) {
    query.set_user(user);
    query.set_application(application);
    query.set_since_day(since);
    query.set_until_day(until);
    query.set_by_day(by_day);
    v1::UsageReport report;
    grpc::Status s = stub->QueryUsage(&ctx, query, &report);
    if (!s.ok()) return Fail(s, target);
    t.columns = {"USER", "UPN", "APPLICATION"};
    if (by_day) t.columns.push_back("DAY");
    for (const char* c : {"FOCUS", "FOCUS_SECONDS", "SESSIONS", "LAST_SEEN_UTC"}) {
      t.columns.push_back(c);
    }
    for (const auto& r : report.rows()) {
      std::vector<std::string> row = {r.user(), r.upn(), r.application()};
      if (by_day) row.push_back(r.day());
      row.push_back(HumanDuration(r.focus_ms()));
      row.push_back(absl::StrFormat("%.3f", r.focus_ms() / 1000.0));
      row.push_back(std::to_string(r.sessions()));
      row.push_back(reclaim::FormatUtcMs(r.last_seen_utc_ms()));
      t.rows.push_back(std::move(row));
      nlohmann::ordered_json j;
      j["user"] = r.user();
      j["upn"] = r.upn();
      j["application"] = r.application();
      if (by_day) j["day"] = r.day();
      j["focus_seconds"] = r.focus_ms() / 1000.0;
      j["focus_ms"] = r.focus_ms();
      j["sessions"] = r.sessions();
      j["last_seen_utc"] = reclaim::FormatUtcMs(r.last_seen_utc_ms());
      t.json_rows.push_back(std::move(j));
    }
  } else if (*devices) {
    v1::ListDevicesResponse resp;
    grpc::Status s = stub->ListDevices(&ctx, {}, &resp);
    if (!s.ok()) return Fail(s, target);
    t.columns = {"DEVICE",  "INSTANCE", "HOST", "USER", "VERSION", "ACKED_SEQ", "LAST_SEEN_UTC",
                 "DROPPED_BATCHES", "DROPPED_INTERVALS", "DROPPED_FOCUS_MS", "CORRUPT_SPOOLS",
                 "QUARANTINED"};
    for (const auto& d : resp.devices()) {
      t.rows.push_back({d.device_id(), d.agent_instance_id(), d.hostname(), d.user(),
                        d.agent_version(), std::to_string(d.acked_through_seq()),
                        reclaim::FormatUtcMs(d.last_seen_utc_ms()),
                        std::to_string(d.dropped_batches()), std::to_string(d.dropped_intervals()),
                        std::to_string(d.dropped_focus_ms()), std::to_string(d.corrupt_spools()),
                        std::to_string(d.quarantined_intervals())});
      nlohmann::ordered_json j;
      j["device_id"] = d.device_id();
      j["agent_instance_id"] = d.agent_instance_id();
      j["hostname"] = d.hostname();
      j["user"] = d.user();
      j["agent_version"] = d.agent_version();
      j["os_version"] = d.os_version();
      j["acked_through_seq"] = d.acked_through_seq();
      j["last_seen_utc"] = reclaim::FormatUtcMs(d.last_seen_utc_ms());
      j["dropped_batches"] = d.dropped_batches();
      j["dropped_intervals"] = d.dropped_intervals();
      j["dropped_focus_ms"] = d.dropped_focus_ms();
      j["corrupt_spools"] = d.corrupt_spools();
      j["quarantined_intervals"] = d.quarantined_intervals();
      t.json_rows.push_back(std::move(j));
    }
  } else if (*quarantine) {
    v1::ListQuarantineRequest req;
    req.set_limit(limit);
    v1::ListQuarantineResponse resp;
    grpc::Status s = stub->ListQuarantine(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target);
    t.columns = {"RECEIVED_UTC", "DEVICE", "INSTANCE", "SEQ", "INDEX", "REASON", "DETAIL"};
    for (const auto& q : resp.entries()) {
      std::string detail = q.detail();
      for (char& c : detail) {
        if (c == '\n') c = ' ';
      }
      t.rows.push_back({reclaim::FormatUtcMs(q.received_utc_ms()), q.device_id(),
                        q.agent_instance_id(), std::to_string(q.seq()),
                        std::to_string(q.index()), q.reason(), detail});
      nlohmann::ordered_json j;
      j["received_utc"] = reclaim::FormatUtcMs(q.received_utc_ms());
      j["device_id"] = q.device_id();
      j["agent_instance_id"] = q.agent_instance_id();
      j["seq"] = q.seq();
      j["index"] = q.index();
      j["reason"] = q.reason();
      j["detail"] = q.detail();
      t.json_rows.push_back(std::move(j));
    }
  }
  Print(t, output);
  return 0;
}
