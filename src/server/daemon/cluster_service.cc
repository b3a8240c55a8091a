// etcdserverpb.Cluster over EtcdServer.
#include "server/daemon/flags.h"
#include "server/daemon/services.h"

namespace raftkv::server::daemon {
namespace {

// etcd refuses peer URLs it cannot parse (types.NewURLs) with this error; raftkv also
// refuses the schemes it does not serve (unix).
constexpr char kErrBadUrls[] = "etcdserver: given member URLs are invalid";

bool UrlsValid(const google::protobuf::RepeatedPtrField<std::string>& urls) {
  if (urls.empty()) return false;
  for (const std::string& u : urls) {
    if (!ParseHttpUrl(u).ok()) return false;
  }
  return true;
}

}  // namespace

grpc::ServerUnaryReactor* ClusterService::MemberAdd(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::MemberAddRequest* req,
                                                    etcdserverpb::MemberAddResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  if (!UrlsValid(req->peerurls())) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, kErrBadUrls));
    return reactor;
  }
  // etcd: only root changes the membership (checked here, at the edge, as etcd does).
  WithCaller(
      server_, member_, ctx, reactor,
      [this, req, reactor, resp](const auth::AuthInfo&) {
        server_->MemberAdd(*req, FinishWith(reactor, resp));
      },
      /*admin=*/true);
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberRemove(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberRemoveRequest* req,
                                                       etcdserverpb::MemberRemoveResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  // etcd: only root changes the membership (checked here, at the edge, as etcd does).
  WithCaller(
      server_, member_, ctx, reactor,
      [this, req, reactor, resp](const auth::AuthInfo&) {
        server_->MemberRemove(*req, FinishWith(reactor, resp));
      },
      /*admin=*/true);
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberUpdate(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberUpdateRequest* req,
                                                       etcdserverpb::MemberUpdateResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  if (!UrlsValid(req->peerurls())) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, kErrBadUrls));
    return reactor;
  }
  // etcd: only root changes the membership (checked here, at the edge, as etcd does).
  WithCaller(
      server_, member_, ctx, reactor,
      [this, req, reactor, resp](const auth::AuthInfo&) {
        server_->MemberUpdate(*req, FinishWith(reactor, resp));
      },
      /*admin=*/true);
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::MemberListRequest* req,
                                                     etcdserverpb::MemberListResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  server_->MemberList(*req, FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberPromote(
    grpc::CallbackServerContext* ctx, const etcdserverpb::MemberPromoteRequest* req,
    etcdserverpb::MemberPromoteResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  // etcd: only root changes the membership (checked here, at the edge, as etcd does).
  WithCaller(
      server_, member_, ctx, reactor,
      [this, req, reactor, resp](const auth::AuthInfo&) {
        server_->MemberPromote(*req, FinishWith(reactor, resp));
      },
      /*admin=*/true);
  return reactor;
}

}  // namespace raftkv::server::daemon
