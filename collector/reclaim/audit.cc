#include "collector/reclaim/audit.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace reclaim::collector {

const char kGenesisHash[] = "0000000000000000000000000000000000000000000000000000000000000000";

std::string ComputeAuditHash(const AuditEntry& e) {
  std::string buf;
  const auto field = [&buf](const std::string& v) { absl::StrAppend(&buf, v.size(), ":", v, ";"); };
  field(absl::StrCat(e.seq));
  field(absl::StrCat(e.time_utc_ms));
  field(e.actor);
  field(e.action);
  field(absl::StrCat(e.policy_id));
  field(absl::StrCat(e.run_id));
  field(e.subject);
  field(e.detail);
  field(e.prev_hash);
  return Sha256Hex(buf);
}

AuditVerification VerifyAuditChain(const std::vector<AuditEntry>& entries) {
  AuditVerification v;
  std::string prev = kGenesisHash;
  std::int64_t expected_seq = 1;
  for (const AuditEntry& e : entries) {
    const auto bad = [&](std::string problem) {
      v.ok = false;
      v.first_bad_seq = e.seq;
      v.problem = std::move(problem);
      return v;
    };
    if (e.seq != expected_seq) {
      return bad(absl::StrCat("expected entry ", expected_seq, " but found ", e.seq,
                              ": entries were deleted or inserted"));
    }
    if (e.prev_hash != prev) {
      return bad("prev_hash does not match the previous entry's hash: an entry before it was "
                 "changed, deleted or inserted");
    }
    if (ComputeAuditHash(e) != e.hash) {
      return bad("hash mismatch: the entry was modified after it was written");
    }
    prev = e.hash;
    ++expected_seq;
    ++v.entries;
  }
  v.head_hash = prev;
  return v;
}

}  // namespace reclaim::collector
