#include "transport/transport.h"

#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <utility>

#include "transport/codec.h"
#include "transport/peer_listener.h"
#include "transport/peer_sender.h"
#include "transport/peer_service.h"
#include "transport/stats_table.h"

namespace raftkv::transport {
namespace {

// Largest frame the peer server accepts: a batch (~4 MiB by the sender's budget, more for
// one oversized message) or a snapshot chunk.
constexpr int kMaxFrameBytes = 256 << 20;
// What a peer may send on one inbound stream beyond the frame being read (HTTP/2 window).
constexpr int kStreamWindowBytes = 4 << 20;

}  // namespace

class Transport::Impl {
 public:
  Impl(const Options& options, Handler* handler)
      : options_(options),
        handler_(handler),
        service_(options, handler, &stats_, [this](raft::NodeId id) { return IsKnown(id); }) {}

  ~Impl() { Stop(); }

  Status StartServer() {
    grpc::ServerBuilder builder;
    // A port already in use must be an error, not shared with another process.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    // Peers ping as often as their keepalive_interval says, also while a stream is idle
    // (by default gRPC answers frequent pings with GOAWAY "too_many_pings"). We ping them
    // too, so an inbound stream from a vanished peer is closed.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 0);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                               static_cast<int>(options_.keepalive_interval.count()));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               static_cast<int>(options_.keepalive_timeout.count()));
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // A fixed receive window per inbound stream instead of gRPC's BDP auto-tuning. Tuned,
    // the window grows with the ping round trip, which CPU starvation stretches: a snapshot
    // sender could then push 30-45 MiB of chunks ahead of the thread writing them to disk,
    // all held in gRPC's read buffers (SnapshotFileTest.FileToFileTransferNeverHoldsTheImage).
    // kStreamWindowBytes matches the sender's batch budget, so a full batch still flows
    // while the previous one is being delivered.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, kStreamWindowBytes);
    // Plaintext: the transport owns the socket and gives gRPC the connections that are not
    // framed streams (peer_listener.h). TLS: gRPC listens itself, as before.
    if (options_.framed_stream && !options_.server_credentials) {
      auto listener = PeerListener::Listen(options_, &service_);
      if (listener.ok()) {
        listener_ = std::move(*listener);
        port_ = listener_->port();
      } else if (!listener.status().Is(Status::Code::kNotFound)) {
        return listener.status();
      }
    }
    if (!listener_) {
      builder.AddListeningPort(options_.listen_address,
                               options_.server_credentials ? options_.server_credentials
                                                           : grpc::InsecureServerCredentials(),
                               &port_);
    }
    builder.SetMaxReceiveMessageSize(
        std::max<int>(kMaxFrameBytes, static_cast<int>(options_.snapshot_chunk_bytes * 2)));
    // Sync-server pollers wake this often; the default (10 s) can hold up Shutdown that long
    // when a poller misses the shutdown wake-up (seen with gRPC 1.51).
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 100);
    builder.RegisterService(&service_);
    for (grpc::Service* s : options_.extra_services) builder.RegisterService(s);
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) {
      server_.reset();
      listener_.reset();
      return Status::IOError("cannot listen for peers on " + options_.listen_address);
    }
    if (listener_) listener_->Start(server_.get());
    spdlog::info("transport {:x}: listening for peers on {} (port {}, {}), cluster {:x}",
                 options_.self, options_.listen_address, port_,
                 options_.server_credentials ? "TLS"
                 : listener_                 ? "plaintext, framed message streams"
                                             : "plaintext",
                 options_.cluster_id);
    return Status::OK();
  }

  int port() const { return port_; }

  int inbound_poll_fd() const { return listener_ ? listener_->poll_fd() : -1; }
  void PollInbound() {
    if (listener_) listener_->PollInbound();
  }

  void AddPeer(raft::NodeId id, const std::string& address) {
    std::lock_guard lock(mu_);
    if (stopped_ || id == options_.self || id == raft::kNoNode) return;
    stats_.Ensure(id);
    auto it = peers_.find(id);
    if (it != peers_.end()) {
      it->second->SetAddress(address);
      return;
    }
    auto sender = std::make_shared<PeerSender>(options_, handler_, &stats_, id, address);
    sender->Start();
    peers_.emplace(id, std::move(sender));
    spdlog::info("transport {:x}: added peer {:x} at {}", options_.self, id, address);
  }

  void RemovePeer(raft::NodeId id) {
    std::shared_ptr<PeerSender> sender;
    {
      std::lock_guard lock(mu_);
      auto it = peers_.find(id);
      if (it == peers_.end()) return;
      sender = std::move(it->second);
      peers_.erase(it);
      sender->Stop();
      // A handler callback may remove the very peer whose thread runs it: that thread is
      // joined later, by Stop().
      if (sender->OnOwnThread()) {
        retired_.push_back(sender);
        sender.reset();
      }
    }
    spdlog::info("transport {:x}: removed peer {:x}", options_.self, id);
    if (sender) sender->Join();
  }

  void Send(std::vector<raft::Message> msgs) {
    std::set<raft::NodeId> unreachable;
    std::vector<raft::NodeId> snapshot_failed;
    // Each peer's messages in the order given, handed to its sender outside the lock: the
    // sender may write them to the socket on this thread.
    std::vector<std::pair<std::shared_ptr<PeerSender>, std::vector<raft::Message>>> outgoing;
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      for (raft::Message& m : msgs) {
        const raft::NodeId to = m.to;
        if (!IsNetworkMessage(m.type) || to == options_.self) {
          spdlog::warn("transport {:x}: not sending {} message to {:x}", options_.self,
                       raft::MessageTypeName(m.type), to);
          continue;
        }
        const bool snapshot = m.type == raft::MessageType::kSnapshot;
        auto it = peers_.find(to);
        if (it == peers_.end()) {  // unknown peer: dropped and reported
          if (snapshot) {
            snapshot_failed.push_back(to);
          } else {
            unreachable.insert(to);
          }
          continue;
        }
        if (snapshot) {
          if (!it->second->EnqueueSnapshot(std::move(m))) {
            stats_.AddDropped(to, 1);
            snapshot_failed.push_back(to);
          }
          continue;
        }
        auto out = std::find_if(outgoing.begin(), outgoing.end(),
                                [&](const auto& o) { return o.first == it->second; });
        if (out == outgoing.end()) out = outgoing.insert(outgoing.end(), {it->second, {}});
        out->second.push_back(std::move(m));
      }
    }
    for (auto& [sender, batch] : outgoing) {
      if (size_t dropped = sender->Send(std::move(batch)); dropped > 0) {
        stats_.AddDropped(sender->peer(), dropped);
        unreachable.insert(sender->peer());
      }
    }
    // Callbacks outside the lock: the handler may call back into the transport.
    for (raft::NodeId id : unreachable) handler_->OnUnreachable(id);
    for (raft::NodeId id : snapshot_failed) handler_->OnSnapshotSent(id, false);
  }

  std::map<raft::NodeId, PeerStats> Stats() const { return stats_.Get(); }

  void Stop() {
    std::map<raft::NodeId, std::shared_ptr<PeerSender>> peers;
    std::vector<std::shared_ptr<PeerSender>> retired;
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      peers.swap(peers_);
      retired.swap(retired_);
    }
    for (auto& [id, sender] : peers) sender->Stop();
    service_.SetStopping();
    // No new connections, and every framed stream closed and its reader thread joined.
    if (listener_) listener_->Stop();
    if (server_) {
      // Cancels the streams in progress at once; returns when every handler has returned.
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
    }
    for (auto& [id, sender] : peers) sender->Join();
    for (auto& sender : retired) sender->Join();
    spdlog::info("transport {:x}: stopped", options_.self);
  }

 private:
  bool IsKnown(raft::NodeId id) {
    std::lock_guard lock(mu_);
    return peers_.count(id) > 0;
  }

  const Options options_;
  Handler* const handler_;
  StatsTable stats_;
  PeerService service_;
  std::unique_ptr<PeerListener> listener_;  // plaintext only
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  mutable std::mutex mu_;
  bool stopped_ = false;                                       // guarded by mu_
  std::map<raft::NodeId, std::shared_ptr<PeerSender>> peers_;  // guarded by mu_
  std::vector<std::shared_ptr<PeerSender>> retired_;           // guarded by mu_
};

Result<std::unique_ptr<Transport>> Transport::Start(const Options& options, Handler* handler) {
  // gRPC shuts its core down when its last object goes away, and in 1.51 that shutdown can
  // block ~10 s joining an executor thread still polling a dead peer's connection (seen when
  // a transport is destroyed after a peer vanished mid-stream). Keep the core initialised
  // for the life of the process instead: the OS reclaims it at exit.
  static const bool grpc_kept_alive = [] {
    grpc_init();
    return true;
  }();
  (void)grpc_kept_alive;
  if (options.self == raft::kNoNode) return Status::InvalidArgument("transport needs a member id");
  if (handler == nullptr) return Status::InvalidArgument("transport needs a handler");
  if (options.min_backoff.count() <= 0 || options.max_backoff < options.min_backoff) {
    return Status::InvalidArgument("transport backoff must satisfy 0 < min <= max");
  }
  if (options.snapshot_chunk_bytes == 0 || options.snapshot_chunk_bytes > (64u << 20)) {
    return Status::InvalidArgument("snapshot_chunk_bytes must be in (0, 64 MiB]");
  }
  if (options.snapshot_timeout.count() <= 0) {
    return Status::InvalidArgument("snapshot_timeout must be positive");
  }
  if (options.keepalive_interval.count() <= 0 || options.keepalive_timeout.count() <= 0) {
    return Status::InvalidArgument("keepalive interval and timeout must be positive");
  }
  if (options.handshake_timeout.count() <= 0) {
    return Status::InvalidArgument("handshake_timeout must be positive");
  }
  if (options.max_queued_messages_per_peer == 0) {
    return Status::InvalidArgument("max_queued_messages_per_peer must be positive");
  }
  auto impl = std::make_unique<Impl>(options, handler);
  RAFTKV_RETURN_IF_ERROR(impl->StartServer());
  return std::unique_ptr<Transport>(new Transport(std::move(impl)));
}

Transport::Transport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transport::~Transport() {
  Stop();
}
int Transport::listen_port() const {
  return impl_->port();
}
int Transport::inbound_poll_fd() const {
  return impl_->inbound_poll_fd();
}
void Transport::PollInbound() {
  impl_->PollInbound();
}
void Transport::AddPeer(raft::NodeId id, const std::string& address) {
  impl_->AddPeer(id, address);
}
void Transport::RemovePeer(raft::NodeId id) {
  impl_->RemovePeer(id);
}
void Transport::Send(std::vector<raft::Message> msgs) {
  impl_->Send(std::move(msgs));
}
std::map<raft::NodeId, PeerStats> Transport::Stats() const {
  return impl_->Stats();
}
void Transport::Stop() {
  impl_->Stop();
}

}  // namespace raftkv::transport
