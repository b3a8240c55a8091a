// The KV calls: writes go through the log; linearizable reads take the ReadIndex path;
// serializable reads are served from the local store at once.
#include "api/convert.h"
#include "api/errors.h"
#include "raftkvpb/session.pb.h"
#include "server/auth_ops.h"
#include "server/server_impl.h"

namespace raftkv::server {
namespace {

bool IsReadOnly(const etcdserverpb::TxnRequest& t);

bool IsReadOnlyOps(const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) {
  for (const auto& op : ops) {
    if (op.has_request_put() || op.has_request_delete_range()) return false;
    if (op.has_request_txn() && !IsReadOnly(op.request_txn())) return false;
  }
  return true;
}

bool IsReadOnly(const etcdserverpb::TxnRequest& t) {
  return IsReadOnlyOps(t.success()) && IsReadOnlyOps(t.failure());
}

// The edge checks every write shares, in etcd's order: the request's own check (`checked`),
// its size, and that this member is not a learner (a learner takes no writes).
template <typename Impl, typename Req>
raftkv::Status CheckWrite(const Impl& impl, raftkv::Status checked, const Req& req) {
  RAFTKV_RETURN_IF_ERROR(checked);
  RAFTKV_RETURN_IF_ERROR(
      api::CheckRequestSize(req.ByteSizeLong(), impl.config().max_request_bytes));
  if (impl.is_learner()) return raftkv::Status::Unavailable(api::kErrNotSupportedForLearner);
  return raftkv::Status::OK();
}

void SetSession(const SessionRef& s, raftkvpb::InternalRequest* r) {
  r->set_client_id(s.client_id);
  r->set_seq(s.seq);
  r->set_acked_through(s.acked_through);
}

}  // namespace

namespace {

// Where a KV call's answer goes: a parsed response (the gRPC services) or its bytes, header
// included (the client front). Exactly one of the two is set. (The helpers below are templates
// on the server's Impl only because that class is private to EtcdServer.)
template <typename Resp>
struct Answer {
  Done<Resp> typed;
  Done<std::string> bytes;

  void Fail(raftkv::Status s) { typed ? typed(std::move(s)) : bytes(std::move(s)); }
  // For an answer the apply thread serializes (Waiter's ApplyResult).
  template <typename Impl>
  Waiter Wait(Impl& impl) {
    return typed ? impl.template Typed<Resp>(std::move(typed)) : impl.Bytes(std::move(bytes));
  }
  // For a response built here, header filled.
  void Now(Resp&& p) { typed ? typed(std::move(p)) : bytes(p.SerializeAsString()); }
};

template <typename Resp>
Answer<Resp> Typed(Done<Resp> done) {
  return Answer<Resp>{std::move(done), nullptr};
}
template <typename Resp>
Answer<Resp> AsBytes(Done<std::string> done) {
  return Answer<Resp>{nullptr, std::move(done)};
}

template <typename Impl>
void RangeTo(Impl* impl, const etcdserverpb::RangeRequest& req, const auth::AuthInfo& who,
             Answer<etcdserverpb::RangeResponse> done) {
  raftkv::Status s = api::CheckRangeRequest(req);
  if (!s.ok()) return done.Fail(s);
  if (impl->stopped()) return done.Fail(raftkv::Status::Unavailable(api::kErrStopped));
  kv::RangeRequest kreq = api::FromProto(req);
  auth::Store* auth = &impl->auth();
  // A linearizable read is checked on the apply thread, in log order, like a write.
  ReadOp op = [kreq, who, auth, key = req.key(),
               end = req.range_end()](kv::Store& store) -> ApplyResult {
    RAFTKV_RETURN_IF_ERROR(auth->CheckRange(who, key, end));
    auto r = store.Range(kreq);
    if (!r.ok()) return r.status();
    etcdserverpb::RangeResponse p;
    api::ToProto(*r, &p);
    return p.SerializeAsString();
  };
  // A learner has no vote and may lag: etcd lets it serve only serializable reads.
  if (!req.serializable() && impl->is_learner()) {
    return done.Fail(raftkv::Status::Unavailable(api::kErrNotSupportedForLearner));
  }
#ifdef RAFTKV_PLANTED_STALE_READ
  // PLANTED BUG (raftkv_server_stale_read, for the chaos harness only): a linearizable read
  // is served from the local store at once, without ReadIndex. A deposed leader or a
  // lagging follower then answers with stale data.
  impl->SerializableRead(std::move(op), done.Wait(*impl));
#else
  if (req.serializable()) {
    // A serializable range needs no log position (it may be stale, as etcd's): it is served
    // here on the calling thread from the store the apply thread published (ReadStore), with
    // no hop to the apply thread and back and no serialize-then-parse of the response.
    // The permission check comes first; if the auth state changed while reading, the
    // answer is withheld (etcd's doSerialize).
    if (raftkv::Status a = auth->CheckRange(who, req.key(), req.range_end()); !a.ok()) {
      return done.Fail(a);
    }
    impl->timeline().AddReads(1);
    auto r = impl->ReadStore()->Range(kreq);
    if (!r.ok()) return done.Fail(r.status());
    if (raftkv::Status a = auth->CheckUnchanged(who); !a.ok()) return done.Fail(a);
    etcdserverpb::RangeResponse p;
    api::ToProto(*r, &p);
    api::FillHeader(api::HeaderInfo{impl->cluster_id(), impl->member_id(), impl->term()},
                    p.mutable_header());
    return done.Now(std::move(p));
  } else {
    impl->LinearizableRead(std::move(op), done.Wait(*impl));
  }
#endif
}

template <typename Impl>
void PutTo(Impl* impl, const etcdserverpb::PutRequest& req, const SessionRef& session,
           const auth::AuthInfo& who, Answer<etcdserverpb::PutResponse> done) {
  raftkv::Status s = CheckWrite(*impl, api::CheckPutRequest(req), req);
  if (s.ok()) s = impl->CheckQuota(QuotaCost(req));  // etcd's quotaKVServer
  if (!s.ok()) return done.Fail(s);
  raftkvpb::InternalRequest r;
  *r.mutable_put() = req;
  SetSession(session, &r);
  SetCaller(who, &r);
  impl->Propose(std::move(r), done.Wait(*impl));
}

template <typename Impl>
void DeleteRangeTo(Impl* impl, const etcdserverpb::DeleteRangeRequest& req,
                   const SessionRef& session, const auth::AuthInfo& who,
                   Answer<etcdserverpb::DeleteRangeResponse> done) {
  raftkv::Status s = CheckWrite(*impl, api::CheckDeleteRangeRequest(req), req);
  if (!s.ok()) return done.Fail(s);
  raftkvpb::InternalRequest r;
  *r.mutable_delete_range() = req;
  SetSession(session, &r);
  SetCaller(who, &r);
  impl->Propose(std::move(r), done.Wait(*impl));
}

template <typename Impl>
void TxnTo(Impl* impl, const etcdserverpb::TxnRequest& req, const SessionRef& session,
           const auth::AuthInfo& who, Answer<etcdserverpb::TxnResponse> done) {
  raftkv::Status s = CheckWrite(*impl, api::CheckTxnRequest(req, impl->config().max_txn_ops), req);
  if (!s.ok()) return done.Fail(s);
  Waiter w = done.Wait(*impl);
  if (IsReadOnly(req)) {
    // A txn without writes is a read: no log entry, the ReadIndex path (as etcd does).
    if (impl->stopped()) return w(raftkv::Status::Unavailable(api::kErrStopped));
    kv::TxnRequest kreq = api::FromProto(req);
    impl->LinearizableRead(
        [kreq, who, auth = &impl->auth(), req](kv::Store& store) -> ApplyResult {
          RAFTKV_RETURN_IF_ERROR(auth->CheckTxn(who, req));
          auto r = store.Txn(kreq);
          if (!r.ok()) return r.status();
          etcdserverpb::TxnResponse p;
          api::ToProto(*r, &p);
          return p.SerializeAsString();
        },
        std::move(w));
    return;
  }
  raftkv::Status q = impl->CheckQuota(QuotaCost(req));  // etcd's quotaKVServer
  if (!q.ok()) return w(q);
  raftkvpb::InternalRequest r;
  *r.mutable_txn() = req;
  SetSession(session, &r);
  SetCaller(who, &r);
  impl->Propose(std::move(r), std::move(w));
}

}  // namespace

void EtcdServer::Range(const etcdserverpb::RangeRequest& req, const auth::AuthInfo& who,
                       Done<etcdserverpb::RangeResponse> done) {
  RangeTo(impl_.get(), req, who, Typed(std::move(done)));
}
void EtcdServer::RangeBytes(const etcdserverpb::RangeRequest& req, const auth::AuthInfo& who,
                            Done<std::string> done) {
  RangeTo(impl_.get(), req, who, AsBytes<etcdserverpb::RangeResponse>(std::move(done)));
}

void EtcdServer::Put(const etcdserverpb::PutRequest& req, const SessionRef& session,
                     const auth::AuthInfo& who, Done<etcdserverpb::PutResponse> done) {
  PutTo(impl_.get(), req, session, who, Typed(std::move(done)));
}
void EtcdServer::PutBytes(const etcdserverpb::PutRequest& req, const SessionRef& session,
                          const auth::AuthInfo& who, Done<std::string> done) {
  PutTo(impl_.get(), req, session, who, AsBytes<etcdserverpb::PutResponse>(std::move(done)));
}

void EtcdServer::DeleteRange(const etcdserverpb::DeleteRangeRequest& req, const SessionRef& session,
                             const auth::AuthInfo& who,
                             Done<etcdserverpb::DeleteRangeResponse> done) {
  DeleteRangeTo(impl_.get(), req, session, who, Typed(std::move(done)));
}
void EtcdServer::DeleteRangeBytes(const etcdserverpb::DeleteRangeRequest& req,
                                  const SessionRef& session, const auth::AuthInfo& who,
                                  Done<std::string> done) {
  DeleteRangeTo(impl_.get(), req, session, who,
                AsBytes<etcdserverpb::DeleteRangeResponse>(std::move(done)));
}

void EtcdServer::Txn(const etcdserverpb::TxnRequest& req, const SessionRef& session,
                     const auth::AuthInfo& who, Done<etcdserverpb::TxnResponse> done) {
  TxnTo(impl_.get(), req, session, who, Typed(std::move(done)));
}
void EtcdServer::TxnBytes(const etcdserverpb::TxnRequest& req, const SessionRef& session,
                          const auth::AuthInfo& who, Done<std::string> done) {
  TxnTo(impl_.get(), req, session, who, AsBytes<etcdserverpb::TxnResponse>(std::move(done)));
}

void EtcdServer::Compact(const etcdserverpb::CompactionRequest& req, const auth::AuthInfo& who,
                         Done<etcdserverpb::CompactionResponse> done) {
  if (impl_->is_learner()) {
    return done(raftkv::Status::Unavailable(api::kErrNotSupportedForLearner));
  }
  raftkvpb::InternalRequest r;
  *r.mutable_compaction() = req;
  SetCaller(who, &r);
  impl_->Propose(std::move(r), impl_->Typed<etcdserverpb::CompactionResponse>(std::move(done)));
}

void EtcdServer::RegisterSession(Done<uint64_t> done) {
  raftkvpb::InternalRequest r;
  r.mutable_register_session();
  impl_->Propose(std::move(r), [done = std::move(done)](ApplyResult res) {
    if (!res.ok()) return done(res.status());
    raftkvpb::RegisterResponse resp;
    if (!resp.ParseFromString(*res))
      return done(raftkv::Status::Corruption("bad register response"));
    done(resp.client_id());
  });
}

}  // namespace raftkv::server
