// Store: the lease table's writes and lookups, and the store's size for the space quota.
// The attachment of keys to leases is kept by the write paths (putLocked, deleteRangeLocked).
#include "common/check.h"
#include "kv/store.h"

namespace raftkv::kv {

Status Store::LeaseGrant(lease::LeaseId id, int64_t ttl) {
  std::lock_guard<std::mutex> lock(mu_);
  return leases_.Grant(id, ttl);
}

// etcd's lessor.Revoke: the keys are deleted in key order in one write transaction, so every
// member produces the same revision and the same hashes.
Result<ResponseHeader> Store::LeaseRevoke(lease::LeaseId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto keys = leases_.Revoke(id);
  if (!keys.ok()) return keys.status();
  WriteCtx ctx{current_rev_, 0};
  for (const std::string& key : *keys) {
    DeleteRangeRequest del;
    del.key = key;
    deleteRangeLocked(del, &ctx);
  }
  endWriteLocked(ctx);
  return ResponseHeader{current_rev_};
}

Result<lease::Lease> Store::LeaseLookup(lease::LeaseId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const lease::Lease* l = leases_.Find(id);
  if (l == nullptr) return lease::ErrLeaseNotFound();
  return *l;
}

std::vector<lease::LeaseId> Store::LeaseIds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leases_.Ids();
}

std::vector<std::pair<lease::LeaseId, int64_t>> Store::LeaseTtls() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<lease::LeaseId, int64_t>> out;
  for (lease::LeaseId id : leases_.Ids()) out.emplace_back(id, leases_.Find(id)->ttl);
  return out;
}

int64_t Store::SizeBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return record_bytes_ + static_cast<int64_t>(leases_.size()) * kLeaseOverheadBytes;
}

}  // namespace raftkv::kv
