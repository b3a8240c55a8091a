// LeaseTable: the replicated half of leases, part of the state machine. Every member applies
// the same grants, revokes and attachments in log order, so every member holds the same
// table; it says which leases exist, their granted TTL, and which keys are attached to each.
// It knows nothing of time: when a lease expires is the leader's business (lessor.h).
//
// Attachments follow the MVCC store: a key is attached to the lease of its latest live
// version (a put with lease L attaches it to L and detaches it from its previous lease, a put
// without a lease or a delete detaches it). So attachments need not be stored in snapshots:
// they are rebuilt from the keys' latest versions when a snapshot is loaded.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/coding.h"
#include "common/status.h"

namespace raftkv::lease {

using LeaseId = int64_t;
inline constexpr LeaseId kNoLease = 0;
// etcd's MaxLeaseTTL (seconds): a larger TTL is refused.
inline constexpr int64_t kMaxTtlSeconds = 9000000000;

// etcd's texts (rpctypes); api::ToGrpcStatus gives them etcd's gRPC codes.
inline constexpr char kErrLeaseNotFound[] = "etcdserver: requested lease not found";
inline constexpr char kErrLeaseExist[] = "etcdserver: lease already exists";
inline constexpr char kErrLeaseTtlTooLarge[] = "etcdserver: too large lease TTL";

inline Status ErrLeaseNotFound() {
  return Status::NotFound(kErrLeaseNotFound);
}

struct Lease {
  LeaseId id = kNoLease;
  int64_t ttl = 0;             // granted TTL in seconds (etcd's minimum already applied)
  std::set<std::string> keys;  // attached keys, ordered (revokes delete them in this order)
};

class LeaseTable {
 public:
  // Adds a lease. Refused: id 0 (not found, as etcd), a TTL above kMaxTtlSeconds, an id in use.
  Status Grant(LeaseId id, int64_t ttl);
  // Removes the lease and returns its keys in order; the caller deletes them (in one revision)
  // before or after: the table no longer tracks them.
  Result<std::vector<std::string>> Revoke(LeaseId id);

  bool Contains(LeaseId id) const { return leases_.count(id) > 0; }
  const Lease* Find(LeaseId id) const;
  // Every lease id, ascending.
  std::vector<LeaseId> Ids() const;
  size_t size() const { return leases_.size(); }
  bool empty() const { return leases_.empty(); }

  // Key `key`'s latest version now has lease `to` (kNoLease: none) where it had `from`.
  // Unknown leases are ignored (a key may carry the id of a lease that never existed: data
  // written before leases were checked).
  void Move(const std::string& key, LeaseId from, LeaseId to);

  // Ids and TTLs (attachments are rebuilt from the store, see above):
  //   u32 n | n x { i64 id | i64 ttl }, ids ascending.
  void EncodeTo(std::string* out) const;
  static Result<LeaseTable> DecodeFrom(Decoder* in);

  bool operator==(const LeaseTable& o) const;

 private:
  std::map<LeaseId, Lease> leases_;
};

}  // namespace raftkv::lease
