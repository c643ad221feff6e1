// The collector's gRPC services. Factories keep gRPC's generated headers out
// of this header (each costs 10-17 s to compile).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "collector/ingest/validation.h"
#include "collector/server/agent_limits.h"
#include "collector/server/enrollment_limits.h"
#include "collector/server/ingest_pipeline.h"
#include "collector/store/usage_store.h"
#include "common/clock.h"

namespace grpc {
class Service;
}

namespace reclaim::collector {

class AdminAuthenticator;
class Reclaimer;
class CampaignStore;
class PromptRouter;
class DeviceRegistry;

/// Options of the agent stream service; every field documents its default.
struct AgentServiceOptions {
  ValidationLimits limits;
  /// Batches of one stream that may be queued for storage before the stream
  /// stops reading (backpressure; bounds memory per agent). Default 64.
  int max_in_flight_batches = 64;
  /// Streams per device and the per-device rate limit (agent_limits.h).
  AgentLimitsOptions agent_limits;
  /// Enrollment attempts and failed attempts per peer address
  /// (enrollment_limits.h).
  EnrollmentLimitsOptions enrollment_limits;
  /// The clock of the input limits' token buckets (agent_limits,
  /// enrollment_limits); must outlive the service. Default null: the
  /// service's clock. Tests pass a ManualClock to move the buckets' time
  /// without sleeping while batches are still validated against real time.
  const Clock* limits_clock = nullptr;
  /// Longest CommandResult.command_id and .outcome, bytes; a longer one is
  /// acknowledged (so the agent stops resending it) but not applied, and
  /// counted as "command_result_too_long". Default 256.
  size_t max_command_result_bytes = 256;
  /// Device authentication (device_registry.h): when set, every stream must
  /// present a valid device credential (UNAUTHENTICATED otherwise) and its
  /// Hello must name the credential's device (PERMISSION_DENIED otherwise),
  /// and Enroll issues credentials. Must outlive the service. Default null:
  /// streams are not authenticated and Enroll answers FAILED_PRECONDITION.
  DeviceRegistry* devices = nullptr;
  /// Called after an agent's answer settled a consent prompt (the response
  /// became final: answered, declined or timed out on the desktop), on the
  /// ingest pipeline's thread; must not block. The collector wakes the
  /// reclamation scheduler with it, so a run waiting for answers advances
  /// and a late "yes" is restored at once instead of at the next scheduler
  /// tick (--reclaim-poll-s). Default none.
  std::function<void()> on_prompt_settled;
};

/// Counters of the agent service.
struct AgentServiceStats {
  std::uint64_t streams_opened = 0;
  std::uint64_t streams_active = 0;
  std::uint64_t bad_hellos = 0;
  std::uint64_t protocol_errors = 0;
  /// Refusals by input limit, by reason (the kLimit* strings of
  /// agent_limits.h); reasons never hit are absent.
  std::map<std::string, std::uint64_t> refusals;
  /// Streams refused for a missing, unknown or revoked credential, and
  /// streams ended by a revocation.
  std::uint64_t unauthenticated_streams = 0;
  /// Hellos naming another device than the stream's credential.
  std::uint64_t identity_mismatches = 0;
};

/// Trailing metadata of a RESOURCE_EXHAUSTED status from the agent service
/// (a rate limit on batches or enrollment): milliseconds until a retry would
/// be admitted, decimal. The status message ends "retry in N ms" too.
inline constexpr char kRetryAfterMsMetadata[] = "reclaim-retry-after-ms";

/// reclaim.v1.AgentService on gRPC's callback API: no thread per agent. The
/// stream's reactor validates input, hands batches to `pipeline`, and acks
/// each batch once the pipeline stored it. The returned object must outlive
/// the grpc::Server it is registered with; `pipeline` and `clock` must
/// outlive it.
///
/// Consent campaigns (when `campaigns` and `router` are given, both
/// outliving the service): each registered stream subscribes to `router`
/// under its user ("DOMAIN\login") and is sent the user's deliverable
/// prompts at once; CommandResults are applied to `campaigns` on the
/// pipeline's thread and answered with a CommandResultAck once applied (or
/// moot); a result that settles a response withdraws the prompt from the
/// user's other devices. Without them CommandResults are logged and ignored.
class AgentServiceHandle {
 public:
  virtual ~AgentServiceHandle() = default;
  virtual grpc::Service* service() = 0;
  virtual AgentServiceStats stats() const = 0;
};
std::unique_ptr<AgentServiceHandle> MakeAgentService(IngestPipeline& pipeline,
                                                     const Clock& clock,
                                                     AgentServiceOptions options = {},
                                                     CampaignStore* campaigns = nullptr,
                                                     PromptRouter* router = nullptr);

/// reclaim.v1.AdminService (synchronous: admin calls are rare and read the
/// store directly). Every call is authorized first through `auth` (bearer
/// token -> name and role; UNAUTHENTICATED / PERMISSION_DENIED, see
/// collector/admin/admin_roles.h for the role each RPC needs), and every
/// change is audited with the caller "admin:<name>(<role>)@<peer>" (in the
/// reclaimer's audit log when there is a reclaimer). `store`, `auth`,
/// `reclaimer`, `campaigns` and `clock` must outlive the service. With a null `reclaimer` the reclamation RPCs answer
/// FAILED_PRECONDITION; with a null `campaigns` the campaign RPCs do.
/// Precondition: `clock` is non-null when `campaigns` is.
class AdminServiceHandle {
 public:
  virtual ~AdminServiceHandle() = default;
  virtual grpc::Service* service() = 0;
  /// Where GetAgentChannelStats reads the agent service's and the ingest
  /// pipeline's counters (both must outlive this service; null = report
  /// zeros). Thread-safe.
  virtual void SetAgentChannel(const AgentServiceHandle* agents,
                               const IngestPipeline* pipeline) = 0;
};
/// LaunchCampaign publishes the new prompts to `router` when given (its
/// users' connected agents get them at once). RevokeDevice and
/// ListDeviceCredentials use `devices` (FAILED_PRECONDITION when null; it
/// must outlive the service).
std::unique_ptr<AdminServiceHandle> MakeAdminService(UsageStore& store,
                                                     AdminAuthenticator& auth,
                                                     Reclaimer* reclaimer = nullptr,
                                                     CampaignStore* campaigns = nullptr,
                                                     const Clock* clock = nullptr,
                                                     PromptRouter* router = nullptr,
                                                     DeviceRegistry* devices = nullptr);

}  // namespace reclaim::collector
