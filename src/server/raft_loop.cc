// The raft thread: drives the consensus core with a real clock and handles every Ready in
// the order raw_node.h prescribes. It is the only thread that touches the RawNode and the
// only writer of the DiskStorage.
#include <poll.h>
#include <spdlog/spdlog.h>

#include <future>

#include "api/errors.h"
#include "common/check.h"
#include "raft/conf_change.h"
#include "server/discovery.h"
#include "server/server_impl.h"

namespace raftkv::server {
namespace {

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// A refused proposal, in etcd's words.
Status ProposalError(const Status& s) {
  if (s.Is(Status::Code::kNotLeader)) return Status::Unavailable(api::kErrNoLeader);
  if (s.Is(Status::Code::kBusy)) return Status::Unavailable(api::kErrTooManyRequests);
  return s;
}

}  // namespace

// --- transport callbacks (transport threads) --------------------------------------------------

void EtcdServer::Impl::OnMessage(raft::Message msg) {
  if (msg.type == raft::MessageType::kAppend && !msg.entries.empty()) {
    append_trace_.TryStart(msg.entries.back().index);
  }
  if (msg.type == raft::MessageType::kSnapshot) {
    snapshots_received_++;
    spdlog::info("snapshot received from {:x} at index {}", msg.from,
                 msg.snapshot ? msg.snapshot->meta.index : 0);
    timeline_.Event("snapshot-received", msg.term,
                    fmt::format("snapshot received from {:x} at index {}", msg.from,
                                msg.snapshot ? msg.snapshot->meta.index : 0));
  }
  toRaft([&] { inbox_msgs_.push_back(std::move(msg)); });
}

void EtcdServer::Impl::OnUnreachable(raft::NodeId peer) {
  RunOnRaft([peer](raft::RawNode& n) { n.ReportUnreachable(peer); });
}

void EtcdServer::Impl::OnSnapshotSent(raft::NodeId peer, bool ok) {
  if (ok) snapshots_sent_++;
  spdlog::info("snapshot sent to {:x}: {}", peer, ok ? "ok" : "failed");
  timeline_.Event("snapshot-sent", term_.load(),
                  fmt::format("snapshot sent to {:x}: {}", peer, ok ? "ok" : "failed"));
  RunOnRaft([peer, ok](raft::RawNode& n) { n.ReportSnapshot(peer, ok); });
}

// --- requests from any thread -------------------------------------------------------------------

void EtcdServer::Impl::RunOnRaft(std::function<void(raft::RawNode&)> fn) {
  toRaft([&] { inbox_tasks_.push_back(std::move(fn)); });
}

void EtcdServer::Impl::Propose(raftkvpb::InternalRequest req, Waiter w) {
  uint64_t id = next_request_id_++;
  req.set_id(id);
  req.set_origin(member_id_);
  req.set_time_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
  if (!waits_.Register(id, Deadline(), std::move(w))) return;
  propose_trace_.TryStart(id);
  std::string data = req.SerializeAsString();
  // Wakes the loop only if it sleeps: while it works, proposals gather for the next batch.
  toRaft([&] { inbox_proposals_.push_back(PendingProposal{id, std::move(data)}); });
}

void EtcdServer::Impl::ProposeConfChange(raft::ConfChangeType type, raftkvpb::ConfChangeContext ctx,
                                         Waiter w) {
  uint64_t id = next_request_id_++;
  ctx.set_request_id(id);
  ctx.set_origin(member_id_);
  raft::ConfChange cc;
  cc.changes.push_back(raft::ConfChangeSingle{type, ctx.member().id()});
  cc.context = ctx.SerializeAsString();
  if (!waits_.Register(id, Deadline(), std::move(w))) return;
  RunOnRaft([this, id, cc = std::move(cc)](raft::RawNode& n) {
    Status s = n.ProposeConfChange(cc);
    if (s.Is(Status::Code::kFailedPrecondition)) {
      s = Status::FailedPrecondition(
          "etcdserver: a configuration change is already in progress; retry");
    }
    if (!s.ok()) {
      proposals_failed_++;
      waits_.Complete(id, ProposalError(s));
    }
  });
}

void EtcdServer::Impl::LinearizableRead(ReadOp op, Waiter w) {
  uint64_t id = next_request_id_++;
  if (!waits_.Register(id, Deadline(), std::move(w))) return;
  toRaft([&] { inbox_reads_.push_back(PendingRead{id, std::move(op)}); });
}

raft::NodeStatus EtcdServer::Impl::RaftStatus() {
  auto p = std::make_shared<std::promise<raft::NodeStatus>>();
  auto f = p->get_future();
  RunOnRaft([p](raft::RawNode& n) { p->set_value(n.GetStatus()); });
  if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return {};
  return f.get();
}

bool EtcdServer::Impl::LeaderProgress(raft::NodeId id, raft::ProgressStatus* pr,
                                      raft::Index* last) {
  raft::NodeStatus st = RaftStatus();
  if (st.soft_state.role != raft::Role::kLeader) return false;
  auto it = st.progress.find(id);
  if (it == st.progress.end()) return false;
  *pr = it->second;
  *last = st.last_index;
  return true;
}

Status EtcdServer::Impl::TransferLeadership(raft::NodeId transferee,
                                            std::chrono::milliseconds timeout) {
  RunOnRaft([transferee](raft::RawNode& n) { n.TransferLeader(transferee); });
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline && !loops_stop_.load()) {
    if (lead_.load() == transferee) return Status::OK();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::Unavailable("etcdserver: request timed out, leader transfer took too long");
}

// --- the loop --------------------------------------------------------------------------------

template <typename F>
void EtcdServer::Impl::toRaft(F push) {
  bool ring;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    push();
    ring = raft_sleeping_;
    raft_sleeping_ = false;  // one ring per sleep
  }
  if (ring) raft_wake_.Ring();
}

void EtcdServer::Impl::waitForWork(Clock::time_point until) {
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    if (loops_stop_.load() || !inbox_msgs_.empty() || !inbox_tasks_.empty() ||
        !inbox_reads_.empty() || !inbox_proposals_.empty()) {
      return;
    }
    raft_sleeping_ = true;
  }
  const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(until - Clock::now());
  timespec timeout{};
  if (left.count() > 0) {
    timeout.tv_sec = static_cast<time_t>(left.count() / 1000000000);
    timeout.tv_nsec = static_cast<long>(left.count() % 1000000000);
  }
  pollfd fds[2] = {{raft_wake_.fd(), POLLIN, 0},
                   {transport_ ? transport_->inbound_poll_fd() : -1, POLLIN, 0}};
  ppoll(fds, 2, &timeout, nullptr);
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    raft_sleeping_ = false;
  }
  if (fds[0].revents != 0) raft_wake_.Clear();
}

void EtcdServer::Impl::raftLoop() {
  const auto tick = std::chrono::milliseconds(config_.heartbeat_interval_ms);
  auto next_tick = Clock::now() + tick;
  no_leader_since_ = Clock::now();
  while (!loops_stop_.load()) {
    waitForWork(next_tick);
    if (loops_stop_.load()) break;
    // Messages that arrived on the inbound peer streams go to the inbox (OnMessage) from
    // this thread: no reader thread wakes us. Every round, since a busy inbox means we did
    // not sleep on the streams.
    if (transport_) transport_->PollInbound();
    auto now = Clock::now();
    if (now >= next_tick) {
      node_->Tick();
      leader_lease_.OnTick(node_->TickCount(), now);
      next_tick += tick;
      if (next_tick <= now) next_tick = now + tick;  // we fell behind: do not burst ticks
      waits_.Expire(now, Status::Unavailable(api::kErrTimeout));
      timeline_.Tick(term_.load(), lead_.load(), commit_index_.load());
      expireHeld(now);
      maybeCheckRemoved(now);
      leaderDuties(now);
    }
    drainInbox();
    issueReadIndex(now);
    leader_lease_.Publish(node_->GetLeaderLease());  // acknowledgements just stepped extend it
    while (!loops_stop_.load() && node_->HasReady()) handleReady();
    if (!new_reads_.empty() && read_rounds_.empty()) {
      // The round in flight completed above: the reads that waited for it go now.
      issueReadIndex(now);
      while (!loops_stop_.load() && node_->HasReady()) handleReady();
    }
    if (!transfers_.empty()) checkTransfers(Clock::now());
  }
  for (auto& t : transfers_) t.done(Status::Unavailable(api::kErrStopped));
  transfers_.clear();
}

void EtcdServer::Impl::drainInbox() {
  std::vector<raft::Message> msgs;
  std::vector<std::function<void(raft::RawNode&)>> tasks;
  std::vector<PendingProposal> proposals;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    msgs.swap(inbox_msgs_);
    tasks.swap(inbox_tasks_);
    proposals.swap(inbox_proposals_);
    for (auto& r : inbox_reads_) new_reads_.push_back(std::move(r));
    inbox_reads_.clear();
  }
  const uint64_t traced_append = append_trace_.key();
  for (const auto& m : msgs) {
    timeline_.ObserveVoteResponse(m);
    if (traced_append != StageTrace::kNone && m.type == raft::MessageType::kAppend &&
        !m.entries.empty() && m.entries.back().index == traced_append) {
      append_trace_.Mark(traced_append, kStepped);
    }
    Status s = node_->Step(m);
    if (!s.ok()) {
      spdlog::debug("refused {} from {:x}: {}", raft::MessageTypeName(m.type), m.from,
                    s.ToString());
    }
  }
  for (auto& t : tasks) t(*node_);
  const uint64_t traced_id = propose_trace_.key();
  for (size_t i = 0; traced_id != StageTrace::kNone && i < proposals.size(); i++) {
    if (proposals[i].id == traced_id) propose_trace_.Mark(traced_id, kPickedUp);
  }
  proposeBatch(std::move(proposals));
}

// Every proposal that arrived since the last wake-up goes to the core in one kPropose
// message (up to a bound): one append to the log and one MsgApp per follower for the
// batch, not one per request. The core accepts or refuses a message whole, so each call of
// the batch gets the same answer, as it would have one by one.
void EtcdServer::Impl::proposeBatch(std::vector<PendingProposal> proposals) {
  timeline_.AddProposals(proposals.size());
  constexpr size_t kMaxEntries = 1024;
  constexpr size_t kMaxBytes = 1 << 20;  // RawNode's max_size_per_msg default
  size_t next = 0;
  while (next < proposals.size()) {
    raft::Message m;
    m.type = raft::MessageType::kPropose;
    m.from = member_id_;
    const size_t first = next;
    size_t bytes = 0;
    while (next < proposals.size() && m.entries.size() < kMaxEntries &&
           (next == first || bytes + proposals[next].data.size() <= kMaxBytes)) {
      bytes += proposals[next].data.size();
      m.entries.push_back(
          raft::Entry{0, 0, raft::EntryType::kNormal, std::move(proposals[next].data)});
      next++;
    }
    Status s = node_->Step(m);
    if (s.ok()) {
      traceAppended(proposals, first, next);
      continue;
    }
    for (size_t i = first; i < next; i++) {
      const uint64_t id = proposals[i].id;
      propose_trace_.Abandon(id);
      if (s.Is(Status::Code::kNotLeader)) {
        // No leader known yet (an election is running): hold it until one is.
        held_proposals_.push_back(
            HeldProposal{id, std::move(m.entries[i - first].data), Clock::now()});
      } else {
        proposals_failed_++;
        waits_.Complete(id, ProposalError(s));
      }
    }
  }
}

// Thesis §6.4: every read that arrived since the last round shares one ReadIndex round, and
// only one round is in flight at a time (as etcd's linearizableReadLoop): reads that arrive
// meanwhile wait for the next one, so a burst of reads costs one heartbeat round, not one per
// wake-up of this loop. A round whose answer never came (leadership changed meanwhile) is
// asked again.
// The traced proposal, if it is in `batch` (appended as the batch's entries [first, next)):
// it is known by its log index from now on.
void EtcdServer::Impl::traceAppended(const std::vector<PendingProposal>& batch, size_t first,
                                     size_t next) {
  const uint64_t id = propose_trace_.key();
  if (id == StageTrace::kNone) return;
  for (size_t i = first; i < next; i++) {
    if (batch[i].id != id) continue;
    if (soft_.role != raft::Role::kLeader) {  // forwarded to the leader: not in our log yet
      propose_trace_.Abandon(id);
      return;
    }
    const raft::Index index = node_->LastIndex() - (next - 1 - i);
    propose_trace_.Rekey(id, index);
    propose_trace_.Mark(index, kAppended);
    return;
  }
}

raft::Index EtcdServer::Impl::TracedIn(const StageTrace& t, const std::vector<raft::Entry>& es) {
  const uint64_t key = t.key();
  if (key == StageTrace::kNone || es.empty() || es.front().index > key || es.back().index < key) {
    return StageTrace::kNone;
  }
  return key;
}

void EtcdServer::Impl::issueReadIndex(Clock::time_point now) {
  const auto retry = std::chrono::milliseconds(config_.election_timeout_ms);
  for (auto it = read_rounds_.begin(); it != read_rounds_.end();) {
    if (now - it->second.first_issued > request_timeout_) {
      it = read_rounds_.erase(it);  // their calls have timed out
      continue;
    }
    if (now - it->second.issued > retry) {
      it->second.issued = now;
      node_->ReadIndex(it->first);
    }
    ++it;
  }
  if (new_reads_.empty() || !read_rounds_.empty()) return;
  std::string ctx = std::to_string(++next_read_ctx_);
  timeline_.AddReads(new_reads_.size());
  read_index_rounds_.fetch_add(1, std::memory_order_relaxed);
  read_index_reads_.fetch_add(new_reads_.size(), std::memory_order_relaxed);
  read_rounds_[ctx] = ReadRound{now, now, std::move(new_reads_)};
  new_reads_.clear();
  node_->ReadIndex(ctx);
}

void EtcdServer::Impl::expireHeld(Clock::time_point now) {
  const auto limit = std::chrono::milliseconds(2 * config_.election_timeout_ms);
  for (auto it = held_proposals_.begin(); it != held_proposals_.end();) {
    if (now - it->since > limit) {
      proposals_failed_++;
      waits_.Complete(it->id, Status::Unavailable(api::kErrNoLeader));
      it = held_proposals_.erase(it);
    } else {
      ++it;
    }
  }
}

void EtcdServer::Impl::handleReady() {
  // Before anything is sent: a leadership transfer's TimeoutNow may be among the messages.
  leader_lease_.Publish(node_->GetLeaderLease());
  raft::Ready rd = node_->GetReady();
  if (rd.soft_state) handleSoftState(*rd.soft_state);
  // A leader's appends go out while it writes them itself (thesis §10.2.1), but only in a
  // term this member's WAL holds durably already.
  RAFTKV_CHECK(raft::LeaderMessagesMayLeaveEarly(rd, storage_->hard_state().term),
               "§10.2.1 leader messages leave before the write only in a durable term");
  if (!rd.leader_messages.empty()) transport_->Send(std::move(rd.leader_messages));
  // The traced proposal (leader) or append (follower), if this Ready writes it.
  const raft::Index traced_own = TracedIn(propose_trace_, rd.entries);
  const raft::Index traced_append = TracedIn(append_trace_, rd.entries);
  if (rd.hard_state || rd.snapshot || !rd.entries.empty()) {
    propose_trace_.Mark(traced_own, kWalStart);
    append_trace_.Mark(traced_append, kAppendWalStart);
    auto t0 = Clock::now();
    Status s = storage_->Save(rd.hard_state ? &*rd.hard_state : nullptr, std::move(rd.entries),
                              rd.snapshot ? &*rd.snapshot : nullptr, rd.must_sync);
    if (rd.must_sync) {
      const double took = Seconds(Clock::now() - t0);
      wal_fsync_.Observe(took);
      timeline_.AddFsync(took);
    }
    if (!s.ok()) {
      fail(Status::IOError("WAL write failed: " + s.ToString()));
      return;
    }
    propose_trace_.Mark(traced_own, kDurable);
    append_trace_.Mark(traced_append, kAppendDurable);
  }
  if (rd.hard_state) {
    timeline_.ObserveHardState(*rd.hard_state);
    term_ = rd.hard_state->term;
    commit_index_ = rd.hard_state->commit;
  }
  if (rd.snapshot) {
    spdlog::info("installing snapshot from the leader at index {} term {}", rd.snapshot->meta.index,
                 rd.snapshot->meta.term);
    postApply(Install{std::move(*rd.snapshot)});
  }
  // Votes and acknowledgements only now that what they promise is durable (§5.1).
  if (!rd.messages.empty()) transport_->Send(std::move(rd.messages));
  append_trace_.Finish(traced_append);
  if (!rd.committed_entries.empty()) {
    propose_trace_.Mark(TracedIn(propose_trace_, rd.committed_entries), kCommitted);
    handleCommitted(std::move(rd.committed_entries));
  }
  for (auto& rs : rd.read_states) {
    auto it = read_rounds_.find(rs.context);
    if (it == read_rounds_.end()) continue;
    postApply(ReadBatch{rs.index, std::move(it->second.reads)});
    read_rounds_.erase(it);
  }
  node_->Advance();
}

void EtcdServer::Impl::handleSoftState(const raft::SoftState& ss) {
  timeline_.ObserveSoftState(ss, node_->GetStatus().hard_state.term);
  if (ss.lead != soft_.lead) {
    if (ss.lead != raft::kNoNode) {
      leader_changes_++;
      spdlog::info("member {:x}: leader is now {:x} (term {})", member_id_, ss.lead,
                   node_->GetStatus().hard_state.term);
    } else {
      spdlog::info("member {:x}: lost the leader {:x}", member_id_, soft_.lead);
    }
  }
  if (ss.role != soft_.role) {
    spdlog::info("member {:x} became {}", member_id_, raft::RoleName(ss.role));
    if (soft_.role == raft::Role::kLeader) {
      // The leadership ended: no more lease deadlines here (etcd's Demote), no compaction.
      leases_->lessor().Demote(node_->GetStatus().hard_state.term);
      if (compactor_) compactor_->Pause();
    }
  }
  if (ss.lead == raft::kNoNode && soft_.lead != raft::kNoNode) no_leader_since_ = Clock::now();
  soft_ = ss;
  lead_ = ss.lead;
  if (ss.lead == raft::kNoNode || held_proposals_.empty()) return;
  std::vector<HeldProposal> held;
  held.swap(held_proposals_);
  for (auto& h : held) {
    Status s = node_->Propose(h.data);
    if (s.Is(Status::Code::kNotLeader)) {
      held_proposals_.push_back(std::move(h));
    } else if (!s.ok()) {
      proposals_failed_++;
      waits_.Complete(h.id, ProposalError(s));
    }
  }
}

// Configuration changes take effect in the core when they are handed out for applying
// (etcd's raftexample does the same); the apply thread updates the member table and the
// transport in log order, with the resulting ConfState.
void EtcdServer::Impl::handleCommitted(std::vector<raft::Entry> entries) {
  Committed c;
  for (const auto& e : entries) {
    if (e.type != raft::EntryType::kConfChange) continue;
    auto cc = raft::DecodeConfChange(e.data);
    RAFTKV_CHECK(cc.ok(), "a committed configuration change decodes (we encoded it)");
    c.conf_states[e.index] = node_->ApplyConfChange(*cc);
  }
  proposals_committed_ += entries.size();
  c.entries = std::move(entries);
  postApply(std::move(c));
}

// A member removed while it could not hear the commit of its removal never applies it (the
// leader stops replicating to it): after a few leaderless election timeouts it asks the
// others whether it was removed, and stops if so (etcd's peer "removed" check).
void EtcdServer::Impl::maybeCheckRemoved(Clock::time_point now) {
  const auto wait = std::chrono::milliseconds(3 * config_.election_timeout_ms);
  if (lead_.load() != raft::kNoNode || now - no_leader_since_ < wait ||
      now - last_removed_check_ < wait || removed_check_running_.exchange(true)) {
    return;
  }
  last_removed_check_ = now;
  {
    std::lock_guard<std::mutex> l(snap_mu_);
    snap_queue_.push_back([this] {
      std::vector<std::string> urls;
      auto table = MemberTableNow();
      if (table.ok()) {
        for (const auto& m : table->members()) {
          if (m.id() != member_id_)
            urls.insert(urls.end(), m.peerurls().begin(), m.peerurls().end());
        }
      }
      if (!urls.empty() && AskIfRemoved(urls, member_id_, config_.peer_tls)) {
        spdlog::warn("member {:x} was removed from the cluster (told by a peer): stopping",
                     member_id_);
        setStopReason("the member has been permanently removed from the cluster");
        shutdownLoops();
      }
      removed_check_running_ = false;
    });
  }
  snap_cv_.notify_one();
}

void EtcdServer::Impl::fail(const Status& s) {
  spdlog::critical("member {:x} stopping: {}", member_id_, s.ToString());
  setStopReason(s.ToString());
  shutdownLoops();
}

void EtcdServer::Impl::setStopReason(const std::string& why) {
  std::lock_guard<std::mutex> l(fatal_mu_);
  if (fatal_error_.empty()) fatal_error_ = why;
}

void EtcdServer::Impl::shutdownLoops() {
  stopping_ = true;
  loops_stop_ = true;
  waits_.Close(Status::Unavailable(api::kErrStopped));
  raft_wake_.Ring();
  apply_cv_.notify_all();
  snap_cv_.notify_all();
}

}  // namespace raftkv::server
