// Fuzz target: SanitizeUtf8 (common/utf8.h). Input: 2 bytes of max_bytes
// (little-endian; 0xffff means "no limit"), then the text.
// Properties: the output is valid UTF-8 and at most max_bytes long; a valid
// input within the limit comes back unchanged; IsValidUtf8 agrees with
// "sanitizing without a limit changes nothing".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/utf8.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t limit = data[0] | (std::size_t{data[1]} << 8);
  const std::size_t max_bytes = limit == 0xffff ? std::string::npos : limit;
  const std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);

  const std::string out = reclaim::SanitizeUtf8(in, max_bytes);
  FUZZ_CHECK(reclaim::IsValidUtf8(out));
  FUZZ_CHECK(out.size() <= max_bytes);
  const bool valid = reclaim::IsValidUtf8(in);
  if (valid && in.size() <= max_bytes) FUZZ_CHECK(out == in);
  const std::string unlimited = reclaim::SanitizeUtf8(in);
  FUZZ_CHECK(reclaim::IsValidUtf8(unlimited));
  FUZZ_CHECK((unlimited == in) == valid);
  // Sanitizing is idempotent.
  FUZZ_CHECK(reclaim::SanitizeUtf8(out, max_bytes) == out);
  return 0;
}
