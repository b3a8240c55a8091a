// The apply thread: applies committed entries to the store and the member table in log
// order, installs snapshots, serves reads whose read index is applied, and takes snapshots
// every snapshot_count entries.
#include <spdlog/spdlog.h>

#include "api/convert.h"
#include "api/errors.h"
#include "common/check.h"
#include "common/coding.h"
#include "raft/conf_change.h"
#include "raftkvpb/session.pb.h"
#include "server/auth_ops.h"
#include "server/server_impl.h"

namespace raftkv::server {
namespace {

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// A result as the session table stores it: u8 ok | bytes response, or u8 0 | u8 code |
// bytes message. Errors are stored too, so a retry gets the same answer.
std::string EncodeResult(const ApplyResult& r) {
  std::string out;
  PutU8(&out, r.ok() ? 1 : 0);
  if (r.ok()) {
    PutBytes(&out, *r);
  } else {
    PutU8(&out, static_cast<uint8_t>(r.status().code()));
    PutBytes(&out, r.status().message());
  }
  return out;
}

ApplyResult DecodeResult(const std::string& s) {
  Decoder d(s);
  uint8_t ok = 0, code = 0;
  std::string body;
  RAFTKV_CHECK(d.GetU8(&ok), "stored session response decodes");
  if (ok) {
    RAFTKV_CHECK(d.GetBytes(&body), "stored session response decodes");
    return body;
  }
  RAFTKV_CHECK(d.GetU8(&code) && d.GetBytes(&body), "stored session error decodes");
  return Status::FromWire(code, body);
}

template <typename Resp, typename KvResult>
ApplyResult Serialized(const KvResult& r) {
  if (!r.ok()) return r.status();
  Resp p;
  api::ToProto(*r, &p);
  return p.SerializeAsString();
}

// etcd's capped applier (while a NOSPACE alarm is active): puts, txns that put, and lease
// grants are refused on every member; reads, deletes and compactions still apply.
bool RefusedWhileCapped(const raftkvpb::InternalRequest& req) {
  using R = raftkvpb::InternalRequest;
  switch (req.op_case()) {
    case R::kPut:
    case R::kLeaseGrant: return true;
    case R::kTxn: return QuotaCost(req.txn()) > 0;
    default: return false;
  }
}

}  // namespace

void EtcdServer::Impl::postApply(ApplyItem item) {
  {
    std::lock_guard<std::mutex> l(apply_mu_);
    apply_queue_.push_back(std::move(item));
  }
  apply_cv_.notify_one();
}

void EtcdServer::Impl::RunOnApply(std::function<void()> fn) {
  postApply(std::move(fn));
}

void EtcdServer::Impl::SerializableRead(ReadOp op, Waiter w) {
  uint64_t id = next_request_id_++;
  if (!waits_.Register(id, Deadline(), std::move(w))) return;
  postApply(
      std::function<void()>([this, id, op = std::move(op)] { waits_.Complete(id, op(*store_)); }));
}

void EtcdServer::Impl::applyLoop() {
  while (true) {
    ApplyItem item;
    {
      std::unique_lock<std::mutex> l(apply_mu_);
      apply_cv_.wait(l, [this] { return loops_stop_.load() || !apply_queue_.empty(); });
      if (loops_stop_.load()) return;
      item = std::move(apply_queue_.front());
      apply_queue_.pop_front();
    }
    if (auto* c = std::get_if<Committed>(&item)) {
      applyCommitted(std::move(*c));
    } else if (auto* in = std::get_if<Install>(&item)) {
      auto t0 = Clock::now();
      Status s = installSnapshot(in->snap);
      if (!s.ok()) {
        fail(Status::Corruption("cannot install the leader's snapshot: " + s.ToString()));
        return;
      }
      feed_->Install(store_);  // before anything is applied to the new store
      snapshot_apply_.Observe(Seconds(Clock::now() - t0));
      spdlog::info("snapshot applied at index {} ({} members)", applied_, members_.size());
      serveReads();
    } else if (auto* rb = std::get_if<ReadBatch>(&item)) {
      for (auto& r : rb->reads) waiting_reads_.emplace(rb->index, std::move(r));
      serveReads();
    } else {
      std::get<std::function<void()>>(item)();
    }
  }
}

void EtcdServer::Impl::applyCommitted(Committed c) {
  auto started = Clock::now();
  const raft::Index traced = TracedIn(propose_trace_, c.entries);
  propose_trace_.Mark(traced, kApplyStart);
  for (const auto& e : c.entries) {
    if (e.index <= applied_) continue;  // covered by a snapshot already installed
    RAFTKV_CHECK(e.index == applied_ + 1, "entries are applied in order, without gaps");
    if (e.type == raft::EntryType::kConfChange) {
      applyConfChange(e, c.conf_states.at(e.index));
    } else if (!e.data.empty()) {
      applyNormal(e);
    } else if (lead_.load() == member_id_ && term_.load() == e.term) {
      // A new leader's no-op (§8): every entry of earlier terms is applied now, so this
      // member's lessor takes over with every lease's full TTL + the election timeout (etcd
      // promotes its lessor at the same point). Ignored if the raft thread has already seen
      // this leadership end (Lessor::Demote).
      leases_->lessor().Promote(e.term, leases_->election_timeout());
    }
    applied_ = e.index;
    applied_term_ = e.term;
    if (e.index == traced) propose_trace_.Mark(traced, kApplied);
    if (loops_stop_.load()) break;  // removed from the cluster
  }
  applied_index_ = applied_;
  feed_->Applied(store_->revision());  // watchers get the batch's revisions
  flushCompletions();
  propose_trace_.Finish(traced);
  proposals_applied_ += c.entries.size();
  // etcd counts applies slower than 100 ms (etcd_server_slow_apply_total).
  if (Clock::now() - started > std::chrono::milliseconds(100)) slow_apply_++;
  revision_ = store_->revision();
  compact_revision_ = store_->compact_revision();
  keys_ = store_->version_count();
  serveReads();
  maybeSnapshot();
  maybePublish();
}

// etcd's publish: once per start, when it has a leader, a member announces its name and
// client URLs through the log, so every member lists them (the bootstrap entries and MemberAdd
// carry only peer URLs) and a restart with new client URLs updates them.
void EtcdServer::Impl::maybePublish() {
  if (published_.load() || lead_.load() == raft::kNoNode || publishing_.load() ||
      loops_stop_.load() || members_.Find(member_id_) == nullptr) {
    return;
  }
  publishing_ = true;
  raftkvpb::InternalRequest r;
  auto* a = r.mutable_member_attributes();
  a->set_id(member_id_);
  a->set_name(config_.name);
  for (const auto& u : config_.advertise_client_urls) a->add_client_urls(u);
  Propose(std::move(r), [this](const ApplyResult& res) {
    if (res.ok()) published_ = true;
    publishing_ = false;
  });
}

void EtcdServer::Impl::applyNormal(const raft::Entry& e) {
  raftkvpb::InternalRequest req;
  RAFTKV_CHECK(req.ParseFromString(e.data), "a committed request decodes (we encoded it)");
  ApplyResult r = applyRequest(req, e);
  // Time in the log, not a local clock: every member expires the same sessions here.
  store_->sessions().ExpireSessions(req.time_ms());
  finishApply(req.origin(), req.id(), std::move(r));
}

// This member's calls are answered once the whole committed batch is applied, with one
// hand-over to the wait registry for the batch, in log order.
void EtcdServer::Impl::finishApply(uint64_t origin, uint64_t request_id, ApplyResult r) {
  if (origin == member_id_) completions_.emplace_back(request_id, std::move(r));
}

void EtcdServer::Impl::flushCompletions() {
  if (completions_.empty()) return;
  std::vector<std::pair<uint64_t, ApplyResult>> batch;
  batch.swap(completions_);
  std::vector<double> waited;
  waits_.CompleteBatch(std::move(batch), &waited);
  timeline_.AddCommitLatencies(waited);
}

ApplyResult EtcdServer::Impl::applyRequest(const raftkvpb::InternalRequest& req,
                                           const raft::Entry& e) {
  using R = raftkvpb::InternalRequest;
  bool write =
      req.op_case() == R::kPut || req.op_case() == R::kDeleteRange || req.op_case() == R::kTxn;
  if (req.client_id() == 0 || !write) return applyOp(req, e);
  // Exactly-once (thesis §6.3): a retried sequence number gets the first answer back.
  auto& sessions = store_->sessions();
  auto seen = sessions.Check(req.client_id(), req.seq(), req.time_ms());
  if (!seen.ok()) return seen.status();
  if (seen->has_value()) return DecodeResult(**seen);
  ApplyResult r = applyOp(req, e);
  sessions.Record(req.client_id(), req.seq(), EncodeResult(r), req.acked_through(), req.time_ms());
  return r;
}

ApplyResult EtcdServer::Impl::applyOp(const raftkvpb::InternalRequest& req, const raft::Entry& e) {
  using R = raftkvpb::InternalRequest;
  const raft::Index index = e.index;
  // etcd's capped applier wraps its auth applier, so NOSPACE is answered before a missing
  // permission.
  if (members_.HasAlarm(etcdserverpb::NOSPACE) && RefusedWhileCapped(req)) {
    return Status::FailedPrecondition(api::kErrNoSpace);
  }
  // Permissions are checked here, in log order, against the auth state at this entry
  // (auth_ops.cc), as etcd's auth applier does.
  RAFTKV_RETURN_IF_ERROR(CheckApplyPermission(*auth_, *store_, req));
  switch (req.op_case()) {
    case R::kPut:
      return Serialized<etcdserverpb::PutResponse>(store_->Put(api::FromProto(req.put())));
    case R::kDeleteRange:
      return Serialized<etcdserverpb::DeleteRangeResponse>(
          store_->DeleteRange(api::FromProto(req.delete_range())));
    case R::kTxn:
      return Serialized<etcdserverpb::TxnResponse>(store_->Txn(api::FromProto(req.txn())));
    case R::kLeaseGrant: return applyLeaseOrAlarm(req, e);
    case R::kLeaseRevoke:
    case R::kAlarm: return applyLeaseOrAlarm(req, e);
    case R::kCompaction:
      feed_->Applied(store_->revision());  // watchers are handed what compaction may drop
      return Serialized<etcdserverpb::CompactionResponse>(
          store_->Compact(api::FromProto(req.compaction())));
    case R::kRegisterSession: {
      // The register entry's index is the client id: unique, and equal on every member.
      store_->sessions().Register(index, req.time_ms());
      raftkvpb::RegisterResponse resp;
      resp.set_client_id(index);
      resp.set_timeout_ms(config_.session_timeout_ms);
      return resp.SerializeAsString();
    }
    case R::kMemberUpdate: {
      const auto& u = req.member_update();
      std::vector<std::string> urls(u.peer_urls().begin(), u.peer_urls().end());
      if (!members_.UpdatePeerUrls(u.id(), urls)) {
        return Status::NotFound(api::kErrMemberNotFound);
      }
      addPeer(*members_.Find(u.id()));
      spdlog::info("member {:x} updated: peer URLs {}", u.id(), fmt::join(urls, ","));
      etcdserverpb::MemberUpdateResponse resp;
      for (const auto& m : members_.List()) *resp.add_members() = m;
      return resp.SerializeAsString();
    }
    case R::kMemberAttributes:
      if (members_.SetAttributes(req.member_attributes())) {
        spdlog::info("member {:x} published name {} and client URLs {}",
                     req.member_attributes().id(), req.member_attributes().name(),
                     fmt::join(req.member_attributes().client_urls(), ","));
      }
      return std::string();
    case R::kAuth: return auth_->Apply(req.auth(), CallerOf(req), index);
    case R::OP_NOT_SET: break;
  }
  return Status::InvalidArgument("unknown request type in the log");
}

ApplyResult EtcdServer::Impl::applyLeaseOrAlarm(const raftkvpb::InternalRequest& req,
                                                const raft::Entry& e) {
  using R = raftkvpb::InternalRequest;
  if (req.op_case() == R::kLeaseGrant) {
    const auto& g = req.lease_grant();
    RAFTKV_RETURN_IF_ERROR(store_->LeaseGrant(g.id(), g.ttl()));
    leases_->lessor().Granted(g.id(), g.ttl());
    etcdserverpb::LeaseGrantResponse r;
    r.set_id(g.id());
    r.set_ttl(g.ttl());
    r.mutable_header()->set_revision(store_->revision());
    return r.SerializeAsString();
  }
  if (req.op_case() == R::kLeaseRevoke) {
    const auto& rv = req.lease_revoke();
    // An expiry decided by the primary of another term than the one that appended it is a
    // deposed leader's, forwarded: it must not count (lease/lessor.h).
    if (rv.expiry_term() != 0 && rv.expiry_term() != e.term) {
      spdlog::info("ignored lease {:x} expiry decided in term {} (appended in term {})", rv.id(),
                   rv.expiry_term(), e.term);
      return Status::Aborted("raftkv: stale lease expiry");
    }
    auto h = store_->LeaseRevoke(rv.id());
    if (!h.ok()) return h.status();
    leases_->lessor().Revoked(rv.id());
    etcdserverpb::LeaseRevokeResponse r;
    r.mutable_header()->set_revision(h->revision);
    return r.SerializeAsString();
  }
  // Alarm ACTIVATE / DEACTIVATE.
  const auto& a = req.alarm();
  etcdserverpb::AlarmResponse r;
  bool changed = a.action() == etcdserverpb::AlarmRequest::ACTIVATE
                     ? members_.ActivateAlarm(a.memberid(), a.alarm())
                     : members_.DeactivateAlarm(a.memberid(), a.alarm());
  if (changed || a.action() == etcdserverpb::AlarmRequest::ACTIVATE) {
    etcdserverpb::AlarmMember* m = r.add_alarms();
    m->set_memberid(a.memberid());
    m->set_alarm(a.alarm());
  }
  if (changed) {
    spdlog::warn("alarm {} {} for member {:x}", etcdserverpb::AlarmType_Name(a.alarm()),
                 a.action() == etcdserverpb::AlarmRequest::ACTIVATE ? "raised" : "disarmed",
                 a.memberid());
  }
  r.mutable_header()->set_revision(store_->revision());
  return r.SerializeAsString();
}

void EtcdServer::Impl::applyConfChange(const raft::Entry& e, const raft::ConfState& cs) {
  conf_state_ = cs;
  auto cc = raft::DecodeConfChange(e.data);
  RAFTKV_CHECK(cc.ok() && cc->changes.size() == 1, "the server proposes single changes");
  raftkvpb::ConfChangeContext ctx;
  if (!cc->context.empty()) {
    RAFTKV_CHECK(ctx.ParseFromString(cc->context), "a conf change context decodes");
  }
  const raft::ConfChangeSingle& ch = cc->changes[0];
  etcdserverpb::Member m = ctx.member();
  m.set_id(ch.node_id);
  if (cc->context.empty()) {  // a bootstrap entry: names and URLs from the identity
    for (const auto& im : identity_.initial_members()) {
      if (im.id() == ch.node_id) m = im;
    }
  }
  bool promoted = false;
  std::string what;
  switch (ch.type) {
    case raft::ConfChangeType::kAddNode: {
      const etcdserverpb::Member* old = members_.Find(ch.node_id);
      promoted = old != nullptr && old->islearner();
      if (promoted) {
        members_.Promote(ch.node_id);
        what = "promoted to voter";
      } else {
        m.set_islearner(false);
        members_.Add(m);
        addPeer(m);
        what = "added";
      }
      break;
    }
    case raft::ConfChangeType::kAddLearnerNode:
      m.set_islearner(true);
      members_.Add(m);
      addPeer(m);
      what = "added as learner";
      break;
    case raft::ConfChangeType::kRemoveNode:
      members_.Remove(ch.node_id);
      if (ch.node_id != member_id_) transport_->RemovePeer(ch.node_id);
      what = "removed";
      break;
  }
  spdlog::info("member {:x} ({}) {} at index {}", ch.node_id, m.name(), what, e.index);
  timeline_.Event(
      "member", e.term,
      fmt::format("member {:x} ({}) {} at index {}", ch.node_id, m.name(), what, e.index));
  is_learner_ = std::find(cs.learners.begin(), cs.learners.end(), member_id_) != cs.learners.end();
  if (ctx.origin() == member_id_) {
    std::string resp;
    if (ch.type == raft::ConfChangeType::kRemoveNode) {
      etcdserverpb::MemberRemoveResponse r;
      for (const auto& x : members_.List()) *r.add_members() = x;
      resp = r.SerializeAsString();
    } else if (promoted) {
      etcdserverpb::MemberPromoteResponse r;
      for (const auto& x : members_.List()) *r.add_members() = x;
      resp = r.SerializeAsString();
    } else {
      etcdserverpb::MemberAddResponse r;
      *r.mutable_member() = m;
      for (const auto& x : members_.List()) *r.add_members() = x;
      resp = r.SerializeAsString();
    }
    finishApply(ctx.origin(), ctx.request_id(), std::move(resp));
  }
  if (ch.type == raft::ConfChangeType::kRemoveNode && ch.node_id == member_id_) {
    flushCompletions();  // what was applied is answered; the rest fail with "stopped"
    spdlog::warn("member {:x} was removed from the cluster: stopping", member_id_);
    setStopReason("the member has been permanently removed from the cluster");
    shutdownLoops();
  }
}

void EtcdServer::Impl::serveReads() {
  while (!waiting_reads_.empty() && waiting_reads_.begin()->first <= applied_) {
    PendingRead r = std::move(waiting_reads_.begin()->second);
    waiting_reads_.erase(waiting_reads_.begin());
    waits_.Complete(r.id, r.op(*store_));
  }
}

}  // namespace raftkv::server
