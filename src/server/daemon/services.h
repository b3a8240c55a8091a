// The etcd v3 gRPC services raftkvd serves (KV, Lease, Cluster, Maintenance, Auth; Watch is in
// watch_service.h) and raftkv's own Session service: thin adapters over EtcdServer on gRPC's
// callback API, so no gRPC thread waits on raft. Requests are validated at the edge as etcd's
// v3rpc does (api::Check*, the request size limit) before anything reaches the server; errors
// leave through api::ToGrpcStatus with etcd's codes and texts. Each call's caller is resolved
// from its token or client certificate first (WithCaller, src/auth/README.md).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "api/convert.h"
#include "api/errors.h"
#include "auth/store.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "raftkvpb/session.grpc.pb.h"
#include "server/daemon/require_leader.h"
#include "server/etcd_server.h"

namespace raftkv::watch {
struct Response;
}

namespace raftkv::server::daemon {

// etcd's allowance for gRPC framing above --max-request-bytes (v3rpc/grpc.go): requests up to
// this much larger still reach the edge check and get "etcdserver: request is too large".
inline constexpr int64_t kGrpcOverheadBytes = 512 * 1024;

// etcd refuses every RPC but Status and serializable Range on a learner (v3rpc interceptor).

// What the services know of this member beyond EtcdServer's calls, kept up to date by the
// Daemon's watcher (EtcdServer::Status, polled).
struct MemberState {
  std::atomic<bool> is_learner{false};
  // --client-cert-auth: a verified client certificate's CommonName is the caller's user name
  // when the call carries no token (set once, before the services start).
  bool client_cert_auth = false;
  std::atomic<bool> has_leader{true};
  // Streams that asked for a leader (require_leader.h); the services add theirs through the
  // const pointer they hold, the watcher cancels them once the leader is gone for long.
  mutable LeaderStreams leader_streams;
};

// What a call presents (src/auth/auth_info.h): its "token" metadata, and the CommonName of
// its verified client certificate when client certificate auth is on.
auth::Credentials CredentialsOf(grpc::CallbackServerContext* ctx, const MemberState* member);

// Resolves the caller of `ctx`, then calls then(who); with `admin`, only root gets there
// (etcd: membership changes, Defragment, Snapshot, Hash, HashKV). A refusal ("invalid auth
// token", "permission denied", ...) goes to fail(grpc status) instead. Either may run on
// another thread, later (a token from an entry not yet applied here is waited for).
// ResolveCredentialsThen is the same for a caller that is not a gRPC call (the client front).
template <typename Fail, typename Then>
void ResolveCredentialsThen(EtcdServer* server, auth::Credentials credentials, bool admin,
                            Fail fail, Then then) {
  server->ResolveCaller(std::move(credentials),
                        [server, admin, fail = std::move(fail),
                         then = std::move(then)](Result<auth::AuthInfo> who) mutable {
                          raftkv::Status s = who.ok() ? raftkv::Status::OK() : who.status();
                          if (s.ok() && admin) s = server->auth().CheckAdmin(*who);
                          if (!s.ok()) return fail(api::ToGrpcStatus(s));
                          then(*who);
                        });
}

template <typename Fail, typename Then>
void ResolveThen(EtcdServer* server, const MemberState* member, grpc::CallbackServerContext* ctx,
                 bool admin, Fail fail, Then then) {
  ResolveCredentialsThen(server, CredentialsOf(ctx, member), admin, std::move(fail),
                         std::move(then));
}

// ResolveThen for a unary call: a refusal finishes `reactor`.
template <typename Then>
void WithCaller(EtcdServer* server, const MemberState* member, grpc::CallbackServerContext* ctx,
                grpc::ServerUnaryReactor* reactor, Then then, bool admin = false) {
  ResolveThen(
      server, member, ctx, admin, [reactor](grpc::Status s) { reactor->Finish(std::move(s)); },
      std::move(then));
}

// etcd's unary interceptor (v3rpc newUnaryInterceptor), in its order: on a learner, every
// call but those it serves (`learner_ok`: Status, serializable Range) is refused with
// "etcdserver: rpc not supported for learner"; then a call with the metadata `hasleader: true`
// (clientv3.WithRequireLeader) is refused with Unavailable "etcdserver: no leader" while this
// member knows no leader (require_leader.h). UnaryRefusal gives the refusal, if any, for any
// caller (`wants_leader()`: whether the call carries `hasleader: true`, asked only when this
// member knows no leader); RefuseUnary finishes a gRPC call with it and returns true.
template <typename WantsLeader>
std::optional<grpc::Status> UnaryRefusal(const MemberState* member, bool learner_ok,
                                         WantsLeader wants_leader) {
  if (member == nullptr) return std::nullopt;
  if (!learner_ok && member->is_learner.load(std::memory_order_relaxed)) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, api::kErrNotSupportedForLearner);
  }
  if (!member->has_leader.load() && wants_leader()) return NoLeaderStatus();
  return std::nullopt;
}

inline bool RefuseUnary(grpc::CallbackServerContext* ctx, const MemberState* member,
                        grpc::ServerUnaryReactor* reactor, bool learner_ok = false) {
  std::optional<grpc::Status> refused =
      UnaryRefusal(member, learner_ok, [ctx] { return RequiresLeader(ctx); });
  if (!refused) return false;
  reactor->Finish(*refused);
  return true;
}

struct ServiceLimits {
  int64_t max_request_bytes = api::kDefaultMaxRequestBytes;
  int64_t max_txn_ops = api::kDefaultMaxTxnOps;
};

// Reads raftkv's session metadata (api/session_metadata.h) from a call. No raftkv-client-id
// means no session (client_id 0). Malformed numbers, a missing raftkv-seq or raftkv-acked
// not below raftkv-seq give InvalidArgument naming the key.
Result<SessionRef> ParseSessionMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);

// A Done<T> that completes a unary call: the response on success, etcd's error otherwise.
template <typename Resp>
Done<Resp> FinishWith(grpc::ServerUnaryReactor* reactor, Resp* response) {
  return [reactor, response](Result<Resp> r) {
    if (!r.ok()) {
      reactor->Finish(api::ToGrpcStatus(r.status()));
      return;
    }
    *response = std::move(r).value();
    reactor->Finish(grpc::Status::OK);
  };
}

class KvService final : public etcdserverpb::KV::CallbackService {
 public:
  KvService(EtcdServer* server, ServiceLimits limits, const MemberState* member)
      : server_(server), limits_(limits), member_(member) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest* req,
                                  etcdserverpb::RangeResponse* resp) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::PutRequest* req,
                                etcdserverpb::PutResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::DeleteRangeRequest* req,
                                        etcdserverpb::DeleteRangeResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::TxnRequest* req,
                                etcdserverpb::TxnResponse* resp) override;
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const etcdserverpb::CompactionRequest* req,
                                    etcdserverpb::CompactionResponse* resp) override;

 private:
  // Validation and session metadata of a write; on error the call is already finished.
  bool CheckWrite(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
                  const Status& check, size_t bytes, SessionRef* session);

  EtcdServer* server_;
  ServiceLimits limits_;
  const MemberState* member_;
};

class ClusterService final : public etcdserverpb::Cluster::CallbackService {
 public:
  ClusterService(EtcdServer* server, const MemberState* member)
      : server_(server), member_(member) {}

  grpc::ServerUnaryReactor* MemberAdd(grpc::CallbackServerContext* ctx,
                                      const etcdserverpb::MemberAddRequest* req,
                                      etcdserverpb::MemberAddResponse* resp) override;
  grpc::ServerUnaryReactor* MemberRemove(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::MemberRemoveRequest* req,
                                         etcdserverpb::MemberRemoveResponse* resp) override;
  grpc::ServerUnaryReactor* MemberUpdate(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::MemberUpdateRequest* req,
                                         etcdserverpb::MemberUpdateResponse* resp) override;
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest* req,
                                       etcdserverpb::MemberListResponse* resp) override;
  grpc::ServerUnaryReactor* MemberPromote(grpc::CallbackServerContext* ctx,
                                          const etcdserverpb::MemberPromoteRequest* req,
                                          etcdserverpb::MemberPromoteResponse* resp) override;

 private:
  EtcdServer* server_;
  const MemberState* member_;
};

class MaintenanceService final : public etcdserverpb::Maintenance::CallbackService {
 public:
  MaintenanceService(EtcdServer* server, const MemberState* member)
      : server_(server), member_(member) {}

  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::AlarmRequest* req,
                                  etcdserverpb::AlarmResponse* resp) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest* req,
                                   etcdserverpb::StatusResponse* resp) override;
  grpc::ServerUnaryReactor* Defragment(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::DefragmentRequest* req,
                                       etcdserverpb::DefragmentResponse* resp) override;
  grpc::ServerUnaryReactor* Hash(grpc::CallbackServerContext* ctx,
                                 const etcdserverpb::HashRequest* req,
                                 etcdserverpb::HashResponse* resp) override;
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::HashKVRequest* req,
                                   etcdserverpb::HashKVResponse* resp) override;
  grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* Snapshot(
      grpc::CallbackServerContext* ctx, const etcdserverpb::SnapshotRequest* req) override;
  grpc::ServerUnaryReactor* MoveLeader(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MoveLeaderRequest* req,
                                       etcdserverpb::MoveLeaderResponse* resp) override;

 private:
  EtcdServer* server_;
  const MemberState* member_;
};

class AuthService final : public etcdserverpb::Auth::CallbackService {
 public:
  AuthService(EtcdServer* server, const MemberState* member) : server_(server), member_(member) {}

  using Ctx = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  Reactor* AuthEnable(Ctx* ctx, const etcdserverpb::AuthEnableRequest* req,
                      etcdserverpb::AuthEnableResponse* resp) override;
  Reactor* AuthDisable(Ctx* ctx, const etcdserverpb::AuthDisableRequest* req,
                       etcdserverpb::AuthDisableResponse* resp) override;
  Reactor* Authenticate(Ctx* ctx, const etcdserverpb::AuthenticateRequest* req,
                        etcdserverpb::AuthenticateResponse* resp) override;
  Reactor* UserAdd(Ctx* ctx, const etcdserverpb::AuthUserAddRequest* req,
                   etcdserverpb::AuthUserAddResponse* resp) override;
  Reactor* UserGet(Ctx* ctx, const etcdserverpb::AuthUserGetRequest* req,
                   etcdserverpb::AuthUserGetResponse* resp) override;
  Reactor* UserList(Ctx* ctx, const etcdserverpb::AuthUserListRequest* req,
                    etcdserverpb::AuthUserListResponse* resp) override;
  Reactor* UserDelete(Ctx* ctx, const etcdserverpb::AuthUserDeleteRequest* req,
                      etcdserverpb::AuthUserDeleteResponse* resp) override;
  Reactor* UserChangePassword(Ctx* ctx, const etcdserverpb::AuthUserChangePasswordRequest* req,
                              etcdserverpb::AuthUserChangePasswordResponse* resp) override;
  Reactor* UserGrantRole(Ctx* ctx, const etcdserverpb::AuthUserGrantRoleRequest* req,
                         etcdserverpb::AuthUserGrantRoleResponse* resp) override;
  Reactor* UserRevokeRole(Ctx* ctx, const etcdserverpb::AuthUserRevokeRoleRequest* req,
                          etcdserverpb::AuthUserRevokeRoleResponse* resp) override;
  Reactor* RoleAdd(Ctx* ctx, const etcdserverpb::AuthRoleAddRequest* req,
                   etcdserverpb::AuthRoleAddResponse* resp) override;
  Reactor* RoleGet(Ctx* ctx, const etcdserverpb::AuthRoleGetRequest* req,
                   etcdserverpb::AuthRoleGetResponse* resp) override;
  Reactor* RoleList(Ctx* ctx, const etcdserverpb::AuthRoleListRequest* req,
                    etcdserverpb::AuthRoleListResponse* resp) override;
  Reactor* RoleDelete(Ctx* ctx, const etcdserverpb::AuthRoleDeleteRequest* req,
                      etcdserverpb::AuthRoleDeleteResponse* resp) override;
  Reactor* RoleGrantPermission(Ctx* ctx, const etcdserverpb::AuthRoleGrantPermissionRequest* req,
                               etcdserverpb::AuthRoleGrantPermissionResponse* resp) override;
  Reactor* RoleRevokePermission(Ctx* ctx, const etcdserverpb::AuthRoleRevokePermissionRequest* req,
                                etcdserverpb::AuthRoleRevokePermissionResponse* resp) override;

 private:
  // Every call but Authenticate: the caller resolved, then EtcdServer::AuthCall.
  template <typename Req, typename Resp>
  Reactor* Forward(Ctx* ctx, const Req* req, Resp* resp);

  EtcdServer* server_;
  const MemberState* member_;
};

class LeaseService final : public etcdserverpb::Lease::CallbackService {
 public:
  LeaseService(EtcdServer* server, const MemberState* member) : server_(server), member_(member) {}

  grpc::ServerUnaryReactor* LeaseGrant(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::LeaseGrantRequest* req,
                                       etcdserverpb::LeaseGrantResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseRevoke(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::LeaseRevokeRequest* req,
                                        etcdserverpb::LeaseRevokeResponse* resp) override;
  grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest,
                          etcdserverpb::LeaseKeepAliveResponse>*
  LeaseKeepAlive(grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* ctx,
                                            const etcdserverpb::LeaseTimeToLiveRequest* req,
                                            etcdserverpb::LeaseTimeToLiveResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseLeases(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::LeaseLeasesRequest* req,
                                        etcdserverpb::LeaseLeasesResponse* resp) override;

 private:
  EtcdServer* server_;
  const MemberState* member_;
};

class SessionService final : public raftkvpb::Session::CallbackService {
 public:
  SessionService(EtcdServer* server, const MemberState* member)
      : server_(server), member_(member) {}

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const raftkvpb::RegisterRequest* req,
                                     raftkvpb::RegisterResponse* resp) override;

 private:
  EtcdServer* server_;
  const MemberState* member_;
};

// etcdserverpb.Watch (watch_service.cc): every member serves it, learners included, from
// its own watch hub. Sender threads write the responses; `progress_interval` is etcd's
// --experimental-watch-progress-notify-interval (at least 100 ms). Served as gRPC's raw
// method: requests are parsed here, responses written as bytes built by watch_wire.h (a
// revision's events encoded once for all its watchers), etcd's wire format either way.
class WatchService final
    : public etcdserverpb::Watch::WithRawCallbackMethod_Watch<etcdserverpb::Watch::Service> {
 public:
  WatchService(EtcdServer* server, ServiceLimits limits, const MemberState* member,
               std::chrono::milliseconds progress_interval);
  ~WatchService() override;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Watch(
      grpc::CallbackServerContext* ctx) override;

 private:
  struct Conn;
  class Sender;
  class Call;
  void Pump(const std::shared_ptr<Conn>& c);
  // The response header's ids and term now.
  api::HeaderInfo Header() const;

  EtcdServer* server_;
  ServiceLimits limits_;
  const MemberState* member_;
  std::unique_ptr<Sender> sender_;
};

}  // namespace raftkv::server::daemon
