#include "common/secret_file.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/secret_file_platform.h"

namespace reclaim {

void WipeSecret(std::string& s) {
  if (!s.empty()) secret_file_internal::WipeBytes(s.data(), s.size());
  s.clear();
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view what,
                                           size_t max_bytes) {
  absl::StatusOr<std::string> read = secret_file_internal::ReadOwnerOnlyBytes(path, what, max_bytes);
  if (!read.ok()) return read.status();
  std::string secret = *std::move(read);
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  if (secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " file ", path, " is empty"));
  }
  return secret;
}

absl::Status CheckHeaderSafeSecret(absl::string_view secret, absl::string_view what) {
  for (size_t i = 0; i < secret.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(secret[i]);
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ", what, " has a byte that is not printable ASCII at offset ", i,
          " (a space, a control character, or a UTF-8 byte-order mark left by an editor?)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSecretEnv(const std::string& name, absl::string_view what) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the ", what, "'s environment variable ", name, " is not set"));
  }
  if (*v == '\0') {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, "'s environment variable ", name, " is empty"));
  }
  return std::string(v);
}

absl::Status WriteSecretFile(const std::string& path, absl::string_view secret) {
  return secret_file_internal::WriteOwnerOnlyFile(path, secret);
}

}  // namespace reclaim
