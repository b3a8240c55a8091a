// A cluster of real server processes (raftkvd, or etcd: same flags) on loopback for the
// client's tests: free ports, a temp dir with each member's data dir and log, kill and
// restart. The C++ sibling of tests/e2e/cluster.py.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace raftkv::client::testing {

struct TestMember {
  std::string name;
  int client_port = 0;
  int peer_port = 0;
  std::string data_dir;
  std::string log_path;
  std::vector<std::string> argv;  // the flags it was last started with
  pid_t pid = -1;                 // -1: not running

  std::string client_endpoint() const { return "127.0.0.1:" + std::to_string(client_port); }
};

class TestCluster {
 public:
  // The server binary: $RAFTKV_SERVER_BINARY if set, else `default_binary`.
  TestCluster(int size, std::string default_binary);
  ~TestCluster();  // kills every member; removes the dir unless KeepLogs() was called
  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;

  // Flags added to every member's command line (call before Start).
  void AddFlags(const std::vector<std::string>& flags);
  // Starts every member and waits until each answers Status and one leader is agreed.
  Status Start();
  void Kill(size_t i, int signal);
  Status Restart(size_t i);
  // Waits until member i answers Status and knows a leader.
  Status WaitReady(size_t i, int timeout_ms = 20000);

  std::vector<std::string> Endpoints() const;
  TestMember& member(size_t i) { return members_[i]; }
  size_t size() const { return members_.size(); }
  const std::string& binary() const { return binary_; }

  // Keeps the dir and prints each member's log tail to stderr (call on test failure).
  void KeepLogs();

 private:
  Status Spawn(TestMember& m);

  std::string binary_;
  std::string root_;
  std::vector<TestMember> members_;
  bool keep_ = false;
};

}  // namespace raftkv::client::testing
