// Store: the MVCC key-value state machine with etcd v3 semantics.
//
// Data model (see docs/kv.md):
//  - The store revision starts at 1 and is bumped once per write transaction that changes
//    something (a Put, a DeleteRange that deleted keys, a Txn with at least one change).
//    Changes inside one transaction share the main revision and get increasing sub-revisions.
//  - Each key has create_revision, mod_revision and version (puts since creation). A delete
//    writes a tombstone; the key's next put starts a new generation with version 1.
//  - `index_` (key -> KeyIndex, ordered) says which revision holds the version of a key seen
//    at a store revision; `revs_` (revision -> immutable Record) holds the versions. Records
//    are shared, immutable, so a snapshot can read them while newer revisions are written.
//  - Reads at revisions below the compaction revision fail; compaction drops every version
//    not needed for reads at or above it, except what a live snapshot still pins.
//
// Thread safety: writes (Put, DeleteRange, Txn, Compact) and Snapshot() come from one apply
// thread. Every public method takes the store's mutex, so read-only calls (Range, Hash,
// HashKV, revision...) may come from any thread meanwhile (the server serves serializable
// reads on gRPC threads), as may SnapshotView::WriteTo (and releasing the view).
// sessions() is the apply thread's alone.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kv/events.h"
#include "kv/key_index.h"
#include "kv/record.h"
#include "kv/sessions.h"
#include "kv/snapshot.h"
#include "kv/types.h"
#include "lease/lease_table.h"

namespace raftkv::kv {

class Store {
 public:
  // `max_txn_ops`: etcd's --max-txn-ops (128 by default); 0 means unlimited.
  // `session_timeout`: client sessions idle longer than this (log time units) expire; 0 never.
  explicit Store(int64_t max_txn_ops = 128, int64_t session_timeout = 0);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<RangeResponse> Range(const RangeRequest& req);
  Result<PutResponse> Put(const PutRequest& req);
  Result<DeleteRangeResponse> DeleteRange(const DeleteRangeRequest& req);
  Result<TxnResponse> Txn(const TxnRequest& req);
  Result<CompactionResponse> Compact(const CompactionRequest& req);

  int64_t revision() const;
  int64_t compact_revision() const;
  // Number of stored versions (tombstones included): what compaction shrinks.
  size_t version_count() const;

  // The watch history: the events (puts and deletes, each with the key's previous version)
  // of revisions [from, to] whose key is in `keys`, in revision order. Reads complete
  // revisions only, and stops after the revision in which the budget ran out (stored changes
  // looked at, matching or not; bytes of keys and values returned); EventRead::through says
  // how far it got. Fails with ErrCompacted if from < the compaction revision, ErrFutureRev
  // if to > the current revision. See history.cc for what a revision at the compaction
  // revision holds.
  Result<EventRead> Events(int64_t from, int64_t to, const KeyRange& keys,
                           const EventBudget& budget = EventBudget()) const;

  // Aborts (RAFTKV_CHECK) if the index and the revision store disagree. Tests run it after
  // every step; it walks the whole store.
  void CheckInvariants() const;

  // etcd's maintenance Hash: hash of the whole store at the current revision.
  uint32_t Hash() const;
  // etcd's HashKV: hash of every version visible between the compaction revision and
  // `revision` (0 = current). Equal on members that applied the same log.
  Result<HashKVResponse> HashKV(int64_t revision) const;

  // A consistent read view of the whole store at the current revision. Create it on the apply
  // thread; serialize it on any thread while writes continue. While the view lives,
  // compaction keeps the versions it needs. It must not outlive the store. See snapshot.h.
  std::unique_ptr<SnapshotView> Snapshot();

  // Rebuilds a store from bytes written by SnapshotView::WriteTo (SnapshotLoader takes them
  // chunk by chunk).
  static Result<std::unique_ptr<Store>> Restore(std::string_view data, int64_t max_txn_ops = 128);

  // The exactly-once client-session table; part of snapshots. Only the apply thread uses it.
  SessionTable& sessions() { return sessions_; }

  // --- Leases (the replicated lease table, lease/lease_table.h) ------------------------------
  // A put or txn put naming a lease that is not in the table fails with "requested lease not
  // found"; a key is attached to the lease of its latest version. Grant/Revoke are writes
  // (apply thread); the lookups may come from any thread.
  Status LeaseGrant(lease::LeaseId id, int64_t ttl);
  // Deletes every key attached to the lease in one revision (none if it has no keys, as
  // etcd), then forgets the lease. The header carries the revision after it.
  Result<ResponseHeader> LeaseRevoke(lease::LeaseId id);
  // The lease's granted TTL and attached keys (ordered), or NotFound.
  Result<lease::Lease> LeaseLookup(lease::LeaseId id) const;
  std::vector<lease::LeaseId> LeaseIds() const;
  // (id, granted TTL) of every lease: what the leader's lessor mirrors.
  std::vector<std::pair<lease::LeaseId, int64_t>> LeaseTtls() const;

  // The store's size in bytes as the space quota measures it (--quota-backend-bytes): every
  // stored version costs its key and value plus kVersionOverheadBytes, every lease
  // kLeaseOverheadBytes. Compaction shrinks it at once (there is no file to defragment).
  int64_t SizeBytes() const;
  static constexpr int64_t kVersionOverheadBytes = 64;
  static constexpr int64_t kLeaseOverheadBytes = 64;

 private:
  friend class SnapshotView;
  friend class SnapshotLoader;
  friend class TxnExecutor;

  // State of the write transaction being applied (one per Put/DeleteRange/Txn).
  struct WriteCtx {
    int64_t begin_rev = 0;  // store revision before the transaction
    int64_t changes = 0;    // changes so far = next sub-revision
    // Reads inside a write transaction see its own changes.
    int64_t readRev() const { return changes > 0 ? begin_rev + 1 : begin_rev; }
  };

  // *Locked functions require mu_.
  Result<RangeResponse> rangeLocked(const RangeRequest& req, int64_t cur_rev) const;
  Status checkRangeRevision(int64_t rev, int64_t cur_rev) const;
  static Status checkPutShape(const PutRequest& req);
  Status checkPutLocked(const PutRequest& req, int64_t read_rev) const;
  PutResponse putLocked(const PutRequest& req, WriteCtx* ctx);
  DeleteRangeResponse deleteRangeLocked(const DeleteRangeRequest& req, WriteCtx* ctx);
  void endWriteLocked(const WriteCtx& ctx);

  // Visits the keys live at revision `at` in [key, end), in key order, with the revision of
  // their visible version, until `fn` returns false. end == "" means only `key`; end == "\0"
  // means no upper bound. Records are not looked up: counting needs only the index.
  void forEachLive(const std::string& key, const std::string& end, int64_t at,
                   const std::function<bool(const std::string&, Revision)>& fn) const;
  KeyValue toKeyValue(const Record& r) const;
  const Record& recordAt(Revision rev) const;
  // The version of r's key just before r, for events (history.cc); null if none or compacted.
  std::shared_ptr<const Record> previousLocked(const Record& r) const;

  void maybeCompactPhysicallyLocked();
  void storeRecordLocked(std::shared_ptr<Record> rec);
  Status checkLeaseLocked(int64_t lease) const;
  void unpin(int64_t rev);
  uint32_t hashLocked(int64_t compacted, int64_t at) const;

  mutable std::mutex mu_;
  std::map<std::string, KeyIndex> index_;
  std::map<Revision, std::shared_ptr<const Record>> revs_;
  int64_t current_rev_ = 1;           // etcd starts at revision 1 with an empty store
  int64_t compact_rev_ = 0;           // logical: reads below it fail
  int64_t physical_compact_rev_ = 0;  // history actually dropped up to here
  std::multiset<int64_t> pins_;       // compaction revisions live snapshots rely on
  int64_t max_txn_ops_;
  SessionTable sessions_;
  lease::LeaseTable leases_;
  int64_t record_bytes_ = 0;  // key + value + overhead of every stored version
};

}  // namespace raftkv::kv
