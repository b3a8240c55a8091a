// Helpers of the daemon's tests: free ports, temp dirs, subprocesses, a one-member config.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "server/config.h"

namespace raftkv::server::daemon::testing {

// A port the kernel just handed out on 127.0.0.1 (closed again, so free for a moment).
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("raftkvd-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Ports {
  int client = FreePort();
  int peer = FreePort();
  int metrics = FreePort();
  std::string client_url() const { return "http://127.0.0.1:" + std::to_string(client); }
  std::string peer_url() const { return "http://127.0.0.1:" + std::to_string(peer); }
  std::string metrics_url() const { return "http://127.0.0.1:" + std::to_string(metrics); }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client); }
};

// A one-member cluster with short timeouts, as ParseFlags would build it.
inline ServerConfig OneMemberConfig(const std::string& name, const std::string& data_dir,
                                    const Ports& p) {
  ServerConfig c;
  c.name = name;
  c.data_dir = data_dir;
  c.listen_client_urls = {p.client_url()};
  c.advertise_client_urls = {p.client_url()};
  c.listen_peer_urls = {p.peer_url()};
  c.initial_advertise_peer_urls = {p.peer_url()};
  c.initial_cluster = {{name, {p.peer_url()}}};
  c.initial_cluster_token = "daemon-test";
  c.heartbeat_interval_ms = 20;
  c.election_timeout_ms = 200;
  c.listen_metrics_urls = {p.metrics_url()};
  c.session_timeout_ms = 60000;
  return c;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command line, capturing its output.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Polls cond every 20 ms until it holds or the timeout passes.
template <typename F>
bool WaitFor(F cond, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

}  // namespace raftkv::server::daemon::testing
