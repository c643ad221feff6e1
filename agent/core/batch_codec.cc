#include "agent/core/batch_codec.h"

#include "reclaim/v1/agent.pb.h"

namespace reclaim::agent {

SpoolBatch EncodeBatch(const std::vector<FocusInterval>& intervals, UtcMs created_utc_ms) {
  reclaim::v1::UsageBatch batch;
  batch.set_created_utc_ms(created_utc_ms);
  std::int64_t focus_ms = 0;
  for (const FocusInterval& i : intervals) {
    reclaim::v1::FocusInterval* out = batch.add_intervals();
    reclaim::v1::AppIdentity* app = out->mutable_app();
    app->set_exe_path(i.app.exe_path);
    app->set_exe_name(i.app.exe_name);
    app->set_window_class(i.app.window_class);
    app->set_package_id(i.app.package_id);
    app->set_product_name(i.app.product_name);
    app->set_product_version(i.app.product_version);
    app->set_web_domain(i.app.web_domain);
    app->set_window_title(i.app.window_title);
    out->set_start_utc_ms(i.start_utc_ms);
    out->set_active_duration_ms(i.active_duration_ms);
    out->set_continuation(i.continuation);
    focus_ms += i.active_duration_ms;
  }
  return SpoolBatch{batch.SerializeAsString(), static_cast<std::int64_t>(intervals.size()),
                    focus_ms};
}

}  // namespace reclaim::agent
