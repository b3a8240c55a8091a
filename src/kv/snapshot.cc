#include "kv/snapshot.h"

#include <cstring>

#include "common/check.h"
#include "kv/codec.h"
#include "kv/errors.h"
#include "kv/store.h"

namespace raftkv::kv {

SnapshotView::SnapshotView(Store* store, int64_t rev, int64_t compact_rev, std::string sessions)
    : store_(store), rev_(rev), compact_rev_(compact_rev), sessions_(std::move(sessions)) {}

SnapshotView::~SnapshotView() {
  store_->unpin(compact_rev_);
}

std::unique_ptr<SnapshotView> Store::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  // The pin keeps physical compaction at or below compact_rev_, so every version visible in
  // [compact_rev_, current_rev_] stays stored while the view lives.
  pins_.insert(compact_rev_);
  std::string sessions;
  sessions_.EncodeTo(&sessions);
  return std::unique_ptr<SnapshotView>(
      new SnapshotView(this, current_rev_, compact_rev_, std::move(sessions)));
}

namespace {
void encodeKey(const std::string& key, const std::vector<std::shared_ptr<const Record>>& recs,
               std::string* out) {
  PutU8(out, 1);
  PutBytes(out, key);
  PutU32(out, static_cast<uint32_t>(recs.size()));
  for (const auto& r : recs) {
    PutI64(out, r->rev.main);
    PutI64(out, r->rev.sub);
    PutI64(out, r->create_revision);
    PutI64(out, r->version);
    PutI64(out, r->lease);
    PutU8(out, r->tombstone ? 1 : 0);
    PutBytes(out, r->value);
  }
}
}  // namespace

Status SnapshotView::WriteTo(const std::function<Status(std::string_view)>& sink,
                             size_t batch_keys) const {
  uint32_t crc = 0;
  auto emit = [&](const std::string& chunk) {
    crc = Crc32Extend(crc, chunk.data(), chunk.size());
    return sink(chunk);
  };
  std::string buf(kSnapshotMagic, 4);
  PutU32(&buf, kSnapshotFormatVersion);
  PutI64(&buf, rev_);
  PutI64(&buf, compact_rev_);
  buf.append(sessions_);
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
    for (const auto& [key, recs] : batch) encodeKey(key, recs, &buf);
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
  if (data.size() < 12) return ErrBadSnapshot("too short");
  Decoder crc_dec(data.substr(data.size() - 4));
  uint32_t want;
  crc_dec.GetU32(&want);
  data.remove_suffix(4);
  if (Crc32(data) != want) return ErrBadSnapshot("checksum mismatch");
  if (std::memcmp(data.data(), kSnapshotMagic, 4) != 0) return ErrBadSnapshot("bad magic");
  Decoder in(data.substr(4));
  uint32_t version;
  int64_t rev, compact_rev;
  if (!in.GetU32(&version) || !in.GetI64(&rev) || !in.GetI64(&compact_rev)) {
    return ErrBadSnapshot("truncated header");
  }
  if (version != kSnapshotFormatVersion) return ErrBadSnapshot("unknown format version");
  if (rev < 1 || compact_rev < 0 || compact_rev > rev) return ErrBadSnapshot("bad revisions");
  auto sessions = SessionTable::DecodeFrom(&in);
  if (!sessions.ok()) return sessions.status();

  auto store = std::make_unique<Store>(max_txn_ops);
  store->sessions_ = std::move(sessions).value();
  store->current_rev_ = rev;
  store->compact_rev_ = compact_rev;
  store->physical_compact_rev_ = compact_rev;
  std::string prev_key;
  bool first = true;
  for (;;) {
    uint8_t tag;
    if (!in.GetU8(&tag)) return ErrBadSnapshot("truncated key list");
    if (tag == 0) break;
    if (tag != 1) return ErrBadSnapshot("bad record tag");
    std::string key;
    uint32_t n;
    if (!in.GetBytes(&key) || !in.GetU32(&n)) return ErrBadSnapshot("truncated key");
    if (key.empty() || (!first && key <= prev_key) || n == 0) return ErrBadSnapshot("bad key");
    first = false;
    KeyIndex& ki = store->index_[key];
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
      if (r->rev.main < 1 || r->rev.main > rev || !increasing || (r->tombstone && !ki.live())) {
        return ErrBadSnapshot("bad version history");
      }
      if (r->tombstone) {
        ki.Tombstone(r->rev);
      } else {
        ki.Put(r->rev);
      }
      Revision at = r->rev;
      if (!store->revs_.emplace(at, std::move(r)).second) {
        return ErrBadSnapshot("duplicate revision");
      }
    }
    prev_key = std::move(key);
  }
  if (!in.empty()) return ErrBadSnapshot("trailing bytes");
  return store;
}

}  // namespace raftkv::kv
