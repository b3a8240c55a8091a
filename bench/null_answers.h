// What the null servers of the benchmarks answer (raftkv-grpc-floor on gRPC C++,
// raftkv-h2-floor on libnghttp2): both build their responses here, so that the two floors
// answer the same bytes and differ only in the transport. KV.Range, KV.Put and KV.Compact get an
// empty response with a header (a put bumps the revision), Maintenance.Status names the server
// the leader and Cluster.MemberList lists it with its client URLs, which is all etcd's load
// generator (--target-leader) and compare-etcd need. Also the etcd-style flags both take.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.pb.h"

namespace raftkv::bench::null_answers {

inline constexpr uint64_t kClusterId = 0x1;
inline constexpr uint64_t kMemberId = 0x2;

inline std::atomic<int64_t> revision{1};

inline void FillHeader(etcdserverpb::ResponseHeader* h) {
  h->set_cluster_id(kClusterId);
  h->set_member_id(kMemberId);
  h->set_revision(revision.load(std::memory_order_relaxed));
  h->set_raft_term(1);
}

inline void Range(const etcdserverpb::RangeRequest&, etcdserverpb::RangeResponse* resp) {
  FillHeader(resp->mutable_header());
}

inline void Put(const etcdserverpb::PutRequest&, etcdserverpb::PutResponse* resp) {
  revision.fetch_add(1, std::memory_order_relaxed);
  FillHeader(resp->mutable_header());
}

inline void Compact(const etcdserverpb::CompactionRequest&,
                    etcdserverpb::CompactionResponse* resp) {
  FillHeader(resp->mutable_header());
}

inline void Status(const etcdserverpb::StatusRequest&, etcdserverpb::StatusResponse* resp) {
  FillHeader(resp->mutable_header());
  resp->set_version("3.4.0");
  resp->set_leader(kMemberId);  // etcd's tool (--target-leader) looks for the leader
  resp->set_raftterm(1);
}

// etcd's tool (--target-leader) lists the members, then asks each for its Status.
inline void MemberList(const std::vector<std::string>& client_urls,
                       const etcdserverpb::MemberListRequest&,
                       etcdserverpb::MemberListResponse* resp) {
  FillHeader(resp->mutable_header());
  etcdserverpb::Member* m = resp->add_members();
  m->set_id(kMemberId);
  m->set_name("floor");
  for (const std::string& u : client_urls) m->add_clienturls(u);
}

// "http://host:port[/]" -> "host:port"; empty if it is not an http URL.
inline std::string HostPort(std::string url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return "";
  url = url.substr(scheme.size());
  if (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// The --listen-client-urls, as given (every other flag is ignored).
inline std::vector<std::string> ClientUrls(int argc, char** argv) {
  const std::string flag = "--listen-client-urls";
  std::string urls;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == flag && i + 1 < argc) urls = argv[i + 1];
    if (a.rfind(flag + "=", 0) == 0) urls = a.substr(flag.size() + 1);
  }
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= urls.size() && !urls.empty()) {
    size_t comma = urls.find(',', start);
    std::string u =
        urls.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    out.push_back(u);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace raftkv::bench::null_answers
