// etcdserverpb.Auth over EtcdServer (the rules: src/auth/README.md).
#include "server/daemon/services.h"
#include "tls/tls.h"

namespace raftkv::server::daemon {

auth::Credentials CredentialsOf(grpc::CallbackServerContext* ctx, const MemberState* member) {
  auth::Credentials c;
  const auto& md = ctx->client_metadata();
  auto it = md.find("token");
  if (it != md.end()) c.token = std::string(it->second.data(), it->second.size());
  if (member != nullptr && member->client_cert_auth && ctx->auth_context() != nullptr) {
    c.common_name = tls::PeerCommonName(*ctx->auth_context());
  }
  return c;
}

template <typename Req, typename Resp>
grpc::ServerUnaryReactor* AuthService::Forward(Ctx* ctx, const Req* req, Resp* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  WithCaller(server_, member_, ctx, reactor, [this, reactor, req, resp](const auth::AuthInfo& who) {
    server_->AuthCall(who, *req, FinishWith(reactor, resp));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::Authenticate(Ctx* ctx,
                                                    const etcdserverpb::AuthenticateRequest* req,
                                                    etcdserverpb::AuthenticateResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  // etcd does not look at the caller's token here: a login needs none.
  server_->Authenticate(*req, FinishWith(reactor, resp));
  return reactor;
}

#define RAFTKV_FORWARD(Method, Req, Resp)                                               \
  grpc::ServerUnaryReactor* AuthService::Method(Ctx* ctx, const etcdserverpb::Req* req, \
                                                etcdserverpb::Resp* resp) {             \
    return Forward(ctx, req, resp);                                                     \
  }
RAFTKV_FORWARD(AuthEnable, AuthEnableRequest, AuthEnableResponse)
RAFTKV_FORWARD(AuthDisable, AuthDisableRequest, AuthDisableResponse)
RAFTKV_FORWARD(UserAdd, AuthUserAddRequest, AuthUserAddResponse)
RAFTKV_FORWARD(UserGet, AuthUserGetRequest, AuthUserGetResponse)
RAFTKV_FORWARD(UserList, AuthUserListRequest, AuthUserListResponse)
RAFTKV_FORWARD(UserDelete, AuthUserDeleteRequest, AuthUserDeleteResponse)
RAFTKV_FORWARD(UserChangePassword, AuthUserChangePasswordRequest, AuthUserChangePasswordResponse)
RAFTKV_FORWARD(UserGrantRole, AuthUserGrantRoleRequest, AuthUserGrantRoleResponse)
RAFTKV_FORWARD(UserRevokeRole, AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse)
RAFTKV_FORWARD(RoleAdd, AuthRoleAddRequest, AuthRoleAddResponse)
RAFTKV_FORWARD(RoleGet, AuthRoleGetRequest, AuthRoleGetResponse)
RAFTKV_FORWARD(RoleList, AuthRoleListRequest, AuthRoleListResponse)
RAFTKV_FORWARD(RoleDelete, AuthRoleDeleteRequest, AuthRoleDeleteResponse)
RAFTKV_FORWARD(RoleGrantPermission, AuthRoleGrantPermissionRequest, AuthRoleGrantPermissionResponse)
RAFTKV_FORWARD(RoleRevokePermission, AuthRoleRevokePermissionRequest,
               AuthRoleRevokePermissionResponse)
#undef RAFTKV_FORWARD

}  // namespace raftkv::server::daemon
