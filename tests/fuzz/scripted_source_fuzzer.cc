// Fuzz target: the scripted focus source's parser (agent/sources/
// scripted_source.h ParseScript). Input: the script text.
// Properties: nothing crashes; an error is InvalidArgument "fuzz:<line>: ...";
// an accepted script has non-decreasing offsets, all <= end, a focus event
// with an application whose strings are valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/sources/scripted_source.h"
#include "common/utf8.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace reclaim::agent;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto script = ParseScript(text, "fuzz");
  if (!script.ok()) {
    FUZZ_CHECK(script.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(script.status().message().substr(0, 5) == "fuzz:");
    return 0;
  }
  reclaim::MonoTime last{0};
  for (const MeterEvent& e : script->events) {
    FUZZ_CHECK(e.at >= last);
    FUZZ_CHECK(e.at <= script->end);
    last = e.at;
    if (e.app) {
      FUZZ_CHECK(e.kind == MeterEvent::Kind::kFocus);
      for (const auto* s : {&e.app->exe_path, &e.app->exe_name, &e.app->window_class,
                            &e.app->package_id, &e.app->product_name, &e.app->product_version,
                            &e.app->web_domain, &e.app->window_title}) {
        FUZZ_CHECK(reclaim::IsValidUtf8(*s));
      }
    }
  }
  return 0;
}
