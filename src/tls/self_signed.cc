// etcd's --auto-tls / --peer-auto-tls: a self-signed certificate generated with OpenSSL's
// X.509 API, kept in the data dir and reused at the next start.
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tls/tls.h"

namespace raftkv::tls {
namespace {

std::string SslError(const std::string& what) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  return "auto TLS: " + what + ": " + buf;
}

// Writes `data` to `path` with `mode`: a temporary file, fsynced, renamed into place, so a
// crash never leaves a half-written key that a restart would then try to use.
Status WriteFileAtomically(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::IOError("create " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Status::IOError("write " + tmp + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    return Status::IOError("sync " + tmp + ": " + std::strerror(errno));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IOError("rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::OK();
}

Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + dir + ": " + std::strerror(errno));
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return Status::IOError("sync " + dir + ": " + std::strerror(errno));
  return Status::OK();
}

// "IP:1.2.3.4" for addresses, "DNS:name" otherwise; hosts may carry a port ("h:2379",
// "[::1]:2379"), as etcd passes its listen URLs' hosts.
std::string SubjectAltNames(const std::vector<std::string>& hosts) {
  std::string san;
  for (std::string h : hosts) {
    if (!h.empty() && h[0] == '[') {
      h = h.substr(1, h.find(']') - 1);
    } else if (std::count(h.begin(), h.end(), ':') == 1) {
      h = h.substr(0, h.find(':'));
    }
    if (h.empty()) continue;
    unsigned char buf[16];
    bool ip = inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
    san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + h;
  }
  return san.empty() ? "DNS:localhost" : san;
}

Status AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return Status::InvalidArgument(SslError("extension " + value));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return Status::OK();
}

// A self-signed ECDSA P-256 certificate (PEM cert, PEM key) for `hosts`.
Status Generate(const std::vector<std::string>& hosts, int days, std::string* cert_pem,
                std::string* key_pem) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return Status::IOError(SslError("key generation"));
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);  // v3
  // A random 127-bit serial (RFC 5280: positive, at most 20 octets), as etcd does.
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  if (!BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    return Status::IOError(SslError("serial number"));
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("raftkv"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  RAFTKV_RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  RAFTKV_RETURN_IF_ERROR(
      AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  RAFTKV_RETURN_IF_ERROR(AddExtension(cert.get(), NID_ext_key_usage, "serverAuth,clientAuth"));
  RAFTKV_RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_alt_name, SubjectAltNames(hosts)));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Status::IOError(SslError("signing"));
  }
  auto to_pem = [](auto write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
  };
  *cert_pem = to_pem([&](BIO* b) { PEM_write_bio_X509(b, cert.get()); });
  *key_pem = to_pem([&](BIO* b) {
    PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (cert_pem->empty() || key_pem->empty()) return Status::IOError(SslError("PEM encoding"));
  return Status::OK();
}

}  // namespace

Status EnsureSelfSigned(const std::string& dir, const std::vector<std::string>& hosts,
                        int validity_days, TlsConfig* config) {
  if (!config->auto_tls || (!config->cert_file.empty() && !config->key_file.empty())) {
    return Status::OK();  // etcd: given certificates win over auto TLS
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  std::string cert_path = dir + "/cert.pem";
  std::string key_path = dir + "/key.pem";
  if (!std::filesystem::exists(cert_path) || !std::filesystem::exists(key_path)) {
    std::string cert, key;
    RAFTKV_RETURN_IF_ERROR(Generate(hosts, validity_days, &cert, &key));
    RAFTKV_RETURN_IF_ERROR(WriteFileAtomically(key_path, key, 0600));
    RAFTKV_RETURN_IF_ERROR(WriteFileAtomically(cert_path, cert, 0644));
    RAFTKV_RETURN_IF_ERROR(SyncDir(dir));
  }
  config->cert_file = cert_path;
  config->key_file = key_path;
  config->insecure_skip_verify = true;
  return Status::OK();
}

}  // namespace raftkv::tls
