// etcdserverpb.Maintenance over EtcdServer; Snapshot streams the store image in chunks.
#include <spdlog/spdlog.h>

#include "server/daemon/services.h"

namespace raftkv::server::daemon {
namespace {

// etcd sends snapshots in 32 KiB chunks (v3rpc/maintenance.go).
constexpr size_t kSnapshotChunkBytes = 32 * 1024;

// Writes one chunk at a time; the next is read only once the previous write completed, so
// a slow client holds back reading, not memory. Deletes itself when the call is done.
// Starts once the caller is known to be root (Start), or finishes with the refusal (Fail).
class SnapshotWriter final : public grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse> {
 public:
  void Start(std::unique_ptr<SnapshotReader> reader) {
    reader_ = std::move(reader);
    total_ = reader_->size();
    WriteNext();
  }
  void Fail(grpc::Status s) { Finish(std::move(s)); }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "snapshot: client went away"));
      return;
    }
    WriteNext();
  }
  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (at_end_) {
      Finish(grpc::Status::OK);
      return;
    }
    std::string chunk;
    Result<bool> more = reader_->Next(kSnapshotChunkBytes, &chunk);
    if (!more.ok()) {
      spdlog::warn("snapshot stream failed after {} bytes: {}", sent_, more.status().message());
      Finish(api::ToGrpcStatus(more.status()));
      return;
    }
    at_end_ = !*more;
    if (at_end_ && chunk.empty()) {
      Finish(grpc::Status::OK);
      return;
    }
    sent_ += chunk.size();
    response_.set_remaining_bytes(total_ > sent_ ? total_ - sent_ : 0);
    *response_.mutable_blob() = std::move(chunk);
    StartWrite(&response_);
  }

  std::unique_ptr<SnapshotReader> reader_;
  uint64_t total_ = 0;
  uint64_t sent_ = 0;
  bool at_end_ = false;  // the reader said the last chunk was read
  etcdserverpb::SnapshotResponse response_;
};

// Finishes a streaming call at once with an error.
class FailedWriter final : public grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse> {
 public:
  explicit FailedWriter(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerUnaryReactor* MaintenanceService::Alarm(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::AlarmRequest* req,
                                                    etcdserverpb::AlarmResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  server_->Alarm(*req, FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Status(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::StatusRequest* req,
                                                     etcdserverpb::StatusResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor, /*learner_ok=*/true)) return reactor;
  server_->Status(*req, FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Defragment(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::DefragmentRequest* req,
                                                         etcdserverpb::DefragmentResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  WithCaller(
      server_, member_, ctx, reactor,
      [this, req, reactor, resp](const auth::AuthInfo&) {
        server_->Defragment(*req, FinishWith(reactor, resp));
      },
      /*admin=*/true);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Hash(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::HashRequest* req,
                                                   etcdserverpb::HashResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  WithCaller(
      server_, member_, ctx, reactor,
      [this, req, reactor, resp](const auth::AuthInfo&) {
        server_->Hash(*req, FinishWith(reactor, resp));
      },
      /*admin=*/true);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::HashKVRequest* req,
                                                     etcdserverpb::HashKVResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  WithCaller(
      server_, member_, ctx, reactor,
      [this, req, reactor, resp](const auth::AuthInfo&) {
        server_->HashKV(*req, FinishWith(reactor, resp));
      },
      /*admin=*/true);
  return reactor;
}

grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* MaintenanceService::Snapshot(
    grpc::CallbackServerContext* ctx, const etcdserverpb::SnapshotRequest* req) {
  if (member_->is_learner.load(std::memory_order_relaxed)) {
    return new FailedWriter(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, api::kErrNotSupportedForLearner));
  }
  // etcd: only root takes a snapshot.
  auto* writer = new SnapshotWriter();
  ResolveThen(
      server_, member_, ctx, /*admin=*/true, [writer](grpc::Status s) { writer->Fail(s); },
      [this, writer](const auth::AuthInfo&) {
        Result<std::unique_ptr<SnapshotReader>> reader = server_->OpenSnapshot();
        if (!reader.ok()) return writer->Fail(api::ToGrpcStatus(reader.status()));
        writer->Start(std::move(reader).value());
      });
  return writer;
}

grpc::ServerUnaryReactor* MaintenanceService::MoveLeader(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::MoveLeaderRequest* req,
                                                         etcdserverpb::MoveLeaderResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseUnary(ctx, member_, reactor)) return reactor;
  server_->MoveLeader(*req, FinishWith(reactor, resp));
  return reactor;
}

}  // namespace raftkv::server::daemon
