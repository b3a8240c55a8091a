// The framed peer stream's wire format (see README.md, "Framed message stream") and the
// blocking socket I/O both of its ends use.
//
//   preamble  'R' 'K' 'V' 'F' version 0 0 0        8 bytes, each side sends it once, first
//   frame     length (u32, little-endian) type (u8) payload (length bytes)
//
// Frame types: kHello {StreamHeader} from the sender; kAccept {StreamAccept} or kReject
// (reason text, then the connection closes) from the receiver; then kBatch {MessageBatch}
// from the sender, kPing from the sender answered by kPong. The preamble never starts like
// HTTP/2's client preface ("PRI ") or a TLS record (0x16), which is how the peer port tells
// a framed connection from a gRPC one.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace raftkv::transport {

inline constexpr char kFrameMagic[4] = {'R', 'K', 'V', 'F'};
inline constexpr uint8_t kFrameVersion = 1;
inline constexpr size_t kPreambleBytes = 8;
inline constexpr size_t kFrameHeaderBytes = 5;
// Largest payload either end accepts: what the gRPC peer server accepts per frame (a batch
// is ~4 MiB by the sender's budget, but one message larger than that still goes alone, and
// --max-request-bytes bounds an entry only by the user's choice). A frame's buffer grows as
// its bytes arrive, so a length that lies costs nothing until the bytes are really sent.
inline constexpr uint32_t kMaxFramePayload = 256u << 20;

enum class FrameType : uint8_t {
  kHello = 1,
  kAccept = 2,
  kReject = 3,
  kBatch = 4,
  kPing = 5,
  kPong = 6,
};

std::string Preamble();
// Whether `bytes` (the first bytes of a connection, possibly fewer than a preamble) may be
// the start of a preamble of any version.
bool MayBeFramed(std::string_view bytes);
// Checks a full preamble: magic and a version this build speaks.
Status CheckPreamble(std::string_view bytes);

// Appends a frame's header for a payload of `payload_size` bytes.
void AppendFrameHeader(std::string* out, FrameType type, size_t payload_size);
std::string Frame(FrameType type, std::string_view payload);

// A TCP connection's file descriptor. Reads buffer what arrives; every call is blocking
// with a deadline (or the socket's SO_RCVTIMEO/SO_SNDTIMEO).
class FrameSocket {
 public:
  explicit FrameSocket(int fd) : fd_(fd) {}
  ~FrameSocket();
  FrameSocket(const FrameSocket&) = delete;
  FrameSocket& operator=(const FrameSocket&) = delete;

  int fd() const { return fd_; }
  // Whether a read failed because the peer closed or reset the connection.
  bool closed_by_peer() const { return closed_by_peer_; }
  // Wakes a thread blocked in this socket's calls; safe from any thread until destruction.
  void Shutdown();

  // Writes all of `bytes` (one send() unless the socket buffer is full).
  Status WriteAll(std::string_view bytes);
  // Writes what the socket buffer takes now, never waiting: how many bytes went (0 when the
  // buffer is full). Safe from another thread than the reader's (only the fd is used).
  Result<size_t> WriteNow(std::string_view bytes);
  // Reads exactly `n` bytes. `deadline` bounds the wait (a zero time_point: only the
  // socket's own SO_RCVTIMEO does).
  Status ReadExact(size_t n, std::string* out, std::chrono::steady_clock::time_point deadline = {});
  // Reads one frame; a length above kMaxFramePayload is refused before its payload is read.
  Status ReadFrame(FrameType* type, std::string* payload,
                   std::chrono::steady_clock::time_point deadline = {});
  // The same without blocking (on a socket read from one thread among many, such as the peer
  // port's acceptor): true once the whole thing arrived, false while it has not (what came
  // is kept for the next call). They read only the bytes they still miss, so a connection
  // that sends more after a frame leaves it in the kernel, and one waiting costs no buffer.
  Result<bool> TryReadExact(size_t n, std::string* out);
  // A length above `max_payload` is refused before its payload is read.
  Result<bool> TryReadFrame(FrameType* type, std::string* payload, uint32_t max_payload);
  // Reads whatever has arrived without blocking and takes out the complete frames in it:
  // calls `on_frame(type, payload)` for each until it returns an error. Status::Unavailable
  // when the peer closed the connection. It stops reading once `max_read` bytes were read in
  // this call (the rest stays in the kernel for the next call), so one busy stream cannot
  // hold a caller that serves others.
  template <typename F>
  Status DrainFrames(F on_frame, size_t max_read = SIZE_MAX);

 private:
  // Fills buf_ until it holds `n` unread bytes.
  Status Fill(size_t n, std::chrono::steady_clock::time_point deadline);
  // Reads, without blocking, what is missing of `n` unread bytes; true once buf_ holds them.
  Result<bool> TryFill(size_t n);
  // One non-blocking recv() of up to `want` bytes appended to buf_; false if nothing was
  // there, Unavailable when the peer closed (closed_by_peer()) or the read failed.
  Result<bool> RecvNow(size_t want);
  // Takes the next complete frame out of buf_, if there is one.
  Result<bool> TakeFrame(FrameType* type, std::string* payload);
  // Reads what is available now into buf_; false if nothing was.
  Result<bool> ReadNow();

  int fd_;
  bool closed_by_peer_ = false;
  std::string buf_;  // received, not yet consumed: buf_[pos_..]
  size_t pos_ = 0;
};

template <typename F>
Status FrameSocket::DrainFrames(F on_frame, size_t max_read) {
  size_t read = 0;
  while (true) {
    FrameType type;
    std::string payload;
    auto got = TakeFrame(&type, &payload);
    if (!got.ok()) return got.status();
    if (*got) {
      Status st = on_frame(type, payload);
      if (!st.ok()) return st;
      continue;
    }
    if (read >= max_read) return Status::OK();
    const size_t before = buf_.size() - pos_;
    auto more = ReadNow();
    if (!more.ok()) return more.status();
    if (!*more) return Status::OK();
    read += buf_.size() - pos_ - before;
  }
}

// "host:port" or "[v6]:port" -> (host, port); false for anything else (gRPC's other target
// forms, such as "unix:path", which stay on gRPC).
bool SplitHostPort(const std::string& target, std::string* host, std::string* port);

// TCP_NODELAY, and the timeouts that make a silent peer an error: SO_RCVTIMEO (0: none),
// SO_SNDTIMEO and TCP_USER_TIMEOUT (unacknowledged data for that long closes it).
void TuneSocket(int fd, std::chrono::milliseconds recv_timeout,
                std::chrono::milliseconds send_timeout);

}  // namespace raftkv::transport
