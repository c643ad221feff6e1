// The reclamation audit log's entries and its hash chain. Append-only and
// tamper-evident: entry n carries prev_hash = hash of entry n-1 (64 '0' for
// the first) and hash = SHA-256 over its own fields and prev_hash, so editing,
// inserting or deleting any entry except the newest breaks the chain at that
// point. (Truncating the newest entries is not detectable from the log alone:
// export the head hash elsewhere, e.g. `reclaimctl audit verify` output, to
// anchor it.) SHA-256 comes from OpenSSL's libcrypto (EVP interface).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/crypto.h"

namespace reclaim::collector {

/// One audit entry.
struct AuditEntry {
  /// Position in the log, 1, 2, 3, ... without gaps.
  std::int64_t seq = 0;
  UtcMs time_utc_ms = 0;
  /// Who: "admin:<name>@<peer>" for an admin call, "scheduler" for a
  /// scheduled run.
  std::string actor;
  /// What: "remove.intent", "remove.result", "restore.intent",
  /// "restore.result", "policy.create", "policy.enable", "policy.disable",
  /// "kill_switch.on", "kill_switch.off", "run.start", "run.finish", ...
  std::string action;
  std::int64_t policy_id = 0;  ///< 0 when not about a policy.
  std::int64_t run_id = 0;     ///< 0 when not about a run.
  /// The member's directory object id, or empty.
  std::string subject;
  /// JSON object with the details (evidence, request, result, ...).
  std::string detail;
  /// Lower-case hex SHA-256 of the previous entry (kGenesisHash for seq 1).
  std::string prev_hash;
  /// Lower-case hex SHA-256 of this entry (see ComputeAuditHash).
  std::string hash;
};

/// prev_hash of the first entry: 64 '0' characters.
extern const char kGenesisHash[];

/// Hex SHA-256 over a length-prefixed encoding of seq, time, actor, action,
/// policy_id, run_id, subject, detail and prev_hash (each field as
/// "<decimal byte length>:<bytes>;"), so no two different entries encode the
/// same bytes. `hash` itself is not hashed.
std::string ComputeAuditHash(const AuditEntry& entry);

/// Hex SHA-256 (lower case): common/crypto.h.
using ::reclaim::Sha256Hex;

/// Result of checking a chain.
struct AuditVerification {
  bool ok = true;
  std::int64_t entries = 0;
  /// seq of the first bad entry (when !ok).
  std::int64_t first_bad_seq = 0;
  /// Why it is bad ("hash mismatch: the entry was modified", ...).
  std::string problem;
  /// hash of the last entry (the head), kGenesisHash for an empty log.
  std::string head_hash;
};

/// Checks `entries` (in seq order, starting at seq 1). Pure.
AuditVerification VerifyAuditChain(const std::vector<AuditEntry>& entries);

}  // namespace reclaim::collector
