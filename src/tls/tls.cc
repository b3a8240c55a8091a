#include "tls/tls.h"

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace raftkv::tls {
namespace {

// OpenSSL's last error as text (the queue is cleared).
std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

Result<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(std::string("cannot read ") + what + " " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty())
    return Status::InvalidArgument(std::string(what) + " " + path + " is empty");
  return ss.str();
}

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
}

Result<X509Ptr> ParseCert(const std::string& pem, const std::string& path) {
  BioPtr bio = MemBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) {
    return Status::InvalidArgument("no PEM certificate in " + path + ": " + OpenSslError());
  }
  return cert;
}

}  // namespace

Result<TlsMaterial> Load(const TlsConfig& config) {
  if (config.cert_file.empty() || config.key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate file and a key file");
  }
  TlsMaterial m;
  m.client_cert_auth = config.client_cert_auth;
  m.insecure_skip_verify = config.insecure_skip_verify;
  auto cert = ReadFile(config.cert_file, "certificate file");
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(config.key_file, "key file");
  if (!key.ok()) return key.status();
  m.cert_chain = std::move(*cert);
  m.private_key = std::move(*key);
  auto x509 = ParseCert(m.cert_chain, config.cert_file);
  if (!x509.ok()) return x509.status();
  BioPtr key_bio = MemBio(m.private_key);
  KeyPtr pkey(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!pkey) {
    return Status::InvalidArgument("no PEM private key in " + config.key_file + ": " +
                                   OpenSslError());
  }
  if (X509_check_private_key(x509->get(), pkey.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("key " + config.key_file + " does not match certificate " +
                                   config.cert_file);
  }
  if (!config.trusted_ca_file.empty()) {
    auto ca = ReadFile(config.trusted_ca_file, "trusted CA file");
    if (!ca.ok()) return ca.status();
    auto parsed = ParseCert(*ca, config.trusted_ca_file);
    if (!parsed.ok()) return parsed.status();
    m.root_certs = std::move(*ca);
  } else if (config.client_cert_auth) {
    // etcd: client certificate authentication needs the CA the certificates are checked with.
    return Status::InvalidArgument(
        "client certificate authentication needs a trusted CA file (--trusted-ca-file or "
        "--peer-trusted-ca-file)");
  }
  return m;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsMaterial& m) {
  grpc::SslServerCredentialsOptions opts(
      m.client_cert_auth ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                         : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  opts.pem_root_certs = m.root_certs;
  opts.pem_key_cert_pairs.push_back({m.private_key, m.cert_chain});
  return grpc::SslServerCredentials(opts);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsMaterial& m) {
  if (!m.insecure_skip_verify) {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = m.root_certs;  // empty: the system's roots
    opts.pem_private_key = m.private_key;
    opts.pem_cert_chain = m.cert_chain;
    return grpc::SslCredentials(opts);
  }
  // Self-signed peers (--peer-auto-tls): encrypted, but the server's certificate is not
  // checked, as etcd's peers do with self-signed certificates.
  namespace ex = grpc::experimental;
  std::vector<ex::IdentityKeyCertPair> identity = {{m.private_key, m.cert_chain}};
  auto provider = std::make_shared<ex::StaticDataCertificateProvider>(identity);
  ex::TlsChannelCredentialsOptions opts;
  opts.set_certificate_provider(provider);
  opts.watch_identity_key_cert_pairs();
  opts.set_verify_server_certs(false);
  opts.set_check_call_host(false);
  opts.set_certificate_verifier(std::make_shared<ex::NoOpCertificateVerifier>());
  return grpc::experimental::TlsCredentials(opts);
}

Result<std::shared_ptr<grpc::ChannelCredentials>> CredentialsForUrl(const std::string& url,
                                                                    const TlsConfig& config) {
  if (url.rfind("https://", 0) != 0) return grpc::InsecureChannelCredentials();
  if (config.cert_file.empty()) return grpc::SslCredentials(grpc::SslCredentialsOptions());
  auto m = Load(config);
  if (!m.ok()) return m.status();
  return ChannelCredentials(*m);
}

Result<std::string> OpenSslCipherList(const std::string& go_names) {
  // Go's crypto/tls names (what etcd's --cipher-suites takes) and OpenSSL's for the same
  // suites (RFC 5246/5289/7905 identifiers).
  static const std::map<std::string, std::string> kNames = {
      {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
      {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
      {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
      {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
      {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
      {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
      {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
  };
  std::string out;
  size_t start = 0;
  while (start <= go_names.size()) {
    size_t comma = go_names.find(',', start);
    if (comma == std::string::npos) comma = go_names.size();
    std::string name = go_names.substr(start, comma - start);
    start = comma + 1;
    auto it = kNames.find(name);
    if (it == kNames.end()) {
      return Status::InvalidArgument("unexpected TLS cipher suite \"" + name + "\"");
    }
    out += (out.empty() ? "" : ":") + it->second;
  }
  return out;
}

void RestrictCipherSuites(const std::string& openssl_list) {
  setenv("GRPC_SSL_CIPHER_SUITES", openssl_list.c_str(), 1);
}

std::string PeerCommonName(const grpc::AuthContext& ctx) {
  if (!ctx.IsPeerAuthenticated()) return "";
  std::vector<grpc::string_ref> cn = ctx.FindPropertyValues("x509_common_name");
  if (cn.empty()) return "";
  return std::string(cn[0].data(), cn[0].size());
}

}  // namespace raftkv::tls
