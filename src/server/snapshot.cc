// Snapshots on the server: the apply thread pins a store view every snapshot_count applied
// entries (maybeSnapshot), the snapshot thread serializes it while writes continue
// (snapshotLoop), and the raft thread saves it and compacts the log (saveSnapshotOnRaft).
// A snapshot received from the leader is installed on the apply thread (installSnapshot).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/check.h"
#include "server/server_impl.h"
#include "server/snapshot_data.h"

namespace raftkv::server {
namespace {

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

Status EtcdServer::Impl::installSnapshot(const raft::Snapshot& snap) {
  if (snap.meta.index <= applied_) return Status::OK();
  auto parts = DecodeSnapshotData(snap.data);
  if (!parts.ok()) return parts.status();
  auto store = kv::Store::Restore(parts->kv, config_.max_txn_ops);
  if (!store.ok()) return store.status();
  store_ = std::shared_ptr<kv::Store>(std::move(*store));
  members_ = MemberTable::FromProto(parts->members);
  conf_state_ = snap.meta.conf;
  applied_ = snap.meta.index;
  applied_term_ = snap.meta.term;
  applied_index_ = applied_;
  last_snapshot_index_ = applied_;
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

void EtcdServer::Impl::maybeSnapshot() {
  if (applied_ - last_snapshot_index_ < config_.snapshot_count) return;
  if (snapshot_in_progress_.exchange(true)) return;
  auto job = std::make_shared<SnapshotJob>();
  job->store = store_;
  job->view = store_->Snapshot();
  job->header = EncodeSnapshotHeader(members_.ToProto());
  job->meta = raft::SnapshotMeta{applied_, applied_term_, conf_state_};
  last_snapshot_index_ = applied_;
  auto started = Clock::now();
  {
    std::lock_guard<std::mutex> l(snap_mu_);
    snap_queue_.push_back([this, job, started] {
      raft::Snapshot snap;
      snap.meta = job->meta;
      snap.data = job->header;
      Status s = job->view->WriteTo([&](std::string_view chunk) {
        snap.data.append(chunk);
        return Status::OK();
      });
      job->view.reset();
      job->store.reset();
      if (!s.ok()) {
        spdlog::error("snapshot at index {} failed: {}", snap.meta.index, s.ToString());
        snapshot_in_progress_ = false;
        return;
      }
      RunOnRaft([this, snap = std::move(snap), started](raft::RawNode&) mutable {
        saveSnapshotOnRaft(std::move(snap), started);
      });
    });
  }
  snap_cv_.notify_one();
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
  spdlog::info("snapshot saved at index {} term {} ({} bytes); log now starts at {}",
               snap.meta.index, snap.meta.term, snap.data.size(), storage_->FirstIndex());
}

}  // namespace raftkv::server
