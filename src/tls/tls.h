// TLS for raftkvd's gRPC ports, configured the way etcd configures it (its TLSInfo): a
// certificate and key, a trusted CA for the other side's certificate, whether the server
// requires a client certificate, and self-signed certificates generated on demand
// (--auto-tls, --peer-auto-tls). The handshakes themselves are gRPC's own TLS over Debian's
// OpenSSL; this file only turns etcd's flags into gRPC credentials and checks the inputs
// first, so that a missing file, a key that does not match its certificate or an unreadable
// CA is a clear error at start-up instead of a failed handshake later.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tls/config.h"

namespace grpc {
class AuthContext;
}

namespace raftkv::tls {

// The PEM contents behind a TlsConfig, read and checked once.
struct TlsMaterial {
  std::string cert_chain;
  std::string private_key;
  std::string root_certs;  // empty: no CA given
  bool client_cert_auth = false;
  bool insecure_skip_verify = false;
};

// Reads the files of `config` (which must name a cert and a key: call EnsureSelfSigned first
// for auto TLS) and checks with OpenSSL that the key matches the certificate and that the CA
// file holds at least one certificate. Errors name the file and the reason.
Result<TlsMaterial> Load(const TlsConfig& config);

// etcd's --auto-tls: when `config` names no cert/key, uses `dir`/cert.pem and key.pem,
// generating a self-signed ECDSA P-256 certificate for `hosts` (IPs and names, as SANs) valid
// for `validity_days` if they do not exist yet (a restart reuses them, as etcd does). The key
// is written with mode 0600. Sets cert_file/key_file and insecure_skip_verify.
Status EnsureSelfSigned(const std::string& dir, const std::vector<std::string>& hosts,
                        int validity_days, TlsConfig* config);

// Server credentials: our certificate; with client_cert_auth, a client certificate signed by
// root_certs is required and verified (gRPC refuses the handshake otherwise).
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsMaterial& m);

// Channel credentials for connecting to a TLS server: the server's certificate verified
// against root_certs (or not at all with insecure_skip_verify), and our certificate offered
// as the client certificate.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsMaterial& m);

// Credentials for a client connection to `url`: TLS for "https://..." (with `config`'s
// certificate as client certificate and its CA when it has them, else gRPC's TLS with the
// system's roots), plaintext for anything else. Fails only if `config`'s files do not load.
Result<std::shared_ptr<grpc::ChannelCredentials>> CredentialsForUrl(const std::string& url,
                                                                    const TlsConfig& config);

// Converts etcd's --cipher-suites (Go's names, comma-separated, e.g.
// "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") to an OpenSSL cipher list
// ("ECDHE-RSA-AES128-GCM-SHA256:..."). An unknown name is an error naming it.
Result<std::string> OpenSslCipherList(const std::string& go_names);

// Restricts the TLS 1.2 cipher suites of every gRPC TLS connection of this process (gRPC
// reads GRPC_SSL_CIPHER_SUITES once, at its first TLS handshake: call before any). TLS 1.3
// suites are not configurable through gRPC, as they are not in Go: etcd's --cipher-suites
// has the same reach.
void RestrictCipherSuites(const std::string& openssl_list);

// The CommonName of the verified client certificate of a call, or "" if none.
std::string PeerCommonName(const grpc::AuthContext& ctx);

}  // namespace raftkv::tls
