#include "collector/connectors/ldap/ldap_connector.h"

#include <fcntl.h>
#include <ldap.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "collector/connectors/ldap/ad_values.h"
#include "collector/connectors/ldap/ldap_escape.h"
#include "common/secret_file.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace reclaim::collector {
namespace {

/// LDAP_SERVER_EXTENDED_DN_OID (MS-ADTS 3.1.1.3.4.1.5); value = BER
/// SEQUENCE { INTEGER 1 }: GUID and SID in string form.
constexpr char kExtendedDnOid[] = "1.2.840.113556.1.4.529";
constexpr char kExtendedDnValue[] = {0x30, 0x03, 0x02, 0x01, 0x01};
/// LDAP_MATCHING_RULE_IN_CHAIN (MS-ADTS 3.1.1.3.4.4.3).
constexpr char kInChainRule[] = "1.2.840.113556.1.4.1941";
/// userAccountControl ACCOUNTDISABLE (MS-ADTS 2.2.16).
constexpr long kUacAccountDisable = 0x2;

/// Users are objectClass=user but not computers (computer derives from user).
constexpr char kUserFilter[] = "(objectClass=user)(!(objectClass=computer))";

struct MessageDeleter {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, MessageDeleter>;

struct ControlDeleter {
  void operator()(LDAPControl* c) const { ldap_control_free(c); }
};
using ControlPtr = std::unique_ptr<LDAPControl, ControlDeleter>;

struct ControlsDeleter {
  void operator()(LDAPControl** c) const { ldap_controls_free(c); }
};
using ControlsPtr = std::unique_ptr<LDAPControl*, ControlsDeleter>;

void Wipe(std::string& s) { reclaim::WipeSecret(s); }

bool IsConnectionError(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT;
}

/// One entry of a search result. Attribute names are lower-cased; values
/// are raw bytes.
struct Entry {
  std::string dn;
  std::map<std::string, std::vector<std::string>> attrs;

  const std::vector<std::string>* Values(absl::string_view name) const {
    auto it = attrs.find(absl::AsciiStrToLower(name));
    return it == attrs.end() ? nullptr : &it->second;
  }
  std::string First(absl::string_view name) const {
    const auto* v = Values(name);
    return v == nullptr || v->empty() ? std::string() : v->front();
  }
  bool HasValue(absl::string_view name, absl::string_view value) const {
    const auto* v = Values(name);
    if (v == nullptr) return false;
    for (const auto& x : *v) {
      if (absl::EqualsIgnoreCase(x, value)) return true;
    }
    return false;
  }
};

/// What the connector needs to know about a group.
struct GroupInfo {
  std::string guid;
  std::string sid;
  std::optional<std::uint32_t> rid;
  std::string dn;
  std::string name;  // displayName, else cn, else sAMAccountName
  bool critical = false;
};

std::string DisplayNameOf(const Entry& e) {
  for (const char* a : {"displayName", "cn", "sAMAccountName"}) {
    std::string v = e.First(a);
    if (!v.empty()) return v;
  }
  return e.dn;
}

std::string GuidOf(const Entry& e) {
  auto g = FormatObjectGuid(e.First("objectGUID"));
  return g ? *g : std::string();
}

std::string SidOf(const Entry& e) {
  auto s = FormatSid(e.First("objectSid"));
  return s ? *s : std::string();
}

/// "example.test" from "DC=example,DC=test" (the DC components, in order).
std::string DnsDomainOf(absl::string_view base_dn) {
  std::vector<std::string> labels;
  for (absl::string_view rdn :
       absl::StrSplit(absl::string_view(base_dn.data(), base_dn.size()), ',')) {
    rdn = absl::StripAsciiWhitespace(rdn);
    if (rdn.size() > 3 && absl::StartsWithIgnoreCase(rdn, "DC=")) {
      labels.emplace_back(rdn.substr(3));
    }
  }
  return absl::StrJoin(labels, ".");
}

const std::vector<std::string> kUserAttrs = {"objectGUID",         "objectSid",   "sAMAccountName",
                                             "userPrincipalName",  "displayName", "cn",
                                             "userAccountControl", "objectClass", "primaryGroupID"};

}  // namespace

// ---------------------------------------------------------------------------
// Impl: the libldap handle and the LDAP operations the connector is built of.

struct LdapConnector::Impl {
  explicit Impl(LdapConnectorOptions o) : options(std::move(o)) {}
  ~Impl() { Disconnect(); }

  LdapConnectorOptions options;
  bool ldaps = false;
  LDAP* ld = nullptr;
  std::string base_dn;
  std::string dns_domain;
  std::string netbios_domain;

  void Disconnect() {
    if (ld != nullptr) {
      ldap_unbind_ext_s(ld, nullptr, nullptr);
      ld = nullptr;
    }
  }

  std::string Diagnostic() const {
    if (ld == nullptr) return {};
    char* msg = nullptr;
    if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) != LDAP_OPT_SUCCESS ||
        msg == nullptr) {
      return {};
    }
    std::string out(msg);
    ldap_memfree(msg);
    return out;
  }

  /// Maps an LDAP result code to a status (connector.h's codes). `what` says
  /// what was attempted; the server's diagnostic message is appended. A
  /// connection error drops the connection so the next call reconnects.
  absl::Status Error(int rc, absl::string_view what,
                     std::optional<std::string> diag_override = std::nullopt) {
    std::string diag = diag_override ? *diag_override : Diagnostic();
    std::string msg = absl::StrCat(what, ": ", ldap_err2string(rc), " (LDAP ", rc, ")");
    if (!diag.empty()) absl::StrAppend(&msg, ": ", diag);
    absl::StatusCode code = absl::StatusCode::kUnknown;
    switch (rc) {
      case LDAP_SERVER_DOWN:
      case LDAP_CONNECT_ERROR:
      case LDAP_TIMEOUT:
      case LDAP_TIMELIMIT_EXCEEDED:
      case LDAP_BUSY:
      case LDAP_UNAVAILABLE:
      case LDAP_ADMINLIMIT_EXCEEDED:
        code = absl::StatusCode::kUnavailable;
        msg = absl::StrCat("directory ", options.uri, " unavailable: ", msg);
        break;
      case LDAP_INVALID_CREDENTIALS:
      case LDAP_INAPPROPRIATE_AUTH:
        code = absl::StatusCode::kUnauthenticated;
        break;
      case LDAP_INSUFFICIENT_ACCESS:
        code = absl::StatusCode::kPermissionDenied;
        break;
      case LDAP_NO_SUCH_OBJECT:
        code = absl::StatusCode::kNotFound;
        break;
      case LDAP_INVALID_DN_SYNTAX:
      case LDAP_FILTER_ERROR:
      case LDAP_INVALID_SYNTAX:
      case LDAP_UNDEFINED_TYPE:
      case LDAP_PARAM_ERROR:
        code = absl::StatusCode::kInvalidArgument;
        break;
      case LDAP_STRONG_AUTH_REQUIRED:
      case LDAP_CONFIDENTIALITY_REQUIRED:
      case LDAP_UNWILLING_TO_PERFORM:
      case LDAP_CONSTRAINT_VIOLATION:
      case LDAP_NO_SUCH_ATTRIBUTE:
      case LDAP_TYPE_OR_VALUE_EXISTS:
      case LDAP_REFERRAL:
        code = absl::StatusCode::kFailedPrecondition;
        break;
      default:
        break;
    }
    if (IsConnectionError(rc)) Disconnect();
    return absl::Status(code, msg);
  }

  absl::StatusOr<std::string> ReadPassword() const {
    if (!options.password_file.empty()) return reclaim::ReadSecretFile(options.password_file, "password");
    return reclaim::ReadSecretEnv(options.password_env, "bind password");
  }

  absl::Status SetOption(int option, const void* value, absl::string_view name) {
    const int rc = ldap_set_option(ld, option, value);
    if (rc != LDAP_OPT_SUCCESS) {
      return absl::InternalError(
          absl::StrCat("ldap_set_option(", name, ") failed: ", ldap_err2string(rc)));
    }
    return absl::OkStatus();
  }

  absl::Status Connect() {
    if (ld != nullptr) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::string password, ReadPassword());
    struct PasswordWiper {
      std::string* p;
      ~PasswordWiper() { Wipe(*p); }
    } wiper{&password};

    int rc = ldap_initialize(&ld, options.uri.c_str());
    if (rc != LDAP_SUCCESS) {
      ld = nullptr;
      return absl::InvalidArgumentError(
          absl::StrCat("bad LDAP URI '", options.uri, "': ", ldap_err2string(rc)));
    }
    const int version = LDAP_VERSION3;
    const timeval network_timeout = absl::ToTimeval(options.network_timeout);
    const timeval operation_timeout = absl::ToTimeval(options.operation_timeout);
    const int demand = LDAP_OPT_X_TLS_DEMAND;
    const int new_ctx_server = 0;  // 0 = a client context
    absl::Status st = SetOption(LDAP_OPT_PROTOCOL_VERSION, &version, "PROTOCOL_VERSION");
    if (st.ok()) st = SetOption(LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "REFERRALS");
    if (st.ok()) st = SetOption(LDAP_OPT_NETWORK_TIMEOUT, &network_timeout, "NETWORK_TIMEOUT");
    if (st.ok()) st = SetOption(LDAP_OPT_TIMEOUT, &operation_timeout, "TIMEOUT");
    if (st.ok()) st = SetOption(LDAP_OPT_X_TLS_REQUIRE_CERT, &demand, "X_TLS_REQUIRE_CERT");
    if (st.ok() && !options.ca_file.empty()) {
      st = SetOption(LDAP_OPT_X_TLS_CACERTFILE, options.ca_file.c_str(), "X_TLS_CACERTFILE");
    }
    // Per-connection TLS options are only used once a new TLS context is
    // made for this handle; without it libldap keeps the global context.
    if (st.ok()) st = SetOption(LDAP_OPT_X_TLS_NEWCTX, &new_ctx_server, "X_TLS_NEWCTX");
    if (!st.ok()) {
      Disconnect();
      return st;
    }

    // Open the connection (and, for ldaps://, the TLS session) first, so a
    // refused connection and a failed certificate check get clear messages.
    rc = ldap_connect(ld);
    if (rc != LDAP_SUCCESS) return ConnectFailure(rc, ldaps ? "TLS connection" : "connection");
    const char* transport = "ldaps";
    if (!ldaps) {
      if (options.allow_plaintext) {
        transport = "plain LDAP (no TLS)";
        spdlog::warn(
            "LDAP connection to {} is not encrypted (allow_plaintext): the bind password "
            "and directory data cross the network in clear text",
            options.uri);
      } else {
        transport = "StartTLS";
        rc = ldap_start_tls_s(ld, nullptr, nullptr);
        if (rc != LDAP_SUCCESS) return ConnectFailure(rc, "StartTLS");
      }
    }

    berval cred{};
    cred.bv_val = password.data();
    cred.bv_len = password.size();
    rc = ldap_sasl_bind_s(ld, options.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr,
                          nullptr);
    if (rc != LDAP_SUCCESS) {
      // Never echo the password, even if a server put it into its message.
      std::string diag = Diagnostic();
      if (!password.empty()) diag = absl::StrReplaceAll(diag, {{password, "***"}});
      absl::Status err =
          rc == LDAP_INVALID_CREDENTIALS
              ? absl::UnauthenticatedError(absl::StrCat(
                    "LDAP bind as ", options.bind_dn, " to ", options.uri,
                    " failed: invalid credentials (LDAP 49)", diag.empty() ? "" : ": ", diag))
              : Error(rc, absl::StrCat("LDAP bind as ", options.bind_dn, " to ", options.uri),
                      diag);
      Wipe(diag);
      Disconnect();
      return err;
    }

    absl::Status ready = ReadDomainInfo();
    if (!ready.ok()) {
      Disconnect();
      return ready;
    }
    spdlog::info("LDAP connected to {} ({}) as {}; base {}, domain {}", options.uri, transport,
                 options.bind_dn, base_dn, netbios_domain.empty() ? "(unknown)" : netbios_domain);
    return absl::OkStatus();
  }

  /// Connecting (ldaps://) or StartTLS failed. libldap (GnuTLS build) often
  /// says only "Can't contact LDAP server" for a certificate it rejects, so
  /// when the diagnostic does not name TLS, a second connection that skips
  /// certificate verification tells a refused certificate (it succeeds)
  /// from an unreachable server. The probe never binds or sends data.
  absl::Status ConnectFailure(int rc, absl::string_view step) {
    std::string diag = Diagnostic();
    Disconnect();
    const std::string lower = absl::AsciiStrToLower(diag);
    const bool tls_said = absl::StrContains(lower, "tls") ||
                          absl::StrContains(lower, "certificate") ||
                          absl::StrContains(lower, "ssl");
    const bool tls_step = ldaps || absl::StrContains(step, "StartTLS");
    if (tls_said || (tls_step && TlsWorksWithoutVerification())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "TLS with ", options.uri, " failed (", step,
          "): the server's certificate was not accepted (not issued by a trusted CA, or not "
          "for this host name)",
          diag.empty() || diag == "(unknown error code)" ? "" : absl::StrCat(": ", diag),
          options.ca_file.empty() ? "; no ca_file is set, so the system trust store was used"
                                  : absl::StrCat("; CA file ", options.ca_file)));
    }
    return absl::UnavailableError(absl::StrCat("cannot reach directory ", options.uri, " (", step,
                                               "): ", ldap_err2string(rc), " (LDAP ", rc, ")",
                                               diag.empty() ? "" : ": ", diag));
  }

  /// True when a TLS session with the server comes up if the certificate
  /// is not verified (see ConnectFailure).
  bool TlsWorksWithoutVerification() const {
    LDAP* probe = nullptr;
    if (ldap_initialize(&probe, options.uri.c_str()) != LDAP_SUCCESS) return false;
    const int version = LDAP_VERSION3;
    const int never = LDAP_OPT_X_TLS_NEVER;
    const int client = 0;
    const timeval network_timeout = absl::ToTimeval(options.network_timeout);
    const timeval operation_timeout = absl::ToTimeval(options.operation_timeout);
    bool ok =
        ldap_set_option(probe, LDAP_OPT_PROTOCOL_VERSION, &version) == LDAP_OPT_SUCCESS &&
        ldap_set_option(probe, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) == LDAP_OPT_SUCCESS &&
        ldap_set_option(probe, LDAP_OPT_NETWORK_TIMEOUT, &network_timeout) == LDAP_OPT_SUCCESS &&
        ldap_set_option(probe, LDAP_OPT_TIMEOUT, &operation_timeout) == LDAP_OPT_SUCCESS &&
        ldap_set_option(probe, LDAP_OPT_X_TLS_REQUIRE_CERT, &never) == LDAP_OPT_SUCCESS &&
        ldap_set_option(probe, LDAP_OPT_X_TLS_NEWCTX, &client) == LDAP_OPT_SUCCESS &&
        ldap_connect(probe) == LDAP_SUCCESS;
    if (ok && !ldaps) ok = ldap_start_tls_s(probe, nullptr, nullptr) == LDAP_SUCCESS;
    ldap_unbind_ext_s(probe, nullptr, nullptr);
    return ok;
  }

  /// Base DN (RootDSE defaultNamingContext) and NetBIOS domain (crossRef).
  absl::Status ReadDomainInfo() {
    base_dn = options.base_dn;
    netbios_domain = options.netbios_domain;
    ASSIGN_OR_RETURN(auto root, Search("", LDAP_SCOPE_BASE, "(objectClass=*)",
                                       {"defaultNamingContext", "configurationNamingContext"},
                                       /*extended_dn=*/false, /*paged=*/false));
    if (root.empty()) return absl::UnavailableError("the directory returned no RootDSE");
    if (base_dn.empty()) {
      base_dn = root[0].First("defaultNamingContext");
      if (base_dn.empty()) {
        return absl::FailedPreconditionError(
            "the directory's RootDSE has no defaultNamingContext; set base_dn");
      }
    }
    dns_domain = DnsDomainOf(base_dn);
    const std::string config_nc = root[0].First("configurationNamingContext");
    if (netbios_domain.empty() && !config_nc.empty()) {
      auto refs = Search(absl::StrCat("CN=Partitions,", config_nc), LDAP_SCOPE_ONELEVEL,
                         absl::StrCat("(&(objectClass=crossRef)(nETBIOSName=*)(nCName=",
                                      EscapeLdapFilterValue(base_dn), "))"),
                         {"nETBIOSName"}, false, false);
      if (refs.ok() && refs->size() == 1) netbios_domain = (*refs)[0].First("nETBIOSName");
      if (netbios_domain.empty()) {
        spdlog::warn("LDAP: no NetBIOS domain name found for {}; set netbios_domain", base_dn);
      }
    }
    return absl::OkStatus();
  }

  /// Runs a search and returns its entries (search references are ignored:
  /// referral chasing is off). `paged` uses RFC 2696 paged results.
  absl::StatusOr<std::vector<Entry>> Search(const std::string& base, int scope,
                                            const std::string& filter,
                                            const std::vector<std::string>& attrs, bool extended_dn,
                                            bool paged) {
    if (ld == nullptr) RETURN_IF_ERROR(Connect());
    std::vector<char*> attr_ptrs;
    for (const auto& a : attrs) attr_ptrs.push_back(const_cast<char*>(a.c_str()));
    attr_ptrs.push_back(nullptr);

    ControlPtr ext_dn;
    if (extended_dn) {
      berval value{sizeof kExtendedDnValue, const_cast<char*>(kExtendedDnValue)};
      LDAPControl* c = nullptr;
      const int rc = ldap_control_create(kExtendedDnOid, 1, &value, 1, &c);
      if (rc != LDAP_SUCCESS) return Error(rc, "creating the extended-DN control");
      ext_dn.reset(c);
    }

    std::vector<Entry> out;
    berval cookie{0, nullptr};
    struct CookieFree {
      berval* c;
      ~CookieFree() {
        if (c->bv_val != nullptr) ber_memfree(c->bv_val);
      }
    } cookie_free{&cookie};
    timeval timeout = absl::ToTimeval(options.operation_timeout);
    for (int page = 0;; ++page) {
      ControlPtr page_ctrl;
      if (paged) {
        LDAPControl* c = nullptr;
        const int rc = ldap_create_page_control(ld, options.page_size, &cookie, 0, &c);
        if (rc != LDAP_SUCCESS) return Error(rc, "creating the paged-results control");
        page_ctrl.reset(c);
      }
      std::vector<LDAPControl*> ctrls;
      if (ext_dn) ctrls.push_back(ext_dn.get());
      if (page_ctrl) ctrls.push_back(page_ctrl.get());
      ctrls.push_back(nullptr);

      LDAPMessage* raw = nullptr;
      int rc = ldap_search_ext_s(ld, base.c_str(), scope, filter.c_str(), attr_ptrs.data(), 0,
                                 ctrls.data(), nullptr, &timeout, 0, &raw);
      MessagePtr result(raw);
      if (rc != LDAP_SUCCESS) {
        return Error(rc, absl::StrCat("LDAP search base \"", base, "\" filter ", filter));
      }
      for (LDAPMessage* m = ldap_first_entry(ld, result.get()); m != nullptr;
           m = ldap_next_entry(ld, m)) {
        out.push_back(ReadEntry(m));
      }
      if (!paged) break;
      // The page response control carries the cookie for the next page.
      LDAPControl** server_ctrls = nullptr;
      int result_code = LDAP_SUCCESS;
      rc = ldap_parse_result(ld, result.get(), &result_code, nullptr, nullptr, nullptr,
                             &server_ctrls, 0);
      ControlsPtr server_ctrls_owner(server_ctrls);
      if (rc != LDAP_SUCCESS) return Error(rc, "parsing a search result");
      if (cookie.bv_val != nullptr) {
        ber_memfree(cookie.bv_val);
        cookie = {0, nullptr};
      }
      LDAPControl* resp = server_ctrls == nullptr
                              ? nullptr
                              : ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, server_ctrls, nullptr);
      if (resp == nullptr) break;  // server did not page: everything came at once
      ber_int_t estimate = 0;
      rc = ldap_parse_pageresponse_control(ld, resp, &estimate, &cookie);
      if (rc != LDAP_SUCCESS) return Error(rc, "parsing the paged-results control");
      if (cookie.bv_val == nullptr || cookie.bv_len == 0) break;
      if (page > 100000) return absl::InternalError("LDAP paged search does not end");
    }
    return out;
  }

  Entry ReadEntry(LDAPMessage* m) {
    Entry e;
    if (char* dn = ldap_get_dn(ld, m)) {
      e.dn = dn;
      ldap_memfree(dn);
    }
    BerElement* ber = nullptr;
    for (char* a = ldap_first_attribute(ld, m, &ber); a != nullptr;
         a = ldap_next_attribute(ld, m, ber)) {
      std::vector<std::string>& values = e.attrs[absl::AsciiStrToLower(a)];
      if (berval** vals = ldap_get_values_len(ld, m, a)) {
        for (berval** v = vals; *v != nullptr; ++v) values.emplace_back((*v)->bv_val, (*v)->bv_len);
        ldap_value_free_len(vals);
      }
      ldap_memfree(a);
    }
    if (ber != nullptr) ber_free(ber, 0);
    return e;
  }

  /// Reads one object by `<GUID=...>` (kNotFound when it does not exist).
  absl::StatusOr<Entry> ReadByGuid(const std::string& guid, const std::vector<std::string>& attrs,
                                   bool extended_dn, absl::string_view what) {
    auto entries = Search(absl::StrCat("<GUID=", guid, ">"), LDAP_SCOPE_BASE, "(objectClass=*)",
                          attrs, extended_dn, false);
    if (!entries.ok()) {
      if (absl::IsNotFound(entries.status())) {
        return absl::NotFoundError(absl::StrCat("no ", what, " with objectGUID ", guid));
      }
      return entries.status();
    }
    if (entries->empty())
      return absl::NotFoundError(absl::StrCat("no ", what, " with objectGUID ", guid));
    return std::move((*entries)[0]);
  }

  absl::StatusOr<GroupInfo> ReadGroup(const std::string& guid) {
    ASSIGN_OR_RETURN(Entry e,
                     ReadByGuid(guid,
                                {"objectGUID", "objectSid", "objectClass", "cn", "displayName",
                                 "sAMAccountName", "isCriticalSystemObject"},
                                false, "group"));
    if (!e.HasValue("objectClass", "group")) {
      return absl::InvalidArgumentError(
          absl::StrCat("object ", guid, " (", e.dn, ") is not a group"));
    }
    return ToGroupInfo(e);
  }

  static GroupInfo ToGroupInfo(const Entry& e) {
    GroupInfo g;
    g.guid = GuidOf(e);
    g.sid = SidOf(e);
    g.rid = SidRid(g.sid);
    g.dn = e.dn;
    g.name = DisplayNameOf(e);
    g.critical = absl::EqualsIgnoreCase(e.First("isCriticalSystemObject"), "TRUE");
    return g;
  }

  DirectoryUser ToUser(const Entry& e) const {
    DirectoryUser u;
    u.object_id = GuidOf(e);
    u.sam_account_name = e.First("sAMAccountName");
    u.domain = netbios_domain;
    u.upn = e.First("userPrincipalName");
    u.sid = SidOf(e);
    u.dn = e.dn;
    u.display_name = e.First("displayName");
    if (u.display_name.empty()) u.display_name = e.First("cn");
    const std::string uac = e.First("userAccountControl");
    if (!uac.empty()) u.enabled = (std::strtol(uac.c_str(), nullptr, 10) & kUacAccountDisable) == 0;
    return u;
  }

  static bool IsUser(const Entry& e) {
    return e.HasValue("objectClass", "user") && !e.HasValue("objectClass", "computer");
  }

  /// Every value of the group's `member`, by ranged reads (MS-ADTS
  /// 3.1.1.3.1.3.3) with the extended-DN control.
  absl::StatusOr<std::vector<ExtendedDn>> ReadMembers(const std::string& group_guid) {
    std::vector<ExtendedDn> out;
    std::uint64_t low = 0;
    const std::uint64_t step = static_cast<std::uint64_t>(options.member_range_size);
    for (int round = 0;; ++round) {
      if (round > 1000000) return absl::InternalError("ranged read of member does not end");
      const std::string attr = absl::StrCat("member;range=", low, "-", low + step - 1);
      ASSIGN_OR_RETURN(Entry e, ReadByGuid(group_guid, {attr}, true, "group"));
      const std::vector<std::string>* values = nullptr;
      std::optional<RangedAttribute> range;
      for (const auto& [name, vals] : e.attrs) {
        if (name == "member") {
          values = &vals;  // the server sent every value without a range
          break;
        }
        auto r = ParseRangedAttribute(name);
        if (r && absl::EqualsIgnoreCase(r->attribute, "member")) {
          values = &vals;
          range = r;
          break;
        }
      }
      if (values == nullptr) break;  // no (more) values
      for (const auto& v : *values) {
        auto x = ParseExtendedDn(v);
        if (!x) {
          return absl::InternalError(
              absl::StrCat("the directory returned a member value without a GUID: ", v));
        }
        out.push_back(std::move(*x));
      }
      if (!range || !range->high) break;  // "member" or "member;range=N-*": the last values
      if (range->low != low || *range->high < low) {
        return absl::InternalError(absl::StrCat("the directory answered range ", range->low, "-",
                                                *range->high, " to a request for ", attr));
      }
      low = *range->high + 1;
    }
    return out;
  }

  /// Resolves GUIDs to entries with `attrs`, in batches of OR filters.
  absl::StatusOr<std::vector<Entry>> ResolveGuids(const std::vector<std::string>& guids,
                                                  const std::vector<std::string>& attrs) {
    std::vector<Entry> out;
    const size_t batch = static_cast<size_t>(options.resolve_batch_size);
    for (size_t i = 0; i < guids.size(); i += batch) {
      std::string filter = "(|";
      for (size_t j = i; j < std::min(guids.size(), i + batch); ++j) {
        auto bytes = ParseObjectGuid(guids[j]);
        if (!bytes) return absl::InternalError(absl::StrCat("bad GUID ", guids[j]));
        absl::StrAppend(&filter, "(objectGUID=", EscapeLdapFilterBytes(*bytes), ")");
      }
      filter += ")";
      ASSIGN_OR_RETURN(auto entries,
                       Search(base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, false, true));
      for (auto& e : entries) out.push_back(std::move(e));
    }
    return out;
  }

  /// Users (not computers) whose primaryGroupID is `rid`.
  absl::StatusOr<std::vector<Entry>> PrimaryGroupUsers(std::uint32_t rid) {
    return Search(base_dn, LDAP_SCOPE_SUBTREE,
                  absl::StrCat("(&", kUserFilter, "(primaryGroupID=", rid, "))"), kUserAttrs, false,
                  true);
  }

  /// The groups nested (at any depth) in `group`, by the in-chain rule.
  absl::StatusOr<std::vector<GroupInfo>> NestedGroups(const GroupInfo& group) {
    ASSIGN_OR_RETURN(
        auto entries,
        Search(base_dn, LDAP_SCOPE_SUBTREE,
               absl::StrCat("(&(objectClass=group)(memberOf:", kInChainRule,
                            ":=", EscapeLdapFilterValue(group.dn), "))"),
               {"objectGUID", "objectSid", "cn", "displayName", "sAMAccountName"}, false, true));
    std::vector<GroupInfo> out;
    for (const auto& e : entries) {
      GroupInfo g = ToGroupInfo(e);
      if (g.guid != group.guid) out.push_back(std::move(g));  // a cycle leads back to the group
    }
    return out;
  }

  /// The user's direct groups (memberOf, as GUIDs) and primaryGroupID.
  struct UserGroups {
    std::string sid;
    std::optional<std::uint32_t> primary_group_id;
    std::unordered_set<std::string> direct_group_guids;
  };
  absl::StatusOr<UserGroups> ReadUserGroups(const std::string& user_guid) {
    ASSIGN_OR_RETURN(Entry e, ReadByGuid(user_guid,
                                         {"objectGUID", "objectSid", "objectClass",
                                          "primaryGroupID", "memberOf"},
                                         true, "user"));
    UserGroups out;
    out.sid = SidOf(e);
    const std::string pg = e.First("primaryGroupID");
    if (!pg.empty())
      out.primary_group_id = static_cast<std::uint32_t>(std::strtoul(pg.c_str(), nullptr, 10));
    if (const auto* v = e.Values("memberOf")) {
      for (const auto& value : *v) {
        if (auto x = ParseExtendedDn(value)) out.direct_group_guids.insert(x->guid);
      }
    }
    return out;
  }

  /// What a member add/delete needs before it is sent: the group (refused
  /// when it is a critical system object), the user's groups before the
  /// change, and the request as audited ("LDAP modify <GUID=..>: <op>
  /// member <GUID=..>"). Errors: kInvalidArgument (ids not objectGUIDs),
  /// kFailedPrecondition (critical group), directory errors.
  struct MemberChange {
    GroupInfo group;
    UserGroups before;
    std::string request;
  };
  absl::StatusOr<MemberChange> PrepareMemberChange(const AuthorizationGroup& group,
                                                   const DirectoryUser& user,
                                                   absl::string_view op) {
    if (!ParseObjectGuid(group.object_id) || !ParseObjectGuid(user.object_id)) {
      return absl::InvalidArgumentError(absl::StrCat("group '", group.object_id, "' and user '",
                                                     user.object_id, "' must be objectGUIDs"));
    }
    RETURN_IF_ERROR(Connect());
    MemberChange change;
    change.request = absl::StrCat("LDAP modify <GUID=", group.object_id, ">: ", op,
                                  " member <GUID=", user.object_id, ">");
    ASSIGN_OR_RETURN(change.group, ReadGroup(group.object_id));
    if (change.group.critical) {
      return absl::FailedPreconditionError(absl::StrCat(
          "group '", change.group.name, "' is a critical system object; Reclaim does not change it"));
    }
    ASSIGN_OR_RETURN(change.before, ReadUserGroups(user.object_id));
    return change;
  }

  /// The SID of the user's primary group: the user's domain SID + RID.
  static std::string PrimaryGroupSid(const UserGroups& u) {
    if (!u.primary_group_id || u.sid.empty()) return {};
    return absl::StrCat(u.sid.substr(0, u.sid.rfind('-')), "-", *u.primary_group_id);
  }

  /// A nested group of `group` the user still belongs to directly (by
  /// `member` or primary group), or nullopt.
  absl::StatusOr<std::optional<GroupInfo>> StillMemberVia(const GroupInfo& group,
                                                          const UserGroups& user) {
    ASSIGN_OR_RETURN(auto nested, NestedGroups(group));
    const std::string primary_sid = PrimaryGroupSid(user);
    for (auto& g : nested) {
      if (user.direct_group_guids.count(g.guid) > 0 ||
          (!primary_sid.empty() && absl::EqualsIgnoreCase(g.sid, primary_sid))) {
        return std::optional<GroupInfo>(std::move(g));
      }
    }
    return std::optional<GroupInfo>();
  }

  /// One modify of `member` on `<GUID=group>` with the value `<GUID=user>`.
  int ModifyMember(int op, const std::string& group_guid, const std::string& user_guid) {
    std::string dn = absl::StrCat("<GUID=", group_guid, ">");
    std::string value = absl::StrCat("<GUID=", user_guid, ">");
    char member_attr[] = "member";
    char* values[] = {value.data(), nullptr};
    LDAPMod mod{};
    mod.mod_op = op;
    mod.mod_type = member_attr;
    mod.mod_values = values;
    LDAPMod* mods[] = {&mod, nullptr};
    return ldap_modify_ext_s(ld, dn.c_str(), mods, nullptr, nullptr);
  }
};

// ---------------------------------------------------------------------------

absl::StatusOr<LdapConnectorOptions> LdapConnectorOptionsFromSettings(
    const std::map<std::string, std::string>& settings) {
  LdapConnectorOptions o;
  const std::map<std::string, std::string*> strings = {{"uri", &o.uri},
                                                       {"url", &o.uri},
                                                       {"ca_file", &o.ca_file},
                                                       {"bind_dn", &o.bind_dn},
                                                       {"password_file", &o.password_file},
                                                       {"password_env", &o.password_env},
                                                       {"base_dn", &o.base_dn},
                                                       {"netbios_domain", &o.netbios_domain}};
  const std::map<std::string, absl::Duration*> durations = {
      {"network_timeout", &o.network_timeout}, {"operation_timeout", &o.operation_timeout}};
  const std::map<std::string, int*> ints = {{"member_range_size", &o.member_range_size},
                                            {"page_size", &o.page_size},
                                            {"resolve_batch_size", &o.resolve_batch_size}};
  for (const auto& [key, value] : settings) {
    if (auto it = strings.find(key); it != strings.end()) {
      *it->second = value;
    } else if (key == "allow_plaintext") {
      if (value == "true") {
        o.allow_plaintext = true;
      } else if (value == "false") {
        o.allow_plaintext = false;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "LDAP connector: allow_plaintext must be true or false, not '", value, "'"));
      }
    } else if (auto d = durations.find(key); d != durations.end()) {
      absl::Duration parsed;
      int seconds = 0;
      if (absl::SimpleAtoi(value, &seconds)) {
        parsed = absl::Seconds(seconds);
      } else if (!absl::ParseDuration(value, &parsed)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "LDAP connector: ", key, " must be a duration such as \"10s\", not '", value, "'"));
      }
      *d->second = parsed;
    } else if (auto n = ints.find(key); n != ints.end()) {
      if (!absl::SimpleAtoi(value, n->second)) {
        return absl::InvalidArgumentError(
            absl::StrCat("LDAP connector: ", key, " must be an integer, not '", value, "'"));
      }
    } else {
      std::vector<std::string> known;
      for (const auto& [k, v] : strings) known.push_back(k);
      for (const auto& [k, v] : durations) known.push_back(k);
      for (const auto& [k, v] : ints) known.push_back(k);
      known.push_back("allow_plaintext");
      std::sort(known.begin(), known.end());
      return absl::InvalidArgumentError(absl::StrCat(
          "LDAP connector: unknown setting '", key, "' (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return o;
}

absl::StatusOr<std::unique_ptr<LdapConnector>> LdapConnector::Create(LdapConnectorOptions options) {
  if (options.uri.empty()) return absl::InvalidArgumentError("LDAP connector: uri is required");
  LDAPURLDesc* url = nullptr;
  if (ldap_url_parse(options.uri.c_str(), &url) != LDAP_URL_SUCCESS || url == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("LDAP connector: '", options.uri, "' is not an LDAP URI"));
  }
  const std::string scheme = absl::AsciiStrToLower(url->lud_scheme ? url->lud_scheme : "");
  ldap_free_urldesc(url);
  if (scheme != "ldap" && scheme != "ldaps") {
    return absl::InvalidArgumentError(absl::StrCat("LDAP connector: uri '", options.uri,
                                                   "' must start with ldaps:// or ldap://"));
  }
  if (options.uri.find_first_of(" \t,") != std::string::npos) {
    return absl::InvalidArgumentError("LDAP connector: give exactly one URI");
  }
  if (options.bind_dn.empty()) {
    return absl::InvalidArgumentError("LDAP connector: bind_dn (service account) is required");
  }
  if (options.password_file.empty() == options.password_env.empty()) {
    return absl::InvalidArgumentError(
        "LDAP connector: set exactly one of password_file and password_env");
  }
  if (options.member_range_size < 1 || options.page_size < 1 || options.resolve_batch_size < 1) {
    return absl::InvalidArgumentError(
        "LDAP connector: member_range_size, page_size and resolve_batch_size must be positive");
  }
  if (options.network_timeout <= absl::ZeroDuration() ||
      options.operation_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("LDAP connector: timeouts must be positive");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->ldaps = scheme == "ldaps";
  return std::unique_ptr<LdapConnector>(new LdapConnector(std::move(impl)));
}

LdapConnector::LdapConnector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LdapConnector::~LdapConnector() = default;

const std::string& LdapConnector::base_dn() const { return impl_->base_dn; }
const std::string& LdapConnector::netbios_domain() const { return impl_->netbios_domain; }

absl::Status LdapConnector::Connect() { return impl_->Connect(); }

absl::StatusOr<AuthorizationGroup> LdapConnector::GetGroup(const std::string& ref) {
  RETURN_IF_ERROR(impl_->Connect());
  if (ref.empty()) return absl::InvalidArgumentError("empty group reference");
  const std::vector<std::string> attrs = {"objectGUID", "objectSid",   "objectClass",
                                          "cn",         "displayName", "sAMAccountName"};
  std::string base;
  int scope = LDAP_SCOPE_BASE;
  std::string filter = "(objectClass=group)";
  if (ParseObjectGuid(ref)) {
    base = absl::StrCat("<GUID=", ref, ">");
  } else if (absl::StartsWithIgnoreCase(ref, "S-1-") && SidRid(ref)) {
    base = absl::StrCat("<SID=", ref, ">");
  } else if (ref.find('=') != std::string::npos) {
    base = ref;
  } else {
    base = impl_->base_dn;
    scope = LDAP_SCOPE_SUBTREE;
    const std::string v = EscapeLdapFilterValue(ref);
    filter = absl::StrCat("(&(objectClass=group)(|(sAMAccountName=", v, ")(cn=", v,
                          ")(displayName=", v, ")))");
  }
  auto entries = impl_->Search(base, scope, filter, attrs, false, scope != LDAP_SCOPE_BASE);
  if (!entries.ok() && !absl::IsNotFound(entries.status())) return entries.status();
  if (!entries.ok() || entries->empty()) {
    return absl::NotFoundError(absl::StrCat("no group '", ref, "' in ", impl_->base_dn));
  }
  if (entries->size() > 1) {
    std::vector<std::string> dns;
    for (const auto& e : *entries) dns.push_back(e.dn);
    return absl::InvalidArgumentError(absl::StrCat("group reference '", ref, "' matches ",
                                                   entries->size(),
                                                   " groups: ", absl::StrJoin(dns, "; ")));
  }
  const GroupInfo info = Impl::ToGroupInfo((*entries)[0]);
  ASSIGN_OR_RETURN(auto members, impl_->ReadMembers(info.guid));
  AuthorizationGroup g;
  g.object_id = info.guid;
  g.display_name = info.name;
  g.dn = info.dn;
  g.direct_member_count = static_cast<std::int64_t>(members.size());
  return g;
}

absl::StatusOr<std::vector<GroupMember>> LdapConnector::ListMembers(
    const AuthorizationGroup& group) {
  if (!ParseObjectGuid(group.object_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("group object id '", group.object_id, "' is not a GUID"));
  }
  RETURN_IF_ERROR(impl_->Connect());
  ASSIGN_OR_RETURN(GroupInfo top, impl_->ReadGroup(group.object_id));

  struct Found {
    DirectoryUser user;
    bool direct = false;
    bool primary = false;
    std::optional<std::string> via;  // first nested group found (shortest path)
  };
  std::vector<Found> found;
  std::unordered_map<std::string, size_t> index;  // user GUID -> found[]
  auto record = [&](const Entry& e, bool direct, bool primary, const std::string& via) {
    DirectoryUser u = impl_->ToUser(e);
    auto [it, inserted] = index.emplace(u.object_id, found.size());
    if (inserted) found.push_back(Found{std::move(u), false, false, std::nullopt});
    Found& f = found[it->second];
    f.direct |= direct;
    f.primary |= primary;
    if (!direct && !primary && !f.via) f.via = via;
  };

  std::vector<std::string> resolve_attrs = kUserAttrs;
  std::deque<GroupInfo> queue = {top};
  std::unordered_set<std::string> visited = {top.guid};
  while (!queue.empty()) {
    GroupInfo g = std::move(queue.front());
    queue.pop_front();
    const bool is_top = g.guid == top.guid;
    ASSIGN_OR_RETURN(auto values, impl_->ReadMembers(g.guid));
    std::vector<std::string> guids;
    for (const auto& v : values) guids.push_back(v.guid);
    ASSIGN_OR_RETURN(auto entries, impl_->ResolveGuids(guids, resolve_attrs));
    if (entries.size() < guids.size()) {
      std::unordered_set<std::string> seen;
      for (const auto& e : entries) seen.insert(GuidOf(e));
      for (const auto& v : values) {
        if (seen.count(v.guid) == 0) {
          spdlog::info(
              "LDAP: member {} of group '{}' is not under {} (foreign principal?): skipped", v.dn,
              g.name, impl_->base_dn);
        }
      }
    }
    for (const auto& e : entries) {
      if (e.HasValue("objectClass", "group")) {
        GroupInfo inner = Impl::ToGroupInfo(e);
        if (visited.insert(inner.guid).second) queue.push_back(std::move(inner));
      } else if (Impl::IsUser(e)) {
        record(e, is_top, false, g.name);
      } else {
        spdlog::debug("LDAP: member {} of group '{}' is not a user: skipped", e.dn, g.name);
      }
    }
    if (g.rid) {
      ASSIGN_OR_RETURN(auto primaries, impl_->PrimaryGroupUsers(*g.rid));
      for (const auto& e : primaries) record(e, false, is_top, g.name);
    }
  }

  std::vector<GroupMember> out;
  out.reserve(found.size());
  for (auto& f : found) {
    GroupMember m;
    m.user = std::move(f.user);
    if (f.direct) {
      m.kind = MembershipKind::kDirect;
      m.also_via_group = f.via;
    } else if (f.primary) {
      m.kind = MembershipKind::kPrimaryGroup;
      m.also_via_group = f.via;
    } else {
      m.kind = MembershipKind::kNested;
      m.via_group = f.via.value_or(std::string());
    }
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const GroupMember& a, const GroupMember& b) {
    return a.user.sam_account_name < b.user.sam_account_name;
  });
  return out;
}

absl::StatusOr<DirectoryUser> LdapConnector::FindUser(const std::string& login_in,
                                                      const std::string& domain_in) {
  std::string login = login_in;
  std::string domain = domain_in;
  if (const size_t slash = login.find('\\'); slash != std::string::npos && domain.empty()) {
    domain = login.substr(0, slash);
    login = login.substr(slash + 1);
  }
  if (login.empty()) return absl::InvalidArgumentError("empty login");
  RETURN_IF_ERROR(impl_->Connect());
  if (!domain.empty() && !absl::EqualsIgnoreCase(domain, impl_->netbios_domain) &&
      !absl::EqualsIgnoreCase(domain, impl_->dns_domain)) {
    return absl::NotFoundError(
        absl::StrCat("user ", login, " is in domain ", domain, "; this directory is ",
                     impl_->netbios_domain.empty() ? impl_->dns_domain : impl_->netbios_domain));
  }
  const std::string v = EscapeLdapFilterValue(login);
  const std::string filter = login.find('@') != std::string::npos
                                 ? absl::StrCat("(&", kUserFilter, "(userPrincipalName=", v, "))")
                                 : absl::StrCat("(&", kUserFilter, "(sAMAccountName=", v, "))");
  ASSIGN_OR_RETURN(auto entries, impl_->Search(impl_->base_dn, LDAP_SCOPE_SUBTREE, filter,
                                               kUserAttrs, false, true));
  if (entries.empty()) {
    return absl::NotFoundError(absl::StrCat("no user '", login, "' in ", impl_->base_dn));
  }
  if (entries.size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("login '", login, "' matches ", entries.size(), " users"));
  }
  return impl_->ToUser(entries[0]);
}

absl::StatusOr<ChangeResult> LdapConnector::RemoveMember(const AuthorizationGroup& group,
                                                         const DirectoryUser& user) {
  ASSIGN_OR_RETURN(Impl::MemberChange change,
                   impl_->PrepareMemberChange(group, user, "delete"));
  ChangeResult result;
  result.request = change.request;
  const GroupInfo& g = change.group;
  const Impl::UserGroups& before = change.before;
  if (g.rid && before.primary_group_id == g.rid) {
    result.outcome = ChangeOutcome::kNeedsManualAction;
    result.detail =
        absl::StrCat("'", g.name, "' is the primary group of ", user.sam_account_name,
                     " (primaryGroupID ", *g.rid, "): change the primary group in AD, then remove");
    result.request = "(none sent: primary group)";
    return result;
  }
  const int rc = impl_->ModifyMember(LDAP_MOD_DELETE, g.guid, user.object_id);
  bool removed_now = false;
  Impl::UserGroups after;
  if (rc == LDAP_SUCCESS) {
    removed_now = true;
    ASSIGN_OR_RETURN(after, impl_->ReadUserGroups(user.object_id));
  } else if (rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_NO_SUCH_ATTRIBUTE) {
    // Samba/AD answer 53, OpenLDAP 16, for a value that is not there. Make
    // sure that is the reason before calling it success.
    const std::string diag = impl_->Diagnostic();
    ASSIGN_OR_RETURN(after, impl_->ReadUserGroups(user.object_id));
    if (after.direct_group_guids.count(g.guid) > 0) {
      return impl_->Error(
          rc,
          absl::StrCat("removing ", user.sam_account_name, " from '", g.name, "' (still a member)"),
          diag);
    }
  } else {
    return impl_->Error(rc,
                        absl::StrCat("removing ", user.sam_account_name, " from '", g.name, "'"));
  }
  ASSIGN_OR_RETURN(auto via, impl_->StillMemberVia(g, after));
  if (via) {
    result.outcome = ChangeOutcome::kStillLicensedThrough;
    result.detail =
        absl::StrCat(removed_now ? "removed from " : "no longer a direct member of ", "'", g.name,
                     "' but still licensed through '", via->name, "' (", via->dn, ")");
  } else {
    result.outcome = removed_now ? ChangeOutcome::kRemoved : ChangeOutcome::kAlreadyRemoved;
    result.detail = removed_now ? absl::StrCat("removed from '", g.name, "'")
                                : absl::StrCat("was not a member of '", g.name, "' any more");
  }
  spdlog::info("LDAP: {} {} ({}) from group '{}'", removed_now ? "removed" : "already removed",
               user.sam_account_name, user.object_id, g.name);
  return result;
}

absl::StatusOr<ChangeResult> LdapConnector::AddMember(const AuthorizationGroup& group,
                                                      const DirectoryUser& user) {
  ASSIGN_OR_RETURN(Impl::MemberChange change,
                   impl_->PrepareMemberChange(group, user, "add"));
  ChangeResult result;
  result.request = change.request;
  const GroupInfo& g = change.group;
  const Impl::UserGroups& before = change.before;
  if (g.rid && before.primary_group_id == g.rid) {
    result.outcome = ChangeOutcome::kAlreadyMember;
    result.detail = absl::StrCat("'", g.name, "' is the primary group of ", user.sam_account_name);
    result.request = "(none sent: primary group)";
    return result;
  }
  const int rc = impl_->ModifyMember(LDAP_MOD_ADD, g.guid, user.object_id);
  if (rc == LDAP_ALREADY_EXISTS || rc == LDAP_TYPE_OR_VALUE_EXISTS) {
    result.outcome = ChangeOutcome::kAlreadyMember;
    result.detail = absl::StrCat("already a member of '", g.name, "'");
  } else if (rc == LDAP_SUCCESS) {
    result.outcome = ChangeOutcome::kAdded;
    result.detail = absl::StrCat("added to '", g.name, "'");
  } else {
    return impl_->Error(rc, absl::StrCat("adding ", user.sam_account_name, " to '", g.name, "'"));
  }
  spdlog::info("LDAP: {} {} ({}) to group '{}'",
               result.outcome == ChangeOutcome::kAdded ? "added" : "already member:",
               user.sam_account_name, user.object_id, g.name);
  return result;
}

}  // namespace reclaim::collector
