#include "server/daemon/kv_front.h"

#include <map>

#include "api/session_metadata.h"

namespace raftkv::server::daemon {
namespace {

namespace pb = etcdserverpb;

constexpr std::string_view kRange = "/etcdserverpb.KV/Range";
constexpr std::string_view kPut = "/etcdserverpb.KV/Put";
constexpr std::string_view kDeleteRange = "/etcdserverpb.KV/DeleteRange";
constexpr std::string_view kTxn = "/etcdserverpb.KV/Txn";

void Fail(const front::Reply& reply, const grpc::Status& s) {
  reply.Error(static_cast<int>(s.error_code()), s.error_message());
}

auto FailTo(front::Reply reply) {
  return [reply](const grpc::Status& s) { Fail(reply, s); };
}

Done<std::string> AnswerTo(front::Reply reply) {
  return [reply](Result<std::string> r) {
    if (!r.ok()) return Fail(reply, api::ToGrpcStatus(r.status()));
    reply.Ok(std::move(r).value());
  };
}

// The request message, or false after answering as grpc-go does (what etcd's clients see).
template <typename Req>
bool Parse(const front::Call& call, Req* req) {
  if (req->ParseFromArray(call.message.data(), static_cast<int>(call.message.size()))) {
    return true;
  }
  call.reply.Error(static_cast<int>(grpc::StatusCode::INTERNAL),
                   "grpc: error unmarshalling request: cannot parse " +
                       std::string(Req::descriptor()->full_name()));
  return false;
}

auth::Credentials CredentialsOf(const front::Call& call) {
  auth::Credentials c;
  if (const std::string* token = call.Find("token")) c.token = *token;
  return c;
}

Result<SessionRef> SessionOf(const front::Call& call) {
  std::multimap<grpc::string_ref, grpc::string_ref> md;
  for (const front::Header& h : call.headers) {
    if (h.name.rfind("raftkv-", 0) == 0) md.emplace(h.name, h.value);
  }
  return ParseSessionMetadata(md);
}

}  // namespace

bool KvFront::Serves(std::string_view path) const {
  return path == kRange || path == kPut || path == kDeleteRange || path == kTxn;
}

bool KvFront::Refused(const front::Call& call, bool learner_ok) const {
  std::optional<grpc::Status> refused = UnaryRefusal(member_, learner_ok, [&call] {
    const std::string* v = call.Find("hasleader");
    return v != nullptr && *v == "true";
  });
  if (!refused) return false;
  Fail(call.reply, *refused);
  return true;
}

void KvFront::Serve(front::Call call) {
  if (call.path == kRange) return Range(call);
  if (call.path == kPut) {
    return Write<pb::PutRequest>(
        call, [](const pb::PutRequest& r) { return api::CheckPutRequest(r); },
        [](EtcdServer* s, const pb::PutRequest& r, const SessionRef& session,
           const auth::AuthInfo& who,
           Done<std::string> done) { s->PutBytes(r, session, who, std::move(done)); });
  }
  if (call.path == kDeleteRange) {
    return Write<pb::DeleteRangeRequest>(
        call, [](const pb::DeleteRangeRequest& r) { return api::CheckDeleteRangeRequest(r); },
        [](EtcdServer* s, const pb::DeleteRangeRequest& r, const SessionRef& session,
           const auth::AuthInfo& who,
           Done<std::string> done) { s->DeleteRangeBytes(r, session, who, std::move(done)); });
  }
  if (call.path == kTxn) {
    return Write<pb::TxnRequest>(
        call,
        [this](const pb::TxnRequest& r) { return api::CheckTxnRequest(r, limits_.max_txn_ops); },
        [](EtcdServer* s, const pb::TxnRequest& r, const SessionRef& session,
           const auth::AuthInfo& who,
           Done<std::string> done) { s->TxnBytes(r, session, who, std::move(done)); });
  }
  call.reply.Error(static_cast<int>(grpc::StatusCode::UNIMPLEMENTED), "unknown method");
}

void KvFront::Range(const front::Call& call) {
  pb::RangeRequest req;
  if (!Parse(call, &req)) return;
  // etcd serves serializable Ranges on a learner.
  if (Refused(call, /*learner_ok=*/req.serializable())) return;
  raftkv::Status s = api::CheckRangeRequest(req);
  if (!s.ok()) return Fail(call.reply, api::ToGrpcStatus(s));
  ResolveCredentialsThen(
      server_, CredentialsOf(call), /*admin=*/false, FailTo(call.reply),
      [this, req = std::move(req), reply = call.reply](const auth::AuthInfo& who) {
        server_->RangeBytes(req, who, AnswerTo(reply));
      });
}

template <typename Req, typename Check, typename Send>
void KvFront::Write(const front::Call& call, Check check, Send send) {
  Req req;
  if (!Parse(call, &req)) return;
  if (Refused(call, /*learner_ok=*/false)) return;
  raftkv::Status s = check(req);
  // etcd refuses an oversized request when it proposes it, after the v3rpc checks.
  if (s.ok()) s = api::CheckRequestSize(call.message.size(), limits_.max_request_bytes);
  if (!s.ok()) return Fail(call.reply, api::ToGrpcStatus(s));
  Result<SessionRef> session = SessionOf(call);
  if (!session.ok()) {
    call.reply.Error(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT),
                     session.status().message());
    return;
  }
  ResolveCredentialsThen(
      server_, CredentialsOf(call), /*admin=*/false, FailTo(call.reply),
      [this, req = std::move(req), session = *session, reply = call.reply,
       send](const auth::AuthInfo& who) { send(server_, req, session, who, AnswerTo(reply)); });
}

}  // namespace raftkv::server::daemon
