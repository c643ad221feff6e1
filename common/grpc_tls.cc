#include "common/grpc_tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"
#include "common/secret_file.h"
#include "common/status_macros.h"

namespace reclaim {
namespace {

constexpr std::uintmax_t kMaxPemBytes = 1 << 20;

// A public PEM file (certificate, CA bundle). Errors: kNotFound, kInvalidArgument.
absl::StatusOr<std::string> ReadPublicPem(const std::string& path, absl::string_view what) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("cannot read the ", what, " ", path, ": ",
                                            ec.message()));
  }
  if (size > kMaxPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " ", path, " is ", size, " bytes; the limit is ", kMaxPemBytes));
  }
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  if (!f) return absl::NotFoundError(absl::StrCat("cannot read the ", what, " ", path));
  return ss.str();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Never prompts for a pass phrase (OpenSSL's default callback reads the tty).
int NoPassphrase(char*, int, int, void*) { return -1; }

// The first certificate of a PEM text; kInvalidArgument when there is none.
absl::StatusOr<X509Ptr> FirstCertificate(const std::string& pem, const std::string& path,
                                         absl::string_view what) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, &NoPassphrase, nullptr));
  ERR_clear_error();
  if (!cert) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " ", path, " holds no PEM certificate"));
  }
  return cert;
}

// Reads an owner-only key and checks that it belongs to `cert`.
absl::StatusOr<std::string> ReadKeyFor(const X509Ptr& cert, const std::string& key_file,
                                       const std::string& cert_file) {
  ASSIGN_OR_RETURN(std::string key, ReadSecretFile(key_file, "TLS private key"));
  BioPtr bio(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())));
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr));
  ERR_clear_error();
  if (!pkey) {
    WipeSecret(key);
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS private key ", key_file, " is not an unencrypted PEM private key"));
  }
  if (X509_check_private_key(cert.get(), pkey.get()) != 1) {
    ERR_clear_error();
    WipeSecret(key);
    return absl::InvalidArgumentError(absl::StrCat("the TLS private key ", key_file,
                                                   " does not match the certificate ", cert_file));
  }
  return key;
}

// Certificate chain + matching key, both checked.
absl::StatusOr<grpc::SslServerCredentialsOptions::PemKeyCertPair> ReadKeyCertPair(
    const std::string& cert_file, const std::string& key_file) {
  ASSIGN_OR_RETURN(std::string chain, ReadPublicPem(cert_file, "TLS certificate"));
  ASSIGN_OR_RETURN(X509Ptr cert, FirstCertificate(chain, cert_file, "TLS certificate"));
  ASSIGN_OR_RETURN(std::string key, ReadKeyFor(cert, key_file, cert_file));
  return grpc::SslServerCredentialsOptions::PemKeyCertPair{std::move(key), std::move(chain)};
}

absl::StatusOr<std::string> ReadCaBundle(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadPublicPem(path, "CA bundle"));
  RETURN_IF_ERROR(FirstCertificate(pem, path, "CA bundle").status());
  return pem;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options) {
  const bool any_tls = !options.cert_file.empty() || !options.key_file.empty() ||
                       !options.client_ca_file.empty();
  if (options.insecure_plaintext) {
    if (any_tls) {
      return absl::InvalidArgumentError(
          "both TLS files and insecure plaintext are configured; choose one");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "no TLS certificate and key configured (tls-cert, tls-key); set them, or set "
        "insecure-plaintext = true to listen without TLS on a trusted network");
  }
  grpc::SslServerCredentialsOptions ssl;
  ASSIGN_OR_RETURN(auto pair, ReadKeyCertPair(options.cert_file, options.key_file));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.client_ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadCaBundle(options.client_ca_file));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  auto creds = grpc::SslServerCredentials(ssl);
  WipeSecret(ssl.pem_key_cert_pairs.front().private_key);
  return creds;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& options) {
  const bool any_tls =
      !options.ca_file.empty() || !options.cert_file.empty() || !options.key_file.empty();
  if (options.insecure_plaintext) {
    if (any_tls) {
      return absl::InvalidArgumentError(
          "both a CA bundle (or client certificate) and insecure plaintext are configured; "
          "choose one");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (options.ca_file.empty()) {
    return absl::InvalidArgumentError(
        "no CA bundle configured (ca-file) to verify the collector's certificate; set it, or "
        "insecure-plaintext for a collector listening without TLS");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key and a key its certificate (client-cert, client-key)");
  }
  grpc::SslCredentialsOptions ssl;
  ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadCaBundle(options.ca_file));
  if (!options.cert_file.empty()) {
    ASSIGN_OR_RETURN(auto pair, ReadKeyCertPair(options.cert_file, options.key_file));
    ssl.pem_cert_chain = std::move(pair.cert_chain);
    ssl.pem_private_key = std::move(pair.private_key);
  }
  auto creds = grpc::SslCredentials(ssl);
  WipeSecret(ssl.pem_private_key);
  return creds;
}

}  // namespace reclaim
