// A directory kept in a JSON file: connector kind "file". For demos and
// end-to-end tests of the collector binary (it survives a kill -9 of the
// collector, unlike an in-memory fake); NOT for production. It follows the
// DirectoryConnector contract (idempotent changes, kAlreadyRemoved,
// kNeedsManualAction for primary-group members, kStillLicensedThrough for
// members also in a nested group).
//
// File format (re-read on every call, so a test may edit it "behind
// Reclaim's back"; rewritten atomically via a temporary file and rename):
//   {"users":  [{"object_id": "...", "sam_account_name": "jdoe",
//                "domain": "EXAMPLE", "upn": "jdoe@example.com", "sid": "..."}],
//    "groups": [{"object_id": "...", "name": "Visio Users",
//                "members": ["<user object id>", ...],
//                "nested": ["<group object id>", ...],
//                "primary": ["<user object id>", ...]}]}
//
// Settings ([connectors.<name>] keys): path (required), remove_delay_ms
// (sleep before each RemoveMember, to make runs long enough to interrupt in
// tests; default 0).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "collector/connectors/connector.h"
#include "collector/reclaim/connector_factory.h"

namespace reclaim::collector {

/// ConnectorBuilder for kind "file". Errors: kInvalidArgument for a missing
/// path or a bad remove_delay_ms.
absl::StatusOr<std::unique_ptr<DirectoryConnector>> MakeFileDirectoryConnector(
    const ConnectorConfig& config);

}  // namespace reclaim::collector
