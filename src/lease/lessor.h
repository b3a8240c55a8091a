// Lessor: the leader's half of leases — when each lease expires. Only the leader (the
// "primary" lessor, as etcd calls it) tracks deadlines, answers keep-alives and decides that
// a lease expired; it then proposes a revoke through the log, like any other write. Followers
// keep no deadlines at all.
//
// The rule that keeps a lease from expiring early across a leader change (etcd's Promote):
// a new leader, once it has applied every entry of earlier terms, gives every lease its full
// TTL again plus an extension (the election timeout). The old leader's last renewal of a lease
// happened before the new leader was elected (keep-alives are answered only after a quorum
// confirmed the leadership, see the server), so the new deadline is always later than any
// deadline a client was told.
//
// A revoke decided by a primary carries the term it was primary in: the state machine
// ignores an expiry revoke appended in any other term (a deposed leader's expiry decision
// forwarded to the next leader must not count).
//
// Thread-safe (one mutex): the apply thread reports grants and revokes, the raft thread
// demotes, gRPC threads renew and ask for remaining TTLs, the expiry loop takes expired leases.
// Time comes from an injectable clock, so tests drive it by hand.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "common/status.h"
#include "lease/lease_table.h"

namespace raftkv::lease {

using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;
using NowFn = std::function<Clock::time_point()>;

struct LessorOptions {
  // An expired lease whose revoke did not apply within this time is offered again (etcd's
  // expiredLeaseRetryInterval: its request timeout).
  Duration revoke_retry = std::chrono::seconds(3);
  // At most this many expired leases per TakeExpired call (etcd revokes at most 500 per
  // 500 ms round: leaseRevokeRate / 2).
  size_t max_expired_per_round = 500;
};

struct Expired {
  std::vector<LeaseId> ids;
  uint64_t term = 0;  // the term this lessor was primary in when it decided
};

class Lessor {
 public:
  explicit Lessor(
      NowFn now = [] { return Clock::now(); }, LessorOptions opts = {});

  // --- the replicated table, mirrored (every member, in log order) --------------------------
  // Replaces every known lease (restart, snapshot install). A primary restarts every deadline
  // from now with its full TTL (as if promoted again).
  void Reset(const std::vector<std::pair<LeaseId, int64_t>>& leases);
  // A grant applied: a primary starts its deadline now (+ TTL).
  void Granted(LeaseId id, int64_t ttl);
  void Revoked(LeaseId id);

  // --- leadership -----------------------------------------------------------------------
  // This member leads `term` and has applied every entry of earlier terms: every lease gets
  // the deadline now + extend + TTL (etcd's Promote(electionTimeout)).
  void Promote(uint64_t term, Duration extend);
  // No longer the leader of `term` (or of any earlier term): forget every deadline (etcd's
  // Demote). A later Promote for `term` or an earlier one is ignored: the apply thread may
  // promote for a term the raft thread has already seen end. Idempotent.
  void Demote(uint64_t term);
  bool primary() const;
  uint64_t primary_term() const;

  // --- the primary's work ---------------------------------------------------------------
  // A keep-alive: the deadline becomes now + TTL; returns the TTL. NotLeader if not primary;
  // NotFound for an unknown lease and for one whose deadline has passed (its revoke is on its
  // way: etcd answers such a keep-alive once the revoke applied, with "not found").
  Result<int64_t> Renew(LeaseId id);
  // Time left before the deadline (never negative). NotLeader / NotFound as Renew.
  Result<Duration> Remaining(LeaseId id) const;
  // Granted TTL of a known lease, or NotFound (any member).
  Result<int64_t> Ttl(LeaseId id) const;
  // Leases whose deadline has passed, at most max_expired_per_round, oldest deadline first;
  // each is offered again revoke_retry later unless it is revoked meanwhile. Empty if not
  // primary.
  Expired TakeExpired();

  size_t size() const;

 private:
  struct Entry {
    int64_t ttl = 0;
    // Meaningful only while primary. Once the deadline passed (`expired`), the lease is never
    // renewed again by this primary; its queue position is then when to offer it again.
    Clock::time_point deadline{};
    Clock::time_point queued_at{};
    bool expired = false;
  };
  void queueLocked(LeaseId id, Entry* e, Clock::time_point at);
  void unscheduleLocked(LeaseId id, const Entry& e);
  void startLocked(LeaseId id, Entry* e, Clock::time_point deadline);

  NowFn now_;
  LessorOptions opts_;
  mutable std::mutex mu_;
  std::map<LeaseId, Entry> leases_;
  // Deadlines of the primary, earliest first.
  std::set<std::pair<Clock::time_point, LeaseId>> queue_;
  bool primary_ = false;
  uint64_t term_ = 0;
  uint64_t demoted_through_ = 0;  // leadership of terms up to this one has ended
};

}  // namespace raftkv::lease
