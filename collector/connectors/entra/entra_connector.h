// The Entra ID connector: DirectoryConnector over Microsoft Graph v1.0
// (kind "entra").
//
// - Authentication: OAuth 2.0 client credentials against the Microsoft
//   identity platform ("Microsoft identity platform and the OAuth 2.0 client
//   credentials flow", learn.microsoft.com/entra/identity-platform/
//   v2-oauth2-client-creds-grant-flow): a client secret (read from an
//   owner-only file or an environment variable at each token request), or a
//   certificate (a signed JWT client assertion, "Microsoft identity platform
//   application authentication certificate credentials"). The token is cached
//   until `token_refresh_margin` before its expiry and fetched again once
//   when Graph answers 401 (expired or revoked token). Neither the secret nor
//   a token is ever logged or put into a status message.
// - Calls (Graph v1.0 reference, learn.microsoft.com/graph/api/...):
//   user-get (`GET /users/{upn}?$select=...`), group-get (`GET
//   /groups/{id}?$select=...`), group-list with `$filter=displayName eq`,
//   group-list-members (paged: `@odata.nextLink` is followed until absent,
//   "Paging Microsoft Graph data in your app"), group-delete-members
//   (`DELETE /groups/{g}/members/{u}/$ref`: ALWAYS with `/$ref`; without it
//   the request would address the user object itself) and group-post-members
//   (`POST /groups/{g}/members/$ref` with `@odata.id`). Ids are checked to be
//   GUIDs before they go into a path.
// - Refused before any change (kFailedPrecondition, from GetGroup, so a
//   policy on such a group is refused at creation and a run on it fails
//   before removing anyone): dynamic-membership groups (groupTypes
//   "DynamicMembership"), groups synced from on-premises AD
//   (onPremisesSyncEnabled: change them in AD, with a kind "ad" connector),
//   mail-enabled security groups and distribution lists (Graph cannot change
//   their members: "Working with groups in Microsoft Graph", Exchange owns
//   them) and role-assignable groups (isAssignableToRole: privileged,
//   RoleManagement.ReadWrite.Directory). Exclusion groups are read with
//   GetGroup too, so they must be of an allowed kind as well.
// - Throttling ("Microsoft Graph throttling guidance"): 429, 503 and 504 are
//   retried after `Retry-After` seconds (fractional accepted; when missing,
//   jittered exponential backoff from common/backoff.h up to
//   `max_backoff`). The wait applies to every later request of this
//   connector as well (one connector serves one run), so a run slows down
//   instead of hammering. Transport errors and 500/502 are retried the same
//   way. After `max_retries` the call fails with kUnavailable.
// - Errors (connector.h): kUnauthenticated (token refused, 401 after a
//   refresh), kPermissionDenied (403 Authorization_RequestDenied: the message
//   names GroupMember.ReadWrite.All), kInvalidArgument (400: Graph's own
//   message), kNotFound, kUnavailable (unreachable, throttled past the
//   retries), kFailedPrecondition (refused group kinds, secret file too open).
// - Removal: 404 from the DELETE means "no such membership reference": the
//   group is read again; a missing group is kNotFound, an existing one makes
//   the removal kAlreadyRemoved (even when the member listing, which lags
//   behind writes by up to minutes, still shows the user). A membership this
//   connector removed is remembered and not removed again; ListMembers
//   omits it while replication catches up.
// - Group-based licensing and app assignment do not apply through nested
//   groups ("Group-based licensing ... nested groups are not supported"), so
//   ListMembers returns the direct user members; nested groups, devices and
//   service principals are skipped with a log line.
//
// Ownership and threads: one EntraConnector owns its HTTP client and token;
// not thread-safe (one run uses it from one thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/connectors/connector.h"
#include "collector/connectors/entra/http_client.h"
#include "common/backoff.h"
#include "common/clock.h"

namespace reclaim::collector {

/// How to reach and authenticate to Entra ID. Every field documents its
/// default.
struct EntraConnectorOptions {
  /// Directory (tenant) id, a GUID, or a verified domain name. Required.
  std::string tenant_id;
  /// Application (client) id of the app registration. Required.
  std::string client_id;
  /// File holding the client secret (owner-only: mode 0600 or 0400, owned by
  /// this user or root; one trailing newline ignored). Default empty.
  std::string client_secret_file;
  /// Environment variable holding the client secret, used when
  /// client_secret_file is empty. Default empty.
  std::string client_secret_env;
  /// PEM certificate uploaded to the app registration, for certificate
  /// credentials instead of a secret. Default empty. Exactly one of
  /// client_secret_file, client_secret_env and certificate_file is set.
  std::string certificate_file;
  /// PEM private key (RSA) of certificate_file, owner-only like the secret
  /// file. Default empty: the key is read from certificate_file.
  std::string private_key_file;
  /// Microsoft identity platform host. Default
  /// "https://login.microsoftonline.com" (global); US Government:
  /// "https://login.microsoftonline.us"; China (21Vianet):
  /// "https://login.chinacloudapi.cn". Tests use a local server.
  std::string authority_url = "https://login.microsoftonline.com";
  /// Microsoft Graph host. Default "https://graph.microsoft.com"; US Gov
  /// L4: "https://graph.microsoft.us", L5 (DoD):
  /// "https://dod-graph.microsoft.us"; China:
  /// "https://microsoftgraph.chinacloudapi.cn".
  std::string graph_url = "https://graph.microsoft.com";
  /// Lets authority_url and graph_url be http:// (tests only: the secret
  /// and tokens would cross the network in clear text). Default false.
  bool allow_http = false;
  /// PEM CA file for HTTPS. Default empty: the system trust store.
  std::string ca_file;
  /// Connect timeout. Default 10 s.
  absl::Duration connect_timeout = absl::Seconds(10);
  /// Limit for one request. Default 60 s.
  absl::Duration request_timeout = absl::Seconds(60);
  /// Retries of one call after 429/503/504/500/502 or a transport error.
  /// Default 8.
  int max_retries = 8;
  /// First backoff delay when Graph sends no Retry-After. Default 1 s.
  absl::Duration initial_backoff = absl::Seconds(1);
  /// Cap of the backoff and of any Retry-After honoured. Default 60 s.
  absl::Duration max_backoff = absl::Seconds(60);
  /// The token is fetched again this long before its expiry. Default 5 min.
  absl::Duration token_refresh_margin = absl::Minutes(5);
  /// $top of member listings (Graph allows up to 999). Default 100.
  int page_size = 100;
};

/// Reads options from a `[connectors.NAME]` section (text values). Keys are
/// the field names; durations are absl durations ("10s") or plain seconds;
/// allow_http is "true"/"false". Unknown keys are refused, listing the
/// known ones (kInvalidArgument). Consistency is checked by Create.
[[nodiscard]] absl::StatusOr<EntraConnectorOptions> EntraConnectorOptionsFromSettings(
    const std::map<std::string, std::string>& settings);

/// Counters of one connector, for logs and the benchmark.
struct GraphCallStats {
  std::int64_t requests = 0;      ///< Graph requests sent (token requests excluded).
  std::int64_t token_requests = 0;
  std::int64_t throttled = 0;     ///< 429/503/504 answers.
  std::int64_t retries = 0;       ///< Requests repeated (throttling, errors, 401).
  std::chrono::milliseconds waited{0};  ///< Total time slept before retries.
};

/// DirectoryConnector for Entra ID over Microsoft Graph.
class EntraConnector final : public DirectoryConnector {
 public:
  /// Checks the options (ids, exactly one credential, URL schemes, sizes);
  /// does not contact Entra. Errors: kInvalidArgument.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EntraConnector>> Create(
      EntraConnectorOptions options);
  /// For tests: a given transport, clock (token expiry, pacing) and sleeper;
  /// all must outlive the connector. `backoff_seed` fixes the jitter.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EntraConnector>> Create(
      EntraConnectorOptions options, std::unique_ptr<entra::HttpClient> http, const Clock& clock,
      entra::Sleeper& sleeper, std::uint64_t backoff_seed);

  ~EntraConnector() override;
  EntraConnector(const EntraConnector&) = delete;
  EntraConnector& operator=(const EntraConnector&) = delete;

  std::string kind() const override { return "entra"; }
  /// `ref`: a group object id (GUID) or a displayName (exact; several
  /// matches are kInvalidArgument). Refused kinds: kFailedPrecondition.
  [[nodiscard]] absl::StatusOr<AuthorizationGroup> GetGroup(const std::string& ref) override;
  /// Direct user members (every page), sorted by UPN; each user carries
  /// id, UPN, accountEnabled, displayName and, for users synced from AD,
  /// onPremisesSamAccountName / onPremisesDomainName /
  /// onPremisesSecurityIdentifier.
  [[nodiscard]] absl::StatusOr<std::vector<GroupMember>> ListMembers(
      const AuthorizationGroup& group) override;
  /// `login`: a UPN or object id; else an on-premises sAMAccountName
  /// (advanced query on onPremisesSamAccountName, `domain` compared with
  /// onPremisesDomainName's first label when given).
  [[nodiscard]] absl::StatusOr<DirectoryUser> FindUser(const std::string& login,
                                                       const std::string& domain) override;
  /// DELETE /groups/{g}/members/{u}/$ref (see file comment for 404).
  [[nodiscard]] absl::StatusOr<ChangeResult> RemoveMember(const AuthorizationGroup& group,
                                                          const DirectoryUser& user) override;
  /// POST /groups/{g}/members/$ref; a 400 "already exist" is kAlreadyMember.
  [[nodiscard]] absl::StatusOr<ChangeResult> AddMember(const AuthorizationGroup& group,
                                                       const DirectoryUser& user) override;

  const GraphCallStats& stats() const;

  struct Impl;

 private:
  explicit EntraConnector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Whether `s` is a GUID in its 8-4-4-4-12 hex form.
bool IsGuid(const std::string& s);

/// Parses a Retry-After value in seconds ("2", "0.249"); nullopt when
/// missing or not a non-negative number (an HTTP-date is treated as
/// missing). Values above one day count as one day.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& value);

}  // namespace reclaim::collector
