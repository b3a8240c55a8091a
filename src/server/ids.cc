// Member and cluster ids, derived as etcd 3.4 does (etcdserver/api/membership): a member id
// is the first 8 bytes (big-endian) of SHA-1 over its sorted peer URLs, the cluster token
// and, for a member added at runtime, the request time in seconds; a cluster id is the
// first 8 bytes of SHA-1 over the sorted member ids (8 bytes big-endian each).
#include <openssl/sha.h>

#include <algorithm>
#include <string>
#include <vector>

#include "server/config.h"

namespace raftkv::server {
namespace {

uint64_t First8BigEndian(const unsigned char* h) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | h[i];
  return v;
}

uint64_t Sha1Id(const std::string& bytes) {
  unsigned char h[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), h);
  uint64_t id = First8BigEndian(h);
  return id == 0 ? 1 : id;  // 0 means "no member" to the core
}

}  // namespace

uint64_t ComputeMemberId(const std::vector<std::string>& peer_urls, const std::string& token,
                         uint64_t time_salt) {
  std::vector<std::string> urls = peer_urls;
  std::sort(urls.begin(), urls.end());
  std::string b;
  for (const auto& u : urls) b += u;
  b += token;
  if (time_salt != 0) b += std::to_string(time_salt);
  return Sha1Id(b);
}

uint64_t ComputeClusterId(const std::vector<uint64_t>& member_ids, const std::string& token) {
  // The token is already mixed into every member id (as in etcd).
  std::vector<uint64_t> ids = member_ids;
  std::sort(ids.begin(), ids.end());
  std::string b;
  for (uint64_t id : ids) {
    for (int i = 7; i >= 0; --i) b.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
  }
  return Sha1Id(b);
}

}  // namespace raftkv::server
