#include "lease/lease_table.h"

namespace raftkv::lease {

Status LeaseTable::Grant(LeaseId id, int64_t ttl) {
  if (id == kNoLease) return ErrLeaseNotFound();  // etcd's lessor answers id 0 so
  if (ttl > kMaxTtlSeconds) return Status::InvalidArgument(kErrLeaseTtlTooLarge);
  auto [it, inserted] = leases_.try_emplace(id);
  if (!inserted) return Status::FailedPrecondition(kErrLeaseExist);
  it->second.id = id;
  it->second.ttl = ttl;
  return Status::OK();
}

Result<std::vector<std::string>> LeaseTable::Revoke(LeaseId id) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return ErrLeaseNotFound();
  std::vector<std::string> keys(it->second.keys.begin(), it->second.keys.end());
  leases_.erase(it);
  return keys;
}

const Lease* LeaseTable::Find(LeaseId id) const {
  auto it = leases_.find(id);
  return it == leases_.end() ? nullptr : &it->second;
}

std::vector<LeaseId> LeaseTable::Ids() const {
  std::vector<LeaseId> ids;
  ids.reserve(leases_.size());
  for (const auto& [id, l] : leases_) ids.push_back(id);
  return ids;
}

void LeaseTable::Move(const std::string& key, LeaseId from, LeaseId to) {
  if (from == to) return;
  if (from != kNoLease) {
    if (auto it = leases_.find(from); it != leases_.end()) it->second.keys.erase(key);
  }
  if (to != kNoLease) {
    if (auto it = leases_.find(to); it != leases_.end()) it->second.keys.insert(key);
  }
}

void LeaseTable::EncodeTo(std::string* out) const {
  PutU32(out, static_cast<uint32_t>(leases_.size()));
  for (const auto& [id, l] : leases_) {
    PutI64(out, id);
    PutI64(out, l.ttl);
  }
}

Result<LeaseTable> LeaseTable::DecodeFrom(Decoder* in) {
  LeaseTable t;
  uint32_t n = 0;
  if (!in->GetU32(&n)) return Status::Corruption("lease table: truncated");
  LeaseId prev = 0;
  for (uint32_t i = 0; i < n; ++i) {
    int64_t id = 0, ttl = 0;
    if (!in->GetI64(&id) || !in->GetI64(&ttl)) return Status::Corruption("lease table: truncated");
    if (id == kNoLease || (i > 0 && id <= prev) || ttl > kMaxTtlSeconds) {
      return Status::Corruption("lease table: bad lease");
    }
    t.leases_[id] = Lease{id, ttl, {}};
    prev = id;
  }
  return t;
}

bool LeaseTable::operator==(const LeaseTable& o) const {
  if (leases_.size() != o.leases_.size()) return false;
  for (auto a = leases_.begin(), b = o.leases_.begin(); a != leases_.end(); ++a, ++b) {
    if (a->first != b->first || a->second.ttl != b->second.ttl ||
        a->second.keys != b->second.keys) {
      return false;
    }
  }
  return true;
}

}  // namespace raftkv::lease
