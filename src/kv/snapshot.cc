#include "kv/snapshot.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "kv/codec.h"
#include "kv/errors.h"
#include "kv/store.h"

namespace raftkv::kv {

SnapshotView::SnapshotView(Store* store, int64_t rev, int64_t compact_rev, std::string sessions,
                           std::string leases)
    : store_(store),
      rev_(rev),
      compact_rev_(compact_rev),
      sessions_(std::move(sessions)),
      leases_(std::move(leases)) {}

SnapshotView::~SnapshotView() {
  store_->unpin(compact_rev_);
}

std::unique_ptr<SnapshotView> Store::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  // The pin keeps physical compaction at or below compact_rev_, so every version visible in
  // [compact_rev_, current_rev_] stays stored while the view lives.
  pins_.insert(compact_rev_);
  std::string sessions, leases;
  sessions_.EncodeTo(&sessions);
  leases_.EncodeTo(&leases);
  return std::unique_ptr<SnapshotView>(
      new SnapshotView(this, current_rev_, compact_rev_, std::move(sessions), std::move(leases)));
}

namespace {
void encodeKey(const std::string& key, const std::vector<std::shared_ptr<const Record>>& recs,
               std::string* out) {
  std::string rec;
  PutBytes(&rec, key);
  PutU32(&rec, static_cast<uint32_t>(recs.size()));
  for (const auto& r : recs) {
    PutI64(&rec, r->rev.main);
    PutI64(&rec, r->rev.sub);
    PutI64(&rec, r->create_revision);
    PutI64(&rec, r->version);
    PutI64(&rec, r->lease);
    PutU8(&rec, r->tombstone ? 1 : 0);
    PutBytes(&rec, r->value);
  }
  PutU8(out, 1);
  PutBytes(out, rec);
}
}  // namespace

Status SnapshotView::WriteTo(const std::function<Status(std::string_view)>& sink, size_t batch_keys,
                             size_t max_chunk_bytes) const {
  uint32_t crc = 0;
  max_chunk_bytes = std::max<size_t>(max_chunk_bytes, 1);
  // Passes `chunk` on in slices of at most max_chunk_bytes (the loader takes any boundaries).
  auto emit = [&](std::string_view chunk) -> Status {
    crc = Crc32Extend(crc, chunk.data(), chunk.size());
    for (size_t off = 0; off < chunk.size(); off += max_chunk_bytes) {
      RAFTKV_RETURN_IF_ERROR(sink(chunk.substr(off, max_chunk_bytes)));
    }
    return Status::OK();
  };
  std::string buf(kSnapshotMagic, 4);
  PutU32(&buf, kSnapshotFormatVersion);
  PutI64(&buf, rev_);
  PutI64(&buf, compact_rev_);
  PutBytes(&buf, sessions_);
  PutBytes(&buf, leases_);
  RAFTKV_RETURN_IF_ERROR(emit(buf));

  std::string next_key;  // resume point: first key not yet written
  bool done = false;
  std::vector<Revision> revs;
  std::vector<std::pair<std::string, std::vector<std::shared_ptr<const Record>>>> batch;
  while (!done) {
    batch.clear();
    {
      // Collect one batch under the lock: only shared pointers are copied, not values.
      std::lock_guard<std::mutex> lock(store_->mu_);
      auto it = store_->index_.lower_bound(next_key);
      for (; it != store_->index_.end() && batch.size() < batch_keys; ++it) {
        revs.clear();
        it->second.VisibleRevisions(compact_rev_, rev_, &revs);
        if (revs.empty()) continue;
        std::vector<std::shared_ptr<const Record>> recs;
        recs.reserve(revs.size());
        for (const Revision& r : revs) recs.push_back(store_->revs_.at(r));
        batch.emplace_back(it->first, std::move(recs));
      }
      if (it == store_->index_.end()) {
        done = true;
      } else {
        next_key = it->first;
      }
    }
    buf.clear();
    for (const auto& [key, recs] : batch) {
      encodeKey(key, recs, &buf);
      if (buf.size() >= max_chunk_bytes) {
        RAFTKV_RETURN_IF_ERROR(emit(buf));
        buf.clear();
      }
    }
    if (done) PutU8(&buf, 0);
    if (!buf.empty()) RAFTKV_RETURN_IF_ERROR(emit(buf));
  }
  buf.clear();
  PutU32(&buf, crc);
  return sink(buf);
}

std::string SnapshotView::Serialize() const {
  std::string out;
  Status st = WriteTo([&](std::string_view chunk) {
    out.append(chunk);
    return Status::OK();
  });
  RAFTKV_CHECK(st.ok(), "writing to a string cannot fail");
  return out;
}

Result<std::unique_ptr<Store>> Store::Restore(std::string_view data, int64_t max_txn_ops) {
  SnapshotLoader loader(max_txn_ops);
  RAFTKV_RETURN_IF_ERROR(loader.Add(data));
  return loader.Finish();
}

// --- SnapshotLoader ------------------------------------------------------------------------

SnapshotLoader::SnapshotLoader(int64_t max_txn_ops)
    : store_(std::make_unique<Store>(max_txn_ops)) {}

SnapshotLoader::~SnapshotLoader() = default;

Status SnapshotLoader::Add(std::string_view chunk) {
  if (!error_.ok()) return error_;
  pending_.append(chunk);
  error_ = parse();
  // Drop parsed bytes once they dominate the buffer, keeping appends amortized O(1).
  if (pos_ > 0 && pos_ >= pending_.size() / 2) {
    pending_.erase(0, pos_);
    pos_ = 0;
  }
  return error_;
}

void SnapshotLoader::consume(size_t n) {
  crc_ = Crc32Extend(crc_, pending_.data() + pos_, n);
  pos_ += n;
}

Status SnapshotLoader::parse() {
  for (;;) {
    bool progressed = false;
    switch (stage_) {
      case Stage::kHeader: RAFTKV_RETURN_IF_ERROR(parseHeader(&progressed)); break;
      case Stage::kKeys: RAFTKV_RETURN_IF_ERROR(parseKey(&progressed)); break;
      case Stage::kTrailer:
        if (avail().size() > 4) return ErrBadSnapshot("trailing bytes");
        return Status::OK();
      case Stage::kDone: return ErrBadSnapshot("data after the end");
    }
    if (!progressed) return Status::OK();
  }
}

Status SnapshotLoader::parseHeader(bool* progressed) {
  constexpr size_t kFixed = 4 + 4 + 8 + 8 + 4;
  std::string_view in = avail();
  if (in.size() < kFixed) return Status::OK();
  if (std::memcmp(in.data(), kSnapshotMagic, 4) != 0) return ErrBadSnapshot("bad magic");
  Decoder d(in.substr(4));
  uint32_t version, sessions_len;
  int64_t rev, compact_rev;
  d.GetU32(&version);
  d.GetI64(&rev);
  d.GetI64(&compact_rev);
  d.GetU32(&sessions_len);
  if (version != 1 && version != kSnapshotFormatVersion) {
    return ErrBadSnapshot("unknown format version");
  }
  if (rev < 1 || compact_rev < 0 || compact_rev > rev) return ErrBadSnapshot("bad revisions");
  size_t need = kFixed + size_t{sessions_len};
  if (in.size() < need) return Status::OK();  // wait for the session table
  uint32_t leases_len = 0;
  if (version >= 2) {
    if (in.size() < need + 4) return Status::OK();
    leases_len = DecodeU32(in.data() + need);
    need += 4;
    if (in.size() < need + leases_len) return Status::OK();  // wait for the lease table
  }
  Decoder sd(in.substr(kFixed, sessions_len));
  auto sessions = SessionTable::DecodeFrom(&sd);
  if (!sessions.ok()) return sessions.status();
  if (!sd.empty()) return ErrBadSnapshot("bad session table");
  if (version >= 2) {
    Decoder ld(in.substr(need, leases_len));
    auto leases = lease::LeaseTable::DecodeFrom(&ld);
    if (!leases.ok() || !ld.empty()) return ErrBadSnapshot("bad lease table");
    store_->leases_ = std::move(leases).value();
    need += leases_len;
  }
  store_->sessions_ = std::move(sessions).value();
  store_->current_rev_ = rev;
  store_->compact_rev_ = compact_rev;
  store_->physical_compact_rev_ = compact_rev;
  consume(need);
  stage_ = Stage::kKeys;
  *progressed = true;
  return Status::OK();
}

std::string SnapshotLoader::EncodeHeaderForTest(uint32_t version, int64_t rev,
                                                int64_t compact_rev) {
  std::string buf(kSnapshotMagic, 4);
  PutU32(&buf, version);
  PutI64(&buf, rev);
  PutI64(&buf, compact_rev);
  std::string sessions;
  SessionTable().EncodeTo(&sessions);
  PutBytes(&buf, sessions);
  if (version >= 2) {
    std::string leases;
    lease::LeaseTable().EncodeTo(&leases);
    PutBytes(&buf, leases);
  }
  return buf;
}

Status SnapshotLoader::parseKey(bool* progressed) {
  std::string_view in = avail();
  if (in.empty()) return Status::OK();
  uint8_t tag = static_cast<uint8_t>(in[0]);
  if (tag == 0) {
    consume(1);
    stage_ = Stage::kTrailer;
    *progressed = true;
    return Status::OK();
  }
  if (tag != 1) return ErrBadSnapshot("bad record tag");
  if (in.size() < 5) return Status::OK();
  Decoder d(in.substr(1));
  uint32_t len;
  d.GetU32(&len);
  if (in.size() < 5 + static_cast<size_t>(len)) return Status::OK();
  RAFTKV_RETURN_IF_ERROR(loadKey(in.substr(5, len)));
  consume(5 + static_cast<size_t>(len));
  *progressed = true;
  return Status::OK();
}

Status SnapshotLoader::loadKey(std::string_view record) {
  Decoder in(record);
  std::string key;
  uint32_t n;
  if (!in.GetBytes(&key) || !in.GetU32(&n)) return ErrBadSnapshot("truncated key");
  bool first = store_->index_.empty();
  if (key.empty() || (!first && key <= prev_key_) || n == 0) return ErrBadSnapshot("bad key");
  KeyIndex& ki = store_->index_[key];
  for (uint32_t i = 0; i < n; ++i) {
    auto r = std::make_shared<Record>();
    r->key = key;
    uint8_t tomb;
    if (!in.GetI64(&r->rev.main) || !in.GetI64(&r->rev.sub) || !in.GetI64(&r->create_revision) ||
        !in.GetI64(&r->version) || !in.GetI64(&r->lease) || !in.GetU8(&tomb) ||
        !in.GetBytes(&r->value)) {
      return ErrBadSnapshot("truncated version");
    }
    r->tombstone = tomb != 0;
    // Validate before touching the index: its checks abort on broken invariants.
    bool increasing = ki.empty() || ki.generations().back().revs.back() < r->rev;
    if (r->rev.main < 1 || r->rev.main > store_->current_rev_ || !increasing ||
        (r->tombstone && !ki.live())) {
      return ErrBadSnapshot("bad version history");
    }
    Revision at = r->rev;
    if (store_->revs_.count(at) > 0) return ErrBadSnapshot("duplicate revision");
    store_->storeRecordLocked(std::move(r));
    if (store_->revs_.at(at)->tombstone) {
      ki.Tombstone(at);
    } else {
      ki.Put(at);
    }
  }
  if (!in.empty()) return ErrBadSnapshot("bad key record length");
  // The key is attached to the lease of its latest version, if that one is live.
  const Record& last = *store_->revs_.at(ki.generations().back().revs.back());
  if (!last.tombstone) store_->leases_.Move(key, lease::kNoLease, last.lease);
  prev_key_ = std::move(key);
  return Status::OK();
}

Result<std::unique_ptr<Store>> SnapshotLoader::Finish() {
  if (!error_.ok()) return error_;
  if (stage_ != Stage::kTrailer || avail().size() != 4) return ErrBadSnapshot("truncated");
  Decoder d(avail());
  uint32_t want;
  d.GetU32(&want);
  if (want != crc_) return ErrBadSnapshot("checksum mismatch");
  stage_ = Stage::kDone;
  return std::move(store_);
}

}  // namespace raftkv::kv
