#include "client/test_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "client/client.h"

namespace raftkv::client::testing {
namespace fs = std::filesystem;

namespace {

// A loopback port nobody listens on right now (the kernel picks it).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string Url(int port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::ostringstream out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out << all[i] << "\n";
  }
  return out.str();
}

}  // namespace

TestCluster::TestCluster(int size, std::string default_binary) {
  const char* env = std::getenv("RAFTKV_SERVER_BINARY");
  binary_ = env != nullptr && *env != '\0' ? env : std::move(default_binary);
  std::string tmpl = (fs::temp_directory_path() / "raftkv-client-test-XXXXXX").string();
  root_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  std::string initial;
  for (int i = 1; i <= size; ++i) {
    TestMember m;
    m.name = "m" + std::to_string(i);
    m.client_port = FreePort();
    m.peer_port = FreePort();
    m.data_dir = root_ + "/" + m.name + ".data";
    m.log_path = root_ + "/" + m.name + ".log";
    initial += (initial.empty() ? "" : ",") + m.name + "=" + Url(m.peer_port);
    members_.push_back(m);
  }
  for (TestMember& m : members_) {
    m.argv = {binary_,
              "--name",
              m.name,
              "--data-dir",
              m.data_dir,
              "--listen-client-urls",
              Url(m.client_port),
              "--advertise-client-urls",
              Url(m.client_port),
              "--listen-peer-urls",
              Url(m.peer_port),
              "--initial-advertise-peer-urls",
              Url(m.peer_port),
              "--initial-cluster",
              initial,
              "--initial-cluster-state",
              "new",
              "--initial-cluster-token",
              "client-test",
              "--heartbeat-interval",
              "20",
              "--election-timeout",
              "200"};
  }
}

TestCluster::~TestCluster() {
  for (size_t i = 0; i < members_.size(); ++i) Kill(i, SIGKILL);
  if (!keep_ && !root_.empty()) {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
}

Status TestCluster::Spawn(TestMember& m) {
  if (root_.empty()) return Status::IOError("test cluster: mkdtemp failed");
  if (::access(binary_.c_str(), X_OK) != 0) {
    return Status::NotFound("test cluster: server binary not found: " + binary_);
  }
  pid_t pid = ::fork();
  if (pid < 0) return Status::IOError("test cluster: fork failed");
  if (pid == 0) {
    int fd = ::open(m.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    std::vector<char*> argv;
    for (std::string& a : m.argv) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  m.pid = pid;
  return Status::OK();
}

void TestCluster::AddFlags(const std::vector<std::string>& flags) {
  for (TestMember& m : members_) m.argv.insert(m.argv.end(), flags.begin(), flags.end());
}

Status TestCluster::Start() {
  for (TestMember& m : members_) RAFTKV_RETURN_IF_ERROR(Spawn(m));
  for (size_t i = 0; i < members_.size(); ++i) RAFTKV_RETURN_IF_ERROR(WaitReady(i));
  return Status::OK();
}

void TestCluster::Kill(size_t i, int signal) {
  TestMember& m = members_[i];
  if (m.pid < 0) return;
  ::kill(m.pid, signal);
  int status = 0;
  ::waitpid(m.pid, &status, 0);
  m.pid = -1;
}

Status TestCluster::Restart(size_t i) {
  RAFTKV_RETURN_IF_ERROR(Spawn(members_[i]));
  return WaitReady(i);
}

Status TestCluster::WaitReady(size_t i, int timeout_ms) {
  TestMember& m = members_[i];
  ClientOptions options;
  options.endpoints = {m.client_endpoint()};
  options.exactly_once = false;
  options.rpc_timeout = std::chrono::milliseconds(500);
  options.call_timeout = std::chrono::milliseconds(1000);
  Result<std::unique_ptr<Client>> c = Client::Connect(options);
  if (!c.ok()) return c.status();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last = "no answer";
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (m.pid >= 0 && ::waitpid(m.pid, &status, WNOHANG) == m.pid) {
      m.pid = -1;
      return Status::Aborted(m.name + " exited; log tail:\n" + Tail(m.log_path, 20));
    }
    Result<MemberStatus> s = (*c)->Status();
    if (s.ok() && s->leader != 0) return Status::OK();
    last = s.ok() ? "no leader yet" : s.status().ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Unavailable(m.name + " not ready after " + std::to_string(timeout_ms) +
                             " ms: " + last);
}

std::vector<std::string> TestCluster::Endpoints() const {
  std::vector<std::string> out;
  for (const TestMember& m : members_) out.push_back(m.client_endpoint());
  return out;
}

void TestCluster::KeepLogs() {
  keep_ = true;
  std::cerr << "--- logs kept in " << root_ << "\n";
  for (const TestMember& m : members_) {
    std::cerr << "--- " << m.name << " (" << m.log_path << "), last lines:\n"
              << Tail(m.log_path, 30);
  }
}

}  // namespace raftkv::client::testing
