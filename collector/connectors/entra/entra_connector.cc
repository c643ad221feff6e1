#include "collector/connectors/entra/entra_connector.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdlib>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "collector/connectors/entra/graph_json.h"
#include "common/secret_file.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace reclaim::collector {

using entra::HttpClient;
using entra::HttpRequest;
using entra::HttpResponse;
using entra::UrlEncode;
using Json = nlohmann::json;

bool IsGuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

// ParseRetryAfter: graph_json.cc (pure parsing, fuzzed with it).

namespace {

constexpr const char* kUserSelect =
    "id,userPrincipalName,accountEnabled,displayName,onPremisesSamAccountName,"
    "onPremisesDomainName,onPremisesSecurityIdentifier";
constexpr const char* kGroupSelect =
    "id,displayName,groupTypes,membershipRule,mailEnabled,securityEnabled,"
    "onPremisesSyncEnabled,isAssignableToRole";

std::string Str(const Json& j, const char* key) { return entra::JsonString(j, key); }
bool Bool(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string WithoutQuery(const std::string& url) { return url.substr(0, url.find('?')); }

// OData string literal: single quotes doubled ("OData URL conventions" 5.1.1.6.1).
std::string ODataString(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "''"}}), "'");
}

std::string Base64Url(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}
std::string Base64Url(const std::string& s) {
  return Base64Url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

DirectoryUser UserFromJson(const Json& j) { return entra::GraphUserFromJson(j); }

}  // namespace

struct EntraConnector::Impl {
  EntraConnectorOptions options;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<SystemClock> own_clock;
  std::unique_ptr<entra::RealSleeper> own_sleeper;
  const Clock* clock = nullptr;
  entra::Sleeper* sleeper = nullptr;
  Backoff backoff;
  GraphCallStats stats;

  std::string token;  // never logged
  MonoTime token_refresh_at{0};
  MonoTime not_before{0};  // no Graph request before this (throttling)
  // Groups read by GetGroup whose kind allows changes, by id.
  std::set<std::string> changeable_groups;
  // Memberships this connector removed: (group id, user id).
  std::set<std::pair<std::string, std::string>> removed;

  Impl(EntraConnectorOptions o, std::uint64_t seed)
      : options(std::move(o)),
        backoff(BackoffOptions{
                    .initial = std::chrono::milliseconds(
                        absl::ToInt64Milliseconds(options.initial_backoff)),
                    .max = std::chrono::milliseconds(absl::ToInt64Milliseconds(options.max_backoff)),
                    .multiplier = 2.0},
                seed) {}

  std::string GraphBase() const { return absl::StrCat(options.graph_url, "/v1.0"); }

  // --- authentication -------------------------------------------------

  absl::StatusOr<std::string> ReadSecret() const {
    if (!options.client_secret_file.empty()) {
      return reclaim::ReadSecretFile(options.client_secret_file, "Entra client secret");
    }
    return reclaim::ReadSecretEnv(options.client_secret_env, "Entra client secret");
  }

  // A client assertion (RFC 7523 JWT, RS256) signed with the certificate's
  // key: "Microsoft identity platform certificate credentials" (header
  // x5t#S256 = base64url SHA-256 thumbprint of the DER certificate).
  absl::StatusOr<std::string> ClientAssertion(const std::string& audience) const {
    ASSIGN_OR_RETURN(std::string cert_pem, reclaim::ReadSecretFile(options.certificate_file, "certificate"));
    std::string key_pem = cert_pem;
    if (!options.private_key_file.empty()) {
      ASSIGN_OR_RETURN(key_pem, reclaim::ReadSecretFile(options.private_key_file, "private key"));
    }
    BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    if (cert == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("Entra certificate_file ", options.certificate_file, " holds no PEM certificate"));
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    X509_digest(cert, EVP_sha256(), digest, &digest_len);
    X509_free(cert);
    BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    std::fill(key_pem.begin(), key_pem.end(), '\0');
    if (key == nullptr) {
      return absl::InvalidArgumentError("Entra certificate: no readable unencrypted PEM private key");
    }
    const std::int64_t now_s = clock->WallUtcMs() / 1000;
    std::random_device rd;
    const std::string jti = absl::StrCat(rd(), "-", rd(), "-", now_s);
    Json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"x5t#S256", Base64Url(digest, digest_len)}};
    Json claims = {{"aud", audience},      {"iss", options.client_id}, {"sub", options.client_id},
                   {"jti", jti},           {"nbf", now_s},             {"iat", now_s},
                   {"exp", now_s + 600}};
    const std::string signing_input =
        absl::StrCat(Base64Url(header.dump()), ".", Base64Url(claims.dump()));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t sig_len = 0;
    std::string sig;
    bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
              EVP_DigestSign(ctx, nullptr, &sig_len,
                             reinterpret_cast<const unsigned char*>(signing_input.data()),
                             signing_input.size()) == 1;
    if (ok) {
      sig.resize(sig_len);
      ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
      sig.resize(sig_len);
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (!ok) return absl::InternalError("Entra certificate: signing the client assertion failed");
    return absl::StrCat(signing_input, ".", Base64Url(sig));
  }

  // POST {authority}/{tenant}/oauth2/v2.0/token (client credentials).
  absl::Status FetchToken() {
    const std::string url =
        absl::StrCat(options.authority_url, "/", UrlEncode(options.tenant_id), "/oauth2/v2.0/token");
    std::string body = absl::StrCat("grant_type=client_credentials&client_id=",
                                    UrlEncode(options.client_id), "&scope=",
                                    UrlEncode(options.graph_url + "/.default"));
    if (!options.certificate_file.empty()) {
      ASSIGN_OR_RETURN(std::string assertion, ClientAssertion(url));
      absl::StrAppend(&body,
                      "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type"
                      "%3Ajwt-bearer&client_assertion=",
                      UrlEncode(assertion));
    } else {
      ASSIGN_OR_RETURN(std::string secret, ReadSecret());
      absl::StrAppend(&body, "&client_secret=", UrlEncode(secret));
      std::fill(secret.begin(), secret.end(), '\0');
    }
    HttpRequest req{.method = "POST",
                    .url = url,
                    .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                                {"Accept", "application/json"}},
                    .body = std::move(body)};
    for (int attempt = 0;; ++attempt) {
      WaitForPacing();
      ++stats.token_requests;
      auto resp = http->Send(req);
      const bool retryable =
          !resp.ok() || resp->status == 429 || resp->status == 503 || resp->status == 504 ||
          resp->status == 500 || resp->status == 502;
      if (retryable && attempt < options.max_retries) {
        Throttled(resp.ok() ? resp->headers : std::map<std::string, std::string>{},
                  resp.ok() && resp->status != 500 && resp->status != 502);
        continue;
      }
      std::fill(req.body.begin(), req.body.end(), '\0');
      if (!resp.ok()) {
        return absl::UnavailableError(
            absl::StrCat("cannot reach the Microsoft identity platform: ", resp.status().message()));
      }
      if (resp->status != 200) {
        const Json j = Json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
        // error_description names the AADSTS code, never the secret.
        const std::string what = j.is_object() ? Str(j, "error_description") : "";
        const std::string msg = absl::StrCat(
            "Entra token request for client ", options.client_id, " in tenant ", options.tenant_id,
            " refused (HTTP ", resp->status, "): ",
            what.empty() ? std::string("no error description") : what.substr(0, what.find('\n')));
        if (resp->status >= 500 || resp->status == 429) return absl::UnavailableError(msg);
        return absl::UnauthenticatedError(msg);
      }
      std::optional<entra::TokenResponse> t = entra::ParseTokenResponse(resp->body);
      if (!t) return absl::UnauthenticatedError("Entra token response without access_token");
      token = std::move(t->access_token);
      token_refresh_at =
          clock->Monotonic() +
          entra::TokenRefreshAfter(t->expires_in_s,
                                   absl::ToInt64Milliseconds(options.token_refresh_margin));
      spdlog::debug("Entra: token for client {} valid for {} s", options.client_id,
                    t->expires_in_s);
      return absl::OkStatus();
    }
  }

  absl::Status EnsureToken() {
    if (!token.empty() && clock->Monotonic() < token_refresh_at) return absl::OkStatus();
    std::fill(token.begin(), token.end(), '\0');
    token.clear();
    return FetchToken();
  }

  // --- pacing ---------------------------------------------------------

  void WaitForPacing() {
    const MonoTime now = clock->Monotonic();
    if (now < not_before) {
      const auto d = not_before - now;
      stats.waited += d;
      sleeper->Sleep(d);
    }
  }

  // Records a throttling (or transient) answer: the next request of this
  // connector waits for Retry-After, else for the next backoff delay.
  void Throttled(const std::map<std::string, std::string>& headers, bool throttling) {
    if (throttling) ++stats.throttled;
    ++stats.retries;
    std::optional<std::chrono::milliseconds> delay;
    if (auto it = headers.find("retry-after"); it != headers.end()) delay = ParseRetryAfter(it->second);
    const auto cap = std::chrono::milliseconds(absl::ToInt64Milliseconds(options.max_backoff));
    std::chrono::milliseconds d = delay ? std::min(*delay, cap) : backoff.NextDelay();
    not_before = std::max(not_before, clock->Monotonic() + d);
  }

  // --- Graph calls ----------------------------------------------------

  // Sends one Graph request with the token, honouring pacing, retrying
  // throttling and transient errors, refreshing the token once on 401.
  // Returns the final response whatever its status (401 after a refresh
  // included); errors only for transport failures past the retries.
  absl::StatusOr<HttpResponse> Call(const std::string& method, const std::string& url,
                                    const std::string& body = "",
                                    bool eventual_consistency = false) {
    bool refreshed = false;
    for (int attempt = 0;; ++attempt) {
      RETURN_IF_ERROR(EnsureToken());
      WaitForPacing();
      HttpRequest req{.method = method, .url = url, .headers = {}, .body = body};
      req.headers.emplace_back("Authorization", "Bearer " + token);
      req.headers.emplace_back("Accept", "application/json");
      if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
      if (eventual_consistency) req.headers.emplace_back("ConsistencyLevel", "eventual");
      ++stats.requests;
      auto resp = http->Send(req);
      std::fill(req.headers[0].second.begin(), req.headers[0].second.end(), '\0');
      if (resp.ok() && resp->status == 401 && !refreshed) {
        spdlog::info("Entra: Graph answered 401 to {} {}: fetching a new token", method,
                     WithoutQuery(url));
        refreshed = true;
        token.clear();
        ++stats.retries;
        --attempt;
        continue;
      }
      const bool throttling =
          resp.ok() && (resp->status == 429 || resp->status == 503 || resp->status == 504);
      const bool transient = !resp.ok() || resp->status == 500 || resp->status == 502;
      if (throttling || transient) {
        if (attempt >= options.max_retries) {
          if (!resp.ok()) return resp.status();
          return absl::UnavailableError(absl::StrCat(
              "Microsoft Graph still answers HTTP ", resp->status, " to ", method, " ",
              WithoutQuery(url), " after ", options.max_retries, " retries (throttled or busy)"));
        }
        Throttled(resp.ok() ? resp->headers : std::map<std::string, std::string>{}, throttling);
        if (throttling) {
          spdlog::debug("Entra: HTTP {} (Retry-After {}) for {} {}", resp->status,
                        resp->headers.contains("retry-after") ? resp->headers.at("retry-after")
                                                              : "missing",
                        method, WithoutQuery(url));
        }
        continue;
      }
      backoff.Reset();
      return resp;
    }
  }

  // Maps a non-2xx answer to a status (connector.h codes).
  absl::Status ErrorFor(const HttpResponse& r, const std::string& what) const {
    const auto [code, message] = entra::ParseGraphError(r.body);
    const std::string detail = absl::StrCat(what, ": HTTP ", r.status, code.empty() ? "" : " ", code,
                                            message.empty() ? "" : ": ", message);
    switch (r.status) {
      case 400:
        return absl::InvalidArgumentError(detail);
      case 401:
        return absl::UnauthenticatedError(absl::StrCat(detail, " (token refused after a refresh)"));
      case 403:
        // Authorization_RequestDenied: the app lacks the permission or consent.
        return absl::PermissionDeniedError(absl::StrCat(
            detail, " — the app registration needs the Microsoft Graph application permission "
            "GroupMember.ReadWrite.All (and User.Read.All, Group.Read.All to read) with admin "
            "consent"));
      case 404:
        return absl::NotFoundError(detail);
      default:
        if (r.status >= 500) return absl::UnavailableError(detail);
        return absl::UnknownError(detail);
    }
  }

  absl::StatusOr<Json> GetJson(const std::string& url, const std::string& what,
                               bool eventual = false) {
    ASSIGN_OR_RETURN(HttpResponse r, Call("GET", url, "", eventual));
    if (r.status != 200) return ErrorFor(r, what);
    std::optional<Json> j = entra::ParseGraphObject(r.body);
    if (!j) {
      return absl::UnavailableError(absl::StrCat(what, ": Graph sent a body that is not JSON"));
    }
    return std::move(*j);
  }

  // Every `value` of a paged collection, following @odata.nextLink.
  absl::StatusOr<std::vector<Json>> GetPaged(std::string url, const std::string& what,
                                             bool eventual = false) {
    std::vector<Json> out;
    for (int page = 0;; ++page) {
      ASSIGN_OR_RETURN(Json j, GetJson(url, what, eventual));
      entra::GraphPage p = entra::TakeGraphPage(j);
      for (Json& item : p.values) out.push_back(std::move(item));
      const std::string next = std::move(p.next_link);
      if (next.empty()) break;
      // The token goes only to the configured Graph host.
      if (!absl::StartsWith(next, options.graph_url + "/")) {
        return absl::UnavailableError(
            absl::StrCat(what, ": @odata.nextLink points outside ", options.graph_url));
      }
      url = next;
    }
    return out;
  }

  absl::Status CheckChangeable(const Json& g) const {
    const std::string name = absl::StrCat("Entra group '", Str(g, "displayName"), "' (", Str(g, "id"), ")");
    bool dynamic = !Str(g, "membershipRule").empty();
    bool unified = false;
    if (auto t = g.find("groupTypes"); t != g.end() && t->is_array()) {
      for (const Json& x : *t) {
        if (x == "DynamicMembership") dynamic = true;
        if (x == "Unified") unified = true;
      }
    }
    if (dynamic) {
      return absl::FailedPreconditionError(absl::StrCat(
          name, " has dynamic membership (its rule decides who is a member): members cannot be "
          "removed; use an assigned group or change the rule"));
    }
    if (Bool(g, "onPremisesSyncEnabled")) {
      return absl::FailedPreconditionError(absl::StrCat(
          name, " is synced from on-premises Active Directory: its members can only be changed "
          "there; point the policy at an AD connector (kind \"ad\")"));
    }
    if (Bool(g, "mailEnabled") && !unified) {
      return absl::FailedPreconditionError(absl::StrCat(
          name, Bool(g, "securityEnabled") ? " is a mail-enabled security group"
                                           : " is a distribution list",
          ": Microsoft Graph cannot change its members (Exchange Online manages them)"));
    }
    if (Bool(g, "isAssignableToRole")) {
      return absl::FailedPreconditionError(absl::StrCat(
          name, " is role-assignable (it grants Entra directory roles): Reclaim does not change "
          "privileged groups"));
    }
    return absl::OkStatus();
  }

  AuthorizationGroup GroupFromJson(const Json& g) const {
    AuthorizationGroup out;
    out.object_id = Str(g, "id");
    out.display_name = Str(g, "displayName");
    out.dn = absl::StrCat(GraphBase(), "/groups/", out.object_id);
    return out;
  }

  absl::StatusOr<Json> ReadGroup(const std::string& id) {
    return GetJson(absl::StrCat(GraphBase(), "/groups/", UrlEncode(id), "?$select=", kGroupSelect),
                   absl::StrCat("read Entra group ", id));
  }

  // The group's kind allows changes (read once per connector).
  absl::Status EnsureChangeable(const std::string& group_id) {
    if (changeable_groups.contains(group_id)) return absl::OkStatus();
    ASSIGN_OR_RETURN(Json g, ReadGroup(group_id));
    RETURN_IF_ERROR(CheckChangeable(g));
    changeable_groups.insert(group_id);
    return absl::OkStatus();
  }

  absl::Status CheckIds(const AuthorizationGroup& group, const DirectoryUser& user) const {
    if (!IsGuid(group.object_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Entra group id '", group.object_id, "' is not an object id (GUID)"));
    }
    if (!IsGuid(user.object_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Entra user id '", user.object_id, "' is not an object id (GUID)"));
    }
    return absl::OkStatus();
  }
};

EntraConnector::EntraConnector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EntraConnector::~EntraConnector() = default;
const GraphCallStats& EntraConnector::stats() const { return impl_->stats; }

namespace {

absl::Status Validate(const EntraConnectorOptions& o) {
  const auto bad = [](const std::string& m) {
    return absl::InvalidArgumentError(absl::StrCat("Entra connector: ", m));
  };
  if (o.tenant_id.empty()) return bad("tenant_id is required");
  if (!IsGuid(o.client_id)) return bad("client_id must be the application (client) id, a GUID");
  const int credentials = !o.client_secret_file.empty() + !o.client_secret_env.empty() +
                          !o.certificate_file.empty();
  if (credentials != 1) {
    return bad("set exactly one of client_secret_file, client_secret_env and certificate_file");
  }
  if (!o.private_key_file.empty() && o.certificate_file.empty()) {
    return bad("private_key_file needs certificate_file");
  }
  for (const auto& [key, url] : {std::pair<const char*, const std::string&>{"authority_url", o.authority_url},
                                 {"graph_url", o.graph_url}}) {
    if (url.empty() || url.back() == '/') return bad(absl::StrCat(key, " must be a URL without a trailing /"));
    if (absl::StartsWith(url, "https://")) continue;
    if (absl::StartsWith(url, "http://") && o.allow_http) continue;
    return bad(absl::StrCat(key, " must start with https:// (http:// only with allow_http)"));
  }
  if (o.page_size < 1 || o.page_size > 999) return bad("page_size must be 1..999");
  if (o.max_retries < 0) return bad("max_retries must be >= 0");
  if (o.initial_backoff <= absl::ZeroDuration() || o.max_backoff < o.initial_backoff) {
    return bad("initial_backoff must be > 0 and <= max_backoff");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EntraConnector>> EntraConnector::Create(EntraConnectorOptions options) {
  RETURN_IF_ERROR(Validate(options));
  auto http = entra::MakeCurlHttpClient({.ca_file = options.ca_file,
                                         .connect_timeout = options.connect_timeout,
                                         .request_timeout = options.request_timeout});
  auto impl = std::make_unique<Impl>(std::move(options), std::random_device{}());
  impl->http = std::move(http);
  impl->own_clock = std::make_unique<SystemClock>();
  impl->own_sleeper = std::make_unique<entra::RealSleeper>();
  impl->clock = impl->own_clock.get();
  impl->sleeper = impl->own_sleeper.get();
  return std::unique_ptr<EntraConnector>(new EntraConnector(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<EntraConnector>> EntraConnector::Create(
    EntraConnectorOptions options, std::unique_ptr<HttpClient> http, const Clock& clock,
    entra::Sleeper& sleeper, std::uint64_t backoff_seed) {
  RETURN_IF_ERROR(Validate(options));
  auto impl = std::make_unique<Impl>(std::move(options), backoff_seed);
  impl->http = std::move(http);
  impl->clock = &clock;
  impl->sleeper = &sleeper;
  return std::unique_ptr<EntraConnector>(new EntraConnector(std::move(impl)));
}

absl::StatusOr<AuthorizationGroup> EntraConnector::GetGroup(const std::string& ref) {
  Impl& d = *impl_;
  Json g;
  if (IsGuid(ref)) {
    ASSIGN_OR_RETURN(g, d.ReadGroup(ref));
  } else {
    if (ref.empty()) return absl::InvalidArgumentError("empty Entra group reference");
    ASSIGN_OR_RETURN(std::vector<Json> found,
                     d.GetPaged(absl::StrCat(d.GraphBase(), "/groups?$filter=",
                                             UrlEncode("displayName eq " + ODataString(ref)),
                                             "&$select=", kGroupSelect),
                                absl::StrCat("find Entra group '", ref, "'")));
    if (found.empty()) return absl::NotFoundError(absl::StrCat("no Entra group named '", ref, "'"));
    if (found.size() > 1) {
      std::vector<std::string> ids;
      for (const Json& f : found) ids.push_back(Str(f, "id"));
      return absl::InvalidArgumentError(absl::StrCat(found.size(), " Entra groups are named '", ref,
                                                     "' (", absl::StrJoin(ids, ", "),
                                                     "): use the object id"));
    }
    g = std::move(found[0]);
  }
  RETURN_IF_ERROR(d.CheckChangeable(g));
  d.changeable_groups.insert(Str(g, "id"));
  return d.GroupFromJson(g);
}

absl::StatusOr<std::vector<GroupMember>> EntraConnector::ListMembers(const AuthorizationGroup& group) {
  Impl& d = *impl_;
  if (!IsGuid(group.object_id)) {
    return absl::InvalidArgumentError(absl::StrCat("Entra group id '", group.object_id, "' is not a GUID"));
  }
  ASSIGN_OR_RETURN(std::vector<Json> values,
                   d.GetPaged(absl::StrCat(d.GraphBase(), "/groups/", group.object_id,
                                           "/members?$select=", kUserSelect,
                                           "&$top=", d.options.page_size),
                              absl::StrCat("list members of Entra group ", group.display_name)));
  std::vector<GroupMember> out;
  int skipped = 0, lagging = 0;
  for (const Json& v : values) {
    const std::string type = Str(v, "@odata.type");
    if (!type.empty() && type != "#microsoft.graph.user") {
      ++skipped;
      spdlog::info("Entra group {}: skipping member {} of type {} (only direct users hold the "
                   "license)", group.display_name, Str(v, "id"), type);
      continue;
    }
    GroupMember m;
    m.user = UserFromJson(v);
    if (d.removed.contains({group.object_id, m.user.object_id})) {
      ++lagging;  // removed by us; the listing lags behind (replication)
      continue;
    }
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const GroupMember& a, const GroupMember& b) {
    return a.user.upn < b.user.upn;
  });
  spdlog::debug("Entra group {}: {} user members ({} others skipped, {} just removed)",
                group.display_name, out.size(), skipped, lagging);
  return out;
}

absl::StatusOr<DirectoryUser> EntraConnector::FindUser(const std::string& login,
                                                       const std::string& domain) {
  Impl& d = *impl_;
  if (login.empty()) return absl::InvalidArgumentError("empty Entra user login");
  if (login.find('@') != std::string::npos || IsGuid(login)) {
    ASSIGN_OR_RETURN(Json u, d.GetJson(absl::StrCat(d.GraphBase(), "/users/", UrlEncode(login),
                                                    "?$select=", kUserSelect),
                                       absl::StrCat("find Entra user ", login)));
    return UserFromJson(u);
  }
  // An on-premises sAMAccountName: advanced query ($count + ConsistencyLevel).
  ASSIGN_OR_RETURN(std::vector<Json> found,
                   d.GetPaged(absl::StrCat(d.GraphBase(), "/users?$filter=",
                                           UrlEncode("onPremisesSamAccountName eq " + ODataString(login)),
                                           "&$count=true&$select=", kUserSelect),
                              absl::StrCat("find Entra user ", login), /*eventual=*/true));
  std::vector<DirectoryUser> match;
  for (const Json& f : found) {
    DirectoryUser u = UserFromJson(f);
    if (!domain.empty()) {
      const std::string first = u.domain.substr(0, u.domain.find('.'));
      if (!absl::EqualsIgnoreCase(first, domain) && !absl::EqualsIgnoreCase(u.domain, domain)) continue;
    }
    match.push_back(std::move(u));
  }
  if (match.empty()) return absl::NotFoundError(absl::StrCat("no Entra user ", login));
  if (match.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("several Entra users have the login ", login,
                                                   ": give the domain or the UPN"));
  }
  return match[0];
}

absl::StatusOr<ChangeResult> EntraConnector::RemoveMember(const AuthorizationGroup& group,
                                                          const DirectoryUser& user) {
  Impl& d = *impl_;
  RETURN_IF_ERROR(d.CheckIds(group, user));
  ChangeResult result;
  // Always /$ref: the membership reference, never the user object.
  const std::string url =
      absl::StrCat(d.GraphBase(), "/groups/", group.object_id, "/members/", user.object_id, "/$ref");
  result.request = absl::StrCat("DELETE ", url);
  if (d.removed.contains({group.object_id, user.object_id})) {
    result.outcome = ChangeOutcome::kAlreadyRemoved;
    result.detail = "removed earlier by this run (not sent again)";
    result.request.clear();
    return result;
  }
  RETURN_IF_ERROR(d.EnsureChangeable(group.object_id));
  ASSIGN_OR_RETURN(HttpResponse r, d.Call("DELETE", url));
  if (r.status == 204 || r.status == 200) {
    d.removed.insert({group.object_id, user.object_id});
    result.outcome = ChangeOutcome::kRemoved;
    return result;
  }
  if (r.status == 404) {
    // No such membership reference, or no such group: ask for the group.
    auto g = d.ReadGroup(group.object_id);
    if (absl::IsNotFound(g.status())) {
      return absl::NotFoundError(absl::StrCat("Entra group ", group.display_name, " (",
                                              group.object_id, ") no longer exists"));
    }
    if (!g.ok()) return g.status();
    d.removed.insert({group.object_id, user.object_id});
    result.outcome = ChangeOutcome::kAlreadyRemoved;
    result.detail = "Graph answered 404 for the membership: the user is not a direct member";
    return result;
  }
  return d.ErrorFor(r, absl::StrCat("remove ", user.upn.empty() ? user.object_id : user.upn,
                                    " from Entra group ", group.display_name));
}

absl::StatusOr<ChangeResult> EntraConnector::AddMember(const AuthorizationGroup& group,
                                                       const DirectoryUser& user) {
  Impl& d = *impl_;
  RETURN_IF_ERROR(d.CheckIds(group, user));
  RETURN_IF_ERROR(d.EnsureChangeable(group.object_id));
  const std::string url = absl::StrCat(d.GraphBase(), "/groups/", group.object_id, "/members/$ref");
  const Json body = {{"@odata.id", absl::StrCat(d.GraphBase(), "/directoryObjects/", user.object_id)}};
  ChangeResult result;
  result.request = absl::StrCat("POST ", url, " ", body.dump());
  ASSIGN_OR_RETURN(HttpResponse r, d.Call("POST", url, body.dump()));
  if (r.status == 204 || r.status == 200 || r.status == 201) {
    d.removed.erase({group.object_id, user.object_id});
    result.outcome = ChangeOutcome::kAdded;
    return result;
  }
  if (r.status == 400 && absl::StrContains(r.body, "already exist")) {
    d.removed.erase({group.object_id, user.object_id});
    result.outcome = ChangeOutcome::kAlreadyMember;
    result.detail = "Graph reports the membership already exists";
    return result;
  }
  return d.ErrorFor(r, absl::StrCat("add ", user.upn.empty() ? user.object_id : user.upn,
                                    " to Entra group ", group.display_name));
}

absl::StatusOr<EntraConnectorOptions> EntraConnectorOptionsFromSettings(
    const std::map<std::string, std::string>& settings) {
  EntraConnectorOptions o;
  const std::map<std::string, std::string*> strings = {
      {"tenant_id", &o.tenant_id},
      {"client_id", &o.client_id},
      {"client_secret_file", &o.client_secret_file},
      {"client_secret_env", &o.client_secret_env},
      {"certificate_file", &o.certificate_file},
      {"private_key_file", &o.private_key_file},
      {"authority_url", &o.authority_url},
      {"graph_url", &o.graph_url},
      {"ca_file", &o.ca_file}};
  const std::map<std::string, absl::Duration*> durations = {
      {"connect_timeout", &o.connect_timeout},
      {"request_timeout", &o.request_timeout},
      {"initial_backoff", &o.initial_backoff},
      {"max_backoff", &o.max_backoff},
      {"token_refresh_margin", &o.token_refresh_margin}};
  const std::map<std::string, int*> ints = {{"max_retries", &o.max_retries},
                                            {"page_size", &o.page_size}};
  for (const auto& [key, value] : settings) {
    if (auto it = strings.find(key); it != strings.end()) {
      *it->second = value;
    } else if (key == "allow_http") {
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("Entra connector: allow_http must be true or false, not '", value, "'"));
      }
      o.allow_http = value == "true";
    } else if (auto dur = durations.find(key); dur != durations.end()) {
      absl::Duration parsed;
      double seconds = 0;
      if (absl::SimpleAtod(value, &seconds)) {
        parsed = absl::Seconds(seconds);
      } else if (!absl::ParseDuration(value, &parsed)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Entra connector: ", key, " must be a duration such as \"10s\", not '", value, "'"));
      }
      *dur->second = parsed;
    } else if (auto n = ints.find(key); n != ints.end()) {
      if (!absl::SimpleAtoi(value, n->second)) {
        return absl::InvalidArgumentError(
            absl::StrCat("Entra connector: ", key, " must be an integer, not '", value, "'"));
      }
    } else {
      std::vector<std::string> known;
      for (const auto& [k, v] : strings) known.push_back(k);
      for (const auto& [k, v] : durations) known.push_back(k);
      for (const auto& [k, v] : ints) known.push_back(k);
      known.push_back("allow_http");
      std::sort(known.begin(), known.end());
      return absl::InvalidArgumentError(absl::StrCat(
          "Entra connector: unknown setting '", key, "' (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return o;
}

}  // namespace reclaim::collector
