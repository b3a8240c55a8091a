// The front's insides (front.h is the outside): a loop thread, its connections and their
// streams. A connection has two sides: `down`, the client's socket with a server session, and
// `up`, a socket to the gRPC server with a client session, opened on the first forwarded call.
// Each side is read until the kernel has nothing more and written with one send of all that
// nghttp2 has for it, at the end of the loop's round.
#pragma once

#include <nghttp2/nghttp2.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "front/front.h"

namespace raftkv::front::internal {

// An answer handed to a loop: grpc status `code`, with `bytes` the response message (code 0) or
// the status message.
struct Answer {
  uint64_t conn = 0;
  int32_t stream = 0;
  int code = 0;
  std::string bytes;
};

// What other threads hand a loop: answers, and connections accepted by loop 0. Shared with
// every Reply, so a late answer finds a closed mailbox, not freed memory.
struct Mailbox {
  Mailbox();
  ~Mailbox();
  void Post(Answer answer);
  void AddConnection(int fd);
  // The loop's side: everything posted so far.
  void Take(std::vector<Answer>* answers, std::vector<int>* fds);
  // No more posts are kept (those already taken are the loop's).
  void Close();
  void Wake();

  const int wake_fd;  // eventfd the loop sleeps on
  std::mutex mu;
  std::vector<Answer> answers;  // guarded by mu
  std::vector<int> fds;         // guarded by mu
  bool closed = false;          // guarded by mu
  bool woken = false;           // guarded by mu: the eventfd was written since the last Take
};

struct Conn;

// What an epoll event is about.
struct Tag {
  enum Kind { kWake, kListener, kDown, kUp } kind;
  Conn* conn = nullptr;
  int fd = -1;
};

// One socket of a connection and its nghttp2 session.
struct Side {
  int fd = -1;
  nghttp2_session* session = nullptr;
  std::string out;  // bytes not yet written, from `off`
  size_t off = 0;
  bool epollout = false;
  Tag tag;
};

// One client stream. Served: the request body gathers in `body`, the answer goes out of
// `answer`. Forwarded: bytes move through `to_up` and `to_down`, and the stream lives until
// both its client stream and its gRPC stream are closed.
struct Stream {
  int32_t id = 0;
  std::string path;
  std::vector<Header> headers;
  size_t header_bytes = 0;
  enum Mode { kUndecided, kServed, kForwarded } mode = kUndecided;

  // Served.
  std::string body;
  bool too_large = false;
  bool answered = false;
  std::string answer;  // the response message, sent after frame_header
  char frame_header[5] = {};
  size_t sent = 0;

  // Forwarded.
  int32_t up_id = -1;
  std::string to_up;  // request bytes for the gRPC server, from to_up_off
  size_t to_up_off = 0;
  bool down_ended = false;  // the client's END_STREAM arrived
  std::string to_down;      // response bytes for the client, from to_down_off
  size_t to_down_off = 0;
  std::vector<Header> response_headers;
  std::vector<Header> trailers;
  bool got_response_headers = false;
  bool up_ended = false;  // the gRPC server's END_STREAM arrived
  bool down_closed = false;
  bool up_closed = false;
};

struct Conn {
  uint64_t id = 0;
  class Loop* loop = nullptr;
  Side down;
  Side up;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams;  // by client stream id
  bool dirty = false;  // has output to gather at the end of the round
  bool dead = false;   // to be closed at the end of the round
};

class Loop {
 public:
  Loop(Handler* handler, const Options* options, std::vector<int> listeners,
       std::vector<std::unique_ptr<Loop>>* all);
  ~Loop();

  void Start();
  void StopAndJoin();
  // Takes the listening sockets out of this loop's epoll (any thread).
  void StopListening();
  Mailbox& mailbox() { return *mailbox_; }
  Counters counters() const;

  // Used by the nghttp2 callbacks (loop.cc, proxy.cc).
  void MarkDirty(Conn* c);
  void StartCall(Conn* c, Stream* st);
  void EndOfRequest(Conn* c, Stream* st);
  void ServedData(Conn* c, Stream* st, const uint8_t* data, size_t len);
  void DownStreamClosed(Conn* c, Stream* st);
  // Forwarding (proxy.cc).
  bool Forward(Conn* c, Stream* st);
  void ForwardedData(Conn* c, Stream* st, const uint8_t* data, size_t len);
  void ForwardedEnd(Conn* c, Stream* st);
  void UpStreamClosed(Conn* c, Stream* st, uint32_t error_code);
  void MaybeErase(Conn* c, Stream* st);
  void count_read() { reads_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void Run();
  void Accept(int listener);
  void Open(int fd);
  void Close(Conn* c);
  bool OpenUpstream(Conn* c);
  void CloseUpstream(Conn* c);
  bool ReadAll(Conn* c, Side* side);
  bool Flush(Side* side, bool client);
  void TakeMail();
  void Submit(Conn* c, Stream* st, int code, std::string bytes);
  void EndRound();
  void WatchSide(Side* side, uint32_t events, int op);

  Handler* const handler_;
  const Options* const options_;
  const std::vector<int> listeners_;
  std::vector<std::unique_ptr<Loop>>* const all_;
  std::shared_ptr<Mailbox> mailbox_;
  const int ep_;
  Tag wake_tag_{Tag::kWake};
  std::vector<Tag> listener_tags_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> dirty_;
  uint64_t next_conn_id_ = 1;
  size_t next_loop_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::atomic<uint64_t> served_{0}, forwarded_{0}, reads_{0}, writes_{0};
  std::vector<Answer> mail_;
  std::vector<int> new_fds_;
  uint8_t buf_[64 * 1024];
};

// nghttp2 callbacks and options (loop.cc: the client side; proxy.cc: the gRPC side).
nghttp2_session_callbacks* DownCallbacks();
nghttp2_session_callbacks* UpCallbacks();
nghttp2_option* SessionOptions();

// nghttp2 header list from ours (copied by nghttp2).
std::vector<nghttp2_nv> ToNv(const std::vector<Header>& headers);
nghttp2_nv Nv(std::string_view name, std::string_view value);

// Flow-control windows: a stream's, and each connection's.
inline constexpr int32_t kStreamWindow = 1 << 20;
inline constexpr int32_t kConnWindow = 64 << 20;
// Output gathered for one side before nghttp2 is asked for no more (it keeps the rest).
inline constexpr size_t kMaxPendingOut = 4 << 20;
// Request headers of one stream above this many bytes reset it (gRPC's default is 8 KiB of
// metadata; etcd's tokens are far smaller).
inline constexpr size_t kMaxHeaderBytes = 64 << 10;

}  // namespace raftkv::front::internal
