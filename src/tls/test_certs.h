// Test helper: a temporary directory of certificates made by scripts/gen-certs.sh (the openssl
// CLI), removed at the end. Nothing certificate-like is ever committed. Tests that use it
// define RAFTKV_GEN_CERTS (the script's path) in CMake.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tls/tls.h"

namespace raftkv::tls::testing {

class TestCerts {
 public:
  // A CA of its own and one certificate per name (CommonName = name).
  explicit TestCerts(const std::vector<std::string>& names, const std::string& ips = "") {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("raftkv-certs-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    std::string cmd = std::string(ips.empty() ? "" : "CERT_IPS=" + ips + " ") + RAFTKV_GEN_CERTS +
                      " " + dir_.string();
    for (const auto& n : names) cmd += " " + n;
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("gen-certs.sh failed: " + cmd);
  }
  ~TestCerts() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;

  std::string ca() const { return (dir_ / "ca.pem").string(); }
  std::string cert(const std::string& name) const { return (dir_ / (name + ".pem")).string(); }
  std::string key(const std::string& name) const { return (dir_ / (name + "-key.pem")).string(); }
  const std::filesystem::path& dir() const { return dir_; }

  // The config of `name`'s certificate, trusting this CA.
  TlsConfig Config(const std::string& name, bool client_cert_auth = false) const {
    TlsConfig c;
    c.cert_file = cert(name);
    c.key_file = key(name);
    c.trusted_ca_file = ca();
    c.client_cert_auth = client_cert_auth;
    return c;
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace raftkv::tls::testing
