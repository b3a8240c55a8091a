// Store: construction, the write paths (Put, DeleteRange) and hashes.
// Range is in range.cc, Txn in txn.cc, compaction in compaction.cc, snapshots in snapshot.cc.
#include "kv/store.h"

#include <limits>

#include "common/check.h"
#include "kv/codec.h"
#include "kv/errors.h"
#include "kv/snapshot.h"

namespace raftkv::kv {

Store::Store(int64_t max_txn_ops, int64_t session_timeout)
    : max_txn_ops_(max_txn_ops), sessions_(session_timeout) {}

Store::~Store() {
  std::lock_guard<std::mutex> lock(mu_);
  RAFTKV_CHECK(pins_.empty(), "a snapshot view must not outlive its store");
}

int64_t Store::revision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_rev_;
}

int64_t Store::compact_revision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return compact_rev_;
}

size_t Store::version_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return revs_.size();
}

void Store::CheckInvariants() const {
  std::lock_guard<std::mutex> lock(mu_);
  RAFTKV_CHECK(physical_compact_rev_ <= compact_rev_ && compact_rev_ <= current_rev_,
               "physical compaction <= logical compaction <= current revision");
  size_t indexed = 0;
  for (const auto& [key, ki] : index_) {
    RAFTKV_CHECK(!ki.empty(), "a key with no history is removed from the index");
    const auto& gens = ki.generations();
    for (size_t g = 0; g < gens.size(); ++g) {
      RAFTKV_CHECK(!gens[g].revs.empty(), "generations are never empty");
      RAFTKV_CHECK(g + 1 == gens.size() || gens[g].closed, "only the last generation is open");
      for (size_t i = 0; i < gens[g].revs.size(); ++i) {
        const Record& r = recordAt(gens[g].revs[i]);
        bool last = i + 1 == gens[g].revs.size();
        RAFTKV_CHECK(r.key == key, "a record belongs to the key that indexes it");
        RAFTKV_CHECK(r.tombstone == (gens[g].closed && last),
                     "a tombstone is exactly the last change of a closed generation");
        RAFTKV_CHECK(r.rev.main <= current_rev_, "no record from the future");
        RAFTKV_CHECK(r.tombstone || (r.version >= 1 && r.create_revision <= r.rev.main),
                     "a live version has version >= 1 and was created no later");
        ++indexed;
      }
    }
  }
  RAFTKV_CHECK(indexed == revs_.size(), "every stored revision is indexed exactly once");
}

const Record& Store::recordAt(Revision rev) const {
  auto it = revs_.find(rev);
  RAFTKV_CHECK(it != revs_.end(), "the key index only points at stored revisions");
  return *it->second;
}

KeyValue Store::toKeyValue(const Record& r) const {
  KeyValue kv;
  kv.key = r.key;
  kv.create_revision = r.create_revision;
  kv.mod_revision = r.rev.main;
  kv.version = r.version;
  kv.value = r.value;
  kv.lease = r.lease;
  return kv;
}

// --- Put -----------------------------------------------------------------------------------

Status Store::checkPutShape(const PutRequest& req) {
  if (req.key.empty()) return ErrEmptyKey();
  if (req.ignore_value && !req.value.empty()) return ErrValueProvided();
  if (req.ignore_lease && req.lease != 0) return ErrLeaseProvided();
  return Status::OK();
}

Status Store::checkPutLocked(const PutRequest& req, int64_t read_rev) const {
  RAFTKV_RETURN_IF_ERROR(checkPutShape(req));
  if (req.ignore_value || req.ignore_lease) {
    auto it = index_.find(req.key);
    if (it == index_.end() || !it->second.Get(read_rev)) return ErrKeyNotFound();
  }
  return checkLeaseLocked(req.lease);
}

Status Store::checkLeaseLocked(int64_t lease) const {
  if (lease != lease::kNoLease && !leases_.Contains(lease)) return lease::ErrLeaseNotFound();
  return Status::OK();
}

void Store::storeRecordLocked(std::shared_ptr<Record> rec) {
  record_bytes_ +=
      static_cast<int64_t>(rec->key.size() + rec->value.size()) + kVersionOverheadBytes;
  Revision at = rec->rev;
  revs_.emplace(at, std::move(rec));
}

PutResponse Store::putLocked(const PutRequest& req, WriteCtx* ctx) {
  PutResponse resp;
  KeyIndex& ki = index_[req.key];
  const Record* prev = nullptr;
  if (auto r = ki.Get(ctx->readRev())) prev = &recordAt(*r);

  auto rec = std::make_shared<Record>();
  rec->key = req.key;
  rec->rev = Revision{ctx->begin_rev + 1, ctx->changes++};
  rec->value = (req.ignore_value && prev) ? prev->value : req.value;
  rec->lease = (req.ignore_lease && prev) ? prev->lease : req.lease;
  // A put on a deleted or new key starts a generation: version 1, a new create revision.
  rec->create_revision = prev ? prev->create_revision : rec->rev.main;
  rec->version = prev ? prev->version + 1 : 1;
  if (prev && req.prev_kv) {
    resp.has_prev_kv = true;
    resp.prev_kv = toKeyValue(*prev);
  }
  // The key follows the lease of its latest version (a put without a lease detaches it).
  leases_.Move(req.key, prev ? prev->lease : lease::kNoLease, rec->lease);
  // etcd: a put's response carries the revision it created, inside a txn too.
  resp.header.revision = rec->rev.main;
  ki.Put(rec->rev);
  storeRecordLocked(std::move(rec));
  return resp;
}

void Store::endWriteLocked(const WriteCtx& ctx) {
  // One revision per write transaction, and none for a transaction that changed nothing.
  if (ctx.changes > 0) current_rev_ = ctx.begin_rev + 1;
}

Result<PutResponse> Store::Put(const PutRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  // etcd checks the request's shape at its API edge, then the lease of a plain put before
  // the key that ignore_value/ignore_lease need.
  RAFTKV_RETURN_IF_ERROR(checkPutShape(req));
  RAFTKV_RETURN_IF_ERROR(checkLeaseLocked(req.lease));
  RAFTKV_RETURN_IF_ERROR(checkPutLocked(req, current_rev_));
  WriteCtx ctx{current_rev_, 0};
  PutResponse resp = putLocked(req, &ctx);
  endWriteLocked(ctx);
  resp.header.revision = current_rev_;
  return resp;
}

// --- DeleteRange ---------------------------------------------------------------------------

DeleteRangeResponse Store::deleteRangeLocked(const DeleteRangeRequest& req, WriteCtx* ctx) {
  DeleteRangeResponse resp;
  std::vector<const Record*> live;
  forEachLive(req.key, req.range_end, ctx->readRev(), [&](const std::string&, Revision rev) {
    live.push_back(&recordAt(rev));
    return true;
  });
  for (const Record* prev : live) {
    if (req.prev_kv) resp.prev_kvs.push_back(toKeyValue(*prev));
    auto tomb = std::make_shared<Record>();
    tomb->key = prev->key;
    tomb->rev = Revision{ctx->begin_rev + 1, ctx->changes++};
    tomb->tombstone = true;
    leases_.Move(prev->key, prev->lease, lease::kNoLease);
    index_.at(prev->key).Tombstone(tomb->rev);
    storeRecordLocked(std::move(tomb));
    ++resp.deleted;
  }
  // etcd (storeTxnWrite.DeleteRange): the revision after the txn if it changed anything so
  // far, else the one it read.
  resp.header.revision = ctx->changes > 0 ? ctx->begin_rev + 1 : ctx->begin_rev;
  return resp;
}

Result<DeleteRangeResponse> Store::DeleteRange(const DeleteRangeRequest& req) {
  if (req.key.empty()) return ErrEmptyKey();
  std::lock_guard<std::mutex> lock(mu_);
  WriteCtx ctx{current_rev_, 0};
  DeleteRangeResponse resp = deleteRangeLocked(req, &ctx);
  endWriteLocked(ctx);
  resp.header.revision = current_rev_;
  return resp;
}

// --- Hashes --------------------------------------------------------------------------------

uint32_t Store::hashLocked(int64_t compacted, int64_t at) const {
  uint32_t crc = 0;
  std::vector<Revision> revs;
  std::string buf;
  for (const auto& [key, ki] : index_) {
    revs.clear();
    ki.VisibleRevisions(compacted, at, &revs);
    for (const Revision& rev : revs) {
      const Record& r = recordAt(rev);
      buf.clear();
      PutBytes(&buf, r.key);
      PutI64(&buf, r.rev.main);
      PutI64(&buf, r.rev.sub);
      PutI64(&buf, r.create_revision);
      PutI64(&buf, r.version);
      PutI64(&buf, r.lease);
      PutU8(&buf, r.tombstone ? 1 : 0);
      PutBytes(&buf, r.value);
      crc = Crc32Extend(crc, buf.data(), buf.size());
    }
  }
  return crc;
}

uint32_t Store::Hash() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string meta;
  PutI64(&meta, current_rev_);
  PutI64(&meta, compact_rev_);
  sessions_.EncodeTo(&meta);
  leases_.EncodeTo(&meta);
  uint32_t crc = hashLocked(compact_rev_, current_rev_);
  return Crc32Extend(crc, meta.data(), meta.size());
}

Result<HashKVResponse> Store::HashKV(int64_t revision) const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t at = revision > 0 ? revision : current_rev_;
  RAFTKV_RETURN_IF_ERROR(checkRangeRevision(at, current_rev_));
  HashKVResponse resp;
  resp.header.revision = current_rev_;
  resp.compact_revision = compact_rev_;
  resp.hash = hashLocked(compact_rev_, at);
  return resp;
}

// --- CRC32 (IEEE), table-driven ------------------------------------------------------------

namespace {
struct Crc32Table {
  uint32_t t[256];
  Crc32Table() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
  }
};
}  // namespace

uint32_t Crc32Extend(uint32_t crc, const void* data, size_t n) {
  static const Crc32Table table;
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table.t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

}  // namespace raftkv::kv
