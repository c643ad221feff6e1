// reclaim.v1.AdminService: usage and delivery reports for reclaimctl, and
// the reclamation API (catalog, policies, runs, audit, restore, kill switch)
// over collector/reclaim/Reclaimer.
//
// Authorization: every handler starts with AUTHORIZE("<RPC name>"), which
// runs AuthorizeAdminCall (collector/admin/admin_auth.h: bearer token ->
// name and role, checked against the RPC -> role table) and declares
// `caller` for the audit log. Why a check in each handler and not a gRPC
// AuthMetadataProcessor or a server interceptor: an AuthMetadataProcessor
// only runs on secure server credentials, so a collector listening in
// plaintext (local testing) would silently skip authorization; server
// interceptors are experimental in gRPC 1.51, run for the agent service too,
// and cannot end a synchronous call with a status of their choosing. The
// check in the handler fails closed (an RPC missing from the role table is
// refused), hands the verified caller to the code that audits, and
// admin_auth_test calls every method of the service's descriptor without a
// token and with a too-weak one, so a handler without the check fails it.
#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/admin/admin_auth.h"
#include "collector/campaigns/campaign_store.h"
#include "collector/campaigns/prompt_router.h"
#include "collector/reclaim/reclaimer.h"
#include "collector/server/device_registry.h"

#include "collector/server/services.h"
#include "common/log_format.h"
#include "common/utc_day.h"
#include "nlohmann/json.hpp"
#include "reclaim/v1/admin.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

namespace v1 = ::reclaim::v1;

// The caller's address for the audit log: gRPC's peer string, plus the
// common name of the client certificate when the admin listener verified
// one (mutual TLS, --admin-tls-client-ca): "ipv4:10.0.0.5:51234 cert:CN=alice".
std::string AuditPeer(const grpc::ServerContext& ctx) {
  std::string peer = ctx.peer();
  const std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& cn : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
      absl::StrAppend(&peer, " cert:CN=", EscapeForLog(absl::string_view(cn.data(), cn.size())));
      break;
    }
  }
  return peer;
}

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// Checks the call (see the file comment) and declares `caller`; returns
// UNAUTHENTICATED or PERMISSION_DENIED from the handler when refused.
#define AUTHORIZE(method)                                                  \
  AdminCaller caller;                                                      \
  if (grpc::Status auth_status = Authorize(ctx, method, &caller);          \
      !auth_status.ok()) {                                                 \
    return auth_status;                                                    \
  }

class AdminServiceImpl final : public v1::AdminService::Service, public AdminServiceHandle {
 public:
  AdminServiceImpl(UsageStore& store, AdminAuthenticator& auth, Reclaimer* reclaimer,
                   CampaignStore* campaigns, const Clock* clock, PromptRouter* router,
                   DeviceRegistry* devices)
      : store_(store), auth_(auth), reclaimer_(reclaimer), campaigns_(campaigns), clock_(clock),
        router_(router), devices_(devices) {}

  // ------------------------------------------------------ device credentials

  grpc::Status RevokeDevice(grpc::ServerContext* ctx, const v1::RevokeDeviceRequest* req,
                            v1::RevokeDeviceResponse* resp) override {
    AUTHORIZE("RevokeDevice");
    if (devices_ == nullptr) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "this collector runs without device authentication");
    }
    auto revoked = devices_->Revoke(req->device_id());
    if (!revoked.ok()) return ToGrpc(revoked.status());
    AuditChange(caller, ctx, "device.revoke", req->device_id(),
                {{"streams_ended", revoked->second}});
    ToProto(revoked->first, resp->mutable_credential());
    resp->set_streams_ended(static_cast<std::uint32_t>(revoked->second));
    return grpc::Status::OK;
  }

  grpc::Status ListDeviceCredentials(grpc::ServerContext* ctx,
                                     const v1::ListDeviceCredentialsRequest*,
                                     v1::ListDeviceCredentialsResponse* resp) override {
    AUTHORIZE("ListDeviceCredentials");
    if (devices_ == nullptr) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "this collector runs without device authentication");
    }
    for (const DeviceCredentialInfo& d : devices_->List()) ToProto(d, resp->add_credentials());
    return grpc::Status::OK;
  }

  static void ToProto(const DeviceCredentialInfo& d, v1::DeviceCredential* out) {
    out->set_device_id(d.device_id);
    out->set_hostname(d.hostname);
    out->set_enrolled_utc_ms(d.enrolled_utc_ms);
    out->set_revoked_utc_ms(d.revoked_utc_ms);
    out->set_valid_credentials(static_cast<std::uint32_t>(d.valid_credentials));
  }

  grpc::Status QueryUsage(grpc::ServerContext* ctx, const v1::UsageQuery* req,
                          v1::UsageReport* resp) override {
    AUTHORIZE("QueryUsage");
    UsageFilter filter;
    filter.user = req->user();
    filter.application = req->application();
    filter.by_day = req->by_day();
    if (!req->since_day().empty()) {
      auto d = ParseUtcDay(req->since_day());
      if (!d.ok()) return ToGrpc(d.status());
      filter.since_day = *d;
    }
    if (!req->until_day().empty()) {
      auto d = ParseUtcDay(req->until_day());
      if (!d.ok()) return ToGrpc(d.status());
      filter.until_day = *d;
    }
    if (filter.since_day && filter.until_day && *filter.since_day > *filter.until_day) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "since_day is after until_day");
    }
    auto rows = store_.QueryUsage(filter);
    if (!rows.ok()) {
      spdlog::error("usage query failed: {}", rows.status());
      return ToGrpc(rows.status());
    }
    for (const UsageRow& r : *rows) {
      v1::UsageRow* out = resp->add_rows();
      out->set_user(r.user);
      out->set_upn(r.upn);
      out->set_application(r.application);
      if (r.day) out->set_day(FormatUtcDay(*r.day));
      out->set_focus_ms(r.focus_ms);
      out->set_focus_seconds(static_cast<double>(r.focus_ms) / 1000.0);
      out->set_sessions(r.sessions);
      out->set_last_seen_utc_ms(r.last_seen_utc_ms);
    }
    return grpc::Status::OK;
  }

  grpc::Status ListDevices(grpc::ServerContext* ctx, const v1::ListDevicesRequest*,
                           v1::ListDevicesResponse* resp) override {
    AUTHORIZE("ListDevices");
    auto rows = store_.ListDevices();
    if (!rows.ok()) return ToGrpc(rows.status());
    for (const DeviceRow& d : *rows) {
      v1::DeviceRow* out = resp->add_devices();
      out->set_device_id(d.agent.device_id);
      out->set_agent_instance_id(d.agent.agent_instance_id);
      out->set_hostname(d.agent.hostname);
      out->set_user(d.agent.user.domain + "\\" + d.agent.user.login_name);
      out->set_agent_version(d.agent.agent_version);
      out->set_os_version(d.agent.os_version);
      out->set_acked_through_seq(d.acked_through_seq);
      out->set_last_seen_utc_ms(d.last_seen_utc_ms);
      out->set_dropped_batches(d.dropped.dropped_batches);
      out->set_dropped_intervals(d.dropped.dropped_intervals);
      out->set_dropped_focus_ms(d.dropped.dropped_focus_ms);
      out->set_corrupt_spools(d.dropped.corrupt_spools);
      out->set_quarantined_intervals(d.quarantined_intervals);
    }
    return grpc::Status::OK;
  }

  grpc::Status ListQuarantine(grpc::ServerContext* ctx, const v1::ListQuarantineRequest* req,
                              v1::ListQuarantineResponse* resp) override {
    AUTHORIZE("ListQuarantine");
    const int limit = req->limit() == 0 ? 100 : static_cast<int>(std::min(req->limit(), 10000u));
    auto rows = store_.ListQuarantine(limit);
    if (!rows.ok()) return ToGrpc(rows.status());
    for (const QuarantineRow& q : *rows) {
      v1::QuarantineRow* out = resp->add_entries();
      out->set_device_id(q.device_id);
      out->set_agent_instance_id(q.agent_instance_id);
      out->set_seq(q.seq);
      out->set_index(q.record.index);
      out->set_reason(q.record.reason);
      out->set_detail(q.record.detail);
      out->set_received_utc_ms(q.received_utc_ms);
    }
    return grpc::Status::OK;
  }

 grpc::Service* service() override { return this; }

  // ---------------------------------------------------------------- reclamation

  grpc::Status ListApplications(grpc::ServerContext* ctx, const v1::ListApplicationsRequest*,
                                v1::ListApplicationsResponse* resp) override {
    AUTHORIZE("ListApplications");
    if (!reclaimer_) return NotConfigured();
    auto apps = reclaimer_->ListApplications();
    if (!apps.ok()) return ToGrpc(apps.status());
    for (const Application& a : *apps) ToProto(a, resp->add_applications());
    return grpc::Status::OK;
  }

  grpc::Status AddApplication(grpc::ServerContext* ctx, const v1::AddApplicationRequest* req,
                              v1::Application* resp) override {
    AUTHORIZE("AddApplication");
    if (!reclaimer_) return NotConfigured();
    Application app;
    app.name = req->application().name();
    app.cost_cents_per_seat_month = req->application().cost_cents_per_seat_month();
    app.currency = absl::AsciiStrToUpper(req->application().currency());
    for (const v1::ApplicationRule& r : req->application().rules()) {
      auto kind = ParseRuleKind(r.kind());
      if (!kind.ok()) return ToGrpc(kind.status());
      app.rules.push_back({*kind, r.pattern()});
    }
    auto created = reclaimer_->AddApplication(app, AdminActor(caller, AuditPeer(*ctx)));
    if (!created.ok()) return ToGrpc(created.status());
    ToProto(*created, resp);
    return grpc::Status::OK;
  }

  grpc::Status AddApplicationRule(grpc::ServerContext* ctx,
                                  const v1::AddApplicationRuleRequest* req,
                                  v1::Application* resp) override {
    AUTHORIZE("AddApplicationRule");
    if (!reclaimer_) return NotConfigured();
    auto kind = ParseRuleKind(req->rule().kind());
    if (!kind.ok()) return ToGrpc(kind.status());
    auto app = reclaimer_->AddApplicationRule(req->application(), {*kind, req->rule().pattern()},
                                              AdminActor(caller, AuditPeer(*ctx)));
    if (!app.ok()) return ToGrpc(app.status());
    ToProto(*app, resp);
    return grpc::Status::OK;
  }

  grpc::Status CreatePolicy(grpc::ServerContext* ctx, const v1::CreatePolicyRequest* req,
                            v1::Policy* resp) override {
    AUTHORIZE("CreatePolicy");
    if (!reclaimer_) return NotConfigured();
    const v1::Policy& in = req->policy();
    Policy p;
    p.name = in.name();
    p.application_name = in.application();
    p.connector = in.connector();
    p.group_ref = in.group();
    if (in.has_lookback_days()) p.rules.lookback_days = in.lookback_days();
    if (in.has_threshold_seconds()) {
      if (in.threshold_seconds() < 0 || in.threshold_seconds() > 1000000000) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "threshold out of range");
      }
      p.rules.threshold_ms = in.threshold_seconds() * 1000;
    }
    if (in.has_grace_days()) p.rules.grace_days = in.grace_days();
    if (in.has_min_coverage()) p.rules.min_coverage = in.min_coverage();
    if (in.has_max_removals_per_run()) p.rules.max_removals_per_run = in.max_removals_per_run();
    p.ask_permission = in.ask_permission();
    if (in.has_answer_wait_hours()) p.answer_wait_hours = in.answer_wait_hours();
    p.exclusions.assign(in.exclusions().begin(), in.exclusions().end());
    p.schedule = in.schedule();
    p.enabled = in.enabled();
    auto created = reclaimer_->CreatePolicy(p, AdminActor(caller, AuditPeer(*ctx)));
    if (!created.ok()) return ToGrpc(created.status());
    ToProto(*created, resp);
    return grpc::Status::OK;
  }

  grpc::Status ListPolicies(grpc::ServerContext* ctx, const v1::ListPoliciesRequest* req,
                            v1::ListPoliciesResponse* resp) override {
    AUTHORIZE("ListPolicies");
    if (!reclaimer_) return NotConfigured();
    if (!req->policy().empty()) {
      auto p = reclaimer_->GetPolicy(req->policy());
      if (!p.ok()) return ToGrpc(p.status());
      ToProto(*p, resp->add_policies());
      return grpc::Status::OK;
    }
    auto all = reclaimer_->ListPolicies();
    if (!all.ok()) return ToGrpc(all.status());
    for (const Policy& p : *all) ToProto(p, resp->add_policies());
    return grpc::Status::OK;
  }

  grpc::Status SetPolicyEnabled(grpc::ServerContext* ctx, const v1::SetPolicyEnabledRequest* req,
                                v1::Policy* resp) override {
    AUTHORIZE("SetPolicyEnabled");
    if (!reclaimer_) return NotConfigured();
    auto p = reclaimer_->SetPolicyEnabled(req->policy(), req->enabled(), AdminActor(caller, AuditPeer(*ctx)));
    if (!p.ok()) return ToGrpc(p.status());
    ToProto(*p, resp);
    return grpc::Status::OK;
  }

  grpc::Status ListCandidates(grpc::ServerContext* ctx, const v1::ListCandidatesRequest* req,
                              v1::RunReport* resp) override {
    AUTHORIZE("ListCandidates");
    if (!reclaimer_) return NotConfigured();
    auto ev = reclaimer_->Evaluate(req->policy());
    if (!ev.ok()) return ToGrpc(ev.status());
    v1::Run* run = resp->mutable_run();
    run->set_policy(ev->policy.name);
    run->set_dry_run(true);
    run->set_state("evaluation");
    run->set_connector(ev->policy.connector);
    run->set_group_name(ev->group.display_name);
    run->set_members(static_cast<std::int64_t>(ev->result.members.size()));
    run->set_candidates(ev->result.candidates);
    run->set_over_cap(ev->result.over_cap);
    run->set_no_data(ev->result.no_data);
    run->set_monthly_saving_cents(ev->result.candidates *
                                  ev->application.cost_cents_per_seat_month);
    run->set_currency(ev->application.currency);
    std::int64_t i = 0;
    for (const MemberDecision& d : ev->result.members) {
      RunItem item;
      item.index = i++;
      item.decision = d;
      ToProto(item, resp->add_items());
    }
    return grpc::Status::OK;
  }

  grpc::Status StartRun(grpc::ServerContext* ctx, const v1::StartRunRequest* req,
                        v1::RunReport* resp) override {
    AUTHORIZE("StartRun");
    if (!reclaimer_) return NotConfigured();
    auto run = req->execute() ? reclaimer_->StartRun(req->policy(), AdminActor(caller, AuditPeer(*ctx)))
                              : reclaimer_->DryRun(req->policy(), AdminActor(caller, AuditPeer(*ctx)));
    if (!run.ok()) return ToGrpc(run.status());
    return FillReport(run->id, true, resp);
  }

  grpc::Status GetRun(grpc::ServerContext* ctx, const v1::GetRunRequest* req,
                      v1::RunReport* resp) override {
    AUTHORIZE("GetRun");
    if (!reclaimer_) return NotConfigured();
    return FillReport(req->run_id(), req->with_items(), resp);
  }

  grpc::Status ListRuns(grpc::ServerContext* ctx, const v1::ListRunsRequest* req,
                        v1::ListRunsResponse* resp) override {
    AUTHORIZE("ListRuns");
    if (!reclaimer_) return NotConfigured();
    const int limit = req->limit() == 0 ? 50 : static_cast<int>(std::min(req->limit(), 10000u));
    auto runs = reclaimer_->ListRuns(req->policy(), limit);
    if (!runs.ok()) return ToGrpc(runs.status());
    for (const RunRecord& r : *runs) ToProto(r, resp->add_runs());
    return grpc::Status::OK;
  }

  grpc::Status ListAudit(grpc::ServerContext* ctx, const v1::ListAuditRequest* req,
                         v1::ListAuditResponse* resp) override {
    AUTHORIZE("ListAudit");
    if (!reclaimer_) return NotConfigured();
    const int limit = req->limit() == 0 ? 1000 : static_cast<int>(std::min(req->limit(), 100000u));
    auto entries = reclaimer_->ListAudit(req->after_seq(), limit);
    if (!entries.ok()) return ToGrpc(entries.status());
    for (const AuditEntry& e : *entries) ToProto(e, resp->add_entries());
    return grpc::Status::OK;
  }

  grpc::Status VerifyAudit(grpc::ServerContext* ctx, const v1::VerifyAuditRequest*,
                           v1::VerifyAuditResponse* resp) override {
    AUTHORIZE("VerifyAudit");
    if (!reclaimer_) return NotConfigured();
    auto v = reclaimer_->VerifyAudit();
    if (!v.ok()) return ToGrpc(v.status());
    resp->set_ok(v->ok);
    resp->set_entries(v->entries);
    resp->set_first_bad_seq(v->first_bad_seq);
    resp->set_problem(v->problem);
    resp->set_head_hash(v->head_hash);
    return grpc::Status::OK;
  }

  grpc::Status Restore(grpc::ServerContext* ctx, const v1::RestoreRequest* req,
                       v1::AuditEntry* resp) override {
    AUTHORIZE("Restore");
    if (!reclaimer_) return NotConfigured();
    auto e = reclaimer_->Restore(req->audit_seq(), AdminActor(caller, AuditPeer(*ctx)));
    if (!e.ok()) return ToGrpc(e.status());
    ToProto(*e, resp);
    return grpc::Status::OK;
  }

  grpc::Status SetKillSwitch(grpc::ServerContext* ctx, const v1::SetKillSwitchRequest* req,
                             v1::KillSwitchState* resp) override {
    AUTHORIZE("SetKillSwitch");
    if (!reclaimer_) return NotConfigured();
    if (absl::Status s = reclaimer_->SetKillSwitch(req->on(), AdminActor(caller, AuditPeer(*ctx))); !s.ok()) {
      return ToGrpc(s);
    }
    resp->set_on(req->on());
    return grpc::Status::OK;
  }

  grpc::Status GetKillSwitch(grpc::ServerContext* ctx, const v1::GetKillSwitchRequest*,
                             v1::KillSwitchState* resp) override {
    AUTHORIZE("GetKillSwitch");
    if (!reclaimer_) return NotConfigured();
    auto on = reclaimer_->KillSwitch();
    if (!on.ok()) return ToGrpc(on.status());
    resp->set_on(*on);
    return grpc::Status::OK;
  }

 private:
  static grpc::Status NotConfigured() {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "reclamation is not configured on this collector");
  }

  grpc::Status Authorize(grpc::ServerContext* ctx, absl::string_view method,
                         AdminCaller* caller) {
    std::optional<absl::string_view> authorization;
    const auto& md = ctx->client_metadata();
    if (auto it = md.find("authorization"); it != md.end()) {
      authorization = absl::string_view(it->second.data(), it->second.size());
    }
    auto c = AuthorizeAdminCall(auth_, method, authorization);
    if (!c.ok()) {
      // The message names the token's name and role, never the token.
      spdlog::warn("admin call {} from {} refused: {}", method, ctx->peer(), c.status().message());
      return ToGrpc(c.status());
    }
    *caller = std::move(*c);
    return grpc::Status::OK;
  }

  // Audits an admin change that the reclaimer does not audit itself
  // (campaigns). Without a reclaimer (no audit log) the change is only
  // logged. An audit failure is logged: the change itself is already made.
  void AuditChange(const AdminCaller& caller, grpc::ServerContext* ctx, const std::string& action,
                   const std::string& subject, const nlohmann::json& detail) {
    const std::string actor = AdminActor(caller, AuditPeer(*ctx));
    spdlog::info("{} by {}: {}", action, actor, subject);
    if (!reclaimer_) return;
    if (auto e = reclaimer_->AuditAdminAction(actor, action, subject, detail.dump()); !e.ok()) {
      spdlog::error("cannot audit {} by {}: {}", action, actor, e.status());
    }
  }

  grpc::Status FillReport(std::int64_t run_id, bool with_items, v1::RunReport* resp) {
    auto run = reclaimer_->GetRun(run_id);
    if (!run.ok()) return ToGrpc(run.status());
    ToProto(*run, resp->mutable_run());
    if (!with_items) return grpc::Status::OK;
    auto items = reclaimer_->ListRunItems(run_id);
    if (!items.ok()) return ToGrpc(items.status());
    for (const RunItem& i : *items) ToProto(i, resp->add_items());
    return grpc::Status::OK;
  }

  static void ToProto(const Application& a, v1::Application* out) {
    out->set_id(a.id);
    out->set_name(a.name);
    out->set_cost_cents_per_seat_month(a.cost_cents_per_seat_month);
    out->set_currency(a.currency);
    for (const ApplicationRule& r : a.rules) {
      v1::ApplicationRule* pr = out->add_rules();
      pr->set_kind(RuleKindName(r.kind));
      pr->set_pattern(r.pattern);
    }
  }

  static void ToProto(const Policy& p, v1::Policy* out) {
    out->set_id(p.id);
    out->set_name(p.name);
    out->set_application(p.application_name);
    out->set_connector(p.connector);
    out->set_group(p.group_ref);
    out->set_group_object_id(p.group_object_id);
    out->set_group_name(p.group_name);
    out->set_lookback_days(p.rules.lookback_days);
    out->set_threshold_seconds(p.rules.threshold_ms / 1000);
    out->set_grace_days(p.rules.grace_days);
    out->set_min_coverage(p.rules.min_coverage);
    out->set_max_removals_per_run(p.rules.max_removals_per_run);
    out->set_ask_permission(p.ask_permission);
    out->set_answer_wait_hours(p.answer_wait_hours);
    for (const std::string& e : p.exclusions) out->add_exclusions(e);
    out->set_schedule(p.schedule);
    out->set_enabled(p.enabled);
    out->set_created_utc_ms(p.created_utc_ms);
    out->set_updated_utc_ms(p.updated_utc_ms);
  }

  static void ToProto(const RunRecord& r, v1::Run* out) {
    out->set_id(r.id);
    out->set_policy(r.policy_name);
    out->set_dry_run(r.dry_run);
    out->set_state(RunStateName(r.state));
    out->set_actor(r.actor);
    out->set_connector(r.connector);
    out->set_group_name(r.group_name);
    out->set_created_utc_ms(r.created_utc_ms);
    out->set_updated_utc_ms(r.updated_utc_ms);
    out->set_finished_utc_ms(r.finished_utc_ms);
    out->set_answers_due_utc_ms(r.answers_due_utc_ms);
    out->set_error(r.error);
    out->set_members(r.members);
    out->set_candidates(r.candidates);
    out->set_over_cap(r.over_cap);
    out->set_no_data(r.no_data);
    out->set_pending(r.pending);
    out->set_removed(r.removed);
    out->set_manual(r.manual);
    out->set_failed(r.failed);
    out->set_monthly_saving_cents(r.monthly_saving_cents);
    out->set_currency(r.currency);
    out->set_ask_permission(r.ask_permission);
    out->set_campaign_id(r.campaign_id);
  }

  static void ToProto(const RunItem& i, v1::RunItem* out) {
    const MemberEvidence& e = i.decision.evidence;
    const DirectoryUser& u = e.member.user;
    out->set_index(i.index);
    out->set_object_id(u.object_id);
    out->set_sam_account_name(u.sam_account_name);
    out->set_domain(u.domain);
    out->set_upn(u.upn);
    out->set_display_name(u.display_name);
    out->set_membership(e.member.kind == MembershipKind::kDirect   ? "direct"
                        : e.member.kind == MembershipKind::kNested ? "nested"
                                                                   : "primary_group");
    out->set_decision(DecisionName(i.decision.decision));
    out->set_reason(i.decision.reason);
    out->set_focus_ms(e.focus_ms);
    out->set_last_use_utc_ms(e.last_use_utc_ms);
    out->set_coverage(e.coverage);
    out->set_devices(e.devices);
    out->set_answer(AnswerName(e.answer));
    out->set_first_seen_in_group_utc_ms(e.first_seen_in_group_utc_ms);
    out->set_state(ItemStateName(i.state));
    out->set_outcome(i.outcome);
    out->set_detail(i.detail);
    out->set_result_audit_seq(i.result_audit_seq);
    for (const std::string& u : e.endpoint_users) out->add_asked_users(u);
  }

  // ---------------------------------------------------------------- campaigns

  grpc::Status CampaignsNotConfigured() const {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this collector runs without a campaign store");
  }

  grpc::Status CreateCampaign(grpc::ServerContext* ctx, const v1::CreateCampaignRequest* req,
                              v1::Campaign* resp) override {
    AUTHORIZE("CreateCampaign");
    if (!campaigns_) return CampaignsNotConfigured();
    const v1::Campaign& in = req->campaign();
    Campaign c;
    c.name = in.name();
    c.sender_name = in.sender_name();
    c.sender_image = in.sender_image();
    c.question = in.question();
    if (in.answers_size() > 0) c.answers.assign(in.answers().begin(), in.answers().end());
    if (!in.priority().empty()) {
      auto p = ParseCampaignPriority(in.priority());
      if (!p.ok()) return ToGrpc(p.status());
      c.priority = *p;
    }
    constexpr std::int64_t kHourMs = 3600 * 1000;
    if (in.has_answer_wait_hours()) c.answer_wait_ms = in.answer_wait_hours() * kHourMs;
    if (in.has_postpone_delay_hours()) c.postpone_delay_ms = in.postpone_delay_hours() * kHourMs;
    if (in.has_answer_wait_seconds()) c.answer_wait_ms = in.answer_wait_seconds() * 1000;
    if (in.has_postpone_delay_seconds()) c.postpone_delay_ms = in.postpone_delay_seconds() * 1000;
    c.policy_id = in.policy_id();
    c.application = in.application();
    // A run would adopt a campaign of its name: its question, answers and
    // responses would decide who keeps access.
    if (absl::StartsWith(c.name, kRunCampaignPrefix)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("campaign names starting with '", kRunCampaignPrefix,
                                       "' are reserved for ask-for-permission runs"));
    }
    auto created = campaigns_->CreateCampaign(c, clock_->WallUtcMs());
    if (!created.ok()) return ToGrpc(created.status());
    AuditChange(caller, ctx, "campaign.create", created->name,
                {{"campaign_id", created->id}, {"question", created->question}});
    ToProto(*created, resp);
    return grpc::Status::OK;
  }

  grpc::Status ListCampaigns(grpc::ServerContext* ctx, const v1::ListCampaignsRequest*,
                             v1::ListCampaignsResponse* resp) override {
    AUTHORIZE("ListCampaigns");
    if (!campaigns_) return CampaignsNotConfigured();
    auto list = campaigns_->ListCampaigns();
    if (!list.ok()) return ToGrpc(list.status());
    for (const Campaign& c : *list) {
      v1::Campaign* out = resp->add_campaigns();
      ToProto(c, out);
      auto rs = campaigns_->ListResponses(c.id);
      if (!rs.ok()) return ToGrpc(rs.status());
      auto& counts = *out->mutable_responses_by_state();
      for (const Response& r : *rs) ++counts[ResponseStateName(r.state)];
    }
    return grpc::Status::OK;
  }

  grpc::Status ListCampaignResponses(grpc::ServerContext* ctx,
                                     const v1::ListCampaignResponsesRequest* req,
                                     v1::ListCampaignResponsesResponse* resp) override {
    AUTHORIZE("ListCampaignResponses");
    if (!campaigns_) return CampaignsNotConfigured();
    auto c = campaigns_->GetCampaign(req->campaign());
    if (!c.ok()) return ToGrpc(c.status());
    auto rs = campaigns_->ListResponses(c->id);
    if (!rs.ok()) return ToGrpc(rs.status());
    return ResponsesToProto(*c, *rs, resp);
  }

  grpc::Status LaunchCampaign(grpc::ServerContext* ctx, const v1::LaunchCampaignRequest* req,
                              v1::ListCampaignResponsesResponse* resp) override {
    AUTHORIZE("LaunchCampaign");
    if (!campaigns_) return CampaignsNotConfigured();
    if (req->users_size() == 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no users to ask");
    }
    auto c = campaigns_->GetCampaign(req->campaign());
    if (!c.ok()) return ToGrpc(c.status());
    const std::vector<std::string> users(req->users().begin(), req->users().end());
    auto rs = campaigns_->Launch(c->id, users, clock_->WallUtcMs());
    if (!rs.ok()) return ToGrpc(rs.status());
    int streams = 0;
    if (router_) {
      // Paced per user (prompt_pacing.h): a held prompt goes out later.
      for (const Response& r : *rs) {
        auto n = router_->PublishDeliverable(*campaigns_, r.user, clock_->WallUtcMs(), c->id);
        if (n.ok()) {
          streams += *n;
        } else {
          spdlog::warn("pushing the prompt of campaign {} to {} failed (sent when the agent "
                       "connects again): {}", c->id, r.user, n.status());
        }
      }
    }
    AuditChange(caller, ctx, "campaign.launch", c->name,
                {{"campaign_id", c->id}, {"users", users}, {"agent_streams_reached", streams}});
    return ResponsesToProto(*c, *rs, resp);
  }

  grpc::Status ExpireCampaign(grpc::ServerContext* ctx, const v1::ExpireCampaignRequest* req,
                              v1::ExpireCampaignResponse* resp) override {
    AUTHORIZE("ExpireCampaign");
    if (!campaigns_) return CampaignsNotConfigured();
    auto c = campaigns_->GetCampaign(req->campaign());
    if (!c.ok()) return ToGrpc(c.status());
    auto n = campaigns_->Expire(c->id, clock_->WallUtcMs());
    if (!n.ok()) return ToGrpc(n.status());
    if (router_ && *n > 0) {
      auto rs = campaigns_->ListResponses(c->id);
      if (rs.ok()) {
        for (const Response& r : *rs) {
          if (r.state == ResponseState::kExpired) router_->Publish(r.user, WithdrawCommand(r));
        }
      }
    }
    AuditChange(caller, ctx, "campaign.expire", c->name,
                {{"campaign_id", c->id}, {"expired_responses", *n}});
    resp->set_expired(*n);
    return grpc::Status::OK;
  }

  grpc::Status ResponsesToProto(const Campaign& c, const std::vector<Response>& rs,
                                v1::ListCampaignResponsesResponse* resp) {
    for (const Response& r : rs) {
      v1::CampaignResponse* out = resp->add_responses();
      out->set_id(r.id);
      out->set_campaign(c.name);
      out->set_user(r.user);
      out->set_state(ResponseStateName(r.state));
      out->set_answer(r.answer);
      out->set_device_id(r.device_id);
      out->set_launched_utc_ms(r.launched_utc_ms);
      out->set_due_utc_ms(r.due_utc_ms);
      out->set_delivered_utc_ms(r.delivered_utc_ms);
      out->set_displayed_utc_ms(r.displayed_utc_ms);
      out->set_finished_utc_ms(r.finished_utc_ms);
      out->set_postponed_until_utc_ms(r.postponed_until_utc_ms);
      out->set_postpone_count(r.postpone_count);
      auto events = campaigns_->ListEvents(r.id);
      if (!events.ok()) return ToGrpc(events.status());
      for (const ResponseEventRecord& e : *events) {
        v1::CampaignResponseEvent* ev = out->add_events();
        ev->set_at_utc_ms(e.event.at_utc_ms);
        ev->set_kind(ResponseEventKindName(e.event.kind));
        ev->set_device_id(e.event.device_id);
        ev->set_answer(e.event.answer);
        ev->set_state_after(ResponseStateName(e.state_after));
      }
    }
    return grpc::Status::OK;
  }

  static void ToProto(const Campaign& c, v1::Campaign* out) {
    constexpr std::int64_t kHourMs = 3600 * 1000;
    out->set_id(c.id);
    out->set_name(c.name);
    out->set_sender_name(c.sender_name);
    out->set_sender_image(c.sender_image);
    out->set_question(c.question);
    for (const std::string& a : c.answers) out->add_answers(a);
    out->set_priority(CampaignPriorityName(c.priority));
    out->set_answer_wait_hours(c.answer_wait_ms / kHourMs);
    out->set_postpone_delay_hours(c.postpone_delay_ms / kHourMs);
    out->set_answer_wait_seconds(c.answer_wait_ms / 1000);
    out->set_postpone_delay_seconds(c.postpone_delay_ms / 1000);
    out->set_policy_id(c.policy_id);
    out->set_application(c.application);
    out->set_created_utc_ms(c.created_utc_ms);
  }

  static void ToProto(const AuditEntry& e, v1::AuditEntry* out) {
    out->set_seq(e.seq);
    out->set_time_utc_ms(e.time_utc_ms);
    out->set_actor(e.actor);
    out->set_action(e.action);
    out->set_policy_id(e.policy_id);
    out->set_run_id(e.run_id);
    out->set_subject(e.subject);
    out->set_detail(e.detail);
    out->set_prev_hash(e.prev_hash);
    out->set_hash(e.hash);
  }
  // ---------------------------------------------------- agent channel stats

  void SetAgentChannel(const AgentServiceHandle* agents, const IngestPipeline* pipeline) override {
    absl::MutexLock l(&channel_mu_);
    agents_ = agents;
    pipeline_ = pipeline;
  }

  grpc::Status GetAgentChannelStats(grpc::ServerContext* ctx,
                                    const v1::GetAgentChannelStatsRequest*,
                                    v1::AgentChannelStats* resp) override {
    AUTHORIZE("GetAgentChannelStats");
    {
      absl::MutexLock l(&channel_mu_);
      if (agents_ != nullptr) {
        const AgentServiceStats a = agents_->stats();
        resp->set_streams_opened(a.streams_opened);
        resp->set_streams_active(a.streams_active);
        for (const auto& [reason, n] : a.refusals) (*resp->mutable_refusals())[reason] = n;
      }
      if (pipeline_ != nullptr) {
        const IngestStats p = pipeline_->stats();
        resp->set_batches_stored(p.batches_stored);
        resp->set_batches_duplicate(p.batches_duplicate);
        resp->set_intervals_stored(p.intervals_stored);
        resp->set_intervals_quarantined(p.intervals_quarantined);
        resp->set_store_errors(p.store_errors);
        resp->set_batches_failed_behind(p.batches_failed_behind);
      }
    }
    auto counters = store_.Counters();
    if (!counters.ok()) return ToGrpc(counters.status());
    resp->set_quarantine_dropped(counters->quarantine_dropped);
    resp->set_overlap_clipped_ms(counters->overlap_clipped_ms);
    resp->set_overlap_clipped_intervals(counters->overlap_clipped_intervals);
    return grpc::Status::OK;
  }

  UsageStore& store_;
  AdminAuthenticator& auth_;
  absl::Mutex channel_mu_;
  const AgentServiceHandle* agents_ ABSL_GUARDED_BY(channel_mu_) = nullptr;
  const IngestPipeline* pipeline_ ABSL_GUARDED_BY(channel_mu_) = nullptr;
  Reclaimer* const reclaimer_;
  CampaignStore* const campaigns_;
  const Clock* const clock_;
  PromptRouter* const router_;
  DeviceRegistry* const devices_;
};

}  // namespace

std::unique_ptr<AdminServiceHandle> MakeAdminService(UsageStore& store, AdminAuthenticator& auth,
                                                     Reclaimer* reclaimer,
                                                     CampaignStore* campaigns,
                                                     const Clock* clock,
                                                     PromptRouter* router,
                                                     DeviceRegistry* devices) {
  return std::make_unique<AdminServiceImpl>(store, auth, reclaimer, campaigns, clock, router,
                                            devices);
}

}  // namespace reclaim::collector
