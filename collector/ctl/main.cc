// reclaimctl: the administrator's command line for the Reclaim collector.
//
//   reclaimctl usage [--user U] [--app A] [--since DAY] [--until DAY] [--by-day]
//                    [--output table|json|csv]
//   reclaimctl devices [--output ...] | devices credentials | devices revoke DEVICE
//   reclaimctl stats [--output ...]
//   reclaimctl quarantine [--limit N] [--output ...]
//   reclaimctl applications list | add NAME [--cost 15.00 --currency EUR]
//              [--rule KIND:PATTERN]... | add-rule NAME KIND:PATTERN
//   reclaimctl policies list | show NAME | create NAME --app A --connector C
//              --group G [--lookback-days 90] [--threshold-minutes 5]
//              [--grace-days 30] [--min-coverage 0.5] [--max-removals 10]
//              [--ask-permission --wait-hours 72] [--exclude user:X|group:Y]...
//              [--schedule CRON] [--enable] | enable NAME | disable NAME
//   reclaimctl candidates POLICY          (evaluate now, record nothing)
//   reclaimctl run POLICY [--dry-run | --execute] [--no-wait]
//              (a policy with --ask-permission: a real run asks its candidates
//              "Do you still need <application>?" and waits --wait-hours; a
//              dry run lists who would be asked and asks nobody)
//   reclaimctl runs [--policy P] [--limit N] | runs show RUN_ID
//   reclaimctl audit [--after SEQ] [--limit N] | audit verify
//   reclaimctl restore AUDIT_SEQ           (seq of a remove.result entry)
//   reclaimctl kill-switch on|off|status
//   reclaimctl campaigns list | show NAME | create NAME --sender S --question Q
//              [--answer A]... [--urgent] [--wait-hours 168] [--postpone-hours 12]
//              [--wait-seconds S] [--postpone-seconds S] [--application APP]
//              | launch NAME USER... | expire NAME
//
// Every call presents an admin token ("authorization: Bearer <token>"),
// read from --token-file FILE (owner-only: mode 0600 or 0400, refused
// otherwise) or from the environment variable RECLAIM_ADMIN_TOKEN; the file
// wins when both are given. The token's name and role are what the audit log
// records as the caller. The token never appears in output or errors.
//
// TLS: --ca-file (or $RECLAIM_CA_FILE) verifies the collector's certificate;
// --client-cert/--client-key for mutual TLS (a collector started with
// --admin-tls-client-ca requires them); --insecure-plaintext (or
// RECLAIM_INSECURE_PLAINTEXT=1) for a collector listening without TLS. A flag
// wins over the environment: --insecure-plaintext with $RECLAIM_CA_FILE set
// is plaintext.
//
// Exit codes: 0 success, 1 the collector answered with an error or could not
// be reached (message on stderr), 2 bad flags.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "CLI/CLI.hpp"
#include "collector/ctl/table.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_tls.h"
#include "common/secret_file.h"
#include "common/utc_day.h"
#include "nlohmann/json.hpp"
#include "reclaim/v1/admin.grpc.pb.h"

namespace {

namespace v1 = ::reclaim::v1;

using reclaim::ctl::Print;
using reclaim::ctl::Table;

// Environment variable holding the admin token when --token-file is not given.
constexpr char kTokenEnv[] = "RECLAIM_ADMIN_TOKEN";
// Environment defaults of --ca-file and --insecure-plaintext.
constexpr char kCaFileEnv[] = "RECLAIM_CA_FILE";
constexpr char kPlaintextEnv[] = "RECLAIM_INSECURE_PLAINTEXT";

// Fills `tls` from the environment when the command line chose neither a CA
// bundle nor plaintext: a flag always wins over the environment (so
// --insecure-plaintext works with $RECLAIM_CA_FILE set, and --ca-file with
// $RECLAIM_INSECURE_PLAINTEXT set). Errors: kInvalidArgument for a value of
// $RECLAIM_INSECURE_PLAINTEXT other than 1/true/yes/on or 0/false/no/off/"".
absl::Status TlsFromEnvironment(reclaim::ClientTlsOptions* tls) {
  if (!tls->ca_file.empty() || tls->insecure_plaintext) return absl::OkStatus();
  if (const char* ca = std::getenv(kCaFileEnv); ca != nullptr) tls->ca_file = ca;
  if (const char* plain = std::getenv(kPlaintextEnv); plain != nullptr) {
    const std::string v = absl::AsciiStrToLower(plain);
    if (v == "1" || v == "true" || v == "yes" || v == "on") {
      tls->insecure_plaintext = true;
    } else if (!(v.empty() || v == "0" || v == "false" || v == "no" || v == "off")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "$", kPlaintextEnv, " is '", plain, "'; use 1 (plaintext) or 0"));
    }
  }
  return absl::OkStatus();
}

// "1h 02m 03s" for a duration in ms.
std::string HumanDuration(std::int64_t ms) {
  const std::int64_t s = ms / 1000;
  if (s >= 3600) return absl::StrFormat("%dh %02dm %02ds", s / 3600, (s / 60) % 60, s % 60);
  if (s >= 60) return absl::StrFormat("%dm %02ds", s / 60, s % 60);
  return absl::StrFormat("%.1fs", ms / 1000.0);
}

// What to check when the collector cannot be reached (transport security).
std::string connect_hint;

// `channel` tells the two kinds of UNAVAILABLE apart: when it never became
// READY the collector itself could not be reached; otherwise the collector
// answered UNAVAILABLE (e.g. for an unreachable directory behind it).
int Fail(const grpc::Status& s, const std::string& target, grpc::Channel& channel) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    if (channel.GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
      std::fprintf(stderr, "reclaimctl: cannot reach the collector's admin API at %s: %s (%s)\n",
                   target.c_str(), s.error_message().c_str(), connect_hint.c_str());
    } else {
      std::fprintf(stderr, "reclaimctl: unavailable (collector admin API at %s, or the "
                   "directory behind it): %s\n", target.c_str(), s.error_message().c_str());
    }
  } else if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    std::fprintf(stderr, "reclaimctl: not authenticated: %s\n", s.error_message().c_str());
  } else if (s.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    std::fprintf(stderr, "reclaimctl: permission denied: %s\n", s.error_message().c_str());
  } else {
    std::fprintf(stderr, "reclaimctl: the collector refused the request: %s\n",
                 s.error_message().c_str());
  }
  return 1;
}

std::string Money(std::int64_t cents, const std::string& currency) {
  if (currency.empty() && cents == 0) return "";
  return absl::StrFormat("%d.%02d %s", cents / 100, std::llabs(cents % 100), currency);
}

std::string Time(std::int64_t utc_ms) { return utc_ms ? reclaim::FormatUtcMs(utc_ms) : ""; }

bool TerminalState(const std::string& state) {
  return state == "dry_run" || state == "succeeded" || state == "failed" || state == "halted";
}

void RunsTable(const std::vector<v1::Run>& runs, Table* t) {
  t->columns = {"RUN", "POLICY", "MODE", "STATE", "MEMBERS", "CANDIDATES", "NO_DATA", "OVER_CAP",
                "REMOVED", "MANUAL", "FAILED", "PENDING", "SAVING_PER_MONTH", "ACTOR", "CREATED_UTC",
                "ERROR"};
  for (const v1::Run& r : runs) {
    t->rows.push_back({std::to_string(r.id()), r.policy(), r.dry_run() ? "dry" : "real", r.state(),
                       std::to_string(r.members()), std::to_string(r.candidates()),
                       std::to_string(r.no_data()), std::to_string(r.over_cap()),
                       std::to_string(r.removed()), std::to_string(r.manual()),
                       std::to_string(r.failed()), std::to_string(r.pending()),
                       Money(r.monthly_saving_cents(), r.currency()), r.actor(),
                       Time(r.created_utc_ms()), r.error()});
    nlohmann::ordered_json j;
    j["run"] = r.id();
    j["policy"] = r.policy();
    j["dry_run"] = r.dry_run();
    j["state"] = r.state();
    j["members"] = r.members();
    j["candidates"] = r.candidates();
    j["no_data"] = r.no_data();
    j["over_cap"] = r.over_cap();
    j["removed"] = r.removed();
    j["manual"] = r.manual();
    j["failed"] = r.failed();
    j["pending"] = r.pending();
    j["monthly_saving_cents"] = r.monthly_saving_cents();
    j["currency"] = r.currency();
    j["actor"] = r.actor();
    j["connector"] = r.connector();
    j["group"] = r.group_name();
    j["created_utc"] = Time(r.created_utc_ms());
    j["finished_utc"] = Time(r.finished_utc_ms());
    j["answers_due_utc"] = Time(r.answers_due_utc_ms());
    j["error"] = r.error();
    t->json_rows.push_back(std::move(j));
  }
}

void ItemsTable(const v1::RunReport& report, Table* t) {
  t->columns = {"USER", "UPN", "MEMBERSHIP", "DECISION", "FOCUS", "LAST_USE_UTC", "COVERAGE",
                "DEVICES", "ANSWER", "STATE", "OUTCOME", "AUDIT_SEQ", "REASON"};
  for (const v1::RunItem& i : report.items()) {
    const std::string user = i.domain().empty() ? i.sam_account_name()
                                                : i.domain() + "\\" + i.sam_account_name();
    t->rows.push_back({user, i.upn(), i.membership(), i.decision(), HumanDuration(i.focus_ms()),
                       Time(i.last_use_utc_ms()), absl::StrFormat("%.0f%%", i.coverage() * 100),
                       std::to_string(i.devices()), i.answer(), i.state(), i.outcome(),
                       i.result_audit_seq() ? std::to_string(i.result_audit_seq()) : "",
                       i.detail().empty() ? i.reason() : i.reason() + "; " + i.detail()});
    nlohmann::ordered_json j;
    j["object_id"] = i.object_id();
    j["user"] = user;
    j["upn"] = i.upn();
    j["display_name"] = i.display_name();
    j["membership"] = i.membership();
    j["decision"] = i.decision();
    j["reason"] = i.reason();
    j["focus_ms"] = i.focus_ms();
    j["last_use_utc"] = Time(i.last_use_utc_ms());
    j["coverage"] = i.coverage();
    j["devices"] = i.devices();
    j["answer"] = i.answer();
    j["first_seen_in_group_utc"] = Time(i.first_seen_in_group_utc_ms());
    j["state"] = i.state();
    j["outcome"] = i.outcome();
    j["detail"] = i.detail();
    j["result_audit_seq"] = i.result_audit_seq();
    j["asked_users"] = std::vector<std::string>(i.asked_users().begin(), i.asked_users().end());
    t->json_rows.push_back(std::move(j));
  }
}

void PoliciesTable(const std::vector<v1::Policy>& policies, Table* t) {
  t->columns = {"POLICY", "APPLICATION", "CONNECTOR", "GROUP", "ENABLED", "SCHEDULE", "WINDOW",
                "THRESHOLD", "GRACE", "MIN_COVERAGE", "CAP", "ASK", "EXCLUSIONS"};
  for (const v1::Policy& p : policies) {
    std::string ex;
    for (const auto& e : p.exclusions()) ex += (ex.empty() ? "" : " ") + e;
    t->rows.push_back({p.name(), p.application(), p.connector(), p.group_name(),
                       p.enabled() ? "yes" : "no", p.schedule(),
                       std::to_string(p.lookback_days()) + "d",
                       HumanDuration(p.threshold_seconds() * 1000),
                       std::to_string(p.grace_days()) + "d",
                       absl::StrFormat("%.0f%%", p.min_coverage() * 100),
                       std::to_string(p.max_removals_per_run()),
                       p.ask_permission() ? absl::StrCat("yes (", p.answer_wait_hours(), "h)") : "no",
                       ex});
    nlohmann::ordered_json j;
    j["id"] = p.id();
    j["name"] = p.name();
    j["application"] = p.application();
    j["connector"] = p.connector();
    j["group"] = p.group();
    j["group_object_id"] = p.group_object_id();
    j["group_name"] = p.group_name();
    j["enabled"] = p.enabled();
    j["schedule"] = p.schedule();
    j["lookback_days"] = p.lookback_days();
    j["threshold_seconds"] = p.threshold_seconds();
    j["grace_days"] = p.grace_days();
    j["min_coverage"] = p.min_coverage();
    j["max_removals_per_run"] = p.max_removals_per_run();
    j["ask_permission"] = p.ask_permission();
    j["answer_wait_hours"] = p.answer_wait_hours();
    j["exclusions"] = std::vector<std::string>(p.exclusions().begin(), p.exclusions().end());
    t->json_rows.push_back(std::move(j));
  }
}

void ApplicationsTable(const std::vector<v1::Application>& apps, Table* t) {
  t->columns = {"APPLICATION", "COST_PER_SEAT_MONTH", "RULES"};
  for (const v1::Application& a : apps) {
    std::string rules;
    nlohmann::ordered_json jr = nlohmann::ordered_json::array();
    for (const auto& r : a.rules()) {
      rules += (rules.empty() ? "" : " ") + r.kind() + ":" + r.pattern();
      jr.push_back({{"kind", r.kind()}, {"pattern", r.pattern()}});
    }
    t->rows.push_back({a.name(), Money(a.cost_cents_per_seat_month(), a.currency()), rules});
    nlohmann::ordered_json j;
    j["id"] = a.id();
    j["name"] = a.name();
    j["cost_cents_per_seat_month"] = a.cost_cents_per_seat_month();
    j["currency"] = a.currency();
    j["rules"] = jr;
    t->json_rows.push_back(std::move(j));
  }
}

void AuditTable(const std::vector<v1::AuditEntry>& entries, Table* t) {
  t->columns = {"SEQ", "TIME_UTC", "ACTOR", "ACTION", "POLICY", "RUN", "SUBJECT", "DETAIL", "HASH"};
  for (const v1::AuditEntry& e : entries) {
    t->rows.push_back({std::to_string(e.seq()), Time(e.time_utc_ms()), e.actor(), e.action(),
                       e.policy_id() ? std::to_string(e.policy_id()) : "",
                       e.run_id() ? std::to_string(e.run_id()) : "", e.subject(), e.detail(),
                       e.hash().substr(0, 12)});
    nlohmann::ordered_json j;
    j["seq"] = e.seq();
    j["time_utc"] = Time(e.time_utc_ms());
    j["actor"] = e.actor();
    j["action"] = e.action();
    j["policy_id"] = e.policy_id();
    j["run_id"] = e.run_id();
    j["subject"] = e.subject();
    j["detail"] = nlohmann::ordered_json::parse(e.detail(), nullptr, false);
    j["prev_hash"] = e.prev_hash();
    j["hash"] = e.hash();
    t->json_rows.push_back(std::move(j));
  }
}

void CampaignsTable(const std::vector<v1::Campaign>& campaigns, Table* t) {
  t->columns = {"CAMPAIGN", "ID", "SENDER", "PRIORITY", "WAIT", "POSTPONE", "ANSWERS",
                "RESPONSES", "QUESTION"};
  for (const v1::Campaign& c : campaigns) {
    std::string answers, counts;
    for (const auto& a : c.answers()) answers += (answers.empty() ? "" : "/") + a;
    std::map<std::string, std::int64_t> by_state(c.responses_by_state().begin(),
                                                 c.responses_by_state().end());
    for (const auto& [state, n] : by_state) {
      counts += absl::StrCat(counts.empty() ? "" : " ", state, "=", n);
    }
    t->rows.push_back({c.name(), std::to_string(c.id()), c.sender_name(), c.priority(),
                       absl::StrCat(c.answer_wait_hours(), "h"),
                       absl::StrCat(c.postpone_delay_hours(), "h"), answers, counts,
                       c.question()});
    nlohmann::ordered_json j;
    j["id"] = c.id();
    j["name"] = c.name();
    j["sender_name"] = c.sender_name();
    j["sender_image"] = c.sender_image();
    j["question"] = c.question();
    j["answers"] = std::vector<std::string>(c.answers().begin(), c.answers().end());
    j["priority"] = c.priority();
    j["answer_wait_hours"] = c.answer_wait_hours();
    j["postpone_delay_hours"] = c.postpone_delay_hours();
    j["policy_id"] = c.policy_id();
    j["application"] = c.application();
    j["created_utc"] = Time(c.created_utc_ms());
    j["responses_by_state"] = by_state;
    t->json_rows.push_back(std::move(j));
  }
}

void CampaignResponsesTable(const v1::ListCampaignResponsesResponse& resp, Table* t) {
  t->columns = {"USER", "STATE", "ANSWER", "DEVICE", "LAUNCHED_UTC", "DELIVERED_UTC",
                "DISPLAYED_UTC", "FINISHED_UTC", "DUE_UTC", "POSTPONED_UNTIL_UTC", "POSTPONES"};
  for (const v1::CampaignResponse& r : resp.responses()) {
    t->rows.push_back({r.user(), r.state(), r.answer(), r.device_id(), Time(r.launched_utc_ms()),
                       Time(r.delivered_utc_ms()), Time(r.displayed_utc_ms()),
                       Time(r.finished_utc_ms()), Time(r.due_utc_ms()),
                       Time(r.postponed_until_utc_ms()), std::to_string(r.postpone_count())});
    nlohmann::ordered_json j;
    j["id"] = r.id();
    j["campaign"] = r.campaign();
    j["user"] = r.user();
    j["state"] = r.state();
    j["answer"] = r.answer();
    j["device_id"] = r.device_id();
    j["launched_utc"] = Time(r.launched_utc_ms());
    j["delivered_utc"] = Time(r.delivered_utc_ms());
    j["displayed_utc"] = Time(r.displayed_utc_ms());
    j["finished_utc"] = Time(r.finished_utc_ms());
    j["due_utc"] = Time(r.due_utc_ms());
    j["postponed_until_utc"] = Time(r.postponed_until_utc_ms());
    j["postpone_count"] = r.postpone_count();
    nlohmann::ordered_json events = nlohmann::ordered_json::array();
    for (const auto& e : r.events()) {
      events.push_back({{"at_utc", Time(e.at_utc_ms())},
                        {"kind", e.kind()},
                        {"device_id", e.device_id()},
                        {"answer", e.answer()},
                        {"state_after", e.state_after()}});
    }
    j["events"] = std::move(events);
    t->json_rows.push_back(std::move(j));
  }
}

// "kind:pattern" -> rule. Returns false when malformed.
bool ParseRule(const std::string& text, v1::ApplicationRule* rule) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  rule->set_kind(text.substr(0, colon));
  rule->set_pattern(text.substr(colon + 1));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:7444";
  int timeout_s = 30;
  std::string output = "table";
  CLI::App app{
      "reclaimctl: drives a Reclaim collector: usage reports, devices, quarantine, the "
      "application catalog, reclamation policies and runs, audit and restore, campaigns."};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.add_option("--collector", target, "Collector admin API address (host:port)")
      ->capture_default_str()->envname("RECLAIM_COLLECTOR");
  app.add_option("--timeout", timeout_s, "Seconds to wait for the collector")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  reclaim::ClientTlsOptions tls;
  // $RECLAIM_CA_FILE and $RECLAIM_INSECURE_PLAINTEXT apply only when neither
  // flag is given (TlsFromEnvironment): a flag on the command line always
  // wins over the environment.
  app.add_option("--ca-file", tls.ca_file,
                 std::string("PEM bundle of the CAs that may sign the collector's certificate "
                             "(default: $") + kCaFileEnv + ")");
  app.add_option("--client-cert", tls.cert_file, "Mutual TLS: your PEM certificate");
  app.add_option("--client-key", tls.key_file,
                 "Mutual TLS: the key of --client-cert (owner-only file)");
  app.add_flag("--insecure-plaintext", tls.insecure_plaintext,
               std::string("Talk to a collector listening WITHOUT TLS (trusted test networks "
                           "only; default: $") + kPlaintextEnv + "=1); overrides $" + kCaFileEnv);
  std::string tls_server_name;
  app.add_option("--tls-server-name", tls_server_name,
                 "Name to expect in the collector's certificate when it differs from the "
                 "--collector host (e.g. 127.0.0.1:7444 on the collector's machine, "
                 "certificate for collector.example.com)")
      ->envname("RECLAIM_TLS_SERVER_NAME");
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
  devices->require_subcommand(0, 1);
  CLI::App* devices_credentials = devices->add_subcommand(
      "credentials", "Enrolled devices and the state of their credentials");
  add_output(devices_credentials);
  std::string revoke_device;
  CLI::App* devices_revoke = devices->add_subcommand(
      "revoke", "Revoke a device's credential: its streams end at once; it must enroll again "
                "with the enrollment secret");
  devices_revoke->add_option("device", revoke_device, "Device id")->required();
  add_output(devices_revoke);

  CLI::App* stats = app.add_subcommand(
      "stats", "Agent channel: input-limit refusals by reason, streams, ingest and "
               "data-protection counters");
  add_output(stats);

  int limit = 100;
  CLI::App* quarantine = app.add_subcommand("quarantine", "Intervals the collector refused");
  quarantine->add_option("--limit", limit, "At most this many, newest first")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  add_output(quarantine);

  // The token's value is never a command-line argument (visible in ps) and
  // never a default shown by --help: only a file name or the variable name.
  std::string token_file;
  app.add_option("--token-file", token_file,
                 "Owner-only file (mode 0600/0400) holding your admin token (else the "
                 "environment variable " + std::string(kTokenEnv) + ")");

  // applications
  CLI::App* apps = app.add_subcommand("applications", "The application catalog");
  apps->require_subcommand(1);
  CLI::App* apps_list = apps->add_subcommand("list", "Applications and their rules");
  add_output(apps_list);
  std::string app_name, cost_text, currency, rule_text;
  std::vector<std::string> rule_texts;
  CLI::App* apps_add = apps->add_subcommand("add", "Add an application");
  apps_add->add_option("name", app_name, "Application name")->required();
  apps_add->add_option("--cost", cost_text, "License cost per seat and month, e.g. 15.00");
  apps_add->add_option("--currency", currency, "ISO 4217 currency, e.g. EUR");
  apps_add->add_option("--rule", rule_texts,
                       "KIND:PATTERN (kind exe, path, package, class, web, product), repeatable");
  add_output(apps_add);
  CLI::App* apps_rule = apps->add_subcommand("add-rule", "Add a rule to an application");
  apps_rule->add_option("name", app_name, "Application name")->required();
  apps_rule->add_option("rule", rule_text, "KIND:PATTERN, e.g. web:*.lightning.force.com")
      ->required();
  add_output(apps_rule);

  // policies
  CLI::App* pols = app.add_subcommand("policies", "Reclamation policies");
  pols->require_subcommand(1);
  CLI::App* pols_list = pols->add_subcommand("list", "All policies");
  add_output(pols_list);
  std::string policy_name;
  CLI::App* pols_show = pols->add_subcommand("show", "One policy");
  pols_show->add_option("name", policy_name, "Policy name or id")->required();
  add_output(pols_show);
  v1::Policy spec;
  std::string p_app, p_connector, p_group, p_schedule;
  std::vector<std::string> p_exclude;
  std::int64_t p_lookback = 0, p_grace = -1, p_cap = 0, p_wait = 0;
  double p_threshold_min = -1, p_min_cov = -1;
  bool p_ask = false, p_enable = false;
  CLI::App* pols_create = pols->add_subcommand("create", "Create a policy (disabled unless --enable)");
  pols_create->add_option("name", policy_name, "Policy name")->required();
  pols_create->add_option("--app,--application", p_app, "Catalog application")->required();
  pols_create->add_option("--connector", p_connector, "Directory connector name")->required();
  pols_create->add_option("--group", p_group, "Authorization group (name, DN or object id)")
      ->required();
  pols_create->add_option("--lookback-days", p_lookback, "Look-back window, days (default 90)")
      ->check(CLI::Range(1, 3650));
  pols_create->add_option("--threshold-minutes", p_threshold_min,
                          "Focus time below which a member is a candidate (default 5)")
      ->check(CLI::Range(0.0, 1e6));
  pols_create->add_option("--grace-days", p_grace, "Grace for recently added members (default 30)")
      ->check(CLI::Range(0, 3650));
  pols_create->add_option("--min-coverage", p_min_cov,
                          "Share of the window devices must have reported (default 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  pols_create->add_option("--max-removals", p_cap, "Most removals per run (default 10)")
      ->check(CLI::Range(1, 100000));
  pols_create->add_flag(
      "--ask-permission,--ask", p_ask,
      "Ask for permission: a real run asks its candidates on screen \"Do you still need "
      "<application>?\" (campaign reclaim-run-<id>) and, after --wait-hours, removes only "
      "those who did not answer Yes (No, closed, postponed, timed out, never shown). A Yes "
      "keeps the licence for one look-back window; a Yes given after the removal (the prompt "
      "stays open for another --wait-hours) restores the member. A dry run lists who would be "
      "asked and asks nobody");
  pols_create->add_option("--wait-hours", p_wait,
                          "With --ask-permission: hours to wait for answers, 1-2160 (default 72)")
      ->check(CLI::Range(0, 2160));
  pols_create->add_option("--exclude", p_exclude, "user:NAME or group:GROUP, repeatable");
  pols_create->add_option("--schedule", p_schedule, "Cron expression (UTC), e.g. '0 3 * * MON'");
  pols_create->add_flag("--enable", p_enable, "Enable at once (real and scheduled runs)");
  add_output(pols_create);
  CLI::App* pols_enable = pols->add_subcommand("enable", "Allow real and scheduled runs");
  pols_enable->add_option("name", policy_name, "Policy name or id")->required();
  add_output(pols_enable);
  CLI::App* pols_disable = pols->add_subcommand("disable", "Stop real and scheduled runs");
  pols_disable->add_option("name", policy_name, "Policy name or id")->required();
  add_output(pols_disable);

  CLI::App* candidates = app.add_subcommand(
      "candidates", "Evaluate a policy now (who would be removed and why); records nothing");
  candidates->add_option("policy", policy_name, "Policy name or id")->required();
  add_output(candidates);

  bool dry_run_flag = false, execute = false, no_wait = false;
  CLI::App* run = app.add_subcommand(
      "run", "Run a policy: a dry run unless --execute. For a policy with --ask-permission, "
             "--execute asks the candidates and returns while the run waits for answers "
             "(`runs show ID` later); a dry run only lists who would be asked");
  run->add_option("policy", policy_name, "Policy name or id")->required();
  auto* dry_opt = run->add_flag("--dry-run", dry_run_flag, "Only show what would happen (default)");
  run->add_flag("--execute", execute, "Really remove members (audited)")->excludes(dry_opt);
  run->add_flag("--no-wait", no_wait, "Do not wait for a real run to finish");
  add_output(run);

  std::int64_t run_id = 0;
  int runs_limit = 50;
  CLI::App* runs = app.add_subcommand("runs", "Recorded runs, newest first");
  runs->add_option("--policy", policy_name, "Only this policy");
  runs->add_option("--limit", runs_limit, "At most this many")->check(CLI::Range(1, 10000));
  add_output(runs);
  CLI::App* runs_show = runs->add_subcommand("show", "One run with every member's line");
  runs_show->add_option("run", run_id, "Run id")->required();
  add_output(runs_show);

  std::int64_t after_seq = 0;
  int audit_limit = 1000;
  CLI::App* audit = app.add_subcommand("audit", "The audit log (append-only, hash-chained)");
  audit->add_option("--after", after_seq, "Entries after this seq");
  audit->add_option("--limit", audit_limit, "At most this many")->check(CLI::Range(1, 100000));
  add_output(audit);
  CLI::App* audit_verify = audit->add_subcommand("verify", "Check the hash chain");
  add_output(audit_verify);

  std::int64_t restore_seq = 0;
  CLI::App* restore = app.add_subcommand("restore", "Re-add a removed member (from the audit log)");
  restore->add_option("audit_seq", restore_seq, "seq of the remove.result audit entry")->required();
  add_output(restore);

  std::string kill_state;
  CLI::App* kill = app.add_subcommand("kill-switch", "Stop (on) or allow (off) all real removals");
  kill->add_option("state", kill_state, "on, off or status")
      ->required()->check(CLI::IsMember({"on", "off", "status"}));
  add_output(kill);

  std::string campaign_name, c_sender, c_question, c_image;
  std::vector<std::string> c_answers, c_users;
  bool c_urgent = false;
  std::int64_t c_wait_hours = 0, c_postpone_hours = 0, c_wait_s = 0, c_postpone_s = 0;
  std::string c_application;
  CLI::App* camps = app.add_subcommand("campaigns", "Consent campaigns: ask users on screen");
  camps->require_subcommand(1);
  CLI::App* camps_list = camps->add_subcommand("list", "Campaigns with response counts");
  add_output(camps_list);
  CLI::App* camps_show = camps->add_subcommand("show", "Every user's response to a campaign");
  camps_show->add_option("campaign", campaign_name, "Campaign name or id")->required();
  add_output(camps_show);
  CLI::App* camps_create = camps->add_subcommand("create", "Define a campaign");
  camps_create->add_option("name", campaign_name, "Unique campaign name")->required();
  camps_create->add_option("--sender", c_sender, "Sender shown on the prompt")->required();
  camps_create->add_option("--question", c_question, "The question")->required();
  camps_create->add_option("--sender-image", c_image, "Image beside the sender");
  camps_create->add_option("--answer", c_answers, "An answer (repeat; default Yes and No)");
  camps_create->add_flag("--urgent", c_urgent, "Show at once (default: not urgent)");
  camps_create->add_option("--wait-hours", c_wait_hours, "Hours an answer is awaited (168)")
      ->check(CLI::Range(1, 24 * 365));
  camps_create->add_option("--postpone-hours", c_postpone_hours,
                           "Hours before a postponed prompt returns (12)")
      ->check(CLI::Range(1, 24 * 365));
  camps_create->add_option("--wait-seconds", c_wait_s,
                           "Seconds an answer is awaited (short campaigns for tests and demos)")
      ->check(CLI::Range(1, 3600 * 24 * 365))->excludes("--wait-hours");
  camps_create->add_option("--postpone-seconds", c_postpone_s,
                           "Seconds before a postponed prompt returns (tests and demos)")
      ->check(CLI::Range(1, 3600 * 24 * 365))->excludes("--postpone-hours");
  camps_create->add_option("--application", c_application,
                           "Application the question is about (pending reclamation questions "
                           "are asked together, one answer per application)");
  add_output(camps_create);
  CLI::App* camps_launch = camps->add_subcommand("launch", "Ask a list of users now");
  camps_launch->add_option("campaign", campaign_name, "Campaign name or id")->required();
  camps_launch->add_option("users", c_users, "Users, DOMAIN\\login each")->required();
  add_output(camps_launch);
  CLI::App* camps_expire = camps->add_subcommand("expire", "End a campaign (open -> expired)");
  camps_expire->add_option("campaign", campaign_name, "Campaign name or id")->required();
  add_output(camps_expire);

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

  // The admin token: --token-file, else RECLAIM_ADMIN_TOKEN, else none (the
  // collector then answers UNAUTHENTICATED with a hint).
  std::string authorization;
  {
    absl::StatusOr<std::string> token;
    if (!token_file.empty()) {
      token = reclaim::ReadSecretFile(token_file, "admin token");
    } else if (std::getenv(kTokenEnv) != nullptr) {
      token = reclaim::ReadSecretEnv(kTokenEnv, "admin token");
    }
    if (token.ok()) {
      // gRPC would abort on a bad header byte and print the token in hex.
      if (absl::Status s = reclaim::CheckHeaderSafeSecret(*token, "admin token"); !s.ok()) {
        reclaim::WipeSecret(*token);
        token = s;
      }
    }
    if (!token.ok() && !(token_file.empty() && std::getenv(kTokenEnv) == nullptr)) {
      std::fprintf(stderr, "reclaimctl: %s\n", std::string(token.status().message()).c_str());
      return 2;
    }
    if (token.ok()) {
      authorization = "Bearer " + *token;
      reclaim::WipeSecret(*token);
    }
  }

  if (absl::Status s = TlsFromEnvironment(&tls); !s.ok()) {
    std::fprintf(stderr, "reclaimctl: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  auto credentials = reclaim::MakeChannelCredentials(tls);
  if (!credentials.ok()) {
    std::fprintf(stderr, "reclaimctl: TLS: %s\n",
                 std::string(credentials.status().message()).c_str());
    return 2;
  }
  connect_hint = tls.insecure_plaintext
                     ? "is it running? a collector with TLS needs --ca-file, not "
                       "--insecure-plaintext"
                     : std::string("is it running with TLS, does --ca-file hold the CA that "
                                   "signed its certificate, and is the --collector host (or "
                                   "--tls-server-name) a name in that certificate?") +
                           (tls.cert_file.empty()
                                ? " Does it require a client certificate (--client-cert, "
                                  "--client-key)?"
                                : " Does the CA of its --admin-tls-client-ca bundle sign "
                                  "--client-cert?");
  grpc::ChannelArguments channel_args;
  if (!tls_server_name.empty()) channel_args.SetSslTargetNameOverride(tls_server_name);
  auto channel = grpc::CreateCustomChannel(target, *credentials, channel_args);
  auto stub = v1::AdminService::NewStub(channel);
  // Deadline and token for each call (a ClientContext serves one call).
  const auto fresh = [&](grpc::ClientContext* c) {
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
    if (!authorization.empty()) c->AddMetadata("authorization", authorization);
  };
  grpc::ClientContext ctx;
  fresh(&ctx);
  Table t;

  if (*usage) {
    query.set_user(user);
    query.set_application(application);
    query.set_since_day(since);
    query.set_until_day(until);
    query.set_by_day(by_day);
    v1::UsageReport report;
    grpc::Status s = stub->QueryUsage(&ctx, query, &report);
    if (!s.ok()) return Fail(s, target, *channel);
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
  } else if (*devices_revoke || *devices_credentials) {
    std::vector<v1::DeviceCredential> creds;
    if (*devices_revoke) {
      v1::RevokeDeviceRequest req;
      req.set_device_id(revoke_device);
      v1::RevokeDeviceResponse resp;
      grpc::Status s = stub->RevokeDevice(&ctx, req, &resp);
      if (!s.ok()) return Fail(s, target, *channel);
      creds.push_back(resp.credential());
      if (output == "table") {
        std::printf("device %s revoked (%u open stream(s) ended)\n", revoke_device.c_str(),
                    resp.streams_ended());
      }
    } else {
      v1::ListDeviceCredentialsResponse resp;
      grpc::Status s = stub->ListDeviceCredentials(&ctx, {}, &resp);
      if (!s.ok()) return Fail(s, target, *channel);
      creds.assign(resp.credentials().begin(), resp.credentials().end());
    }
    t.columns = {"DEVICE", "HOST", "ENROLLED_UTC", "REVOKED_UTC", "STATE", "CREDENTIALS"};
    for (const auto& c : creds) {
      const std::string state = c.valid_credentials() > 0 ? "valid" : "revoked";
      t.rows.push_back({c.device_id(), c.hostname(), Time(c.enrolled_utc_ms()),
                        Time(c.revoked_utc_ms()), state, std::to_string(c.valid_credentials())});
      nlohmann::ordered_json j;
      j["device_id"] = c.device_id();
      j["hostname"] = c.hostname();
      j["enrolled_utc"] = Time(c.enrolled_utc_ms());
      j["revoked_utc"] = Time(c.revoked_utc_ms());
      j["state"] = state;
      j["valid_credentials"] = c.valid_credentials();
      t.json_rows.push_back(std::move(j));
    }
  } else if (*devices) {
    v1::ListDevicesResponse resp;
    grpc::Status s = stub->ListDevices(&ctx, {}, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
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
  } else if (*stats) {
    v1::AgentChannelStats resp;
    grpc::Status s = stub->GetAgentChannelStats(&ctx, {}, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    std::vector<std::pair<std::string, std::uint64_t>> counters = {
        {"streams_opened", resp.streams_opened()},
        {"streams_active", resp.streams_active()},
        {"batches_stored", resp.batches_stored()},
        {"batches_duplicate", resp.batches_duplicate()},
        {"intervals_stored", resp.intervals_stored()},
        {"intervals_quarantined", resp.intervals_quarantined()},
        {"store_errors", resp.store_errors()},
        {"batches_failed_behind", resp.batches_failed_behind()},
        {"quarantine_dropped", resp.quarantine_dropped()},
        {"overlap_clipped_ms", resp.overlap_clipped_ms()},
        {"overlap_clipped_intervals", resp.overlap_clipped_intervals()}};
    std::map<std::string, std::uint64_t> refusals(resp.refusals().begin(),
                                                  resp.refusals().end());
    for (const auto& [reason, n] : refusals) counters.emplace_back("refused." + reason, n);
    t.columns = {"COUNTER", "VALUE"};
    for (const auto& [name, value] : counters) {
      t.rows.push_back({name, std::to_string(value)});
      nlohmann::ordered_json j;
      j["counter"] = name;
      j["value"] = value;
      t.json_rows.push_back(std::move(j));
    }
  } else if (*quarantine) {
    v1::ListQuarantineRequest req;
    req.set_limit(limit);
    v1::ListQuarantineResponse resp;
    grpc::Status s = stub->ListQuarantine(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
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
  } else if (*apps_list) {
    v1::ListApplicationsResponse resp;
    grpc::Status s = stub->ListApplications(&ctx, {}, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    ApplicationsTable({resp.applications().begin(), resp.applications().end()}, &t);
  } else if (*apps_add) {
    v1::AddApplicationRequest req;
    req.mutable_application()->set_name(app_name);
    if (!cost_text.empty()) {
      double cost = 0;
      if (!absl::SimpleAtod(cost_text, &cost) || cost < 0 || cost > 1e9) {
        std::fprintf(stderr, "reclaimctl: --cost '%s' is not an amount like 15.00\n",
                     cost_text.c_str());
        return 2;
      }
      req.mutable_application()->set_cost_cents_per_seat_month(
          static_cast<std::int64_t>(cost * 100 + 0.5));
    }
    req.mutable_application()->set_currency(currency);
    for (const std::string& r : rule_texts) {
      if (!ParseRule(r, req.mutable_application()->add_rules())) {
        std::fprintf(stderr, "reclaimctl: --rule '%s' is not KIND:PATTERN\n", r.c_str());
        return 2;
      }
    }
    v1::Application resp;
    grpc::Status s = stub->AddApplication(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    ApplicationsTable({resp}, &t);
  } else if (*apps_rule) {
    v1::AddApplicationRuleRequest req;
    req.set_application(app_name);
    if (!ParseRule(rule_text, req.mutable_rule())) {
      std::fprintf(stderr, "reclaimctl: '%s' is not KIND:PATTERN\n", rule_text.c_str());
      return 2;
    }
    v1::Application resp;
    grpc::Status s = stub->AddApplicationRule(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    ApplicationsTable({resp}, &t);
  } else if (*pols_list || *pols_show) {
    v1::ListPoliciesRequest req;
    if (*pols_show) req.set_policy(policy_name);
    v1::ListPoliciesResponse resp;
    grpc::Status s = stub->ListPolicies(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    PoliciesTable({resp.policies().begin(), resp.policies().end()}, &t);
  } else if (*pols_create) {
    v1::CreatePolicyRequest req;
    v1::Policy* p = req.mutable_policy();
    p->set_name(policy_name);
    p->set_application(p_app);
    p->set_connector(p_connector);
    p->set_group(p_group);
    if (p_lookback > 0) p->set_lookback_days(p_lookback);
    if (p_threshold_min >= 0) {
      p->set_threshold_seconds(static_cast<std::int64_t>(p_threshold_min * 60 + 0.5));
    }
    if (p_grace >= 0) p->set_grace_days(p_grace);
    if (p_min_cov >= 0) p->set_min_coverage(p_min_cov);
    if (p_cap > 0) p->set_max_removals_per_run(p_cap);
    p->set_ask_permission(p_ask);
    if (p_wait > 0) p->set_answer_wait_hours(p_wait);
    for (const auto& e : p_exclude) p->add_exclusions(e);
    p->set_schedule(p_schedule);
    p->set_enabled(p_enable);
    v1::Policy resp;
    grpc::Status s = stub->CreatePolicy(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    PoliciesTable({resp}, &t);
  } else if (*pols_enable || *pols_disable) {
    v1::SetPolicyEnabledRequest req;
    req.set_policy(policy_name);
    req.set_enabled(static_cast<bool>(*pols_enable));
    v1::Policy resp;
    grpc::Status s = stub->SetPolicyEnabled(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    PoliciesTable({resp}, &t);
  } else if (*candidates) {
    v1::ListCandidatesRequest req;
    req.set_policy(policy_name);
    v1::RunReport resp;
    grpc::Status s = stub->ListCandidates(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    ItemsTable(resp, &t);
    const v1::Run& r = resp.run();
    std::fprintf(stderr, "%s: %lld members of %s, %lld candidates, %lld no data, %lld over the "
                 "cap; saving %s per month\n", r.policy().c_str(), (long long)r.members(),
                 r.group_name().c_str(), (long long)r.candidates(), (long long)r.no_data(),
                 (long long)r.over_cap(), Money(r.monthly_saving_cents(), r.currency()).c_str());
  } else if (*run) {
    v1::StartRunRequest req;
    req.set_policy(policy_name);
    req.set_execute(execute);
    v1::RunReport resp;
    grpc::Status s = stub->StartRun(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    if (execute && !no_wait) {
      // Progress on stderr while the collector works through the run.
      std::string last;
      while (!TerminalState(resp.run().state())) {
        const v1::Run& r = resp.run();
        const std::string line = absl::StrFormat(
            "run %d: %s, %d of %d removed, %d manual, %d failed, %d pending", r.id(), r.state(),
            r.removed(), r.candidates(), r.manual(), r.failed(), r.pending());
        if (line != last) std::fprintf(stderr, "%s\n", line.c_str());
        last = line;
        if (r.state() == "awaiting_answers") {
          std::fprintf(stderr, "run %lld waits for campaign answers until %s; check later with "
                       "`reclaimctl runs show %lld`\n", (long long)r.id(),
                       Time(r.answers_due_utc_ms()).c_str(), (long long)r.id());
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        grpc::ClientContext poll;
        fresh(&poll);
        v1::GetRunRequest get;
        get.set_run_id(r.id());
        get.set_with_items(true);
        v1::RunReport next;
        grpc::Status ps = stub->GetRun(&poll, get, &next);
        if (!ps.ok()) return Fail(ps, target, *channel);
        resp = std::move(next);
      }
    }
    ItemsTable(resp, &t);
    const v1::Run& r = resp.run();
    if (r.dry_run()) {
      std::fprintf(stderr, "dry run %lld of %s: would remove %lld of %lld members of %s "
                   "(%lld no data, %lld over the cap); saving %s per month. Nothing was changed.\n",
                   (long long)r.id(), r.policy().c_str(), (long long)r.candidates(),
                   (long long)r.members(), r.group_name().c_str(), (long long)r.no_data(),
                   (long long)r.over_cap(), Money(r.monthly_saving_cents(), r.currency()).c_str());
      if (r.ask_permission()) {
        std::string asked;
        for (const v1::RunItem& i : resp.items()) {
          if (i.decision() != "candidate") continue;
          for (const auto& u : i.asked_users()) asked += (asked.empty() ? "" : ", ") + u;
        }
        std::fprintf(stderr, "the policy asks for permission: a real run would ask %lld "
                     "candidate(s) (%s) whether they still need the application and remove only "
                     "those who do not answer Yes in time. Nobody was asked.\n",
                     (long long)r.candidates(), asked.empty() ? "nobody" : asked.c_str());
      }
    } else {
      std::fprintf(stderr, "run %lld of %s: %s; %lld removed, %lld manual, %lld failed, %lld "
                   "pending; saving %s per month%s%s\n", (long long)r.id(), r.policy().c_str(),
                   r.state().c_str(), (long long)r.removed(), (long long)r.manual(),
                   (long long)r.failed(), (long long)r.pending(),
                   Money(r.monthly_saving_cents(), r.currency()).c_str(),
                   r.error().empty() ? "" : "; error: ", r.error().c_str());
      if (r.state() == "failed" || r.state() == "halted") {
        Print(t, output);
        return 1;
      }
    }
  } else if (*runs_show) {
    v1::GetRunRequest req;
    req.set_run_id(run_id);
    req.set_with_items(true);
    v1::RunReport resp;
    grpc::Status s = stub->GetRun(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    ItemsTable(resp, &t);
    Table summary;
    RunsTable({resp.run()}, &summary);
    if (output == "table") Print(summary, output), std::cout << "\n";
  } else if (*runs) {
    v1::ListRunsRequest req;
    req.set_policy(policy_name);
    req.set_limit(runs_limit);
    v1::ListRunsResponse resp;
    grpc::Status s = stub->ListRuns(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    RunsTable({resp.runs().begin(), resp.runs().end()}, &t);
  } else if (*audit_verify) {
    v1::VerifyAuditResponse resp;
    grpc::Status s = stub->VerifyAudit(&ctx, {}, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    t.columns = {"OK", "ENTRIES", "FIRST_BAD_SEQ", "PROBLEM", "HEAD_HASH"};
    t.rows.push_back({resp.ok() ? "yes" : "NO", std::to_string(resp.entries()),
                      resp.ok() ? "" : std::to_string(resp.first_bad_seq()), resp.problem(),
                      resp.head_hash()});
    nlohmann::ordered_json j;
    j["ok"] = resp.ok();
    j["entries"] = resp.entries();
    j["first_bad_seq"] = resp.first_bad_seq();
    j["problem"] = resp.problem();
    j["head_hash"] = resp.head_hash();
    t.json_rows.push_back(std::move(j));
    Print(t, output);
    if (!resp.ok()) {
      std::fprintf(stderr, "reclaimctl: audit chain broken at entry %lld: %s\n",
                   (long long)resp.first_bad_seq(), resp.problem().c_str());
      return 1;
    }
    return 0;
  } else if (*audit) {
    v1::ListAuditRequest req;
    req.set_after_seq(after_seq);
    req.set_limit(audit_limit);
    v1::ListAuditResponse resp;
    grpc::Status s = stub->ListAudit(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    AuditTable({resp.entries().begin(), resp.entries().end()}, &t);
  } else if (*restore) {
    v1::RestoreRequest req;
    req.set_audit_seq(restore_seq);
    v1::AuditEntry resp;
    grpc::Status s = stub->Restore(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    AuditTable({resp}, &t);
  } else if (*kill) {
    v1::KillSwitchState resp;
    grpc::Status s;
    if (kill_state == "status") {
      s = stub->GetKillSwitch(&ctx, {}, &resp);
    } else {
      v1::SetKillSwitchRequest req;
      req.set_on(kill_state == "on");
      s = stub->SetKillSwitch(&ctx, req, &resp);
    }
    if (!s.ok()) return Fail(s, target, *channel);
    t.columns = {"KILL_SWITCH"};
    t.rows.push_back({resp.on() ? "on" : "off"});
    t.json_rows.push_back({{"kill_switch", resp.on() ? "on" : "off"}});
  } else if (*camps_list) {
    v1::ListCampaignsResponse resp;
    grpc::Status s = stub->ListCampaigns(&ctx, {}, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    CampaignsTable({resp.campaigns().begin(), resp.campaigns().end()}, &t);
  } else if (*camps_create) {
    v1::CreateCampaignRequest req;
    v1::Campaign* c = req.mutable_campaign();
    c->set_name(campaign_name);
    c->set_sender_name(c_sender);
    c->set_sender_image(c_image);
    c->set_question(c_question);
    for (const auto& a : c_answers) c->add_answers(a);
    c->set_priority(c_urgent ? "urgent" : "not_urgent");
    if (c_wait_hours > 0) c->set_answer_wait_hours(c_wait_hours);
    if (c_postpone_hours > 0) c->set_postpone_delay_hours(c_postpone_hours);
    if (c_wait_s > 0) c->set_answer_wait_seconds(c_wait_s);
    if (c_postpone_s > 0) c->set_postpone_delay_seconds(c_postpone_s);
    c->set_application(c_application);
    v1::Campaign resp;
    grpc::Status s = stub->CreateCampaign(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    CampaignsTable({resp}, &t);
  } else if (*camps_show || *camps_launch) {
    v1::ListCampaignResponsesResponse resp;
    grpc::Status s;
    if (*camps_show) {
      v1::ListCampaignResponsesRequest req;
      req.set_campaign(campaign_name);
      s = stub->ListCampaignResponses(&ctx, req, &resp);
    } else {
      v1::LaunchCampaignRequest req;
      req.set_campaign(campaign_name);
      for (const auto& u : c_users) req.add_users(u);
      s = stub->LaunchCampaign(&ctx, req, &resp);
    }
    if (!s.ok()) return Fail(s, target, *channel);
    CampaignResponsesTable(resp, &t);
  } else if (*camps_expire) {
    v1::ExpireCampaignRequest req;
    req.set_campaign(campaign_name);
    v1::ExpireCampaignResponse resp;
    grpc::Status s = stub->ExpireCampaign(&ctx, req, &resp);
    if (!s.ok()) return Fail(s, target, *channel);
    t.columns = {"EXPIRED"};
    t.rows.push_back({std::to_string(resp.expired())});
    t.json_rows.push_back({{"expired", resp.expired()}});
  }
  Print(t, output);
  return 0;
}
