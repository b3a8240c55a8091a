// raftkvpb.Session: registration of exactly-once client sessions (session.proto).
#include "server/daemon/services.h"

namespace raftkv::server::daemon {

grpc::ServerUnaryReactor* SessionService::Register(grpc::CallbackServerContext* ctx,
                                                   const raftkvpb::RegisterRequest* req,
                                                   raftkvpb::RegisterResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  int64_t timeout_ms = server_->session_timeout_ms();
  server_->RegisterSession([reactor, resp, timeout_ms](Result<uint64_t> id) {
    if (!id.ok()) {
      reactor->Finish(api::ToGrpcStatus(id.status()));
      return;
    }
    resp->set_client_id(*id);
    resp->set_timeout_ms(timeout_ms);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace raftkv::server::daemon
