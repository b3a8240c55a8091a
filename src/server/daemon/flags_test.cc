#include "server/daemon/flags.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace raftkv::server::daemon {
namespace {

struct Parsed {
  Status status;
  ServerConfig config;
  bool exit_now = false;
  std::string out;
};

Parsed Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "raftkvd");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  Parsed p;
  std::ostringstream out;
  p.status = ParseFlags(static_cast<int>(argv.size()), argv.data(), &p.config, &p.exit_now, &out);
  p.out = out.str();
  return p;
}

// The message of a failed parse (and the parse must have failed as InvalidArgument).
std::string ErrorOf(std::vector<std::string> args) {
  Parsed p = Parse(std::move(args));
  EXPECT_TRUE(p.status.Is(Status::Code::kInvalidArgument)) << p.status.ToString();
  EXPECT_EQ(p.status.message().find('\n'), std::string::npos) << "one line";
  return p.status.message();
}

TEST(Flags, DefaultsAreEtcds) {
  Parsed p = Parse({});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  const ServerConfig& c = p.config;
  EXPECT_EQ(c.name, "default");
  EXPECT_EQ(c.data_dir, "default.etcd");
  EXPECT_EQ(c.listen_client_urls, std::vector<std::string>{"http://localhost:2379"});
  EXPECT_EQ(c.advertise_client_urls, std::vector<std::string>{"http://localhost:2379"});
  EXPECT_EQ(c.listen_peer_urls, std::vector<std::string>{"http://localhost:2380"});
  EXPECT_EQ(c.initial_advertise_peer_urls, std::vector<std::string>{"http://localhost:2380"});
  ASSERT_EQ(c.initial_cluster.size(), 1u);
  EXPECT_EQ(c.initial_cluster.at("default"), std::vector<std::string>{"http://localhost:2380"});
  EXPECT_TRUE(c.initial_cluster_state_new);
  EXPECT_EQ(c.initial_cluster_token, "etcd-cluster");
  EXPECT_EQ(c.heartbeat_interval_ms, 100);
  EXPECT_EQ(c.election_timeout_ms, 1000);
  EXPECT_EQ(c.snapshot_count, 100000u);
  EXPECT_EQ(c.snapshot_catchup_entries, 5000u);
  EXPECT_TRUE(c.listen_metrics_urls.empty());
  EXPECT_EQ(c.max_request_bytes, 1536 * 1024);
  EXPECT_EQ(c.max_txn_ops, 128);
  EXPECT_EQ(c.session_timeout_ms, 3600 * 1000);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.watch.max_watchers_per_stream, 10000u);
  EXPECT_FALSE(p.exit_now);
}

TEST(Flags, EveryFlagParsedInBothForms) {
  Parsed p = Parse({"--name=n2",
                    "--data-dir",
                    "/var/n2",
                    "--listen-client-urls=http://127.0.0.1:22379,http://[::1]:22379",
                    "--advertise-client-urls",
                    "http://127.0.0.1:22379",
                    "--listen-peer-urls=http://0.0.0.0:22380/",
                    "--initial-advertise-peer-urls",
                    "http://127.0.0.1:22380",
                    "--initial-cluster",
                    "n1=http://127.0.0.1:2380,n2=http://127.0.0.1:22380,n3=http://h3:32380",
                    "--initial-cluster-state=existing",
                    "--initial-cluster-token",
                    "tok",
                    "--heartbeat-interval=50",
                    "--election-timeout",
                    "500",
                    "--snapshot-count=42",
                    "--experimental-snapshot-catchup-entries",
                    "77",
                    "--listen-metrics-urls",
                    "http://127.0.0.1:22381",
                    "--max-request-bytes=1000",
                    "--max-txn-ops",
                    "7",
                    "--session-timeout=60000",
                    "--log-level",
                    "debug",
                    "--max-watchers-per-stream=3"});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  const ServerConfig& c = p.config;
  EXPECT_EQ(c.name, "n2");
  EXPECT_EQ(c.data_dir, "/var/n2");
  EXPECT_EQ(c.listen_client_urls,
            (std::vector<std::string>{"http://127.0.0.1:22379", "http://[::1]:22379"}));
  EXPECT_EQ(c.advertise_client_urls, std::vector<std::string>{"http://127.0.0.1:22379"});
  EXPECT_EQ(c.listen_peer_urls, std::vector<std::string>{"http://0.0.0.0:22380"});
  EXPECT_EQ(c.initial_advertise_peer_urls, std::vector<std::string>{"http://127.0.0.1:22380"});
  ASSERT_EQ(c.initial_cluster.size(), 3u);
  EXPECT_EQ(c.initial_cluster.at("n3"), std::vector<std::string>{"http://h3:32380"});
  EXPECT_FALSE(c.initial_cluster_state_new);
  EXPECT_EQ(c.initial_cluster_token, "tok");
  EXPECT_EQ(c.heartbeat_interval_ms, 50);
  EXPECT_EQ(c.election_timeout_ms, 500);
  EXPECT_EQ(c.snapshot_count, 42u);
  EXPECT_EQ(c.snapshot_catchup_entries, 77u);
  EXPECT_EQ(c.listen_metrics_urls, std::vector<std::string>{"http://127.0.0.1:22381"});
  EXPECT_EQ(c.max_request_bytes, 1000);
  EXPECT_EQ(c.max_txn_ops, 7);
  EXPECT_EQ(c.session_timeout_ms, 60000);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.watch.max_watchers_per_stream, 3u);
}

TEST(Flags, NameSetsDefaultDataDirAndInitialCluster) {
  Parsed p = Parse({"--name", "infra1"});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.config.data_dir, "infra1.etcd");
  EXPECT_EQ(p.config.initial_cluster.at("infra1"),
            std::vector<std::string>{"http://localhost:2380"});
}

TEST(Flags, RepeatedFlagKeepsTheLastValue) {
  Parsed p = Parse({"--snapshot-count=1", "--snapshot-count=2"});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.config.snapshot_count, 2u);
}

TEST(Flags, StrictReconfigCheckIsABooleanFlagOnByDefault) {
  EXPECT_TRUE(Parse({}).config.strict_reconfig_check);
  EXPECT_TRUE(Parse({"--strict-reconfig-check"}).config.strict_reconfig_check);
  Parsed off = Parse({"--strict-reconfig-check=false"});
  ASSERT_TRUE(off.status.ok()) << off.status.ToString();
  EXPECT_FALSE(off.config.strict_reconfig_check);
  EXPECT_NE(ErrorOf({"--strict-reconfig-check=maybe"}).find("strict-reconfig-check"),
            std::string::npos);
}

TEST(Flags, SnapshotBytesDefaultsTo128MiBAndZeroTurnsItOff) {
  EXPECT_EQ(Parse({}).config.snapshot_bytes, uint64_t{128} << 20);
  Parsed off = Parse({"--snapshot-bytes=0"});
  ASSERT_TRUE(off.status.ok()) << off.status.ToString();
  EXPECT_EQ(off.config.snapshot_bytes, 0u);
  EXPECT_EQ(Parse({"--snapshot-bytes", "1048576"}).config.snapshot_bytes, 1048576u);
  EXPECT_NE(ErrorOf({"--snapshot-bytes=-1"}).find("--snapshot-bytes"), std::string::npos);
  EXPECT_NE(ErrorOf({"--snapshot-bytes=1M"}).find("--snapshot-bytes"), std::string::npos);
}

TEST(Flags, WatchProgressNotifyIntervalTakesGoDurations) {
  EXPECT_EQ(Parse({}).config.watch_progress_notify_interval_ms, 10 * 60 * 1000);
  auto ms = [](const std::string& v) {
    Parsed p = Parse({"--experimental-watch-progress-notify-interval=" + v});
    EXPECT_TRUE(p.status.ok()) << v << ": " << p.status.ToString();
    return p.config.watch_progress_notify_interval_ms;
  };
  EXPECT_EQ(ms("100ms"), 100);
  EXPECT_EQ(ms("1m30s"), 90000);
  EXPECT_EQ(ms("1.5s"), 1500);
  EXPECT_EQ(ms("2h"), 2 * 3600 * 1000);
  for (const char* bad : {"10", "1x", "", "ms", "5s3"}) {
    EXPECT_NE(ErrorOf({std::string("--experimental-watch-progress-notify-interval=") + bad})
                  .find("--experimental-watch-progress-notify-interval"),
              std::string::npos)
        << bad;
  }
}

TEST(Flags, AutoCompactionAndQuotaAreEtcds) {
  Parsed p = Parse({});
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.config.auto_compaction_mode, "periodic");
  EXPECT_EQ(p.config.auto_compaction_retention, "0");
  EXPECT_EQ(p.config.quota_backend_bytes, 0);
  p = Parse({"--auto-compaction-mode=revision", "--auto-compaction-retention", "1000",
             "--quota-backend-bytes=8589934592"});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.config.auto_compaction_mode, "revision");
  EXPECT_EQ(p.config.auto_compaction_retention, "1000");
  EXPECT_EQ(p.config.quota_backend_bytes, int64_t{8} << 30);
  EXPECT_TRUE(Parse({"--auto-compaction-retention=30m"}).status.ok());
  EXPECT_TRUE(Parse({"--quota-backend-bytes=-1"}).status.ok());  // negative: no quota
  EXPECT_NE(ErrorOf({"--auto-compaction-mode=daily"}).find("--auto-compaction-mode"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--auto-compaction-retention=1x"}).find("--auto-compaction-retention"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--quota-backend-bytes=lots"}).find("--quota-backend-bytes"),
            std::string::npos);
}

TEST(Flags, UnknownFlagIsNamed) {
  EXPECT_NE(ErrorOf({"--no-such-flag=1"}).find("--no-such-flag"), std::string::npos);
  EXPECT_NE(ErrorOf({"stray"}).find("stray"), std::string::npos);
}

TEST(Flags, MissingValueIsNamed) {
  EXPECT_NE(ErrorOf({"--name"}).find("--name"), std::string::npos);
}

TEST(Flags, BadNumbersAreNamed) {
  EXPECT_NE(ErrorOf({"--heartbeat-interval=abc"}).find("--heartbeat-interval"), std::string::npos);
  EXPECT_NE(ErrorOf({"--election-timeout=10x"}).find("--election-timeout"), std::string::npos);
  EXPECT_NE(ErrorOf({"--snapshot-count=-1"}).find("--snapshot-count"), std::string::npos);
  EXPECT_NE(ErrorOf({"--snapshot-count=0"}).find("--snapshot-count"), std::string::npos);
  EXPECT_NE(ErrorOf({"--experimental-snapshot-catchup-entries=x"})
                .find("--experimental-snapshot-catchup-entries"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--max-request-bytes="}).find("--max-request-bytes"), std::string::npos);
  EXPECT_NE(ErrorOf({"--max-txn-ops=99999999999"}).find("--max-txn-ops"), std::string::npos);
  EXPECT_NE(ErrorOf({"--session-timeout=0"}).find("--session-timeout"), std::string::npos);
  EXPECT_NE(ErrorOf({"--max-watchers-per-stream=0"}).find("--max-watchers-per-stream"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--max-watchers-per-stream=x"}).find("--max-watchers-per-stream"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--heartbeat-interval=0"}).find("--heartbeat-interval"), std::string::npos);
}

TEST(Flags, ElectionTimeoutRulesAreEtcds) {
  // etcd: election timeout at least 5 x heartbeat, at most 50 s.
  EXPECT_EQ(ErrorOf({"--heartbeat-interval=100", "--election-timeout=499"}),
            "--election-timeout[499ms] should be at least as 5 times as "
            "--heartbeat-interval[100ms]");
  EXPECT_TRUE(Parse({"--heartbeat-interval=100", "--election-timeout=500"}).status.ok());
  EXPECT_NE(ErrorOf({"--election-timeout=50001"}).find("too long"), std::string::npos);
}

TEST(Flags, BadUrlsAreNamed) {
  std::string e = ErrorOf(
      {"--listen-client-urls=unix://sock:1", "--advertise-client-urls=http://127.0.0.1:2379"});
  EXPECT_NE(e.find("--listen-client-urls"), std::string::npos) << e;
  EXPECT_NE(e.find("not supported"), std::string::npos) << e;
  EXPECT_NE(ErrorOf({"--listen-peer-urls=127.0.0.1:2380"}).find("--listen-peer-urls"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--listen-peer-urls=http://127.0.0.1"}).find("missing port"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--listen-metrics-urls=http://127.0.0.1:99999"}).find("invalid port"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--advertise-client-urls=http://:2379"}).find("--advertise-client-urls"),
            std::string::npos);
  // Binding needs an IP (or localhost), as etcd's checkBindURLs.
  EXPECT_NE(ErrorOf({"--listen-peer-urls=http://example.com:2380"}).find("expected IP"),
            std::string::npos);
}

TEST(Flags, TlsFlagsAsEtcds) {
  Parsed p = Parse({"--listen-client-urls=https://127.0.0.1:2379",
                    "--advertise-client-urls=https://127.0.0.1:2379", "--cert-file=/c.pem",
                    "--key-file=/k.pem", "--trusted-ca-file=/ca.pem", "--client-cert-auth",
                    "--listen-peer-urls=https://127.0.0.1:2380",
                    "--initial-advertise-peer-urls=https://127.0.0.1:2380", "--peer-auto-tls",
                    "--peer-client-cert-auth=false", "--listen-metrics-urls=https://127.0.0.1:2381",
                    "--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  const ServerConfig& c = p.config;
  EXPECT_EQ(c.listen_client_urls, std::vector<std::string>{"https://127.0.0.1:2379"});
  EXPECT_EQ(c.initial_cluster.at("default"), std::vector<std::string>{"https://127.0.0.1:2380"});
  EXPECT_EQ(c.client_tls.cert_file, "/c.pem");
  EXPECT_EQ(c.client_tls.key_file, "/k.pem");
  EXPECT_EQ(c.client_tls.trusted_ca_file, "/ca.pem");
  EXPECT_TRUE(c.client_tls.client_cert_auth);
  EXPECT_FALSE(c.client_tls.auto_tls);
  EXPECT_TRUE(c.peer_tls.auto_tls);
  EXPECT_FALSE(c.peer_tls.client_cert_auth);
  EXPECT_EQ(c.cipher_suites, "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(c.auth_token_ttl_s, 300);
  EXPECT_EQ(c.bcrypt_cost, 10);
}

TEST(Flags, HttpsNeedsACertificateForItsSide) {
  EXPECT_EQ(ErrorOf({"--listen-client-urls=https://127.0.0.1:2379",
                     "--advertise-client-urls=https://127.0.0.1:2379"}),
            "TLS key/cert (--cert-file, --key-file) must be provided for client url "
            "https://127.0.0.1:2379 with HTTPS scheme");
  EXPECT_EQ(ErrorOf({"--listen-peer-urls=https://127.0.0.1:2380",
                     "--initial-advertise-peer-urls=https://127.0.0.1:2380", "--cert-file=/c.pem",
                     "--key-file=/k.pem"}),
            "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url "
            "https://127.0.0.1:2380 with HTTPS scheme");
  EXPECT_NE(ErrorOf({"--listen-metrics-urls=https://127.0.0.1:2381"}).find("metrics url"),
            std::string::npos);
  EXPECT_EQ(ErrorOf({"--cert-file=/c.pem"}), "--cert-file and --key-file must be given together");
  // --auto-tls is enough for an https client URL.
  EXPECT_TRUE(Parse({"--listen-client-urls=https://127.0.0.1:2379",
                     "--advertise-client-urls=https://127.0.0.1:2379", "--auto-tls"})
                  .status.ok());
}

TEST(Flags, AuthFlagsAsEtcds) {
  Parsed p = Parse({"--auth-token=simple", "--auth-token-ttl=60", "--bcrypt-cost=4"});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.config.auth_token_ttl_s, 60);
  EXPECT_EQ(p.config.bcrypt_cost, 4);
  EXPECT_NE(ErrorOf({"--auth-token=jwt,pub-key=x"}).find("simple tokens only"), std::string::npos);
  EXPECT_NE(ErrorOf({"--bcrypt-cost=3"}).find("--bcrypt-cost"), std::string::npos);
  EXPECT_NE(ErrorOf({"--bcrypt-cost=32"}).find("out of range"), std::string::npos);
  EXPECT_NE(ErrorOf({"--auth-token-ttl=0"}).find("--auth-token-ttl"), std::string::npos);
  EXPECT_EQ(ErrorOf({"--cipher-suites=TLS_RSA_WITH_AES_128_GCM_SHA256,NOPE"}),
            "invalid value for --cipher-suites: unexpected TLS cipher suite \"NOPE\"");
}

TEST(Flags, ListenClientUrlsNeedAdvertiseClientUrls) {
  EXPECT_EQ(ErrorOf({"--listen-client-urls=http://127.0.0.1:2379"}),
            "--advertise-client-urls is required when --listen-client-urls is set explicitly");
}

TEST(Flags, InitialClusterMustHoldThisMemberAtItsAdvertisedUrls) {
  EXPECT_NE(ErrorOf({"--name=n9", "--initial-cluster=n1=http://127.0.0.1:2380"}).find("\"n9\""),
            std::string::npos);
  std::string e = ErrorOf({"--name=n1", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
                           "--initial-cluster=n1=http://127.0.0.1:9999"});
  EXPECT_NE(e.find("missing from --initial-advertise-peer-urls"), std::string::npos) << e;
  EXPECT_NE(ErrorOf({"--initial-cluster=default"}).find("--initial-cluster"), std::string::npos);
  EXPECT_NE(ErrorOf({"--initial-cluster=default=http://localhost:2380,x=http://localhost:2380"})
                .find("duplicate"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--initial-cluster-state=old"}).find("--initial-cluster-state"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--log-level=loud"}).find("--log-level"), std::string::npos);
}

TEST(Flags, RestartWithDataIgnoresTheAdvertisedUrlCheck) {
  auto dir =
      std::filesystem::temp_directory_path() / ("raftkvd-flags-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "member");
  std::vector<std::string> args = {"--name=n1", "--data-dir=" + dir.string(),
                                   "--initial-advertise-peer-urls=http://127.0.0.1:2380",
                                   "--initial-cluster=n1=http://127.0.0.1:9999"};
  EXPECT_TRUE(Parse(args).status.ok());
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(Parse(args).status.ok());
}

TEST(Flags, HelpAndVersionExitAtOnce) {
  Parsed h = Parse({"--help"});
  ASSERT_TRUE(h.status.ok());
  EXPECT_TRUE(h.exit_now);
  EXPECT_NE(h.out.find("--initial-cluster-token"), std::string::npos);
  EXPECT_NE(h.out.find("--max-watchers-per-stream"), std::string::npos);
  Parsed v = Parse({"--version"});
  ASSERT_TRUE(v.status.ok());
  EXPECT_TRUE(v.exit_now);
  EXPECT_NE(v.out.find("API version: 3.4"), std::string::npos);
}

TEST(Url, ParsesHostAndPort) {
  Result<HostPort> hp = ParseHttpUrl("http://[::1]:2379/");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 2379);
  EXPECT_EQ(hp->Address(), "[::1]:2379");
  EXPECT_FALSE(hp->tls);
  hp = ParseHttpUrl("https://127.0.0.1:2379");
  ASSERT_TRUE(hp.ok());
  EXPECT_TRUE(hp->tls);
  EXPECT_EQ(hp->Url(), "https://127.0.0.1:2379");
  EXPECT_FALSE(ParseHttpUrl("http://a:1/path").ok());
  EXPECT_FALSE(ParseHttpUrl("unix://sock").ok());
  EXPECT_FALSE(ParseHttpUrl("ftp://a:1").ok());
  EXPECT_FALSE(ParseHttpUrl("http://a:").ok());
}

}  // namespace
}  // namespace raftkv::server::daemon
