// etcdserverpb.Cluster over EtcdServer.
#include "server/daemon/flags.h"
#include "server/daemon/services.h"

namespace raftkv::server::daemon {
namespace {

bool UrlsValid(const google::protobuf::RepeatedPtrField<std::string>& urls) {
  if (urls.empty()) return false;
  for (const std::string& u : urls) {
    if (!ParseHttpUrl(u).ok()) return false;
  }
  return true;
}

// A membership change: refused on a learner and, for a request that carries peer URLs, on
// URLs etcd could not parse (types.NewURLs; raftkv also refuses the schemes it does not
// serve, unix), then allowed only for root, checked here at the edge as etcd does.
template <typename Req, typename Resp, typename Change>
grpc::ServerUnaryReactor* ChangeMembership(EtcdServer* server, const MemberState* member,
                                           grpc::CallbackServerContext* ctx, const Req* req,
                                           Resp* resp, Change change) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member, reactor)) return reactor;
  if constexpr (requires { req->peerurls(); }) {
    if (!UrlsValid(req->peerurls())) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, api::kErrMemberBadUrls));
      return reactor;
    }
  }
  WithCaller(
      server, member, ctx, reactor,
      [server, req, reactor, resp, change](const auth::AuthInfo&) {
        change(server, *req, FinishWith(reactor, resp));
      },
      /*admin=*/true);
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* ClusterService::MemberAdd(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::MemberAddRequest* req,
                                                    etcdserverpb::MemberAddResponse* resp) {
  return ChangeMembership(
      server_, member_, ctx, req, resp,
      [](EtcdServer* s, const auto& r, auto done) { s->MemberAdd(r, std::move(done)); });
}

grpc::ServerUnaryReactor* ClusterService::MemberRemove(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberRemoveRequest* req,
                                                       etcdserverpb::MemberRemoveResponse* resp) {
  return ChangeMembership(
      server_, member_, ctx, req, resp,
      [](EtcdServer* s, const auto& r, auto done) { s->MemberRemove(r, std::move(done)); });
}

grpc::ServerUnaryReactor* ClusterService::MemberUpdate(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberUpdateRequest* req,
                                                       etcdserverpb::MemberUpdateResponse* resp) {
  return ChangeMembership(
      server_, member_, ctx, req, resp,
      [](EtcdServer* s, const auto& r, auto done) { s->MemberUpdate(r, std::move(done)); });
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
  return ChangeMembership(
      server_, member_, ctx, req, resp,
      [](EtcdServer* s, const auto& r, auto done) { s->MemberPromote(r, std::move(done)); });
}

}  // namespace raftkv::server::daemon
