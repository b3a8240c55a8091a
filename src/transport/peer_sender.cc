#include "transport/peer_sender.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "storage/crc32c.h"
#include "storage/snapshot_file.h"
#include "transport/codec.h"

namespace raftkv::transport {
namespace {

using Clock = std::chrono::steady_clock;

// One batch holds at most this much (the receiver accepts frames up to kMaxFrameBytes in
// transport.cc); a single larger message still goes alone.
constexpr size_t kMaxBatchMessages = 512;
constexpr uint64_t kMaxBatchBytes = 4 << 20;
// Larger sends are left to the stream thread: encoding them would hold up the raft thread,
// and the socket would take only part of them anyway.
constexpr uint64_t kMaxDirectBytes = 256 << 10;
// Snapshots waiting behind the one being sent; the core sends one at a time per follower.
constexpr size_t kMaxQueuedSnapshots = 2;
// How long a connection attempt may take before it counts as failed (a silent host).
constexpr auto kConnectTimeout = std::chrono::seconds(1);
constexpr auto kStopPoll = std::chrono::milliseconds(50);

uint64_t ApproxBytes(const raft::Message& m) {
  uint64_t n = 64 + m.context.size();
  for (const raft::Entry& e : m.entries) n += e.SizeBytes();
  return n;
}

// "https://host:port" -> ("host:port", TLS); "http://host:port" or "host:port" -> plaintext.
std::pair<std::string, bool> SplitAddress(const std::string& address) {
  for (const char* scheme : {"https://", "http://"}) {
    std::string_view sv(scheme);
    if (address.compare(0, sv.size(), sv) == 0) {
      std::string target = address.substr(sv.size());
      if (!target.empty() && target.back() == '/') target.pop_back();
      return {target, sv == "https://"};
    }
  }
  return {address, false};
}

std::string Describe(const grpc::Status& st) {
  return std::to_string(st.error_code()) + " " + st.error_message();
}

Status FromGrpc(const grpc::Status& st, const std::string& what) {
  if (st.ok()) return Status::OK();
  return Status::Unavailable(what + ": grpc code " + Describe(st));
}

}  // namespace

PeerSender::PeerSender(const Options& options, Handler* handler, StatsTable* stats,
                       raft::NodeId peer, std::string address)
    : options_(options),
      handler_(handler),
      stats_(stats),
      peer_(peer),
      address_(std::move(address)) {}

PeerSender::~PeerSender() {
  Stop();
  Join();
}

void PeerSender::Start() {
  stream_thread_ = std::thread([this] { RunStream(); });
  snapshot_thread_ = std::thread([this] { RunSnapshots(); });
}

void PeerSender::SetAddress(const std::string& address) {
  std::lock_guard lock(mu_);
  if (address == address_) return;
  address_ = address;
  ++address_generation_;
  // The open stream goes to the old address: end it so the stream thread reconnects.
  if (stream_) stream_->Cancel();
  cv_.notify_all();
}

size_t PeerSender::Send(std::vector<raft::Message> msgs) {
  std::unique_lock lock(mu_);
  if (CanSendDirectLocked(msgs)) {
    SendDirect(std::move(msgs), std::move(lock));
    return 0;
  }
  size_t dropped = 0;
  for (raft::Message& m : msgs) {
    if (queue_.size() >= options_.max_queued_messages_per_peer) {
      ++dropped;
      continue;
    }
    queue_.push_back(std::move(m));
  }
  // The stream thread is cv_'s only waiter (it sleeps through this if a caller is writing:
  // that caller wakes it when done).
  if (dropped < msgs.size()) cv_.notify_one();
  return dropped;
}

bool PeerSender::EnqueueSnapshot(raft::Message msg) {
  std::lock_guard lock(mu_);
  if (snapshots_.size() >= kMaxQueuedSnapshots) return false;
  snapshots_.push_back(std::move(msg));
  snapshot_cv_.notify_one();
  return true;
}

bool PeerSender::CanSendDirectLocked(const std::vector<raft::Message>& msgs) const {
  // Only behind nothing: queued messages and an unfinished frame go first (per-peer FIFO).
  if (!direct_ || writing_ || unfinished_ || !queue_.empty() || !direct_error_.ok() || stopping_ ||
      address_generation_ != direct_generation_ || msgs.size() > kMaxBatchMessages) {
    return false;
  }
  uint64_t bytes = 0;
  for (const raft::Message& m : msgs) bytes += ApproxBytes(m);
  return bytes <= kMaxDirectBytes;
}

void PeerSender::SendDirect(std::vector<raft::Message> msgs, std::unique_lock<std::mutex> lock) {
  std::shared_ptr<OutboundStream> stream = direct_;  // alive even if the stream thread ends it
  writing_ = true;
  lock.unlock();
  direct_frame_.Clear();
  for (const raft::Message& m : msgs) EncodeMessage(m, direct_frame_.add_messages());
  uint64_t bytes = 0;
  Result<bool> done = stream->TryWrite(direct_frame_, &bytes);
  lock.lock();
  writing_ = false;
  // Stop, a new address or a failure of the stream thread's own may have ended the stream
  // meanwhile: then what did not go out is dropped, and the stream thread reports (or not) as
  // it does for its own writes.
  const bool current = direct_ == stream;
  const bool sent = done.ok() && *done;
  if (done.ok() && !*done && current) {
    unfinished_ = true;  // the stream thread finishes the frame before anything else
    unfinished_messages_ = msgs.size();
    unfinished_bytes_ = bytes;
  } else if (!done.ok() && current) {
    direct_error_ = done.status();  // the stream thread ends the stream and reports
    direct_.reset();
  }
  const bool kept = done.ok() && !*done && current;
  if (unfinished_ || !direct_error_.ok() || !queue_.empty() || pump_waiting_) cv_.notify_one();
  lock.unlock();
  if (sent) {
    stats_->AddSent(peer_, msgs.size(), bytes);
    stats_->AddDirect(peer_, msgs.size(), /*unfinished=*/false);
  } else if (kept) {
    stats_->AddDirect(peer_, msgs.size(), /*unfinished=*/true);
  } else {
    stats_->AddDropped(peer_, msgs.size());
  }
}

void PeerSender::Stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  if (stream_) stream_->Cancel();
  if (snapshot_ctx_) snapshot_ctx_->TryCancel();
  cv_.notify_all();
  snapshot_cv_.notify_all();
}

void PeerSender::Join() {
  if (stream_thread_.joinable()) stream_thread_.join();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
}

bool PeerSender::OnOwnThread() const {
  auto me = std::this_thread::get_id();
  return me == stream_thread_.get_id() || me == snapshot_thread_.get_id();
}

raftkvpb::StreamHeader PeerSender::Header() const {
  raftkvpb::StreamHeader h;
  h.set_cluster_id(options_.cluster_id);
  h.set_from(options_.self);
  h.set_to(peer_);
  return h;
}

bool PeerSender::TrackContext(std::shared_ptr<grpc::ClientContext>* slot,
                              std::shared_ptr<grpc::ClientContext> ctx) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  *slot = std::move(ctx);
  return true;
}

void PeerSender::Sleep(std::chrono::milliseconds d, uint64_t generation) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return stopping_ || address_generation_ != generation; });
}

size_t PeerSender::DropQueued() {
  std::lock_guard lock(mu_);
  size_t n = queue_.size();
  queue_.clear();
  return n;
}

Result<std::shared_ptr<grpc::Channel>> PeerSender::Connect() {
  std::string address;
  {
    std::lock_guard lock(mu_);
    address = address_;
  }
  grpc::ChannelArguments args;
  // Our own backoff decides when to retry: each attempt gets a fresh connection rather than
  // a subchannel shared with (and backing off for) other channels.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options_.keepalive_interval.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(options_.keepalive_timeout.count()));
  // Keep pinging while no messages flow (the receiver allows it, see transport.cc).
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto [target, secure] = SplitAddress(address);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (secure) {
    creds = options_.peer_credentials ? options_.peer_credentials
                                      : grpc::SslCredentials(grpc::SslCredentialsOptions());
  }
  auto channel = grpc::CreateCustomChannel(target, creds, args);
  const auto deadline = Clock::now() + kConnectTimeout;
  while (true) {
    grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_READY) return channel;
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      return Status::Unavailable("cannot connect to " + address);
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Status::Aborted("stopping");
    }
    if (Clock::now() >= deadline) return Status::Unavailable("connect timeout to " + address);
    channel->WaitForStateChange(state, std::chrono::system_clock::now() + kStopPoll);
  }
}

bool PeerSender::TrackStream(std::shared_ptr<OutboundStream> stream) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  stream_ = std::move(stream);
  return true;
}

Result<std::shared_ptr<OutboundStream>> PeerSender::OpenStream() {
  std::string address;
  {
    std::lock_guard lock(mu_);
    address = address_;
  }
  auto [target, secure] = SplitAddress(address);
  // TLS peers stay on gRPC (the framed stream has no TLS yet).
  if (!options_.framed_stream || secure) return OpenGrpcStream();
  bool use_grpc = false;
  auto framed = OpenFramedStream(target, &use_grpc);
  if (!use_grpc) return framed;
  if (!grpc_fallback_logged_) {
    spdlog::info("transport {:x}: peer {:x} does not speak the framed stream ({}); using gRPC",
                 options_.self, peer_, framed.status().ToString());
    grpc_fallback_logged_ = true;
  }
  return OpenGrpcStream();
}

Result<std::shared_ptr<OutboundStream>> PeerSender::OpenFramedStream(const std::string& target,
                                                                     bool* use_grpc) {
  auto fd = ConnectTcp(target, Clock::now() + kConnectTimeout, [this] {
    std::lock_guard lock(mu_);
    return stopping_;
  });
  if (!fd.ok()) {
    *use_grpc = fd.status().Is(Status::Code::kNotFound);  // a target only gRPC understands
    return fd.status();
  }
  auto stream = std::make_shared<FramedOutboundStream>(*fd, options_.keepalive_interval,
                                                       options_.keepalive_timeout);
  if (!TrackStream(stream)) return Status::Aborted("stopping");
  Status st = stream->Handshake(Header(), peer_, Clock::now() + kConnectTimeout);
  if (!st.ok()) {
    *use_grpc = stream->peer_not_framed();
    return st;
  }
  return std::shared_ptr<OutboundStream>(std::move(stream));
}

Result<std::shared_ptr<OutboundStream>> PeerSender::OpenGrpcStream() {
  auto channel = Connect();
  if (!channel.ok()) return channel.status();
  auto stream = std::make_shared<GrpcOutboundStream>(*channel);
  if (!TrackStream(stream)) return Status::Aborted("stopping");
  RAFTKV_RETURN_IF_ERROR(stream->Handshake(Header(), peer_, Clock::now() + kConnectTimeout));
  return std::shared_ptr<OutboundStream>(std::move(stream));
}

void PeerSender::RunStream() {
  std::chrono::milliseconds backoff = options_.min_backoff;
  while (true) {
    uint64_t generation = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      generation = address_generation_;
    }
    auto opened = OpenStream();
    if (!opened.ok()) {
      {
        std::lock_guard lock(mu_);
        stream_.reset();
        // Our own Stop() or address change cancelled the attempt: nothing to report.
        if (stopping_) return;
        if (address_generation_ != generation) continue;
      }
      size_t dropped = DropQueued();
      stats_->AddDropped(peer_, dropped);
      if (!unreachable_logged_) {
        spdlog::warn("transport {:x}: peer {:x} unreachable ({}), retrying every <= {} ms",
                     options_.self, peer_, opened.status().ToString(),
                     options_.max_backoff.count());
        unreachable_logged_ = true;
      }
      handler_->OnUnreachable(peer_);
      Sleep(backoff, generation);
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    std::shared_ptr<OutboundStream> stream = std::move(*opened);
    backoff = options_.min_backoff;
    unreachable_logged_ = false;
    stats_->SetConnected(peer_, true);
    spdlog::info("transport {:x}: connected to peer {:x} ({} stream)", options_.self, peer_,
                 stream->kind());

    Status st = Pump(stream, generation);
    // A failed write means the call is over and Finish() returns the receiver's reason;
    // otherwise we are leaving (Stop or a new address already cancelled the call).
    std::string end = stream->Finish(/*cancel=*/st.Is(Status::Code::kAborted));
    bool cancelled_by_us = false;
    {
      std::lock_guard lock(mu_);
      stream_.reset();
      cancelled_by_us = stopping_ || address_generation_ != generation;
    }
    stats_->SetConnected(peer_, false);
    if (cancelled_by_us || st.Is(Status::Code::kAborted)) {
      spdlog::info("transport {:x}: disconnected from peer {:x} ({})", options_.self, peer_,
                   st.message());
      continue;  // stopping (the wait above returns) or the address changed
    }
    spdlog::warn("transport {:x}: disconnected from peer {:x} ({}{}{})", options_.self, peer_,
                 st.message(), end.empty() ? "" : "; ", end);
    handler_->OnUnreachable(peer_);
  }
}

Status PeerSender::Pump(const std::shared_ptr<OutboundStream>& stream, uint64_t generation) {
  {
    std::lock_guard lock(mu_);
    if (options_.direct_send && stream->direct_writes()) {
      direct_ = stream;
      direct_generation_ = generation;
    }
  }
  Status st = PumpBatches(stream.get(), generation);
  uint64_t lost = 0;
  {
    std::lock_guard lock(mu_);
    // No caller starts a write on this stream any more; one writing now holds its own
    // reference and finds the stream gone when it is done.
    direct_.reset();
    direct_error_ = Status::OK();
    if (unfinished_) lost = unfinished_messages_;
    unfinished_ = false;
  }
  if (lost > 0) stats_->AddDropped(peer_, lost);  // the rest of a frame that never went out
  return st;
}

Status PeerSender::PumpBatches(OutboundStream* stream, uint64_t generation) {
  raftkvpb::MessageBatch frame;
  while (true) {
    std::vector<raft::Message> batch;
    uint64_t flush_messages = 0;
    uint64_t flush_bytes = 0;
    bool flush = false;
    {
      std::unique_lock lock(mu_);
      auto ended = [&] {
        return stopping_ || address_generation_ != generation || !direct_error_.ok();
      };
      auto ready = [&] { return ended() || (!writing_ && (unfinished_ || !queue_.empty())); };
      const auto next_poll = stream->NextPoll();
      if (next_poll == Clock::time_point::max()) {
        cv_.wait(lock, ready);
      } else {
        cv_.wait_until(lock, next_poll, ready);
      }
      // A poll is due while a caller writes: wait for its write (never blocking) to end.
      pump_waiting_ = true;
      cv_.wait(lock, [&] { return ended() || !writing_; });
      pump_waiting_ = false;
      if (stopping_) return Status::Aborted("stopping");
      if (address_generation_ != generation) return Status::Aborted("address changed");
      if (!direct_error_.ok()) return Status::Unavailable(direct_error_.message());
      if (unfinished_) {
        // Only the rest of the frame this time: if it fails, the queue is kept for the next
        // stream rather than dropped with it.
        flush = true;
        flush_messages = unfinished_messages_;
        flush_bytes = unfinished_bytes_;
        unfinished_ = false;
      }
      uint64_t bytes = 0;
      while (!flush && !queue_.empty() && batch.size() < kMaxBatchMessages &&
             (batch.empty() || bytes + ApproxBytes(queue_.front()) <= kMaxBatchBytes)) {
        bytes += ApproxBytes(queue_.front());
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      writing_ = true;
    }
    Status st = Status::OK();
    if (flush) {  // the rest of a direct write's frame, before anything else
      st = stream->Flush();
      if (st.ok()) {
        stats_->AddSent(peer_, flush_messages, flush_bytes);
      } else {
        stats_->AddDropped(peer_, flush_messages);
        st = Status::Unavailable(st.message());
      }
    }
    if (st.ok() && !batch.empty()) {
      frame.Clear();
      for (const raft::Message& m : batch) EncodeMessage(m, frame.add_messages());
      uint64_t bytes = 0;
      st = stream->Write(frame, &bytes);
      if (st.ok()) {
        stats_->AddSent(peer_, batch.size(), bytes);
      } else {
        stats_->AddDropped(peer_, batch.size());
        st = Status::Unavailable(st.message());
      }
    }
    if (st.ok()) {
      const auto now = Clock::now();
      if (now >= stream->NextPoll()) st = stream->Poll(now);
    }
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!st.ok()) direct_.reset();  // no caller writes to a dead stream
    }
    if (!st.ok()) return st;
  }
}

void PeerSender::RunSnapshots() {
  while (true) {
    raft::Message msg;
    {
      std::unique_lock lock(mu_);
      snapshot_cv_.wait(lock, [&] { return stopping_ || !snapshots_.empty(); });
      if (stopping_) return;
      msg = std::move(snapshots_.front());
      snapshots_.pop_front();
    }
    const auto start = Clock::now();
    uint64_t size = 0;
    Status st = SendSnapshot(msg, &size);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    const raft::Index index = msg.snapshot ? msg.snapshot->meta.index : 0;
    if (st.ok()) {
      spdlog::info("transport {:x}: sent snapshot at index {} ({} bytes) to peer {:x} in {} ms",
                   options_.self, index, size, peer_, ms);
    } else {
      spdlog::warn(
          "transport {:x}: sending snapshot at index {} ({} bytes) to peer {:x} failed: {}",
          options_.self, index, size, peer_, st.ToString());
    }
    {
      std::lock_guard lock(mu_);
      snapshot_ctx_.reset();
      if (stopping_) return;  // no callbacks once stopping
    }
    handler_->OnSnapshotSent(peer_, st.ok());
  }
}

// Streams the image in chunks of snapshot_chunk_bytes: read from the snapshot file when the
// data is a descriptor (so the image is never held whole in memory), else from the inline
// data. The last chunk carries the CRC32C of the whole image, computed as it is sent.
Status PeerSender::SendSnapshot(const raft::Message& msg, uint64_t* image_size) {
  if (!msg.snapshot) return Status::InvalidArgument("snapshot message without a snapshot");
  const std::string& data = msg.snapshot->data;
  std::unique_ptr<storage::SnapshotFileReader> file;
  if (storage::IsSnapshotFileRef(data)) {
    auto ref = storage::DecodeSnapshotFileRef(data);
    if (!ref.ok()) return ref.status();
    auto r = storage::SnapshotFileReader::Open(storage::PosixFileSystem(), ref->path);
    if (!r.ok()) return r.status();
    file = std::move(*r);
  }
  const uint64_t total = file ? file->data_len() : data.size();
  *image_size = total;
  auto channel = Connect();
  if (!channel.ok()) return channel.status();
  auto stub = raftkvpb::Raft::NewStub(*channel);
  auto ctx = std::make_shared<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + options_.snapshot_timeout +
                    std::chrono::milliseconds(total >> 10));  // + 1 ms per KiB
  if (!TrackContext(&snapshot_ctx_, ctx)) return Status::Aborted("stopping");
  raftkvpb::SnapshotAck ack;
  auto writer = stub->SendSnapshot(ctx.get(), &ack);

  uint64_t offset = 0;
  uint32_t crc = 0;
  bool write_ok = true;
  // Sends one chunk; the first also carries the header and the message without its data.
  auto send = [&](std::string_view bytes) {
    raftkvpb::SnapshotChunk c;
    const bool is_first = offset == 0;
    if (is_first) {
      *c.mutable_header() = Header();
      raft::Message meta_only = msg;
      meta_only.snapshot->data.clear();
      EncodeMessage(meta_only, c.mutable_message());
      c.set_total_size(total);
    }
    c.set_offset(offset);
    c.set_data(bytes.data(), bytes.size());
    crc = storage::crc32c::Extend(crc, bytes.data(), bytes.size());
    offset += bytes.size();
    if (offset == total) {
      c.set_last(true);
      c.set_crc32c(crc);
    }
    const uint64_t wire = c.ByteSizeLong();
    if (!writer->Write(c)) {
      write_ok = false;
      return Status::Unavailable("snapshot stream closed early");
    }
    stats_->AddSent(peer_, is_first ? 1 : 0, wire);
    return Status::OK();
  };
  const size_t chunk = std::max<size_t>(options_.snapshot_chunk_bytes, 1);
  Status read_st;
  if (total == 0) {
    read_st = send({});
  } else if (file) {
    read_st = file->ReadData(send, chunk);
  } else {
    for (uint64_t off = 0; off < total && read_st.ok(); off += chunk) {
      read_st = send(std::string_view(data).substr(off, chunk));
    }
  }
  if (write_ok && read_st.ok()) {
    writer->WritesDone();
  } else {
    ctx->TryCancel();
  }
  grpc::Status st = writer->Finish();
  // A failed write is explained by the stream's status; a failed file read by itself.
  if (write_ok && !read_st.ok()) return read_st;
  if (!st.ok()) return FromGrpc(st, "snapshot stream");
  if (!write_ok) return Status::Unavailable("snapshot stream closed early");
  if (ack.received_bytes() != total) {
    return Status::Corruption("receiver confirmed " + std::to_string(ack.received_bytes()) +
                              " of " + std::to_string(total) + " bytes");
  }
  return Status::OK();
}

}  // namespace raftkv::transport
