// secret_file.h on Windows: owner-only means an owner-only DACL
// (common/secret_acl_windows.h, which does the Win32 work and is tested
// under Wine); this file only turns its results into absl::Status.
#include "absl/strings/str_cat.h"
#include "common/secret_acl_windows.h"
#include "common/secret_file_platform.h"

namespace reclaim::secret_file_internal {
namespace {

absl::Status ToStatus(const secret_acl::Result& r) {
  switch (r.code) {
    case secret_acl::Code::kOk:
      return absl::OkStatus();
    case secret_acl::Code::kNotFound:
      return absl::NotFoundError(r.message);
    case secret_acl::Code::kPermissionDenied:
      return absl::PermissionDeniedError(r.message);
    case secret_acl::Code::kFailedPrecondition:
      return absl::FailedPreconditionError(r.message);
    case secret_acl::Code::kInvalidArgument:
      return absl::InvalidArgumentError(r.message);
    case secret_acl::Code::kInternal:
      break;
  }
  return absl::InternalError(r.message);
}

}  // namespace

void WipeBytes(void* p, size_t n) { secret_acl::SecureWipe(p, n); }

absl::StatusOr<std::string> ReadOwnerOnlyBytes(const std::string& path, absl::string_view what,
                                               size_t max_bytes) {
  std::string contents;
  const secret_acl::Result r =
      secret_acl::ReadOwnerOnlyFile(path, std::string_view(what.data(), what.size()), max_bytes,
                                    &contents);
  if (!r.ok()) return ToStatus(r);
  return contents;
}

absl::Status WriteOwnerOnlyFile(const std::string& path, absl::string_view secret) {
  return ToStatus(secret_acl::WriteOwnerOnlyFile(path, std::string_view(secret.data(), secret.size())));
}

}  // namespace reclaim::secret_file_internal
