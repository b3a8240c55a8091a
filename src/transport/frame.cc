#include "transport/frame.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/coding.h"

namespace raftkv::transport {
namespace {

using Clock = std::chrono::steady_clock;

// What one recv() asks for: enough to take many small frames at once.
constexpr size_t kReadChunk = 64 << 10;

std::string Errno(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// A frame's announced payload length against the limit, before any of the payload is read.
Status CheckFrameLength(uint32_t len, uint32_t limit) {
  if (len <= limit) return Status::OK();
  return Status::InvalidArgument("frame of " + std::to_string(len) + " bytes (limit " +
                                 std::to_string(limit) + ")");
}

}  // namespace

std::string Preamble() {
  std::string p(kFrameMagic, sizeof(kFrameMagic));
  p.push_back(static_cast<char>(kFrameVersion));
  p.append(3, '\0');
  return p;
}

bool MayBeFramed(std::string_view bytes) {
  const size_t n = std::min(bytes.size(), sizeof(kFrameMagic));
  return std::memcmp(bytes.data(), kFrameMagic, n) == 0;
}

Status CheckPreamble(std::string_view bytes) {
  if (bytes.size() < kPreambleBytes || !MayBeFramed(bytes.substr(0, sizeof(kFrameMagic)))) {
    return Status::InvalidArgument("not a raftkv framed stream");
  }
  const auto version = static_cast<uint8_t>(bytes[4]);
  if (version != kFrameVersion) {
    return Status::InvalidArgument("framed stream version " + std::to_string(version) +
                                   ", this member speaks " + std::to_string(kFrameVersion));
  }
  return Status::OK();
}

void AppendFrameHeader(std::string* out, FrameType type, size_t payload_size) {
  PutU32(out, static_cast<uint32_t>(payload_size));
  PutU8(out, static_cast<uint8_t>(type));
}

std::string Frame(FrameType type, std::string_view payload) {
  std::string out;
  out.reserve(kFrameHeaderBytes + payload.size());
  AppendFrameHeader(&out, type, payload.size());
  out.append(payload);
  return out;
}

FrameSocket::~FrameSocket() {
  if (fd_ >= 0) close(fd_);
}

void FrameSocket::Shutdown() {
  shutdown(fd_, SHUT_RDWR);
}

Status FrameSocket::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Status::Unavailable("write timed out (peer not reading)");
      }
      return Status::Unavailable(Errno("write"));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Result<size_t> FrameSocket::WriteNow(std::string_view bytes) {
  while (true) {
    ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
    return Status::Unavailable(Errno("write"));
  }
}

Result<bool> FrameSocket::ReadNow() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    // A stream read as it arrives often stops inside a frame: keep the unread tail at the
    // front, or the consumed bytes before it would pile up.
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return RecvNow(kReadChunk);
}

Result<bool> FrameSocket::RecvNow(size_t want) {
  const size_t old = buf_.size();
  buf_.resize(old + want);
  ssize_t n;
  do {
    n = recv(fd_, buf_.data() + old, want, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  buf_.resize(old + std::max<ssize_t>(n, 0));
  if (n > 0) return true;
  if (n == 0 || err == ECONNRESET) {
    closed_by_peer_ = true;
    return Status::Unavailable("connection closed by peer");
  }
  errno = err;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
  return Status::Unavailable(Errno("read"));
}

Result<bool> FrameSocket::TryFill(size_t n) {
  while (buf_.size() - pos_ < n) {
    auto got = RecvNow(n - (buf_.size() - pos_));
    if (!got.ok() || !*got) return got;
  }
  return true;
}

Result<bool> FrameSocket::TryReadExact(size_t n, std::string* out) {
  auto got = TryFill(n);
  if (!got.ok() || !*got) return got;
  out->assign(buf_, pos_, n);
  pos_ += n;
  return true;
}

Result<bool> FrameSocket::TryReadFrame(FrameType* type, std::string* payload,
                                       uint32_t max_payload) {
  auto got = TryFill(kFrameHeaderBytes);
  if (!got.ok() || !*got) return got;
  RAFTKV_RETURN_IF_ERROR(CheckFrameLength(DecodeU32(buf_.data() + pos_), max_payload));
  got = TryFill(kFrameHeaderBytes + DecodeU32(buf_.data() + pos_));
  if (!got.ok() || !*got) return got;
  return TakeFrame(type, payload);
}

Status FrameSocket::Fill(size_t n, Clock::time_point deadline) {
  while (buf_.size() - pos_ < n) {
    if (pos_ > 0 && pos_ >= buf_.size() / 2) {  // keep the unread tail at the front
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    if (deadline != Clock::time_point{}) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return Status::Unavailable("timed out waiting for the peer");
      pollfd p{fd_, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno != EINTR) return Status::Unavailable(Errno("poll"));
      if (r <= 0) continue;
    }
    // A large frame is read in steps as it arrives, never reserved whole up front.
    const size_t want = std::max(kReadChunk, std::min<size_t>(n - (buf_.size() - pos_), 1 << 20));
    const size_t old = buf_.size();
    buf_.resize(old + want);
    ssize_t got = recv(fd_, buf_.data() + old, want, 0);
    const int err = errno;
    buf_.resize(old + std::max<ssize_t>(got, 0));
    if (got > 0) continue;
    if (got == 0 || err == ECONNRESET) {
      closed_by_peer_ = true;
      return Status::Unavailable("connection closed by peer");
    }
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      return Status::Unavailable("nothing received within the keepalive timeout");
    }
    errno = err;
    return Status::Unavailable(Errno("read"));
  }
  return Status::OK();
}

Status FrameSocket::ReadExact(size_t n, std::string* out, Clock::time_point deadline) {
  RAFTKV_RETURN_IF_ERROR(Fill(n, deadline));
  out->assign(buf_, pos_, n);
  pos_ += n;
  return Status::OK();
}

Result<bool> FrameSocket::TakeFrame(FrameType* type, std::string* payload) {
  const size_t avail = buf_.size() - pos_;
  if (avail < kFrameHeaderBytes) return false;
  const uint32_t len = DecodeU32(buf_.data() + pos_);
  RAFTKV_RETURN_IF_ERROR(CheckFrameLength(len, kMaxFramePayload));
  if (avail < kFrameHeaderBytes + len) return false;
  *type = static_cast<FrameType>(static_cast<uint8_t>(buf_[pos_ + 4]));
  payload->assign(buf_, pos_ + kFrameHeaderBytes, len);
  pos_ += kFrameHeaderBytes + len;
  return true;
}

Status FrameSocket::ReadFrame(FrameType* type, std::string* payload, Clock::time_point deadline) {
  RAFTKV_RETURN_IF_ERROR(Fill(kFrameHeaderBytes, deadline));
  const uint32_t len = DecodeU32(buf_.data() + pos_);
  RAFTKV_RETURN_IF_ERROR(CheckFrameLength(len, kMaxFramePayload));
  RAFTKV_RETURN_IF_ERROR(Fill(kFrameHeaderBytes + len, deadline));
  auto got = TakeFrame(type, payload);
  if (!got.ok()) return got.status();
  return Status::OK();
}

bool SplitHostPort(const std::string& target, std::string* host, std::string* port) {
  if (!target.empty() && target[0] == '[') {
    size_t close = target.find(']');
    if (close == std::string::npos || close + 1 >= target.size() || target[close + 1] != ':') {
      return false;
    }
    *host = target.substr(1, close - 1);
    *port = target.substr(close + 2);
  } else {
    size_t colon = target.rfind(':');
    if (colon == std::string::npos || target.find(':') != colon) return false;
    *host = target.substr(0, colon);
    *port = target.substr(colon + 1);
  }
  if (host->empty() || port->empty()) return false;
  for (char c : *port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

void TuneSocket(int fd, std::chrono::milliseconds recv_timeout,
                std::chrono::milliseconds send_timeout) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto tv = [](std::chrono::milliseconds d) {
    timeval t{};
    t.tv_sec = static_cast<time_t>(d.count() / 1000);
    t.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
    return t;
  };
  timeval rcv = tv(recv_timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
  timeval snd = tv(send_timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
  unsigned int user_timeout = static_cast<unsigned int>(send_timeout.count());
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

}  // namespace raftkv::transport
