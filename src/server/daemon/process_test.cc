// The real raftkvd binary (a test-only copy of tools/raftkvd.cc's main, RAFTKVD_BINARY) as a
// process: exit statuses, SIGTERM, restart on the same data dir.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/daemon/test_util.h"
#include "tls/test_certs.h"

namespace raftkv::server::daemon {
namespace {

using namespace raftkv::server::daemon::testing;
namespace pb = etcdserverpb;

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One raftkvd process, its stdout and stderr in a log file.
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::filesystem::path& log) : log_(log) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> argv;
      std::string bin = RAFTKVD_BINARY;
      argv.push_back(bin.data());
      std::vector<std::string> copy = args;
      for (std::string& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void Signal(int sig) { kill(pid_, sig); }
  // The exit status, or -1 if it did not exit normally within the timeout.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    int status = 0;
    bool done = WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!done) return -1;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string Log() const { return Slurp(log_); }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

std::vector<std::string> Flags(const std::string& dir, const Ports& p) {
  return {"--name=p1",
          "--data-dir=" + dir,
          "--listen-client-urls=" + p.client_url(),
          "--advertise-client-urls=" + p.client_url(),
          "--listen-peer-urls=" + p.peer_url(),
          "--initial-advertise-peer-urls=" + p.peer_url(),
          "--initial-cluster=p1=" + p.peer_url(),
          "--listen-metrics-urls=" + p.metrics_url(),
          "--heartbeat-interval=20",
          "--election-timeout=200"};
}

grpc::Status Put(const Ports& p, const std::string& key, const std::string& value) {
  auto kv = pb::KV::NewStub(grpc::CreateChannel(p.endpoint(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  pb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  pb::PutResponse resp;
  return kv->Put(&ctx, req, &resp);
}

Result<std::string> Get(const Ports& p, const std::string& key) {
  auto kv = pb::KV::NewStub(grpc::CreateChannel(p.endpoint(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  pb::RangeRequest req;
  req.set_key(key);
  pb::RangeResponse resp;
  grpc::Status s = kv->Range(&ctx, req, &resp);
  if (!s.ok()) return Status::Unavailable(s.error_message());
  if (resp.kvs_size() != 1) return Status::NotFound(key);
  return resp.kvs(0).value();
}

TEST(Raftkvd, SigtermStopsCleanlyAndRestartKeepsData) {
  TempDir dir;
  Ports ports;
  std::string data = (dir.path() / "p1").string();
  {
    Process p(Flags(data, ports), dir.path() / "run1.log");
    ASSERT_TRUE(WaitFor([&] { return Put(ports, "kept", "yes").ok(); })) << p.Log();
    p.Signal(SIGTERM);
    EXPECT_EQ(p.Wait(), 0) << p.Log();
    std::string log = p.Log();
    EXPECT_NE(log.find("raftkvd started: name=p1"), std::string::npos) << log;
    EXPECT_NE(log.find("received SIGTERM"), std::string::npos) << log;
  }
  Process again(Flags(data, ports), dir.path() / "run2.log");
  Result<std::string> v = Status::NotFound("not yet");
  EXPECT_TRUE(WaitFor([&] {
    v = Get(ports, "kept");
    return v.ok();
  })) << again.Log();
  EXPECT_EQ(v.ok() ? *v : v.status().ToString(), "yes");
  again.Signal(SIGINT);
  EXPECT_EQ(again.Wait(), 0) << again.Log();
}

TEST(Raftkvd, BadCommandLineExitsTwoWithOneLine) {
  TempDir dir;
  for (std::string bad : {"--bogus=1", "--heartbeat-interval=abc",
                          "--listen-peer-urls=unix://sock:1", "--cert-file=only-the-cert.pem"}) {
    Process p({bad}, dir.path() / "bad.log");
    EXPECT_EQ(p.Wait(), 2) << bad;
    std::string log = p.Log();
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
    std::string flag = bad.substr(0, bad.find('='));
    EXPECT_NE(log.find(flag), std::string::npos) << log;
  }
  Process v({"--version"}, dir.path() / "version.log");
  EXPECT_EQ(v.Wait(), 0);
  EXPECT_NE(v.Log().find("raftkvd Version: "), std::string::npos);
}

// What `openssl s_client` says about a handshake with the TLS port at `port`.
std::string Handshake(int port, const std::string& ca, const std::string& args) {
  return RunCommand("echo | timeout 10 openssl s_client -connect 127.0.0.1:" +
                    std::to_string(port) + " -CAfile " + ca + " -alpn h2 " + args)
      .output;
}

TEST(Raftkvd, CipherSuitesRestrictTls12AsEtcd) {
  TempDir dir;
  Ports ports;
  tls::testing::TestCerts certs({"server"});  // ECDSA keys
  std::vector<std::string> flags = Flags((dir.path() / "c1").string(), ports);
  std::string https = "https://127.0.0.1:" + std::to_string(ports.client);
  flags[2] = "--listen-client-urls=" + https;
  flags[3] = "--advertise-client-urls=" + https;
  flags.push_back("--cert-file=" + certs.cert("server"));
  flags.push_back("--key-file=" + certs.key("server"));
  flags.push_back("--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
  Process p(flags, dir.path() / "c1.log");
  std::string allowed;
  ASSERT_TRUE(WaitFor([&] {
    allowed = Handshake(ports.client, certs.ca(), "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384");
    return allowed.find("Cipher is ECDHE-ECDSA-AES256-GCM-SHA384") != std::string::npos;
  })) << allowed
      << p.Log();
  // gRPC's default list has this one; --cipher-suites took it away.
  std::string refused =
      Handshake(ports.client, certs.ca(), "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256");
  // (gRPC closes the connection without an alert: no cipher is ever agreed.)
  EXPECT_NE(refused.find("Cipher is (NONE)"), std::string::npos) << refused;
  // TLS 1.3's suites are not restricted (neither gRPC nor Go lets them be chosen).
  std::string tls13 = Handshake(ports.client, certs.ca(), "-tls1_3");
  EXPECT_NE(tls13.find("TLSv1.3"), std::string::npos) << tls13;
}

TEST(Raftkvd, StartFailureExitsOne) {
  TempDir dir;
  Ports ports;
  // The data dir is a file: the server cannot start.
  std::string data = (dir.path() / "file").string();
  std::ofstream(data) << "not a directory";
  Process p(Flags(data, ports), dir.path() / "fail.log");
  EXPECT_EQ(p.Wait(), 1) << p.Log();
  EXPECT_NE(p.Log().find("failed to start"), std::string::npos) << p.Log();
}

}  // namespace
}  // namespace raftkv::server::daemon
