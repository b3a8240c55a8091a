// etcdserverpb.Lease over EtcdServer: grant, revoke, time-to-live and the lease list are unary
// calls; LeaseKeepAlive is a bidirectional stream processed one request at a time, as etcd's
// (read, renew, write the answer, read the next), with the header filled before the renewal
// (etcd does so, so a client never sees a keep-alive answered at a revision after the lease's
// revoke). Permissions as etcd 3.4: revokes (and puts naming a lease) are checked when
// applied, time-to-live with keys here through EtcdServer; grants, keep-alives and the list
// are not checked.
#include <mutex>

#include "lease/lease_table.h"
#include "server/daemon/services.h"

namespace raftkv::server::daemon {
namespace {

// A keep-alive stream. Deletes itself once gRPC is done with it and no renewal is pending
// (a renewal's answer may arrive after the client went away). A stream that asked for a
// leader is registered with the member's LeaderStreams, which may finish it from the
// watcher thread at any time: every Finish goes through FinishOnce.
class KeepAliveReactor final
    : public grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest,
                                     etcdserverpb::LeaseKeepAliveResponse> {
 public:
  KeepAliveReactor(grpc::CallbackServerContext* ctx, EtcdServer* server, const MemberState* member)
      : ctx_(ctx), server_(server), member_(member), finisher_(std::make_shared<Finisher>()) {
    finisher_->reactor = this;
    if (member_ != nullptr && RequiresLeader(ctx)) {
      std::weak_ptr<Finisher> weak = finisher_;
      leader_token_ = member_->leader_streams.Add([weak] {
        if (auto f = weak.lock()) f->Finish(NoLeaderStatus());
      });
    }
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side (or the call was cancelled)
      finisher_->Finish(grpc::Status::OK);
      return;
    }
    resp_.Clear();
    resp_.set_id(req_.id());
    server_->FillHeader(resp_.mutable_header());
    {
      std::lock_guard<std::mutex> l(mu_);
      pending_ = true;
    }
    server_->LeaseKeepAlive(req_.id(), [this](Result<int64_t> ttl) {
      {
        std::lock_guard<std::mutex> l(mu_);
        pending_ = false;
        if (done_) {
          delete this;
          return;
        }
      }
      if (!ttl.ok()) {
        finisher_->Finish(api::ToGrpcStatus(ttl.status()));
        return;
      }
      resp_.set_ttl(*ttl);
      std::lock_guard<std::mutex> l(finisher_->mu);
      if (!finisher_->finished) StartWrite(&resp_);
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      finisher_->Finish(
          grpc::Status(grpc::StatusCode::CANCELLED, "lease keep-alive: client went away"));
      return;
    }
    std::lock_guard<std::mutex> l(finisher_->mu);
    if (!finisher_->finished) StartRead(&req_);
  }

  void OnDone() override {
    if (leader_token_ != 0) member_->leader_streams.Remove(leader_token_);
    {
      std::lock_guard<std::mutex> l(finisher_->mu);
      finisher_->reactor = nullptr;
      finisher_->finished = true;
    }
    bool last;
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
      last = !pending_;  // else the renewal's callback deletes us
    }
    if (last) delete this;
  }

 private:
  // Finishes the call at most once, and never after gRPC is done with it.
  struct Finisher {
    std::mutex mu;
    KeepAliveReactor* reactor = nullptr;  // null once done
    bool finished = false;
    void Finish(grpc::Status status) {
      std::lock_guard<std::mutex> l(mu);
      if (finished || reactor == nullptr) return;
      finished = true;
      reactor->Finish(std::move(status));
    }
  };

  grpc::CallbackServerContext* ctx_;
  EtcdServer* server_;
  const MemberState* member_;
  std::shared_ptr<Finisher> finisher_;
  uint64_t leader_token_ = 0;
  etcdserverpb::LeaseKeepAliveRequest req_;
  etcdserverpb::LeaseKeepAliveResponse resp_;
  std::mutex mu_;
  bool pending_ = false, done_ = false;
};

// Finishes a unary lease call refused on a learner (etcd 3.4 serves no lease call there);
// else `call(reactor, who)` runs, once the caller is resolved when `resolve` (etcd resolves
// it for grants, revokes and time-to-live with keys: a bad token fails those; keep-alives and
// the lease list never look at it).
template <typename Call>
grpc::ServerUnaryReactor* Unary(EtcdServer* server, grpc::CallbackServerContext* ctx,
                                const MemberState* member, bool resolve, Call call) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member, reactor)) return reactor;
  if (!resolve) {
    call(reactor, auth::AuthInfo{});
    return reactor;
  }
  WithCaller(server, member, ctx, reactor,
             [reactor, call = std::move(call)](const auth::AuthInfo& who) { call(reactor, who); });
  return reactor;
}

// Finishes a streaming call at once with an error.
class FailedStream final : public grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest,
                                                          etcdserverpb::LeaseKeepAliveResponse> {
 public:
  explicit FailedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerUnaryReactor* LeaseService::LeaseGrant(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::LeaseGrantRequest* req,
                                                   etcdserverpb::LeaseGrantResponse* resp) {
  EtcdServer* server = server_;
  return Unary(server, ctx, member_, /*resolve=*/true,
               [server, req, resp](grpc::ServerUnaryReactor* reactor, const auth::AuthInfo& who) {
                 server->LeaseGrant(*req, who, FinishWith(reactor, resp));
               });
}

grpc::ServerUnaryReactor* LeaseService::LeaseRevoke(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseRevokeRequest* req,
                                                    etcdserverpb::LeaseRevokeResponse* resp) {
  EtcdServer* server = server_;
  return Unary(server, ctx, member_, /*resolve=*/true,
               [server, req, resp](grpc::ServerUnaryReactor* reactor, const auth::AuthInfo& who) {
                 server->LeaseRevoke(*req, who, FinishWith(reactor, resp));
               });
}

// etcd answers an unknown lease with TTL -1 rather than an error (v3rpc LeaseTimeToLive).
grpc::ServerUnaryReactor* LeaseService::LeaseTimeToLive(
    grpc::CallbackServerContext* ctx, const etcdserverpb::LeaseTimeToLiveRequest* req,
    etcdserverpb::LeaseTimeToLiveResponse* resp) {
  EtcdServer* server = server_;
  return Unary(server, ctx, member_, /*resolve=*/req->keys(),
               [server, req, resp](grpc::ServerUnaryReactor* reactor, const auth::AuthInfo& who) {
                 const int64_t id = req->id();
                 server->LeaseTimeToLive(
                     *req, who,
                     [reactor, resp, server, id](Result<etcdserverpb::LeaseTimeToLiveResponse> r) {
                       if (!r.ok() && r.status().message() == lease::kErrLeaseNotFound) {
                         resp->Clear();
                         resp->set_id(id);
                         resp->set_ttl(-1);
                         server->FillHeader(resp->mutable_header());
                         reactor->Finish(grpc::Status::OK);
                         return;
                       }
                       FinishWith(reactor, resp)(std::move(r));
                     });
               });
}

grpc::ServerUnaryReactor* LeaseService::LeaseLeases(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseLeasesRequest* req,
                                                    etcdserverpb::LeaseLeasesResponse* resp) {
  (void)req;
  EtcdServer* server = server_;
  return Unary(server, ctx, member_, /*resolve=*/false,
               [server, resp](grpc::ServerUnaryReactor* reactor, const auth::AuthInfo&) {
                 server->LeaseLeases(FinishWith(reactor, resp));
               });
}

grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
LeaseService::LeaseKeepAlive(grpc::CallbackServerContext* ctx) {
  if (member_ != nullptr && member_->is_learner.load(std::memory_order_relaxed)) {
    return new FailedStream(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, api::kErrNotSupportedForLearner));
  }
  // etcd refuses a stream that asks for a leader on a member that has none.
  if (member_ != nullptr && RequiresLeader(ctx) && !member_->has_leader.load()) {
    return new FailedStream(NoLeaderStatus());
  }
  return new KeepAliveReactor(ctx, server_, member_);
}

}  // namespace raftkv::server::daemon
