#include "server/daemon/flags.h"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "server/compactor.h"
#include "tls/tls.h"

namespace raftkv::server::daemon {
namespace {

// etcd's defaults (embed/config.go).
constexpr char kDefaultListenPeer[] = "http://localhost:2380";
constexpr char kDefaultListenClient[] = "http://localhost:2379";
constexpr int kMaxElectionMs = 50000;

Status FlagError(const std::string& flag, const std::string& why) {
  return Status::InvalidArgument("invalid value for --" + flag + ": " + why);
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    parts.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

// A Go duration ("10m0s", "100ms", "1.5s", "1h"), as etcd's duration flags take; to ms.
Status ParseDurationMs(const std::string& flag, const std::string& text, int64_t* out_ms) {
  static const std::map<std::string, double> kUnitMs = {
      {"ns", 1e-6}, {"us", 1e-3}, {"\u00b5s", 1e-3}, {"ms", 1},
      {"s", 1e3},   {"m", 6e4},   {"h", 3.6e6}};
  auto bad = [&] { return FlagError(flag, "\"" + text + "\" (expected a duration like 10m0s)"); };
  if (text == "0") {
    *out_ms = 0;
    return Status::OK();
  }
  double total = 0;
  size_t i = 0;
  if (text.empty()) return bad();
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == start) return bad();
    double n = 0;
    try {
      n = std::stod(text.substr(start, i - start));
    } catch (...) {
      return bad();
    }
    size_t unit_start = i;
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) &&
           text[i] != '.') {
      ++i;
    }
    auto unit = kUnitMs.find(text.substr(unit_start, i - unit_start));
    if (unit == kUnitMs.end()) return bad();
    total += n * unit->second;
  }
  if (total > 1e15) return bad();
  *out_ms = static_cast<int64_t>(total);
  return Status::OK();
}

template <typename T>
Status ParseInt(const std::string& flag, const std::string& text, T min, T max, T* out) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && (v < min || v > max))) {
    return FlagError(flag, "\"" + text + "\" is out of range [" + std::to_string(min) + ", " +
                               std::to_string(max) + "]");
  }
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return FlagError(flag, "\"" + text + "\" is not an integer");
  }
  *out = v;
  return Status::OK();
}

// A comma-separated list of URLs, each normalised to "http[s]://host:port".
Status ParseUrlList(const std::string& flag, const std::string& text, bool bind,
                    std::vector<std::string>* out) {
  out->clear();
  if (text.empty()) return Status::OK();
  for (const std::string& u : SplitComma(text)) {
    Result<HostPort> hp = ParseHttpUrl(u);
    if (!hp.ok()) return FlagError(flag, hp.status().message());
    if (bind) {
      Status s = CheckBindUrl(u);
      if (!s.ok()) return FlagError(flag, s.message());
    }
    out->push_back(hp->Url());
  }
  return Status::OK();
}

// "n1=http://a:2380,n1=http://b:2380,n2=..." (a name may repeat for several URLs).
Status ParseInitialCluster(const std::string& text,
                           std::map<std::string, std::vector<std::string>>* out) {
  out->clear();
  std::set<std::string> seen;
  for (const std::string& item : SplitComma(text)) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return FlagError("initial-cluster", "\"" + item + "\" is not name=http://host:port");
    }
    std::vector<std::string> url;
    RAFTKV_RETURN_IF_ERROR(ParseUrlList("initial-cluster", item.substr(eq + 1), false, &url));
    if (url.size() != 1) {
      return FlagError("initial-cluster", "\"" + item + "\" is not name=http://host:port");
    }
    if (!seen.insert(url[0]).second) {
      return FlagError("initial-cluster", "duplicate URL " + url[0]);
    }
    (*out)[item.substr(0, eq)].push_back(url[0]);
  }
  return Status::OK();
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

bool DirHasData(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) && !std::filesystem::is_empty(dir, ec);
}

// The raw text of every flag, before conversion (so errors name the flag and the value).
struct RawFlags {
  std::string name = "default";
  std::string data_dir;
  std::string listen_client_urls = kDefaultListenClient;
  std::string advertise_client_urls = kDefaultListenClient;
  std::string listen_peer_urls = kDefaultListenPeer;
  std::string initial_advertise_peer_urls = kDefaultListenPeer;
  std::string initial_cluster;
  std::string initial_cluster_state = "new";
  std::string initial_cluster_token = "etcd-cluster";
  std::string heartbeat_interval = "100";
  std::string election_timeout = "1000";
  std::string snapshot_count = "100000";
  std::string snapshot_bytes = std::to_string(uint64_t{128} << 20);
  std::string snapshot_catchup_entries = "5000";
  std::string listen_metrics_urls;
  std::string max_request_bytes = std::to_string(int64_t{1536} * 1024);
  std::string max_txn_ops = "128";
  std::string session_timeout = std::to_string(3600 * 1000);
  std::string log_level = "info";
  std::string auto_compaction_mode = "periodic";
  std::string auto_compaction_retention = "0";
  std::string quota_backend_bytes = "0";
  bool strict_reconfig_check = true;
  // Security.
  tls::TlsConfig client_tls;
  tls::TlsConfig peer_tls;
  std::string cipher_suites;
  std::string auth_token = "simple";
  std::string auth_token_ttl = "300";
  std::string bcrypt_cost = "10";
  std::string watch_progress_notify_interval = "10m0s";
  std::string max_watchers_per_stream = "10000";
};

// The TLS and auth flags (etcd's embed/config.go and etcd.go rules).
Status ConvertSecurity(const RawFlags& raw, ServerConfig* c) {
  c->client_tls = raw.client_tls;
  c->peer_tls = raw.peer_tls;
  for (const tls::TlsConfig* t : {&c->client_tls, &c->peer_tls}) {
    const char* p = t == &c->peer_tls ? "peer-" : "";
    if (t->cert_file.empty() != t->key_file.empty()) {
      return Status::InvalidArgument(std::string("--") + p + "cert-file and --" + p +
                                     "key-file must be given together");
    }
  }
  // etcd: an https URL needs a certificate (or auto TLS) for its side.
  for (const auto& u : c->listen_client_urls) {
    if (u.rfind("https://", 0) == 0 && !c->client_tls.enabled()) {
      return Status::InvalidArgument(
          "TLS key/cert (--cert-file, --key-file) must be provided for "
          "client url " +
          u + " with HTTPS scheme");
    }
  }
  for (const auto& u : c->listen_metrics_urls) {
    if (u.rfind("https://", 0) == 0 && !c->client_tls.enabled()) {
      return Status::InvalidArgument(
          "TLS key/cert (--cert-file, --key-file) must be provided for "
          "metrics url " +
          u + " with HTTPS scheme");
    }
  }
  for (const auto& u : c->listen_peer_urls) {
    if (u.rfind("https://", 0) == 0 && !c->peer_tls.enabled()) {
      return Status::InvalidArgument(
          "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url " + u +
          " with HTTPS scheme");
    }
  }
  if (!raw.cipher_suites.empty()) {
    Result<std::string> list = tls::OpenSslCipherList(raw.cipher_suites);
    if (!list.ok()) return FlagError("cipher-suites", list.status().message());
    c->cipher_suites = *list;
  }
  if (raw.auth_token != "simple") {
    return FlagError("auth-token", "\"" + raw.auth_token +
                                       "\" (raftkvd supports simple tokens only: --auth-token "
                                       "simple)");
  }
  RAFTKV_RETURN_IF_ERROR(ParseInt<int64_t>("auth-token-ttl", raw.auth_token_ttl, 1,
                                           int64_t{1} << 31, &c->auth_token_ttl_s));
  return ParseInt("bcrypt-cost", raw.bcrypt_cost, 4, 31, &c->bcrypt_cost);
}

Status Convert(const RawFlags& raw, const CLI::App& app, ServerConfig* c) {
  c->name = raw.name;
  c->data_dir = raw.data_dir.empty() ? raw.name + ".etcd" : raw.data_dir;
  RAFTKV_RETURN_IF_ERROR(
      ParseUrlList("listen-client-urls", raw.listen_client_urls, true, &c->listen_client_urls));
  RAFTKV_RETURN_IF_ERROR(ParseUrlList("advertise-client-urls", raw.advertise_client_urls, false,
                                      &c->advertise_client_urls));
  RAFTKV_RETURN_IF_ERROR(
      ParseUrlList("listen-peer-urls", raw.listen_peer_urls, true, &c->listen_peer_urls));
  RAFTKV_RETURN_IF_ERROR(ParseUrlList("initial-advertise-peer-urls",
                                      raw.initial_advertise_peer_urls, false,
                                      &c->initial_advertise_peer_urls));
  RAFTKV_RETURN_IF_ERROR(
      ParseUrlList("listen-metrics-urls", raw.listen_metrics_urls, true, &c->listen_metrics_urls));
  // etcd: listen URLs given explicitly drop the default advertise URL, which must then be set.
  if (app.count("--listen-client-urls") > 0 && app.count("--advertise-client-urls") == 0) {
    return Status::InvalidArgument(
        "--advertise-client-urls is required when --listen-client-urls is set explicitly");
  }
  if (c->listen_client_urls.empty()) return FlagError("listen-client-urls", "no URL given");
  if (c->advertise_client_urls.empty()) return FlagError("advertise-client-urls", "no URL");
  if (c->listen_peer_urls.empty()) return FlagError("listen-peer-urls", "no URL given");
  if (c->initial_advertise_peer_urls.empty()) {
    return FlagError("initial-advertise-peer-urls", "no URL given");
  }
  // Default --initial-cluster: this member alone, at its advertised peer URLs.
  std::string cluster = raw.initial_cluster;
  if (app.count("--initial-cluster") == 0) {
    cluster.clear();
    for (const std::string& u : c->initial_advertise_peer_urls) {
      cluster += (cluster.empty() ? "" : ",") + raw.name + "=" + u;
    }
  }
  RAFTKV_RETURN_IF_ERROR(ParseInitialCluster(cluster, &c->initial_cluster));
  if (raw.initial_cluster_state != "new" && raw.initial_cluster_state != "existing") {
    return FlagError("initial-cluster-state",
                     "\"" + raw.initial_cluster_state + "\" (expected new or existing)");
  }
  c->initial_cluster_state_new = raw.initial_cluster_state == "new";
  c->initial_cluster_token = raw.initial_cluster_token;
  RAFTKV_RETURN_IF_ERROR(ParseInt("heartbeat-interval", raw.heartbeat_interval, 1, kMaxElectionMs,
                                  &c->heartbeat_interval_ms));
  RAFTKV_RETURN_IF_ERROR(
      ParseInt("election-timeout", raw.election_timeout, 1, 1 << 30, &c->election_timeout_ms));
  RAFTKV_RETURN_IF_ERROR(
      ParseInt<uint64_t>("snapshot-count", raw.snapshot_count, 1, UINT64_MAX, &c->snapshot_count));
  RAFTKV_RETURN_IF_ERROR(
      ParseInt<uint64_t>("snapshot-bytes", raw.snapshot_bytes, 0, UINT64_MAX, &c->snapshot_bytes));
  RAFTKV_RETURN_IF_ERROR(ParseInt<uint64_t>("experimental-snapshot-catchup-entries",
                                            raw.snapshot_catchup_entries, 1, UINT64_MAX,
                                            &c->snapshot_catchup_entries));
  RAFTKV_RETURN_IF_ERROR(ParseInt<int64_t>("max-request-bytes", raw.max_request_bytes, 1,
                                           int64_t{1} << 30, &c->max_request_bytes));
  RAFTKV_RETURN_IF_ERROR(
      ParseInt<int64_t>("max-txn-ops", raw.max_txn_ops, 1, INT32_MAX, &c->max_txn_ops));
  RAFTKV_RETURN_IF_ERROR(ParseInt<int64_t>("session-timeout", raw.session_timeout, 1,
                                           INT64_MAX / 1000, &c->session_timeout_ms));
  static const std::set<std::string> kLevels = {"debug", "info", "warn", "error", "panic", "fatal"};
  if (kLevels.count(raw.log_level) == 0) {
    return FlagError("log-level", "\"" + raw.log_level +
                                      "\" (expected debug, info, warn, error, panic or fatal)");
  }
  c->log_level = raw.log_level;
  c->strict_reconfig_check = raw.strict_reconfig_check;
  RAFTKV_RETURN_IF_ERROR(ParseDurationMs("experimental-watch-progress-notify-interval",
                                         raw.watch_progress_notify_interval,
                                         &c->watch_progress_notify_interval_ms));
  RAFTKV_RETURN_IF_ERROR(ParseInt<size_t>("max-watchers-per-stream", raw.max_watchers_per_stream, 1,
                                          SIZE_MAX, &c->watch.max_watchers_per_stream));
  // etcd parses the retention when it starts the compactor; its mode is checked in Validate.
  auto compaction = ParseAutoCompaction(raw.auto_compaction_mode, raw.auto_compaction_retention);
  if (!compaction.ok()) {
    const bool bad_mode = compaction.status().message().find("mode") != std::string::npos;
    return FlagError(bad_mode ? "auto-compaction-mode" : "auto-compaction-retention",
                     compaction.status().message());
  }
  c->auto_compaction_mode = raw.auto_compaction_mode;
  c->auto_compaction_retention = raw.auto_compaction_retention;
  RAFTKV_RETURN_IF_ERROR(ParseInt<int64_t>("quota-backend-bytes", raw.quota_backend_bytes,
                                           INT64_MIN, INT64_MAX, &c->quota_backend_bytes));
  return ConvertSecurity(raw, c);
}

// etcd's cross-flag rules (embed/config.go Validate, etcdserver/config.go VerifyBootstrap).
Status Validate(const ServerConfig& c) {
  if (5 * c.heartbeat_interval_ms > c.election_timeout_ms) {
    return Status::InvalidArgument("--election-timeout[" + std::to_string(c.election_timeout_ms) +
                                   "ms] should be at least as 5 times as --heartbeat-interval[" +
                                   std::to_string(c.heartbeat_interval_ms) + "ms]");
  }
  if (c.election_timeout_ms > kMaxElectionMs) {
    return Status::InvalidArgument("--election-timeout[" + std::to_string(c.election_timeout_ms) +
                                   "ms] is too long, and should be set less than " +
                                   std::to_string(kMaxElectionMs) + "ms");
  }
  auto self = c.initial_cluster.find(c.name);
  if (self == c.initial_cluster.end()) {
    return Status::InvalidArgument("--initial-cluster: couldn't find local name \"" + c.name +
                                   "\" in the initial cluster configuration");
  }
  // A restart (data dir in use) ignores the bootstrap flags, as etcd does.
  if (c.initial_cluster_state_new && !DirHasData(c.data_dir) &&
      Sorted(self->second) != Sorted(c.initial_advertise_peer_urls)) {
    return Status::InvalidArgument(
        "--initial-cluster has " + c.name + "=" + Join(self->second) +
        " but missing from --initial-advertise-peer-urls=" + Join(c.initial_advertise_peer_urls));
  }
  return Status::OK();
}

// A flag as in etcd: "--flag" alone means true, "--flag=false" turns it off.
void AddBool(CLI::App* app, const char* name, bool* v, const char* help) {
  app->add_flag(name, *v, help)
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

void AddSecurityFlags(CLI::App* app, RawFlags* r) {
  auto add = [app](const char* name, std::string* v, const char* help) {
    app->add_option(name, *v, help)
        ->capture_default_str()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  };
  add("--cert-file", &r->client_tls.cert_file, "Path to the client server TLS cert file.");
  add("--key-file", &r->client_tls.key_file, "Path to the client server TLS key file.");
  add("--trusted-ca-file", &r->client_tls.trusted_ca_file,
      "Path to the client server TLS trusted CA cert file.");
  AddBool(app, "--client-cert-auth", &r->client_tls.client_cert_auth,
          "Enable client cert authentication (the certificate's CommonName is the user).");
  AddBool(app, "--auto-tls", &r->client_tls.auto_tls, "Client TLS using generated certificates.");
  add("--peer-cert-file", &r->peer_tls.cert_file, "Path to the peer server TLS cert file.");
  add("--peer-key-file", &r->peer_tls.key_file, "Path to the peer server TLS key file.");
  add("--peer-trusted-ca-file", &r->peer_tls.trusted_ca_file,
      "Path to the peer server TLS trusted CA file.");
  AddBool(app, "--peer-client-cert-auth", &r->peer_tls.client_cert_auth,
          "Enable peer client cert authentication.");
  AddBool(app, "--peer-auto-tls", &r->peer_tls.auto_tls,
          "Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file "
          "are not provided.");
  add("--cipher-suites", &r->cipher_suites,
      "Comma-separated list of supported TLS 1.2 cipher suites between client/server and peers "
      "(Go's names, as etcd; empty: gRPC's defaults).");
  add("--auth-token", &r->auth_token, "Specify the v3 authentication token type ('simple').");
  add("--auth-token-ttl", &r->auth_token_ttl, "Time (in seconds) of the auth-token-ttl.");
  add("--bcrypt-cost", &r->bcrypt_cost,
      "Specify the cost / strength of the bcrypt algorithm for hashing auth passwords. Valid "
      "values are between 4 and 31.");
}

void AddFlags(CLI::App* app, RawFlags* r) {
  auto add = [app](const char* name, std::string* v, const char* help) {
    app->add_option(name, *v, help)
        ->capture_default_str()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  };
  add("--name", &r->name, "Human-readable name for this member.");
  add("--data-dir", &r->data_dir, "Path to the data directory (default \"<name>.etcd\").");
  add("--listen-client-urls", &r->listen_client_urls,
      "List of URLs to listen on for client traffic (gRPC).");
  add("--advertise-client-urls", &r->advertise_client_urls,
      "List of this member's client URLs to advertise to the rest of the cluster.");
  add("--listen-peer-urls", &r->listen_peer_urls, "List of URLs to listen on for peer traffic.");
  add("--initial-advertise-peer-urls", &r->initial_advertise_peer_urls,
      "List of this member's peer URLs to advertise to the rest of the cluster.");
  add("--initial-cluster", &r->initial_cluster,
      "Initial cluster configuration for bootstrapping (default \"<name>=<peer urls>\").");
  add("--initial-cluster-state", &r->initial_cluster_state,
      "Initial cluster state ('new' or 'existing').");
  add("--initial-cluster-token", &r->initial_cluster_token,
      "Initial cluster token for the etcd cluster during bootstrap.");
  add("--heartbeat-interval", &r->heartbeat_interval,
      "Time (in milliseconds) of a heartbeat interval.");
  add("--election-timeout", &r->election_timeout,
      "Time (in milliseconds) for an election to timeout.");
  add("--snapshot-count", &r->snapshot_count,
      "Number of committed transactions to trigger a snapshot to disk.");
  add("--snapshot-bytes", &r->snapshot_bytes,
      "raftkv: bytes of log entries appended since the last snapshot to trigger one (whichever "
      "of this and --snapshot-count comes first; 0 = no byte threshold). The default, 128 MiB, "
      "bounds the log held in memory and replayed at restart when values are large.");
  add("--experimental-snapshot-catchup-entries", &r->snapshot_catchup_entries,
      "Number of entries kept for a slow follower to catch up after compacting the log "
      "(etcd 3.5's flag).");
  add("--listen-metrics-urls", &r->listen_metrics_urls,
      "List of URLs to listen on for the /metrics and /health endpoints.");
  add("--max-request-bytes", &r->max_request_bytes,
      "Maximum client request size in bytes the server will accept.");
  add("--max-txn-ops", &r->max_txn_ops, "Maximum number of operations permitted in a transaction.");
  add("--session-timeout", &r->session_timeout,
      "raftkv: milliseconds after which an idle exactly-once client session expires.");
  add("--auto-compaction-mode", &r->auto_compaction_mode,
      "Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration "
      "based retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' "
      "for revision number based retention.");
  add("--auto-compaction-retention", &r->auto_compaction_retention,
      "Auto compaction retention for mvcc key value store. 0 means disable auto compaction.");
  add("--quota-backend-bytes", &r->quota_backend_bytes,
      "Raise alarms when backend size exceeds the given quota. 0 means use the default quota "
      "(2 GiB); a negative value disables it. raftkv measures the in-memory store: keys and "
      "values of every stored version plus 64 bytes each, 64 bytes per lease.");
  add("--log-level", &r->log_level,
      "Configures log level. Only supports debug, info, warn, error, panic, or fatal.");
  AddBool(app, "--strict-reconfig-check", &r->strict_reconfig_check,
          "Reject reconfiguration requests that would cause quorum loss.");
  AddSecurityFlags(app, r);
  add("--experimental-watch-progress-notify-interval", &r->watch_progress_notify_interval,
      "Duration of periodic watch progress notifications (etcd's hidden flag; at least 100ms).");
  add("--max-watchers-per-stream", &r->max_watchers_per_stream,
      "raftkv: maximum number of watchers on one Watch stream (etcd has no such bound); a "
      "create beyond it is refused as etcd refuses a create (created and canceled, with a "
      "reason).");
}

}  // namespace

std::string HostPort::Address() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string HostPort::Url() const {
  return (tls ? "https://" : "http://") + Address();
}

Result<HostPort> ParseHttpUrl(const std::string& url) {
  size_t sep = url.find("://");
  if (sep == std::string::npos) {
    return Status::InvalidArgument("\"" + url + "\" is not a URL (expected http://host:port)");
  }
  std::string scheme = url.substr(0, sep);
  if (scheme == "unix" || scheme == "unixs") {
    return Status::InvalidArgument("\"" + url + "\": " + scheme +
                                   " URLs are not supported (unix sockets are not implemented; "
                                   "use http://host:port or https://host:port)");
  }
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidArgument("\"" + url + "\": unknown scheme \"" + scheme +
                                   "\" (expected http://host:port or https://host:port)");
  }
  std::string rest = url.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find_first_of("/?#@") != std::string::npos) {
    return Status::InvalidArgument("\"" + url +
                                   "\": a path is not allowed (expected "
                                   "http://host:port)");
  }
  HostPort hp;
  hp.tls = scheme == "https";
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return Status::InvalidArgument("\"" + url + "\": missing port in address");
    }
    hp.host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos) {
      return Status::InvalidArgument("\"" + url + "\": missing port in address");
    }
    hp.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (hp.host.find(':') != std::string::npos) {
      return Status::InvalidArgument("\"" + url + "\": IPv6 hosts need brackets");
    }
  }
  if (hp.host.empty()) return Status::InvalidArgument("\"" + url + "\": empty host");
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), hp.port);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || hp.port < 0 ||
      hp.port > 65535) {
    return Status::InvalidArgument("\"" + url + "\": invalid port \"" + port + "\"");
  }
  return hp;
}

Status CheckBindUrl(const std::string& url) {
  Result<HostPort> hp = ParseHttpUrl(url);
  if (!hp.ok()) return hp.status();
  if (hp->host == "localhost") return Status::OK();
  unsigned char buf[16];
  if (inet_pton(AF_INET, hp->host.c_str(), buf) == 1 ||
      inet_pton(AF_INET6, hp->host.c_str(), buf) == 1) {
    return Status::OK();
  }
  return Status::InvalidArgument("expected IP in URL for binding (" + url + ")");
}

Status ParseFlags(int argc, const char* const* argv, ServerConfig* config, bool* exit_now) {
  return ParseFlags(argc, argv, config, exit_now, &std::cout);
}

Status ParseFlags(int argc, const char* const* argv, ServerConfig* config, bool* exit_now,
                  std::ostream* out) {
  *exit_now = false;
  CLI::App app("raftkvd: a Raft replicated key-value server speaking the etcd v3 API", "raftkvd");
  RawFlags raw;
  AddFlags(&app, &raw);
  bool version = false;
  app.add_flag("--version", version, "Print the version and exit.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    *out << app.help();
    *exit_now = true;
    return Status::OK();
  } catch (const CLI::ParseError& e) {
    return Status::InvalidArgument(e.what());
  }
  if (version) {
    *out << "raftkvd Version: " << kVersion << "\nAPI version: " << kApiVersion << "\n";
    *exit_now = true;
    return Status::OK();
  }
  ServerConfig c;
  RAFTKV_RETURN_IF_ERROR(Convert(raw, app, &c));
  RAFTKV_RETURN_IF_ERROR(Validate(c));
  *config = std::move(c);
  return Status::OK();
}

}  // namespace raftkv::server::daemon
