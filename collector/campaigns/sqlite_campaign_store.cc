#include "collector/campaigns/sqlite_campaign_store.h"

#include <charconv>
#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sqlite_migrations.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

constexpr char kComponent[] = "campaigns";

// kMigrations[v - 1] takes the campaign tables from version v - 1 to v.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE cp_campaigns(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  sender_name TEXT NOT NULL,
  sender_image TEXT NOT NULL DEFAULT '',
  question TEXT NOT NULL,
  answers_json TEXT NOT NULL,
  priority TEXT NOT NULL,
  answer_wait_ms INTEGER NOT NULL,
  postpone_delay_ms INTEGER NOT NULL,
  policy_id INTEGER NOT NULL DEFAULT 0,
  application TEXT NOT NULL DEFAULT '',
  created_utc_ms INTEGER NOT NULL);
CREATE TABLE cp_responses(
  id INTEGER PRIMARY KEY,
  campaign_id INTEGER NOT NULL REFERENCES cp_campaigns(id),
  user TEXT NOT NULL,
  state TEXT NOT NULL,
  answer TEXT NOT NULL DEFAULT '',
  device_id TEXT NOT NULL DEFAULT '',
  launched_utc_ms INTEGER NOT NULL,
  due_utc_ms INTEGER NOT NULL,
  delivered_utc_ms INTEGER NOT NULL DEFAULT 0,
  displayed_utc_ms INTEGER NOT NULL DEFAULT 0,
  finished_utc_ms INTEGER NOT NULL DEFAULT 0,
  postponed_until_utc_ms INTEGER NOT NULL DEFAULT 0,
  postpone_count INTEGER NOT NULL DEFAULT 0,
  updated_utc_ms INTEGER NOT NULL,
  UNIQUE(campaign_id, user));
CREATE INDEX cp_responses_user ON cp_responses(user, state);
CREATE INDEX cp_responses_open ON cp_responses(state, due_utc_ms);
CREATE TABLE cp_response_events(
  id INTEGER PRIMARY KEY,
  response_id INTEGER NOT NULL REFERENCES cp_responses(id),
  at_utc_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  device_id TEXT NOT NULL DEFAULT '',
  answer TEXT NOT NULL DEFAULT '',
  state_after TEXT NOT NULL);
CREATE INDEX cp_response_events_response ON cp_response_events(response_id, id);
)sql",
};
static_assert(std::size(kMigrations) == SqliteCampaignStore::kSchemaVersion);

constexpr char kCampaignColumns[] =
    "id, name, sender_name, sender_image, question, answers_json, priority, answer_wait_ms, "
    "postpone_delay_ms, policy_id, application, created_utc_ms";
constexpr char kResponseColumns[] =
    "id, campaign_id, user, state, answer, device_id, launched_utc_ms, due_utc_ms, "
    "delivered_utc_ms, displayed_utc_ms, finished_utc_ms, postponed_until_utc_ms, "
    "postpone_count, updated_utc_ms";
constexpr ResponseEventKind kAllKinds[] = {
    ResponseEventKind::kDelivered, ResponseEventKind::kDisplayed, ResponseEventKind::kAnswered,
    ResponseEventKind::kDeclined,  ResponseEventKind::kPostponed, ResponseEventKind::kTimedOut,
    ResponseEventKind::kExpired,   ResponseEventKind::kReopen};

Campaign ReadCampaign(const sqlite::Statement& st) {
  Campaign c;
  c.id = st.ColumnInt(0);
  c.name = st.ColumnText(1);
  c.sender_name = st.ColumnText(2);
  c.sender_image = st.ColumnText(3);
  c.question = st.ColumnText(4);
  c.answers.clear();
  const nlohmann::json answers = nlohmann::json::parse(st.ColumnText(5), nullptr, false);
  if (answers.is_array()) {
    for (const auto& a : answers) {
      if (a.is_string()) c.answers.push_back(a.get<std::string>());
    }
  }
  c.priority = st.ColumnText(6) == "urgent" ? CampaignPriority::kUrgent
                                            : CampaignPriority::kNotUrgent;
  c.answer_wait_ms = st.ColumnInt(7);
  c.postpone_delay_ms = st.ColumnInt(8);
  c.policy_id = st.ColumnInt(9);
  c.application = st.ColumnText(10);
  c.created_utc_ms = st.ColumnInt(11);
  return c;
}

Response ReadResponse(const sqlite::Statement& st) {
  Response r;
  r.id = st.ColumnInt(0);
  r.campaign_id = st.ColumnInt(1);
  r.user = st.ColumnText(2);
  auto state = ParseResponseState(st.ColumnText(3));
  r.state = state.ok() ? *state : ResponseState::kPending;
  r.answer = st.ColumnText(4);
  r.device_id = st.ColumnText(5);
  r.launched_utc_ms = st.ColumnInt(6);
  r.due_utc_ms = st.ColumnInt(7);
  r.delivered_utc_ms = st.ColumnInt(8);
  r.displayed_utc_ms = st.ColumnInt(9);
  r.finished_utc_ms = st.ColumnInt(10);
  r.postponed_until_utc_ms = st.ColumnInt(11);
  r.postpone_count = static_cast<int>(st.ColumnInt(12));
  r.updated_utc_ms = st.ColumnInt(13);
  return r;
}

absl::Status Migrate(sqlite::Database& db, const std::string& path) {
  static_assert(std::size(kMigrations) == SqliteCampaignStore::kSchemaVersion);
  return sqlite::MigrateComponent(db, kComponent, kMigrations, path, "campaign store");
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteCampaignStore>> SqliteCampaignStore::Open(
    const std::string& path, int busy_timeout_ms) {
  if (path.empty() || path == ":memory:") {
    return absl::InvalidArgumentError("the campaign store needs a database file path");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Database> db,
                   sqlite::Database::Open(path, /*create=*/true, busy_timeout_ms));
  RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON"));
  RETURN_IF_ERROR(Migrate(*db, path));
  return std::unique_ptr<SqliteCampaignStore>(new SqliteCampaignStore(std::move(db)));
}

absl::StatusOr<Campaign> SqliteCampaignStore::CreateCampaign(const Campaign& c, UtcMs now) {
  RETURN_IF_ERROR(ValidateCampaign(c));
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(
      sqlite::Statement st,
      db_->Prepare("INSERT INTO cp_campaigns(name, sender_name, sender_image, question, "
                   "answers_json, priority, answer_wait_ms, postpone_delay_ms, policy_id, "
                   "application, created_utc_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?)"));
  const std::string answers = nlohmann::json(c.answers).dump();
  absl::Status s = st.Bind(1, c.name)
                       .Bind(2, c.sender_name)
                       .Bind(3, c.sender_image)
                       .Bind(4, c.question)
                       .Bind(5, answers)
                       .Bind(6, std::string_view(CampaignPriorityName(c.priority)))
                       .Bind(7, c.answer_wait_ms)
                       .Bind(8, c.postpone_delay_ms)
                       .Bind(9, c.policy_id)
                       .Bind(10, c.application)
                       .Bind(11, now)
                       .Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat("campaign '", c.name, "' already exists"));
  }
  RETURN_IF_ERROR(s);
  Campaign out = c;
  out.id = db_->LastInsertRowId();
  out.created_utc_ms = now;
  return out;
}

absl::StatusOr<Campaign> SqliteCampaignStore::GetCampaignById(std::int64_t id) {
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kCampaignColumns,
                                             " FROM cp_campaigns WHERE id=?")));
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("no campaign with id ", id));
  return ReadCampaign(st);
}

absl::StatusOr<Campaign> SqliteCampaignStore::GetCampaign(const std::string& name_or_id) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kCampaignColumns,
                                             " FROM cp_campaigns WHERE name=?")));
  st.Bind(1, name_or_id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (row) return ReadCampaign(st);
  std::int64_t id = 0;
  const char* end = name_or_id.data() + name_or_id.size();
  auto [p, ec] = std::from_chars(name_or_id.data(), end, id);
  if (ec == std::errc() && p == end && !name_or_id.empty()) return GetCampaignById(id);
  return absl::NotFoundError(absl::StrCat("no campaign '", name_or_id, "'"));
}

absl::StatusOr<std::vector<Campaign>> SqliteCampaignStore::ListCampaigns() {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kCampaignColumns,
                                             " FROM cp_campaigns ORDER BY id")));
  std::vector<Campaign> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadCampaign(st));
  }
  return out;
}

absl::StatusOr<std::vector<Response>> SqliteCampaignStore::QueryResponses(
    const std::string& where, std::int64_t arg, const std::string& text_arg) {
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare(absl::StrCat("SELECT ", kResponseColumns,
                                             " FROM cp_responses WHERE ", where)));
  if (where.find("?1") != std::string::npos) st.Bind(1, arg);
  if (where.find("?2") != std::string::npos) st.Bind(2, text_arg);
  std::vector<Response> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadResponse(st));
  }
  return out;
}

absl::StatusOr<std::vector<Response>> SqliteCampaignStore::Launch(
    std::int64_t campaign_id, const std::vector<std::string>& users, UtcMs now) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(Campaign c, GetCampaignById(campaign_id));
  for (const std::string& u : users) {
    if (u.empty()) return absl::InvalidArgumentError("an empty user name");
  }
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(
      sqlite::Statement ins,
      db_->Prepare("INSERT INTO cp_responses(campaign_id, user, state, launched_utc_ms, "
                   "due_utc_ms, updated_utc_ms) VALUES(?,?,?,?,?,?) "
                   "ON CONFLICT(campaign_id, user) DO NOTHING"));
  ASSIGN_OR_RETURN(sqlite::Statement get,
                   db_->Prepare(absl::StrCat("SELECT ", kResponseColumns,
                                             " FROM cp_responses WHERE campaign_id=? AND user=?")));
  std::vector<Response> out;
  for (const std::string& u : users) {
    const Response r = NewResponse(c, u, now);
    RETURN_IF_ERROR(ins.Bind(1, c.id)
                        .Bind(2, u)
                        .Bind(3, std::string_view(ResponseStateName(r.state)))
                        .Bind(4, r.launched_utc_ms)
                        .Bind(5, r.due_utc_ms)
                        .Bind(6, now)
                        .Run());
    get.Bind(1, c.id).Bind(2, u);
    ASSIGN_OR_RETURN(bool row, get.Step());
    if (!row) return absl::InternalError("launched response vanished");
    out.push_back(ReadResponse(get));
    get.Reset();
  }
  RETURN_IF_ERROR(tx.Commit());
  return out;
}

absl::StatusOr<std::vector<Response>> SqliteCampaignStore::ListResponses(
    std::int64_t campaign_id) {
  absl::MutexLock l(&mu_);
  return QueryResponses("campaign_id=?1 ORDER BY user", campaign_id, "");
}

absl::StatusOr<Response> SqliteCampaignStore::GetResponseLocked(std::int64_t id) {
  ASSIGN_OR_RETURN(std::vector<Response> rs, QueryResponses("id=?1", id, ""));
  if (rs.empty()) return absl::NotFoundError(absl::StrCat("no campaign response ", id));
  return rs.front();
}

absl::StatusOr<Response> SqliteCampaignStore::GetResponse(std::int64_t response_id) {
  absl::MutexLock l(&mu_);
  return GetResponseLocked(response_id);
}

absl::StatusOr<std::vector<ResponseEventRecord>> SqliteCampaignStore::ListEvents(
    std::int64_t response_id) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   db_->Prepare("SELECT at_utc_ms, kind, device_id, answer, state_after FROM "
                                "cp_response_events WHERE response_id=? ORDER BY id"));
  st.Bind(1, response_id);
  std::vector<ResponseEventRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    ResponseEventRecord rec;
    rec.response_id = response_id;
    rec.event.at_utc_ms = st.ColumnInt(0);
    const std::string kind = st.ColumnText(1);
    rec.event.kind = ResponseEventKind::kDelivered;
    for (ResponseEventKind k : kAllKinds) {
      if (kind == ResponseEventKindName(k)) rec.event.kind = k;
    }
    rec.event.device_id = st.ColumnText(2);
    rec.event.answer = st.ColumnText(3);
    auto state = ParseResponseState(st.ColumnText(4));
    rec.state_after = state.ok() ? *state : ResponseState::kPending;
    out.push_back(std::move(rec));
  }
  return out;
}

absl::StatusOr<Response> SqliteCampaignStore::ApplyLocked(const Campaign& c, const Response& r,
                                                          const ResponseEvent& e) {
  ASSIGN_OR_RETURN(Response next, ApplyEvent(c, r, e));
  ASSIGN_OR_RETURN(
      sqlite::Statement up,
      db_->Prepare("UPDATE cp_responses SET state=?, answer=?, device_id=?, delivered_utc_ms=?, "
                   "displayed_utc_ms=?, finished_utc_ms=?, postponed_until_utc_ms=?, "
                   "postpone_count=?, updated_utc_ms=? WHERE id=?"));
  RETURN_IF_ERROR(up.Bind(1, std::string_view(ResponseStateName(next.state)))
                      .Bind(2, next.answer)
                      .Bind(3, next.device_id)
                      .Bind(4, next.delivered_utc_ms)
                      .Bind(5, next.displayed_utc_ms)
                      .Bind(6, next.finished_utc_ms)
                      .Bind(7, next.postponed_until_utc_ms)
                      .Bind(8, static_cast<std::int64_t>(next.postpone_count))
                      .Bind(9, next.updated_utc_ms)
                      .Bind(10, next.id)
                      .Run());
  ASSIGN_OR_RETURN(
      sqlite::Statement ev,
      db_->Prepare("INSERT INTO cp_response_events(response_id, at_utc_ms, kind, device_id, "
                   "answer, state_after) VALUES(?,?,?,?,?,?)"));
  RETURN_IF_ERROR(ev.Bind(1, next.id)
                      .Bind(2, e.at_utc_ms)
                      .Bind(3, std::string_view(ResponseEventKindName(e.kind)))
                      .Bind(4, e.device_id)
                      .Bind(5, e.answer)
                      .Bind(6, std::string_view(ResponseStateName(next.state)))
                      .Run());
  return next;
}

absl::StatusOr<Response> SqliteCampaignStore::Apply(std::int64_t response_id,
                                                    const ResponseEvent& event) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(Response r, GetResponseLocked(response_id));
  ASSIGN_OR_RETURN(Campaign c, GetCampaignById(r.campaign_id));
  ASSIGN_OR_RETURN(Response next, ApplyLocked(c, r, event));
  RETURN_IF_ERROR(tx.Commit());
  return next;
}

absl::StatusOr<std::vector<Response>> SqliteCampaignStore::Housekeep(UtcMs now) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(
      std::vector<Response> open,
      QueryResponses("state IN ('pending','delivered','displayed','postponed') AND "
                     "(due_utc_ms<=?1 OR (state='postponed' AND postponed_until_utc_ms<=?1))",
                     now, ""));
  std::vector<Response> changed;
  for (const Response& r : open) {
    const std::optional<ResponseEventKind> kind = DueEvent(r, now);
    if (!kind) continue;
    ASSIGN_OR_RETURN(Campaign c, GetCampaignById(r.campaign_id));
    ASSIGN_OR_RETURN(Response next, ApplyLocked(c, r, ResponseEvent{.kind = *kind,
                                                                      .at_utc_ms = now,
                                                                      .device_id = {},
                                                                      .answer = {}}));
    changed.push_back(std::move(next));
  }
  RETURN_IF_ERROR(tx.Commit());
  return changed;
}

absl::StatusOr<int> SqliteCampaignStore::Expire(std::int64_t campaign_id, UtcMs now) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(sqlite::Transaction tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(Campaign c, GetCampaignById(campaign_id));
  ASSIGN_OR_RETURN(
      std::vector<Response> open,
      QueryResponses("campaign_id=?1 AND state IN ('pending','delivered','displayed','postponed')",
                     campaign_id, ""));
  for (const Response& r : open) {
    ASSIGN_OR_RETURN(Response next,
                     ApplyLocked(c, r, ResponseEvent{.kind = ResponseEventKind::kExpired,
                                                     .at_utc_ms = now,
                                                     .device_id = {},
                                                     .answer = {}}));
    (void)next;
  }
  RETURN_IF_ERROR(tx.Commit());
  return static_cast<int>(open.size());
}

absl::StatusOr<std::vector<DeliverablePrompt>> SqliteCampaignStore::WithCampaigns(
    std::vector<Response> rs) {
  std::vector<DeliverablePrompt> out;
  for (Response& r : rs) {
    ASSIGN_OR_RETURN(Campaign c, GetCampaignById(r.campaign_id));
    out.push_back(DeliverablePrompt{.campaign = std::move(c), .response = std::move(r)});
  }
  return out;
}

absl::StatusOr<std::vector<DeliverablePrompt>> SqliteCampaignStore::Deliverable(
    const std::string& user, UtcMs now) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(
      std::vector<Response> open,
      QueryResponses("user=?2 AND state IN ('pending','delivered','displayed') ORDER BY id", 0,
                     user));
  std::erase_if(open, [now](const Response& r) { return !ShouldDeliver(r, now); });
  return WithCampaigns(std::move(open));
}

absl::StatusOr<std::vector<DeliverablePrompt>> SqliteCampaignStore::DisplayedSince(
    const std::string& user, UtcMs since_utc_ms) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(std::vector<Response> shown,
                   QueryResponses("user=?2 AND displayed_utc_ms>0 AND displayed_utc_ms>=?1 "
                                  "ORDER BY id",
                                  since_utc_ms, user));
  return WithCampaigns(std::move(shown));
}

}  // namespace reclaim::collector
