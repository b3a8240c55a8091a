#include "transport/outbound_stream.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <spdlog/fmt/fmt.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/check.h"
#include "transport/frame.h"

namespace raftkv::transport {
namespace {

constexpr auto kStopPoll = std::chrono::milliseconds(50);

std::string Describe(const grpc::Status& st) {
  return std::to_string(st.error_code()) + " " + st.error_message();
}

// Waits for a non-blocking connect to finish; 0 or the connect's errno.
int WaitConnected(int fd, OutboundStream::Clock::time_point deadline,
                  const std::function<bool()>& stopping) {
  while (true) {
    if (stopping()) return ECANCELED;
    const auto now = OutboundStream::Clock::now();
    if (now >= deadline) return ETIMEDOUT;
    const auto slice = std::min<OutboundStream::Clock::duration>(deadline - now, kStopPoll);
    pollfd p{fd, POLLOUT, 0};
    int r = poll(
        &p, 1,
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(slice).count() + 1));
    if (r < 0 && errno != EINTR) return errno;
    if (r <= 0) continue;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err;
  }
}

}  // namespace

Result<int> ConnectTcp(const std::string& target, OutboundStream::Clock::time_point deadline,
                       const std::function<bool()>& stopping) {
  std::string host, port;
  if (!SplitHostPort(target, &host, &port)) {
    return Status::NotFound("not a host:port address: " + target);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Status::Unavailable("cannot resolve " + target + ": " + gai_strerror(rc));
  }
  int err = ECONNREFUSED;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      err = errno;
      continue;
    }
    err = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
    if (err == EINPROGRESS) err = WaitConnected(fd, deadline, stopping);
    if (err == 0) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      freeaddrinfo(res);
      return fd;
    }
    close(fd);
    if (err == ECANCELED) break;
  }
  freeaddrinfo(res);
  if (err == ECANCELED) return Status::Aborted("stopping");
  return Status::Unavailable("cannot connect to " + target + ": " + std::strerror(err));
}

GrpcOutboundStream::GrpcOutboundStream(std::shared_ptr<grpc::Channel> channel)
    : stub_(raftkvpb::Raft::NewStub(channel)) {}

Status GrpcOutboundStream::Handshake(const raftkvpb::StreamHeader& header, raft::NodeId peer,
                                     Clock::time_point /*deadline: the channel is connected*/) {
  stream_ = stub_->Stream(&ctx_);
  raftkvpb::MessageBatch first;
  *first.mutable_header() = header;
  raftkvpb::StreamAccept accept;
  if (!stream_->Write(first) || !stream_->Read(&accept)) {
    grpc::Status st = stream_->Finish();
    stream_.reset();
    return Status::Unavailable("handshake refused: grpc code " +
                               (st.ok() ? std::string("2 stream closed") : Describe(st)));
  }
  if (accept.member_id() != peer) {
    Finish(/*cancel=*/true);
    return Status::FailedPrecondition("peer answered as member " +
                                      fmt::format("{:x}", accept.member_id()));
  }
  return Status::OK();
}

Status GrpcOutboundStream::Write(const raftkvpb::MessageBatch& batch, uint64_t* wire_bytes) {
  *wire_bytes = batch.ByteSizeLong();
  if (!stream_->Write(batch)) return Status::Unavailable("write failed");
  return Status::OK();
}

std::string GrpcOutboundStream::Finish(bool cancel) {
  if (!stream_) return "";
  if (cancel) ctx_.TryCancel();
  grpc::Status st = stream_->Finish();
  stream_.reset();
  return "stream ended with " + Describe(st);
}

FramedOutboundStream::FramedOutboundStream(int fd, std::chrono::milliseconds keepalive_interval,
                                           std::chrono::milliseconds keepalive_timeout)
    : socket_(fd), interval_(keepalive_interval), timeout_(keepalive_timeout) {
  // The sender never blocks in a read (Poll reads what has arrived); a write that cannot go
  // out for a whole keepalive period means a dead peer.
  TuneSocket(fd, std::chrono::milliseconds(0), interval_ + timeout_);
}

Status FramedOutboundStream::Handshake(const raftkvpb::StreamHeader& header, raft::NodeId peer,
                                       Clock::time_point deadline) {
  std::string hello = Preamble();
  const std::string body = header.SerializeAsString();
  hello += Frame(FrameType::kHello, body);
  RAFTKV_RETURN_IF_ERROR(socket_.WriteAll(hello));
  std::string preamble;
  Status st = socket_.ReadExact(kPreambleBytes, &preamble, deadline);
  if (!st.ok()) {
    // Closed on us without a word: a server that does not know the framed protocol.
    peer_not_framed_ = socket_.closed_by_peer();
    return st;
  }
  if (!CheckPreamble(preamble).ok()) {
    peer_not_framed_ = true;
    return Status::Unavailable("peer does not speak the framed protocol");
  }
  FrameType type;
  std::string payload;
  RAFTKV_RETURN_IF_ERROR(socket_.ReadFrame(&type, &payload, deadline));
  if (type == FrameType::kReject) return Status::Unavailable("handshake refused: " + payload);
  raftkvpb::StreamAccept accept;
  if (type != FrameType::kAccept || !accept.ParseFromString(payload)) {
    return Status::InvalidArgument("unexpected answer to the framed handshake");
  }
  if (accept.member_id() != peer) {
    return Status::FailedPrecondition("peer answered as member " +
                                      fmt::format("{:x}", accept.member_id()));
  }
  last_ping_ = Clock::now();
  return Status::OK();
}

Status FramedOutboundStream::Encode(const raftkvpb::MessageBatch& batch, uint64_t* wire_bytes) {
  RAFTKV_CHECK(out_sent_ == out_.size(), "a frame is encoded only once the previous one is out");
  const size_t n = batch.ByteSizeLong();
  if (n > kMaxFramePayload) {
    return Status::InvalidArgument("batch of " + std::to_string(n) +
                                   " bytes exceeds the frame limit");
  }
  out_.clear();
  out_sent_ = 0;
  AppendFrameHeader(&out_, FrameType::kBatch, n);
  out_.resize(kFrameHeaderBytes + n);
  batch.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(out_.data() + kFrameHeaderBytes));
  *wire_bytes = out_.size();
  return Status::OK();
}

Status FramedOutboundStream::Flush() {
  if (out_sent_ == out_.size()) return Status::OK();
  Status st = socket_.WriteAll(std::string_view(out_).substr(out_sent_));
  // Sent or not, the frame is done with: a failed stream is never written again.
  out_sent_ = out_.size();
  return st;
}

Status FramedOutboundStream::Write(const raftkvpb::MessageBatch& batch, uint64_t* wire_bytes) {
  RAFTKV_RETURN_IF_ERROR(Flush());
  RAFTKV_RETURN_IF_ERROR(Encode(batch, wire_bytes));
  return Flush();
}

Result<bool> FramedOutboundStream::TryWrite(const raftkvpb::MessageBatch& batch,
                                            uint64_t* wire_bytes) {
  // Encode checks that no unfinished frame is ahead: its rest would have to go first.
  RAFTKV_RETURN_IF_ERROR(Encode(batch, wire_bytes));
  auto n = socket_.WriteNow(out_);
  if (!n.ok()) {
    out_sent_ = out_.size();
    return n.status();
  }
  out_sent_ = *n;
  return out_sent_ == out_.size();
}

Status FramedOutboundStream::Poll(Clock::time_point now) {
  Status st = socket_.DrainFrames([&](FrameType type, const std::string& payload) {
    if (type == FrameType::kPong) {
      ping_outstanding_ = false;
      return Status::OK();
    }
    if (type == FrameType::kReject)
      return Status::Unavailable("peer closed the stream: " + payload);
    return Status::InvalidArgument("unexpected frame type " +
                                   std::to_string(static_cast<int>(type)) + " from the receiver");
  });
  RAFTKV_RETURN_IF_ERROR(st);
  if (ping_outstanding_) {
    if (now - last_ping_ < timeout_) return Status::OK();
    return Status::Unavailable("no keepalive answer within " + std::to_string(timeout_.count()) +
                               " ms");
  }
  if (now - last_ping_ < interval_) return Status::OK();
  RAFTKV_RETURN_IF_ERROR(Flush());  // a ping never lands inside a frame
  RAFTKV_RETURN_IF_ERROR(socket_.WriteAll(Frame(FrameType::kPing, {})));
  ping_outstanding_ = true;
  last_ping_ = now;
  return Status::OK();
}

OutboundStream::Clock::time_point FramedOutboundStream::NextPoll() const {
  return last_ping_ + (ping_outstanding_ ? timeout_ : interval_);
}

std::string FramedOutboundStream::Finish(bool /*cancel*/) {
  socket_.Shutdown();
  return "";
}

}  // namespace raftkv::transport
