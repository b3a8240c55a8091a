// Snapshots on the server: the apply thread pins a store view every snapshot_count applied
// entries or snapshot_bytes of log (maybeSnapshot), the snapshot thread serializes it into a
// snapshot file in chunks while writes continue (snapshotLoop, writeSnapshotFile), and the
// raft thread saves it and compacts the log (saveSnapshotOnRaft). A snapshot received from
// the leader arrives as a file (NewSnapshotFile) and is loaded on the apply thread in chunks
// (installSnapshot). The image is never held whole in memory.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/check.h"
#include "server/server_impl.h"
#include "server/snapshot_data.h"
#include "storage/snapshot_file.h"

namespace raftkv::server {
namespace {

// Keys per batch the snapshot thread reads from the pinned view under the store lock; small
// so that one batch stays far below a megabyte unless its values are huge.
constexpr size_t kSnapshotBatchKeys = 16;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

// Rebuilds the store from the image in chunks: from the snapshot file when the data is a
// descriptor (always, with DiskStorage on the real file system), else from the inline data.
// The new store replaces the old one only once it is complete and verified, so a damaged or
// cut image is never half-applied.
Status EtcdServer::Impl::loadSnapshotImage(const raft::Snapshot& snap, SnapshotParts* parts,
                                           std::unique_ptr<kv::Store>* store) {
  SnapshotDataLoader loader(config_.max_txn_ops);
  if (storage::IsSnapshotFileRef(snap.data)) {
    auto reader = storage_->OpenSnapshot(snap);
    if (!reader.ok()) return reader.status();
    RAFTKV_RETURN_IF_ERROR(
        (*reader)->ReadData([&](std::string_view chunk) { return loader.Add(chunk); }));
  } else {
    RAFTKV_RETURN_IF_ERROR(loader.Add(snap.data));
  }
  return loader.Finish(parts, store);
}

Status EtcdServer::Impl::installSnapshot(const raft::Snapshot& snap) {
  if (snap.meta.index <= applied_) return Status::OK();
  SnapshotParts parts;
  std::unique_ptr<kv::Store> store;
  RAFTKV_RETURN_IF_ERROR(loadSnapshotImage(snap, &parts, &store));
  RAFTKV_RETURN_IF_ERROR(auth_->Restore(parts.extras.auth()));
  store_ = std::shared_ptr<kv::Store>(std::move(store));
  if (leases_) leases_->lessor().Reset(store_->LeaseTtls());
  members_ = MemberTable::FromProto(parts.members);
  conf_state_ = snap.meta.conf;
  applied_ = snap.meta.index;
  applied_term_ = snap.meta.term;
  applied_index_ = applied_;
  last_snapshot_index_ = applied_;
  snapshot_bytes_mark_ = storage_->appended_bytes();
  revision_ = store_->revision();
  compact_revision_ = store_->compact_revision();
  keys_ = store_->version_count();
  is_learner_ = std::find(conf_state_.learners.begin(), conf_state_.learners.end(), member_id_) !=
                conf_state_.learners.end();
  if (transport_) {
    for (const auto& m : members_.List()) addPeer(m);
  }
  return Status::OK();
}

// What the snapshot thread needs; the view is declared after the store so that it is
// released first (a view must not outlive its store).
struct SnapshotJob {
  std::shared_ptr<kv::Store> store;
  std::unique_ptr<kv::SnapshotView> view;
  std::string header;
  raft::SnapshotMeta meta;
};

// Either threshold starts a snapshot (issue 3: the log is compacted once it grew past a
// number of entries or of bytes). The byte count is the log's growth as the storage saw it
// (entries appended, a little ahead of the applied ones).
bool EtcdServer::Impl::snapshotDue() const {
  if (applied_ - last_snapshot_index_ >= config_.snapshot_count) return true;
  return config_.snapshot_bytes > 0 &&
         storage_->appended_bytes() - snapshot_bytes_mark_ >= config_.snapshot_bytes;
}

// Serializes the pinned view straight into a new snapshot file, in bounded chunks: small
// key batches, coalesced into writes of up to 1 MiB. The snapshot handed to the raft thread
// carries the file's descriptor, never the image.
Result<raft::Snapshot> EtcdServer::Impl::writeSnapshotFile(const SnapshotJob& job) {
  auto writer = storage_->NewSnapshotWriter(job.meta, "take");
  if (!writer.ok()) return writer.status();
  storage::SnapshotFileWriter* w = writer->get();
  std::string pending = job.header;
  auto flush = [&] {
    Status s = w->Append(pending);
    pending.clear();
    return s;
  };
  RAFTKV_RETURN_IF_ERROR(job.view->WriteTo(
      [&](std::string_view chunk) {
        if (!pending.empty() && pending.size() + chunk.size() > storage::kSnapshotChunkBytes) {
          RAFTKV_RETURN_IF_ERROR(flush());
        }
        if (chunk.size() >= storage::kSnapshotChunkBytes) return w->Append(chunk);
        pending.append(chunk);
        return Status::OK();
      },
      kSnapshotBatchKeys));
  RAFTKV_RETURN_IF_ERROR(flush());
  RAFTKV_RETURN_IF_ERROR(w->Finish());
  raft::Snapshot snap;
  snap.meta = job.meta;
  snap.data = storage::EncodeSnapshotFileRef({w->path(), w->data_len()});
  return snap;
}

void EtcdServer::Impl::maybeSnapshot() {
  if (applied_ <= last_snapshot_index_ || !snapshotDue()) return;
  if (snapshot_in_progress_.exchange(true)) return;
  snapshot_bytes_mark_ = storage_->appended_bytes();
  auto job = std::make_shared<SnapshotJob>();
  job->store = store_;
  job->view = store_->Snapshot();
  raftkvpb::SnapshotExtras extras;
  extras.set_auth(auth_->Encode());  // the auth state as of applied_, like the view
  job->header = EncodeSnapshotHeader(members_.ToProto(), extras);
  job->meta = raft::SnapshotMeta{applied_, applied_term_, conf_state_};
  last_snapshot_index_ = applied_;
  auto started = Clock::now();
  {
    std::lock_guard<std::mutex> l(snap_mu_);
    snap_queue_.push_back([this, job, started] {
      auto snap = writeSnapshotFile(*job);
      job->view.reset();
      job->store.reset();
      if (!snap.ok()) {
        spdlog::error("snapshot at index {} failed: {}", job->meta.index, snap.status().ToString());
        snapshot_in_progress_ = false;
        return;
      }
      RunOnRaft([this, snap = std::move(*snap), started](raft::RawNode&) mutable {
        saveSnapshotOnRaft(std::move(snap), started);
      });
    });
  }
  snap_cv_.notify_one();
}

// A snapshot from the leader is received straight into a file in the data directory; the
// raft thread adopts it when it saves the snapshot (DiskStorage::Save), the apply thread then
// loads the store from it (installSnapshot).
Result<std::unique_ptr<storage::SnapshotFileWriter>> EtcdServer::Impl::NewSnapshotFile(
    const raft::SnapshotMeta& meta) {
  if (!storage_->snapshot_images_in_files()) return std::unique_ptr<storage::SnapshotFileWriter>();
  return storage_->NewSnapshotWriter(meta, "recv");
}

void EtcdServer::Impl::snapshotLoop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> l(snap_mu_);
      snap_cv_.wait(l, [this] { return loops_stop_.load() || !snap_queue_.empty(); });
      if (loops_stop_.load()) return;
      job = std::move(snap_queue_.front());
      snap_queue_.pop_front();
    }
    job();
  }
}

void EtcdServer::Impl::saveSnapshotOnRaft(raft::Snapshot snap, Clock::time_point started) {
  snapshot_in_progress_ = false;
  Status s = storage_->SaveSnapshot(snap);
  if (!s.ok()) {
    // A snapshot from the leader may have overtaken ours: not an error worth stopping for.
    spdlog::warn("snapshot at index {} not saved: {}", snap.meta.index, s.ToString());
    return;
  }
  raft::Index catchup = config_.snapshot_catchup_entries;
  raft::Index compact = snap.meta.index > catchup ? snap.meta.index - catchup : 0;
  if (compact >= storage_->FirstIndex()) {
    s = storage_->Compact(compact);
    if (!s.ok()) {
      fail(Status::IOError("log compaction failed: " + s.ToString()));
      return;
    }
  }
  snapshot_save_.Observe(Seconds(Clock::now() - started));
  uint64_t bytes = 0;
  if (auto ref = storage::DecodeSnapshotFileRef(snap.data); ref.ok()) bytes = ref->data_len;
  spdlog::info("snapshot saved at index {} term {} ({} bytes); log now starts at {}",
               snap.meta.index, snap.meta.term, bytes, storage_->FirstIndex());
  timeline_.Event("snapshot-taken", snap.meta.term,
                  fmt::format("snapshot taken at index {} ({} bytes); log now starts at {}",
                              snap.meta.index, bytes, storage_->FirstIndex()));
}

}  // namespace raftkv::server
