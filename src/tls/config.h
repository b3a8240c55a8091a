// TlsConfig: one side's TLS settings as etcd's flags give them (no gRPC or OpenSSL here, so
// that the server's config can carry it cheaply). tls.h turns it into credentials.
#pragma once

#include <string>

namespace raftkv::tls {

// One side's settings (client side: --cert-file, --key-file, --trusted-ca-file,
// --client-cert-auth, --auto-tls; peer side: their --peer-* twins).
struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;
  // Server: refuse a client without a certificate signed by trusted_ca_file (etcd's
  // --client-cert-auth / --peer-client-cert-auth).
  bool client_cert_auth = false;
  // Generate a self-signed certificate when no cert/key files are given (etcd's --auto-tls).
  bool auto_tls = false;
  // Client: do not verify the server's certificate (set for self-signed certificates, as
  // etcd's peers do with --peer-auto-tls; etcdctl's --insecure-skip-tls-verify).
  bool insecure_skip_verify = false;

  // True when this side speaks TLS (files given, or to be generated).
  bool enabled() const { return !cert_file.empty() || auto_tls; }
};

}  // namespace raftkv::tls
