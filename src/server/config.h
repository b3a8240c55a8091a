// ServerConfig: everything raftkvd is started with. Filled from etcd-compatible flags by
// ParseFlags (daemon/flags.h); tests build it directly. Names and defaults follow etcd 3.4.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "tls/config.h"
#include "watch/options.h"

namespace raftkv::server {

struct ServerConfig {
  std::string name = "default";                          // --name
  std::string data_dir;                                  // --data-dir (default "<name>.etcd")
  std::vector<std::string> listen_client_urls;           // --listen-client-urls
  std::vector<std::string> advertise_client_urls;        // --advertise-client-urls
  std::vector<std::string> listen_peer_urls;             // --listen-peer-urls
  std::vector<std::string> initial_advertise_peer_urls;  // --initial-advertise-peer-urls
  // --initial-cluster "n1=http://a:2380,n2=http://b:2380": member name -> its peer URLs.
  std::map<std::string, std::vector<std::string>> initial_cluster;
  bool initial_cluster_state_new = true;  // --initial-cluster-state new|existing
  // --strict-reconfig-check: refuse membership changes that could cost the quorum
  // (server/reconfig_check.h).
  bool strict_reconfig_check = true;
  std::string initial_cluster_token = "etcd-cluster";  // --initial-cluster-token
  int heartbeat_interval_ms = 100;                     // --heartbeat-interval
  int election_timeout_ms = 1000;                      // --election-timeout
  // Tests only: the clock the leader's lessor reads for lease deadlines (null: the steady
  // clock), so a test can make it jump as a paused process's clock does.
  std::function<std::chrono::steady_clock::time_point()> lease_clock;
  uint64_t snapshot_count = 100000;  // --snapshot-count: entries between snapshots
  // --snapshot-bytes (raftkv's own): bytes of entries appended to the log (payload + 24 each,
  // Entry::SizeBytes) between snapshots, 0 = off. A snapshot is taken when either threshold
  // is crossed. The default bounds the log the storage keeps in memory and replays at restart
  // to ~128 MiB even with large values (100000 entries of 1.5 MiB would be ~150 GiB); with
  // small values (under ~1.3 KiB) the entry count triggers first, as in etcd.
  uint64_t snapshot_bytes = uint64_t{128} << 20;
  // Entries kept in the log behind a snapshot for slow followers
  // (--experimental-snapshot-catchup-entries).
  uint64_t snapshot_catchup_entries = 5000;
  std::vector<std::string> listen_metrics_urls;      // --listen-metrics-urls
  int64_t max_request_bytes = int64_t{1536} * 1024;  // --max-request-bytes
  int64_t max_txn_ops = 128;                         // --max-txn-ops
  // raftkv's own: client sessions idle longer than this expire (log time, ms).
  int64_t session_timeout_ms = 3600 * 1000;  // --session-timeout
  std::string log_level = "info";            // --log-level

  // --- Security (src/tls, src/auth) ---
  // Client side: --cert-file, --key-file, --trusted-ca-file, --client-cert-auth, --auto-tls.
  // Used by https:// client URLs and https:// metrics URLs (as etcd).
  tls::TlsConfig client_tls;
  // Peer side: --peer-cert-file, --peer-key-file, --peer-trusted-ca-file,
  // --peer-client-cert-auth, --peer-auto-tls. Used by https:// peer URLs: the peer server, the
  // streams to other members, member discovery and promote forwarding.
  tls::TlsConfig peer_tls;
  // --cipher-suites, as an OpenSSL cipher list ("" = gRPC's default); restricts TLS 1.2.
  std::string cipher_suites;
  // --auth-token-ttl: a simple token unused this long expires (etcd's default, 300 s).
  int64_t auth_token_ttl_s = 300;
  // --bcrypt-cost: the cost of the bcrypt hashes of new passwords (4..31, etcd's default 10).
  int bcrypt_cost = 10;

  // The watch hub's queue and batch bounds (watch/hub.h); tests make them small.
  watch::HubOptions watch;
  // --experimental-watch-progress-notify-interval (etcd's hidden flag, 10 minutes): how
  // often a watcher that asked for progress notifications and got no events is sent one.
  int64_t watch_progress_notify_interval_ms = 10 * 60 * 1000;
  // --auto-compaction-mode (periodic|revision) and --auto-compaction-retention (etcd's text:
  // "0" = off; periodic: hours or a duration such as "30m"; revision: a count). Parsed by
  // ParseAutoCompaction (server/compactor.h).
  std::string auto_compaction_mode = "periodic";
  std::string auto_compaction_retention = "0";
  // Revision mode compacts this often: etcd's fixed 5 minutes (no flag); tests shorten it.
  int64_t auto_compaction_revision_interval_ms = 5 * 60 * 1000;
  // --quota-backend-bytes: writes that would take the store (kv::Store::SizeBytes) past it are
  // refused with NOSPACE and raise the alarm; 0 = etcd's default (2 GiB), < 0 = no quota.
  int64_t quota_backend_bytes = 0;
};

// Member and cluster ids, as etcd derives them: a member of the initial cluster gets its id
// from its peer URLs and the cluster token, and the cluster id comes from the initial member
// ids, so every member computes the same ids from the same flags. A member added later
// (MemberAdd) gets an id also mixed with the time of the request (so a re-added URL gets a
// new id); it learns that id from the existing members when it starts. Never 0.
uint64_t ComputeMemberId(const std::vector<std::string>& peer_urls, const std::string& token,
                         uint64_t time_salt = 0);
uint64_t ComputeClusterId(const std::vector<uint64_t>& member_ids, const std::string& token);

}  // namespace raftkv::server
