// Maintenance calls (etcd's Maintenance service), health and metrics.
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>

#include "api/errors.h"
#include "server/server_impl.h"

namespace raftkv::server {
namespace {

constexpr char kServerVersion[] = "3.4.23";  // what etcdctl sees; raftkvd speaks 3.4's API
constexpr uint64_t kEmptyDbBytes = 20480;    // an empty etcd bbolt file, for a similar start

// The Maintenance snapshot stream: the image is first serialized chunk by chunk into an
// unlinked temporary file in the data directory (so its size is known up front, as the
// stream reports remaining bytes, and nothing is left behind by a crash), then read back in
// chunks. etcdctl 3.4 accepts a stream only if its length is 32 bytes past a multiple of
// 512 (a bbolt file is whole pages): zeros pad the image, then comes the SHA-256 of every
// byte before it, computed as the bytes go out. No more than one chunk is held in memory.
class FileSnapshotReader : public SnapshotReader {
 public:
  static Result<std::unique_ptr<SnapshotReader>> Create(const std::string& dir,
                                                        const kv::SnapshotView& view) {
    std::unique_ptr<FileSnapshotReader> r(new FileSnapshotReader());
    std::string path = dir + "/maintenance-snapshot-" + std::to_string(::getpid()) + "-" +
                       std::to_string(seq_.fetch_add(1)) + ".tmp";
    r->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (r->fd_ < 0) return Status::IOError("open " + path + ": " + std::strerror(errno));
    ::unlink(path.c_str());
    std::string pending;
    auto flush = [&]() -> Status {
      RAFTKV_RETURN_IF_ERROR(r->append(pending));
      pending.clear();
      return Status::OK();
    };
    RAFTKV_RETURN_IF_ERROR(view.WriteTo(
        [&](std::string_view chunk) -> Status {
          pending.append(chunk);
          return pending.size() >= kChunk ? flush() : Status::OK();
        },
        16));
    RAFTKV_RETURN_IF_ERROR(flush());
    r->pad_ = (512 - r->image_ % 512) % 512;
    r->sha_ = EVP_MD_CTX_new();
    if (r->sha_ == nullptr || EVP_DigestInit_ex(r->sha_, EVP_sha256(), nullptr) != 1) {
      return Status::IOError("SHA-256 unavailable (libcrypto)");
    }
    return std::unique_ptr<SnapshotReader>(std::move(r));
  }
  ~FileSnapshotReader() override {
    if (fd_ >= 0) ::close(fd_);
    if (sha_ != nullptr) EVP_MD_CTX_free(sha_);
  }
  uint64_t size() const override { return image_ + pad_ + SHA256_DIGEST_LENGTH; }

  Result<bool> Next(size_t max_bytes, std::string* out) override {
    if (pos_ >= size()) return false;
    max_bytes = std::max<size_t>(max_bytes, 1);
    const size_t start = out->size();
    if (pos_ < image_) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(max_bytes, image_ - pos_));
      out->resize(start + n);
      RAFTKV_RETURN_IF_ERROR(readAt(pos_, out->data() + start, n));
    } else if (pos_ < image_ + pad_) {
      out->append(static_cast<size_t>(std::min<uint64_t>(max_bytes, image_ + pad_ - pos_)), '\0');
    } else {
      if (digest_.empty()) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex(sha_, d, &len);
        digest_.assign(reinterpret_cast<char*>(d), len);
      }
      size_t off = static_cast<size_t>(pos_ - image_ - pad_);
      out->append(digest_, off, std::min(max_bytes, digest_.size() - off));
      pos_ += out->size() - start;
      return true;
    }
    EVP_DigestUpdate(sha_, out->data() + start, out->size() - start);
    pos_ += out->size() - start;
    return true;
  }

 private:
  static constexpr size_t kChunk = 1 << 20;
  static inline std::atomic<uint64_t> seq_{0};

  FileSnapshotReader() = default;
  Status append(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(image_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IOError(std::string("snapshot spool: ") + std::strerror(errno));
      image_ += static_cast<uint64_t>(n);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return Status::OK();
  }
  Status readAt(uint64_t offset, char* buf, size_t n) {
    for (size_t done = 0; done < n;) {
      ssize_t got = ::pread(fd_, buf + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return Status::IOError("snapshot spool: short read");
      done += static_cast<size_t>(got);
    }
    return Status::OK();
  }

  int fd_ = -1;
  uint64_t image_ = 0;  // bytes of the serialized store
  uint64_t pad_ = 0;
  uint64_t pos_ = 0;  // bytes handed out
  EVP_MD_CTX* sha_ = nullptr;
  std::string digest_;
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

// etcd's alarm store: GET lists the alarms of a type (NONE: all) from the applied table;
// ACTIVATE and DEACTIVATE go through the log (a NOSPACE alarm makes every member refuse
// puts and lease grants until it is disarmed, apply.cc).
void EtcdServer::Impl::AlarmCall(const etcdserverpb::AlarmRequest& req,
                                 Done<etcdserverpb::AlarmResponse> done) {
  if (stopped()) return done(Status::Unavailable(api::kErrStopped));
  if (!etcdserverpb::AlarmRequest::AlarmAction_IsValid(req.action()) ||
      !etcdserverpb::AlarmType_IsValid(req.alarm())) {
    return done(Status::InvalidArgument("raftkv: unknown alarm action or type"));
  }
  Waiter w = Typed<etcdserverpb::AlarmResponse>(std::move(done));
  if (req.action() == etcdserverpb::AlarmRequest::GET) {
    return SerializableRead(
        [this, type = req.alarm()](kv::Store& store) -> ApplyResult {
          etcdserverpb::AlarmResponse r;
          for (const auto& a : members_.Alarms(type)) *r.add_alarms() = a;
          r.mutable_header()->set_revision(store.revision());
          return r.SerializeAsString();
        },
        std::move(w));
  }
  raftkvpb::InternalRequest r;
  *r.mutable_alarm() = req;
  Propose(std::move(r), std::move(w));
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
// serialized here while writes continue (FileSnapshotReader); etcd's stream ends with a
// SHA-256 of the bytes before it, and so does ours.
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
  auto reader = FileSnapshotReader::Create(config_.data_dir, *pin->view);
  pin->view.reset();
  return reader;
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
  s.read_index_rounds = read_index_rounds_.load();
  s.read_index_reads = read_index_reads_.load();
  s.revision = revision_.load();
  s.compact_revision = compact_revision_.load();
  s.keys = keys_.load();
  s.db_size_bytes = kEmptyDbBytes + db_size();
  s.wal_fsync = wal_fsync_.Get();
  s.propose_stages = propose_trace_.Get();
  s.append_stages = append_trace_.Get();
  s.snapshot_save = snapshot_save_.Get();
  s.snapshot_apply = snapshot_apply_.Get();
  s.snapshots_sent = snapshots_sent_.load();
  s.snapshots_received = snapshots_received_.load();
  s.keepalives_in_lease = keepalives_in_lease_.load();
  s.keepalives_after_round = keepalives_after_round_.load();
  if (transport_) {
    for (const auto& [id, ps] : transport_->Stats()) {
      s.peer_sent_bytes[id] = ps.sent_bytes;
      s.peer_received_bytes[id] = ps.received_bytes;
      s.peer_sent_messages[id] = ps.sent_messages;
      s.peer_direct_messages[id] = ps.direct_messages;
      s.peer_dropped_messages[id] = ps.dropped_messages;
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

void EtcdServer::Alarm(const etcdserverpb::AlarmRequest& req,
                       Done<etcdserverpb::AlarmResponse> done) {
  impl_->AlarmCall(req, std::move(done));
}

// The store is in memory and compaction frees space at once: there is nothing to defragment
// (accepted, as etcdctl defrag runs it after a compaction to leave a NOSPACE alarm).
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
