// reclaim.v1.AdminService: read-only usage and delivery reports for reclaimctl.
#include <grpcpp/grpcpp.h>

#include "collector/server/services.h"
#include "common/log_format.h"
#include "common/utc_day.h"
#include "reclaim/v1/admin.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

namespace v1 = ::reclaim::v1;

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

class AdminServiceImpl final : public v1::AdminService::Service, public AdminServiceHandle {
 public:
  explicit AdminServiceImpl(UsageStore& store) : store_(store) {}

  grpc::Status QueryUsage(grpc::ServerContext*, const v1::UsageQuery* req,
                          v1::UsageReport* resp) override {
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

  grpc::Status ListDevices(grpc::ServerContext*, const v1::ListDevicesRequest*,
                           v1::ListDevicesResponse* resp) override {
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

  grpc::Status ListQuarantine(grpc::ServerContext*, const v1::ListQuarantineRequest* req,
                              v1::ListQuarantineResponse* resp) override {
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

 private:
  UsageStore& store_;
};

}  // namespace

std::unique_ptr<AdminServiceHandle> MakeAdminService(UsageStore& store) {
  return std::make_unique<AdminServiceImpl>(store);
}

}  // namespace reclaim::collector
