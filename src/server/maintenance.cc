// Maintenance calls (etcd's Maintenance service), health and metrics.
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <future>

#include "api/errors.h"
#include "server/server_impl.h"

namespace raftkv::server {
namespace {

constexpr char kServerVersion[] = "3.4.23";  // what etcdctl sees; raftkvd speaks 3.4's API
constexpr uint64_t kEmptyDbBytes = 20480;    // an empty etcd bbolt file, for a similar start

// A complete image held in memory, handed out in chunks.
class StringSnapshotReader : public SnapshotReader {
 public:
  explicit StringSnapshotReader(std::string data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_.size(); }
  Result<bool> Next(size_t max_bytes, std::string* out) override {
    if (pos_ >= data_.size()) return false;
    size_t n = std::min(max_bytes, data_.size() - pos_);
    out->append(data_, pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

}  // namespace

void EtcdServer::Impl::StatusCall(Done<etcdserverpb::StatusResponse> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  etcdserverpb::StatusResponse r;
  api::FillHeader(api::HeaderInfo{cluster_id_, member_id_, term()}, r.mutable_header());
  r.mutable_header()->set_revision(revision_.load());
  r.set_version(kServerVersion);
  r.set_dbsize(static_cast<int64_t>(kEmptyDbBytes + db_size()));
  r.set_dbsizeinuse(static_cast<int64_t>(kEmptyDbBytes + db_size()));
  r.set_leader(leader());
  r.set_raftindex(commit_index());
  r.set_raftterm(term());
  r.set_raftappliedindex(applied_index());
  r.set_islearner(is_learner());
  std::string fatal = fatal_error();
  if (!fatal.empty()) r.add_errors(fatal);
  done(std::move(r));
}

void EtcdServer::Impl::Hash(Done<etcdserverpb::HashResponse> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  SerializableRead(
      [](kv::Store& store) -> ApplyResult {
        etcdserverpb::HashResponse r;
        r.set_hash(store.Hash());
        r.mutable_header()->set_revision(store.revision());
        return r.SerializeAsString();
      },
      Typed<etcdserverpb::HashResponse>(std::move(done)));
}

void EtcdServer::Impl::HashKV(const etcdserverpb::HashKVRequest& req,
                              Done<etcdserverpb::HashKVResponse> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  SerializableRead(
      [rev = req.revision()](kv::Store& store) -> ApplyResult {
        auto h = store.HashKV(rev);
        if (!h.ok()) return h.status();
        etcdserverpb::HashKVResponse r;
        r.set_hash(h->hash);
        r.set_compact_revision(h->compact_revision);
        r.mutable_header()->set_revision(h->header.revision);
        return r.SerializeAsString();
      },
      Typed<etcdserverpb::HashKVResponse>(std::move(done)));
}

void EtcdServer::Impl::MoveLeader(const etcdserverpb::MoveLeaderRequest& req,
                                  Done<etcdserverpb::MoveLeaderResponse> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  auto reply = [this, done = std::move(done)](Status s) {
    if (!s.ok()) return done(s);
    etcdserverpb::MoveLeaderResponse r;
    api::FillHeader(api::HeaderInfo{cluster_id_, member_id_, term()}, r.mutable_header());
    r.mutable_header()->set_revision(revision_.load());
    done(std::move(r));
  };
  uint64_t target = req.targetid();
  RunOnRaft([this, target, reply = std::move(reply)](raft::RawNode& n) mutable {
    raft::NodeStatus st = n.GetStatus();
    if (st.soft_state.role != raft::Role::kLeader) {
      return reply(Status::Unavailable(api::kErrNotLeader));
    }
    auto it = st.progress.find(target);
    if (it == st.progress.end() || it->second.is_learner) {
      return reply(Status::InvalidArgument(api::kErrBadLeaderTransferee));
    }
    if (target == member_id_) return reply(Status::OK());
    n.TransferLeader(target);
    // As etcd, wait for the new leader as long as the call may last (not just one attempt).
    const auto now = Clock::now();
    transfers_.push_back(PendingTransfer{
        target, now + request_timeout_,
        now + std::chrono::milliseconds(config_.election_timeout_ms), std::move(reply)});
  });
}

// Raft thread: completes MoveLeader calls whose transfer finished or ran out of time.
void EtcdServer::Impl::checkTransfers(Clock::time_point now) {
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    if (lead_.load() == it->target) {
      it->done(Status::OK());
    } else if (now > it->deadline) {
      it->done(Status::Unavailable(api::kErrTimeoutLeaderTransfer));
    } else {
      if (now > it->retry_at && lead_.load() == member_id_) {
        // The core abandoned the attempt (thesis §3.10: after an election timeout), e.g. the
        // target was slow to catch up under load; try again while the call lasts.
        node_->TransferLeader(it->target);
        it->retry_at = now + std::chrono::milliseconds(config_.election_timeout_ms);
      }
      ++it;
      continue;
    }
    it = transfers_.erase(it);
  }
}

void EtcdServer::Impl::CheckHealth(Done<bool> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  std::string fatal = fatal_error();
  if (!fatal.empty()) return done(Status::Unavailable(fatal));
  if (leader() == raft::kNoNode) return done(Status::Unavailable(api::kErrNoLeader));
  LinearizableRead([](kv::Store&) -> ApplyResult { return std::string(); },
                   [done = std::move(done)](ApplyResult r) {
                     if (!r.ok()) return done(r.status());
                     done(true);
                   });
}

// The image is taken from a pinned view created on the apply thread (a consistent cut), then
// serialized here while writes continue; etcd's stream ends with a SHA-256 of the bytes
// before it, and so does ours.
Result<std::unique_ptr<SnapshotReader>> EtcdServer::Impl::OpenSnapshot() {
  if (stopped()) return Status::Unavailable(api::kErrStopped);
  struct Pinned {
    std::shared_ptr<kv::Store> store;
    std::unique_ptr<kv::SnapshotView> view;  // released before the store
  };
  auto p = std::make_shared<std::promise<std::shared_ptr<Pinned>>>();
  auto f = p->get_future();
  RunOnApply([this, p] {
    auto pin = std::make_shared<Pinned>();
    pin->store = store_;
    pin->view = store_->Snapshot();
    p->set_value(pin);
  });
  if (f.wait_for(request_timeout_) != std::future_status::ready) {
    return Status::Unavailable(api::kErrTimeout);
  }
  std::shared_ptr<Pinned> pin = f.get();
  std::string data = pin->view->Serialize();
  pin->view.reset();
  // etcdctl 3.4 accepts a stream only if its length is 32 bytes past a multiple of 512 (a
  // bbolt file is whole pages): pad the image with zeros before the hash.
  data.append((512 - data.size() % 512) % 512, '\0');
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  data.append(reinterpret_cast<const char*>(digest), sizeof(digest));
  return std::unique_ptr<SnapshotReader>(new StringSnapshotReader(std::move(data)));
}

ServerStats EtcdServer::Impl::GetStats() const {
  ServerStats s;
  s.member_id = member_id_;
  s.cluster_id = cluster_id_;
  s.has_leader = leader() != raft::kNoNode;
  s.is_leader = leader() == member_id_;
  s.is_learner = is_learner();
  s.leader_changes_seen = leader_changes_.load();
  s.term = term();
  s.commit_index = commit_index();
  s.applied_index = applied_index();
  s.proposals_committed = proposals_committed_.load();
  s.proposals_applied = proposals_applied_.load();
  s.proposals_pending = waits_.size();
  s.proposals_failed = proposals_failed_.load();
  s.slow_apply = slow_apply_.load();
  s.revision = revision_.load();
  s.compact_revision = compact_revision_.load();
  s.keys = keys_.load();
  s.db_size_bytes = kEmptyDbBytes + db_size();
  s.wal_fsync = wal_fsync_.Get();
  s.snapshot_save = snapshot_save_.Get();
  s.snapshot_apply = snapshot_apply_.Get();
  s.snapshots_sent = snapshots_sent_.load();
  s.snapshots_received = snapshots_received_.load();
  if (transport_) {
    for (const auto& [id, ps] : transport_->Stats()) {
      s.peer_sent_bytes[id] = ps.sent_bytes;
      s.peer_received_bytes[id] = ps.received_bytes;
      if (ps.connected) s.connected_peers.insert(id);
    }
  }
  return s;
}

// --- facade -------------------------------------------------------------------------------

void EtcdServer::Status(const etcdserverpb::StatusRequest&,
                        Done<etcdserverpb::StatusResponse> done) {
  impl_->StatusCall(std::move(done));
}

// raftkv raises no alarms (no space quota, no corruption checker yet): the list is empty and
// activating or deactivating one is accepted without effect.
void EtcdServer::Alarm(const etcdserverpb::AlarmRequest&, Done<etcdserverpb::AlarmResponse> done) {
  if (impl_->stopped()) return done(raftkv::Status::Unavailable(api::kErrStopped));
  etcdserverpb::AlarmResponse r;
  api::FillHeader(api::HeaderInfo{impl_->cluster_id(), impl_->member_id(), impl_->term()},
                  r.mutable_header());
  done(std::move(r));
}

// The store is in memory: there is nothing to defragment.
void EtcdServer::Defragment(const etcdserverpb::DefragmentRequest&,
                            Done<etcdserverpb::DefragmentResponse> done) {
  if (impl_->stopped()) return done(raftkv::Status::Unavailable(api::kErrStopped));
  etcdserverpb::DefragmentResponse r;
  api::FillHeader(api::HeaderInfo{impl_->cluster_id(), impl_->member_id(), impl_->term()},
                  r.mutable_header());
  done(std::move(r));
}

void EtcdServer::Hash(const etcdserverpb::HashRequest&, Done<etcdserverpb::HashResponse> done) {
  impl_->Hash(std::move(done));
}
void EtcdServer::HashKV(const etcdserverpb::HashKVRequest& req,
                        Done<etcdserverpb::HashKVResponse> done) {
  impl_->HashKV(req, std::move(done));
}
void EtcdServer::MoveLeader(const etcdserverpb::MoveLeaderRequest& req,
                            Done<etcdserverpb::MoveLeaderResponse> done) {
  impl_->MoveLeader(req, std::move(done));
}
void EtcdServer::CheckHealth(Done<bool> done) {
  impl_->CheckHealth(std::move(done));
}

}  // namespace raftkv::server
