// etcdserverpb.KV over EtcdServer.
#include "server/daemon/services.h"

namespace raftkv::server::daemon {

bool KvService::CheckWrite(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
                           const raftkv::Status& check, size_t bytes, SessionRef* session) {
  raftkv::Status s = check;
  // etcd refuses an oversized request when it proposes it, after the v3rpc checks.
  if (s.ok()) s = api::CheckRequestSize(bytes, limits_.max_request_bytes);
  if (!s.ok()) {
    reactor->Finish(api::ToGrpcStatus(s));
    return false;
  }
  Result<SessionRef> parsed = ParseSessionMetadata(ctx->client_metadata());
  if (!parsed.ok()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, parsed.status().message()));
    return false;
  }
  *session = *parsed;
  return true;
}

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* ctx,
                                           const etcdserverpb::RangeRequest* req,
                                           etcdserverpb::RangeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // etcd serves serializable Ranges on a learner.
  if (RefuseUnary(ctx, member_, reactor, /*learner_ok=*/req->serializable())) return reactor;
  raftkv::Status s = api::CheckRangeRequest(*req);
  if (!s.ok()) {
    reactor->Finish(api::ToGrpcStatus(s));
    return reactor;
  }
  WithCaller(server_, member_, ctx, reactor, [this, req, reactor, resp](const auth::AuthInfo& who) {
    server_->Range(*req, who, FinishWith(reactor, resp));
  });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::PutRequest* req,
                                         etcdserverpb::PutResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  SessionRef session;
  if (CheckWrite(ctx, reactor, api::CheckPutRequest(*req), req->ByteSizeLong(), &session)) {
    WithCaller(server_, member_, ctx, reactor,
               [this, req, reactor, resp, session](const auth::AuthInfo& who) {
                 server_->Put(*req, session, who, FinishWith(reactor, resp));
               });
  }
  return reactor;
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx,
                                                 const etcdserverpb::DeleteRangeRequest* req,
                                                 etcdserverpb::DeleteRangeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  SessionRef session;
  if (CheckWrite(ctx, reactor, api::CheckDeleteRangeRequest(*req), req->ByteSizeLong(), &session)) {
    WithCaller(server_, member_, ctx, reactor,
               [this, req, reactor, resp, session](const auth::AuthInfo& who) {
                 server_->DeleteRange(*req, session, who, FinishWith(reactor, resp));
               });
  }
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::TxnRequest* req,
                                         etcdserverpb::TxnResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  SessionRef session;
  if (CheckWrite(ctx, reactor, api::CheckTxnRequest(*req, limits_.max_txn_ops), req->ByteSizeLong(),
                 &session)) {
    WithCaller(server_, member_, ctx, reactor,
               [this, req, reactor, resp, session](const auth::AuthInfo& who) {
                 server_->Txn(*req, session, who, FinishWith(reactor, resp));
               });
  }
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* ctx,
                                             const etcdserverpb::CompactionRequest* req,
                                             etcdserverpb::CompactionResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  WithCaller(server_, member_, ctx, reactor, [this, req, reactor, resp](const auth::AuthInfo& who) {
    server_->Compact(*req, who, FinishWith(reactor, resp));
  });
  return reactor;
}

}  // namespace raftkv::server::daemon
