// etcdserverpb.KV over EtcdServer, plus the session metadata of exactly-once writes.
#include <charconv>

#include "api/session_metadata.h"
#include "server/daemon/services.h"

namespace raftkv::server::daemon {
namespace {

// The value of `key`, if the client sent it (the last one if sent twice).
const grpc::string_ref* Find(const std::multimap<grpc::string_ref, grpc::string_ref>& md,
                             const char* key) {
  const grpc::string_ref* found = nullptr;
  auto [begin, end] = md.equal_range(grpc::string_ref(key));
  for (auto it = begin; it != end; ++it) found = &it->second;
  return found;
}

Status ParseU64(const char* key, const grpc::string_ref& text, uint64_t* out) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, *out);
  if (text.empty() || ec != std::errc() || end != last) {
    return Status::InvalidArgument(std::string("raftkv: bad ") + key + " metadata \"" +
                                   std::string(first, text.size()) +
                                   "\" (expected a decimal unsigned integer)");
  }
  return Status::OK();
}

}  // namespace

Result<SessionRef> ParseSessionMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
  SessionRef session;
  const grpc::string_ref* client = Find(md, api::kMetaClientId);
  const grpc::string_ref* seq = Find(md, api::kMetaSeq);
  const grpc::string_ref* acked = Find(md, api::kMetaAcked);
  if (client == nullptr) {
    if (seq != nullptr || acked != nullptr) {
      return Status::InvalidArgument(std::string("raftkv: ") + api::kMetaSeq + "/" +
                                     api::kMetaAcked + " metadata without " + api::kMetaClientId);
    }
    return session;
  }
  RAFTKV_RETURN_IF_ERROR(ParseU64(api::kMetaClientId, *client, &session.client_id));
  if (session.client_id == 0) {
    return Status::InvalidArgument(std::string("raftkv: bad ") + api::kMetaClientId +
                                   " metadata \"0\" (client ids start at 1)");
  }
  if (seq == nullptr) {
    return Status::InvalidArgument(std::string("raftkv: ") + api::kMetaClientId +
                                   " metadata without " + api::kMetaSeq);
  }
  RAFTKV_RETURN_IF_ERROR(ParseU64(api::kMetaSeq, *seq, &session.seq));
  if (session.seq == 0) {
    return Status::InvalidArgument(std::string("raftkv: bad ") + api::kMetaSeq +
                                   " metadata \"0\" (sequence numbers start at 1)");
  }
  if (acked != nullptr) {
    RAFTKV_RETURN_IF_ERROR(ParseU64(api::kMetaAcked, *acked, &session.acked_through));
  }
  // The response to this request has not been received yet, so it cannot be acknowledged.
  if (session.acked_through >= session.seq) {
    return Status::InvalidArgument(std::string("raftkv: ") + api::kMetaAcked + " (" +
                                   std::to_string(session.acked_through) + ") must be below " +
                                   api::kMetaSeq + " (" + std::to_string(session.seq) + ")");
  }
  return session;
}

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
  raftkv::Status s = api::CheckRangeRequest(*req);
  if (!s.ok()) {
    reactor->Finish(api::ToGrpcStatus(s));
    return reactor;
  }
  server_->Range(*req, FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::PutRequest* req,
                                         etcdserverpb::PutResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  SessionRef session;
  if (CheckWrite(ctx, reactor, api::CheckPutRequest(*req), req->ByteSizeLong(), &session)) {
    server_->Put(*req, session, FinishWith(reactor, resp));
  }
  return reactor;
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx,
                                                 const etcdserverpb::DeleteRangeRequest* req,
                                                 etcdserverpb::DeleteRangeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  SessionRef session;
  if (CheckWrite(ctx, reactor, api::CheckDeleteRangeRequest(*req), req->ByteSizeLong(), &session)) {
    server_->DeleteRange(*req, session, FinishWith(reactor, resp));
  }
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::TxnRequest* req,
                                         etcdserverpb::TxnResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  SessionRef session;
  if (CheckWrite(ctx, reactor, api::CheckTxnRequest(*req, limits_.max_txn_ops), req->ByteSizeLong(),
                 &session)) {
    server_->Txn(*req, session, FinishWith(reactor, resp));
  }
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* ctx,
                                             const etcdserverpb::CompactionRequest* req,
                                             etcdserverpb::CompactionResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  server_->Compact(*req, FinishWith(reactor, resp));
  return reactor;
}

}  // namespace raftkv::server::daemon
