// The HTTP boundary of the Entra ID connector: one request in, one response
// out. The connector talks to Microsoft Graph and the Microsoft identity
// platform only through HttpClient, so tests can point it at a local fake
// server (or replace the transport altogether). CurlHttpClient is the real
// implementation over libcurl.
//
// Also the connector's only way to wait: Sleeper (tests pass one that moves a
// ManualClock instead of sleeping).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace reclaim::collector::entra {

struct HttpRequest {
  std::string method;  ///< "GET", "POST", "DELETE".
  std::string url;     ///< Absolute URL, already percent-encoded.
  /// Request headers ("Authorization", "Content-Type", ...). May hold a
  /// bearer token: never log them.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Body for POST (sent with Content-Length). May hold a client secret:
  /// never log it.
  std::string body;
};

struct HttpResponse {
  long status = 0;
  /// Header names lower-cased; the last value wins.
  std::map<std::string, std::string> headers;
  std::string body;
};

/// Sends HTTP requests. Not thread-safe (one connector, one thread).
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Sends one request and returns the response, whatever its status code.
  /// Errors: kUnavailable when no response arrived (connect refused,
  /// timeout, TLS failure); the message names the URL without its query.
  [[nodiscard]] virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
};

/// Options of the libcurl client. Every field documents its default.
struct CurlHttpClientOptions {
  /// PEM file of CA certificates for HTTPS. Default empty: the system's
  /// trust store. The server's certificate and name are always verified.
  std::string ca_file;
  /// TCP + TLS connect timeout. Default 10 s.
  absl::Duration connect_timeout = absl::Seconds(10);
  /// Limit for one whole request (connect to last byte). Default 60 s.
  absl::Duration request_timeout = absl::Seconds(60);
};

/// HttpClient over one libcurl easy handle, so connections are kept alive
/// and reused between requests (HTTP/1.1 keep-alive; HTTP/2 when the server
/// offers it over TLS). Redirects are not followed.
[[nodiscard]] std::unique_ptr<HttpClient> MakeCurlHttpClient(CurlHttpClientOptions options);

/// Waits. Not required to be thread-safe.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  /// Blocks the calling thread for `d` (>= 0).
  virtual void Sleep(std::chrono::milliseconds d) = 0;
};

/// std::this_thread::sleep_for.
class RealSleeper final : public Sleeper {
 public:
  void Sleep(std::chrono::milliseconds d) override;
};

/// Percent-encodes `s` for a URL path segment or query value (RFC 3986
/// unreserved characters stay as they are).
std::string UrlEncode(const std::string& s);

}  // namespace reclaim::collector::entra
