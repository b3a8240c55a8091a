#include "lease/lessor.h"

#include <algorithm>

#include "common/check.h"

namespace raftkv::lease {

Lessor::Lessor(NowFn now, LessorOptions opts) : now_(std::move(now)), opts_(opts) {}

void Lessor::queueLocked(LeaseId id, Entry* e, Clock::time_point at) {
  queue_.erase({e->queued_at, id});
  e->queued_at = at;
  queue_.insert({at, id});
}

void Lessor::unscheduleLocked(LeaseId id, const Entry& e) {
  queue_.erase({e.queued_at, id});
}

// A fresh deadline (grant, renewal, promotion).
void Lessor::startLocked(LeaseId id, Entry* e, Clock::time_point deadline) {
  e->deadline = deadline;
  e->expired = false;
  queueLocked(id, e, deadline);
}

void Lessor::Reset(const std::vector<std::pair<LeaseId, int64_t>>& leases) {
  std::lock_guard<std::mutex> l(mu_);
  leases_.clear();
  queue_.clear();
  const auto now = now_();
  for (const auto& [id, ttl] : leases) {
    Entry& e = leases_[id];
    e.ttl = ttl;
    if (primary_) startLocked(id, &e, now + std::chrono::seconds(ttl));
  }
}

void Lessor::Granted(LeaseId id, int64_t ttl) {
  std::lock_guard<std::mutex> l(mu_);
  Entry& e = leases_[id];
  e.ttl = ttl;
  if (primary_) startLocked(id, &e, now_() + std::chrono::seconds(ttl));
}

void Lessor::Revoked(LeaseId id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  unscheduleLocked(id, it->second);
  leases_.erase(it);
}

void Lessor::Promote(uint64_t term, Duration extend) {
  std::lock_guard<std::mutex> l(mu_);
  if (term <= demoted_through_ || (primary_ && term == term_)) return;
  primary_ = true;
  term_ = term;
  queue_.clear();
  const auto now = now_();
  for (auto& [id, e] : leases_) {
    e.queued_at = {};  // the queue was cleared
    startLocked(id, &e, now + extend + std::chrono::seconds(e.ttl));
  }
}

void Lessor::Demote(uint64_t term) {
  std::lock_guard<std::mutex> l(mu_);
  demoted_through_ = std::max(demoted_through_, term);
  if (primary_ && term_ > term) return;  // a later leadership is not ended by this
  primary_ = false;
  queue_.clear();
}

bool Lessor::primary() const {
  std::lock_guard<std::mutex> l(mu_);
  return primary_;
}

uint64_t Lessor::primary_term() const {
  std::lock_guard<std::mutex> l(mu_);
  return primary_ ? term_ : 0;
}

Result<int64_t> Lessor::Renew(LeaseId id) {
  std::lock_guard<std::mutex> l(mu_);
  if (!primary_) return Status::NotLeader("lease: not the primary lessor");
  auto it = leases_.find(id);
  if (it == leases_.end()) return ErrLeaseNotFound();
  const auto now = now_();
  // Expired: its revoke is under way and no renewal may bring it back.
  if (it->second.expired || it->second.deadline <= now) return ErrLeaseNotFound();
  startLocked(id, &it->second, now + std::chrono::seconds(it->second.ttl));
  return it->second.ttl;
}

Result<Duration> Lessor::Remaining(LeaseId id) const {
  std::lock_guard<std::mutex> l(mu_);
  if (!primary_) return Status::NotLeader("lease: not the primary lessor");
  auto it = leases_.find(id);
  if (it == leases_.end()) return ErrLeaseNotFound();
  const auto now = now_();
  if (it->second.expired) return Duration::zero();
  return it->second.deadline > now ? it->second.deadline - now : Duration::zero();
}

Result<int64_t> Lessor::Ttl(LeaseId id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return ErrLeaseNotFound();
  return it->second.ttl;
}

Expired Lessor::TakeExpired() {
  std::lock_guard<std::mutex> l(mu_);
  Expired out;
  if (!primary_) return out;
  out.term = term_;
  const auto now = now_();
  std::vector<LeaseId> due;
  for (auto it = queue_.begin();
       it != queue_.end() && it->first <= now && due.size() < opts_.max_expired_per_round; ++it) {
    due.push_back(it->second);
  }
  for (LeaseId id : due) {
    Entry& e = leases_.at(id);
    e.expired = true;
    // Offered again later if its revoke never applies (e.g. the proposal was dropped).
    queueLocked(id, &e, now + opts_.revoke_retry);
  }
  out.ids = std::move(due);
  return out;
}

size_t Lessor::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return leases_.size();
}

}  // namespace raftkv::lease
