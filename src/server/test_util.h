// Test helpers for in-process EtcdServers on loopback: free ports, temporary data dirs,
// synchronous wrappers around the asynchronous calls, and a small cluster harness.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/etcd_server.h"

namespace raftkv::server::testing {

// A port that was free a moment ago (bound to 0 and released).
inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "raftkv-server-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs an asynchronous call and waits for its answer.
template <typename T, typename F>
Result<T> Sync(F&& call) {
  auto p = std::make_shared<std::promise<Result<T>>>();
  auto f = p->get_future();
  call([p](Result<T> r) { p->set_value(std::move(r)); });
  return f.get();
}

inline Result<etcdserverpb::PutResponse> Put(EtcdServer* s, const std::string& k,
                                             const std::string& v, SessionRef session = {}) {
  etcdserverpb::PutRequest req;
  req.set_key(k);
  req.set_value(v);
  return Sync<etcdserverpb::PutResponse>([&](auto done) { s->Put(req, session, done); });
}

inline Result<etcdserverpb::RangeResponse> Get(EtcdServer* s, const std::string& k,
                                               bool serializable = false) {
  etcdserverpb::RangeRequest req;
  req.set_key(k);
  req.set_serializable(serializable);
  return Sync<etcdserverpb::RangeResponse>([&](auto done) { s->Range(req, done); });
}

// The value of `k`, "<none>" if absent, or "<error: ...>".
inline std::string Value(EtcdServer* s, const std::string& k, bool serializable = false) {
  auto r = Get(s, k, serializable);
  if (!r.ok()) return "<error: " + r.status().ToString() + ">";
  if (r->kvs_size() == 0) return "<none>";
  return r->kvs(0).value();
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

inline std::string PeerUrl(int port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

// A cluster of in-process members n1..nN with short timers (10 ms heartbeat, 100 ms
// election timeout), each with its own data dir and peer port.
class Cluster {
 public:
  explicit Cluster(int n, uint64_t snapshot_count = 100000) {
    for (int i = 1; i <= n; ++i) {
      std::string name = "n" + std::to_string(i);
      names_.push_back(name);
      ports_[name] = FreePort();
      dirs_[name] = std::make_unique<TempDir>();
    }
    for (const auto& name : names_) initial_[name] = {PeerUrl(ports_[name])};
    snapshot_count_ = snapshot_count;
  }
  ~Cluster() {
    for (auto& [name, s] : servers_) {
      if (s) s->Stop();
    }
  }

  ServerConfig Config(const std::string& name) {
    ServerConfig c;
    c.name = name;
    c.data_dir = dirs_[name]->path();
    c.listen_peer_urls = {PeerUrl(ports_[name])};
    c.initial_advertise_peer_urls = {PeerUrl(ports_[name])};
    c.advertise_client_urls = {"http://127.0.0.1:" + std::to_string(ports_[name] + 1)};
    c.initial_cluster = initial_;
    c.initial_cluster_token = "test-cluster";
    c.heartbeat_interval_ms = 10;
    c.election_timeout_ms = 100;
    c.snapshot_count = snapshot_count_;
    c.snapshot_catchup_entries = 5;
    return c;
  }

  Status Start(const std::string& name) { return StartWith(Config(name)); }
  Status StartWith(const ServerConfig& c) {
    auto s = EtcdServer::Start(c);
    if (!s.ok()) return s.status();
    servers_[c.name] = std::move(*s);
    return Status::OK();
  }
  void StartAll() {
    for (const auto& n : names_) ASSERT_TRUE(Start(n).ok()) << n;
  }
  void Stop(const std::string& name) {
    if (servers_[name]) servers_[name]->Stop();
    servers_[name].reset();
  }
  EtcdServer* at(const std::string& name) { return servers_[name].get(); }

  // A name for a member joining later (its own port and data dir).
  std::string AddName() {
    std::string name = "n" + std::to_string(names_.size() + 1);
    names_.push_back(name);
    ports_[name] = FreePort();
    dirs_[name] = std::make_unique<TempDir>();
    return name;
  }
  int port(const std::string& name) { return ports_[name]; }

  // The running member every running member agrees leads, or nullptr.
  EtcdServer* Leader() {
    uint64_t lead = 0;
    for (auto& [name, s] : servers_) {
      if (!s) continue;
      ServerStats st = s->GetStats();
      if (!st.has_leader) return nullptr;
      if (st.is_leader) lead = st.member_id;
    }
    for (auto& [name, s] : servers_) {
      if (s && s->member_id() == lead) return s.get();
    }
    return nullptr;
  }
  EtcdServer* WaitLeader() {
    EtcdServer* l = nullptr;
    WaitFor([&] { return (l = Leader()) != nullptr; });
    return l;
  }
  std::string NameOf(EtcdServer* s) {
    for (auto& [name, x] : servers_) {
      if (x.get() == s) return name;
    }
    return "";
  }
  std::vector<std::string> Running() {
    std::vector<std::string> out;
    for (auto& [name, s] : servers_) {
      if (s) out.push_back(name);
    }
    return out;
  }

 private:
  std::vector<std::string> names_;
  std::map<std::string, int> ports_;
  std::map<std::string, std::unique_ptr<TempDir>> dirs_;
  std::map<std::string, std::vector<std::string>> initial_;
  std::map<std::string, std::unique_ptr<EtcdServer>> servers_;
  uint64_t snapshot_count_ = 100000;
};

}  // namespace raftkv::server::testing
