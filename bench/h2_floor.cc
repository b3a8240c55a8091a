// raftkv-h2-floor: the least a KV server on an HTTP/2 + gRPC framing server of our own (Debian's
// libnghttp2, no gRPC C++) can cost per call. It answers exactly what raftkv-grpc-floor answers
// (null_answers.h: KV.Range, KV.Put and KV.Compact at once with an empty response and a header,
// Maintenance.Status naming itself the leader, Cluster.MemberList), so that the two null servers
// driven by the same load generator
//
//     bench/compare-etcd --ab grpc=build/bin/raftkv-grpc-floor --ab h2=build/bin/raftkv-h2-floor
//         --with-etcd ...
//
// differ only in the transport: what their server CPU per request says is what the design of
// docs/benchmarks.md ("What stops the rest") would save over gRPC C++ at best.
//
// The design measured: N event-loop threads (RAFTKV_H2_THREADS, default the number of cores),
// each with its own epoll and its own connections (the main thread accepts and hands them out
// round-robin). On readiness a thread reads everything the socket has, feeds it to the
// connection's nghttp2 session (whose callbacks answer every complete request at once), then
// takes everything nghttp2 has to send into one buffer and writes it with ONE write: all the
// answers of what one read brought go out together. Plaintext HTTP/2 with prior knowledge only
// (gRPC clients send the preface directly), uncompressed unary gRPC calls only. Two switches for
// A/Bs: RAFTKV_H2_WRITE_EACH=1 writes each answer with its own write (as gRPC C++ does per call);
// RAFTKV_H2_HANDOFF=1 answers on one other thread, as raftkvd's raft and apply threads would,
// and hands the answers back to the connection's thread. At exit it prints its requests, reads
// and writes.
//
// It takes etcd's flags so compare-etcd can start it like a member: it listens on
// --listen-client-urls (http:// only) and ignores every other flag; SIGTERM/SIGINT stop it.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "null_answers.h"

namespace {

namespace na = raftkv::bench::null_answers;

// gRPC status codes used here.
constexpr int kUnimplemented = 12;
constexpr int kInternal = 13;

// Flow control: a window large enough that a client never waits for our WINDOW_UPDATEs (nghttp2
// sends one when half of it has been received; the application does not consume by hand).
constexpr int32_t kWindow = 1 << 30;
// Output held for a connection that does not read its answers before we stop taking more from
// nghttp2 (it keeps the rest queued).
constexpr size_t kMaxPendingOut = 4 << 20;

const std::vector<std::string>* client_urls = nullptr;

// What a loop thread did, printed at exit (answers per write is the point of the design).
struct Counters {
  uint64_t requests = 0;  // answered (Submit)
  uint64_t reads = 0;     // read(2) calls that returned bytes
  uint64_t writes = 0;    // send(2) calls
};
thread_local Counters counters;

// One request stream: its method, its body as it arrives, then its framed answer.
struct Stream {
  std::string path;
  std::string body;
  std::string answer;
  size_t sent = 0;
};

// A gRPC message: 1 byte compressed flag (0), 4 bytes big-endian length, the protobuf.
template <class M>
std::string Frame(const M& m) {
  const size_t n = m.ByteSizeLong();
  std::string out(5 + n, '\0');
  out[1] = static_cast<char>((n >> 24) & 0xff);
  out[2] = static_cast<char>((n >> 16) & 0xff);
  out[3] = static_cast<char>((n >> 8) & 0xff);
  out[4] = static_cast<char>(n & 0xff);
  m.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + 5));
  return out;
}

// The one uncompressed message of a unary request body, or false.
bool Unframe(const std::string& body, std::string_view* msg) {
  if (body.empty()) {  // no DATA at all: an empty message
    *msg = {};
    return true;
  }
  if (body.size() < 5 || body[0] != 0) return false;
  const auto* b = reinterpret_cast<const unsigned char*>(body.data());
  const size_t n = (size_t{b[1]} << 24) | (size_t{b[2]} << 16) | (size_t{b[3]} << 8) | b[4];
  if (body.size() != 5 + n) return false;
  *msg = std::string_view(body).substr(5);
  return true;
}

template <class Req, class Resp, class F>
int Call(const std::string& body, std::string* answer, F answer_fn) {
  std::string_view msg;
  Req req;
  if (!Unframe(body, &msg) || !req.ParseFromArray(msg.data(), static_cast<int>(msg.size()))) {
    return kInternal;
  }
  Resp resp;
  answer_fn(req, &resp);
  *answer = Frame(resp);
  return 0;
}

// The method's framed answer in *answer and 0, or a gRPC status code.
int Dispatch(const std::string& path, const std::string& body, std::string* answer) {
  namespace pb = etcdserverpb;
  if (path == "/etcdserverpb.KV/Range") {
    return Call<pb::RangeRequest, pb::RangeResponse>(body, answer, na::Range);
  }
  if (path == "/etcdserverpb.KV/Put") {
    return Call<pb::PutRequest, pb::PutResponse>(body, answer, na::Put);
  }
  if (path == "/etcdserverpb.KV/Compact") {
    return Call<pb::CompactionRequest, pb::CompactionResponse>(body, answer, na::Compact);
  }
  if (path == "/etcdserverpb.Maintenance/Status") {
    return Call<pb::StatusRequest, pb::StatusResponse>(body, answer, na::Status);
  }
  if (path == "/etcdserverpb.Cluster/MemberList") {
    return Call<pb::MemberListRequest, pb::MemberListResponse>(
        body, answer, [](const pb::MemberListRequest& req, pb::MemberListResponse* resp) {
          na::MemberList(*client_urls, req, resp);
        });
  }
  return kUnimplemented;
}

nghttp2_nv Nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

Stream* StreamOf(nghttp2_session* s, int32_t id) {
  return static_cast<Stream*>(nghttp2_session_get_stream_user_data(s, id));
}

bool IsRequestHeaders(const nghttp2_frame* f) {
  return f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST;
}

// The answer's DATA, then the trailers (grpc-status 0) with END_STREAM.
ssize_t ReadAnswer(nghttp2_session* s, int32_t id, uint8_t* buf, size_t length,
                   uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto* st = static_cast<Stream*>(source->ptr);
  const size_t n = std::min(length, st->answer.size() - st->sent);
  std::memcpy(buf, st->answer.data() + st->sent, n);
  st->sent += n;
  if (st->sent == st->answer.size()) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    static const nghttp2_nv trailers[] = {Nv("grpc-status", "0")};
    if (nghttp2_submit_trailer(s, id, trailers, 1) != 0) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
  }
  return static_cast<ssize_t>(n);
}

// Submits the stream's answer (st->answer, framed) or, for a code other than 0, a trailers-only
// answer with that gRPC status.
void Submit(nghttp2_session* s, int32_t id, Stream* st, int code) {
  counters.requests++;
  if (code != 0) {  // trailers-only: one HEADERS frame with END_STREAM
    const bool unknown = code == kUnimplemented;
    const nghttp2_nv nv[] = {Nv(":status", "200"), Nv("content-type", "application/grpc"),
                             Nv("grpc-status", unknown ? "12" : "13"),
                             Nv("grpc-message", unknown ? "unknown method" : "bad request")};
    nghttp2_submit_response(s, id, nv, 4, nullptr);
    return;
  }
  static const nghttp2_nv headers[] = {Nv(":status", "200"),
                                       Nv("content-type", "application/grpc")};
  nghttp2_data_provider data;
  data.source.ptr = st;
  data.read_callback = ReadAnswer;
  nghttp2_submit_response(s, id, headers, 2, &data);
}

// A request handed to the answering thread (RAFTKV_H2_HANDOFF=1) and its answer coming back.
struct Job {
  class Loop* loop;
  uint64_t conn;
  int32_t stream;
  std::string path;
  std::string body;
  std::string answer;
  int code = 0;
};

// RAFTKV_H2_HANDOFF=1: requests are answered by one other thread (as raftkvd's raft and apply
// threads answer them), handed over after each read and handed back to the connection's
// thread, which writes each connection's answers of a batch in one write.
const bool handoff = [] {
  const char* env = std::getenv("RAFTKV_H2_HANDOFF");
  return env != nullptr && std::string_view(env) == "1";
}();

// The requests of this thread's current readiness batch, for the answering thread.
thread_local std::vector<Job> outgoing;

struct Conn;
void Respond(nghttp2_session* s, int32_t id, Stream* st, Conn* c);

int OnBeginHeaders(nghttp2_session* s, const nghttp2_frame* f, void*) {
  if (IsRequestHeaders(f)) nghttp2_session_set_stream_user_data(s, f->hd.stream_id, new Stream);
  return 0;
}

int OnHeader(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
             const uint8_t* value, size_t valuelen, uint8_t, void*) {
  if (!IsRequestHeaders(f)) return 0;
  Stream* st = StreamOf(s, f->hd.stream_id);
  if (st != nullptr && std::string_view(reinterpret_cast<const char*>(name), namelen) == ":path") {
    st->path.assign(reinterpret_cast<const char*>(value), valuelen);
  }
  return 0;
}

int OnDataChunk(nghttp2_session* s, uint8_t, int32_t id, const uint8_t* data, size_t len, void*) {
  if (Stream* st = StreamOf(s, id)) st->body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int OnFrameRecv(nghttp2_session* s, const nghttp2_frame* f, void* user) {
  if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    if (Stream* st = StreamOf(s, f->hd.stream_id)) {
      Respond(s, f->hd.stream_id, st, static_cast<Conn*>(user));
    }
  }
  return 0;
}

int OnStreamClose(nghttp2_session* s, int32_t id, uint32_t, void*) {
  delete StreamOf(s, id);
  return 0;
}

int OnFrameSend(nghttp2_session*, const nghttp2_frame* f, void* user);

nghttp2_session_callbacks* Callbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(c, OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, OnDataChunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, OnFrameRecv);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, OnStreamClose);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, OnFrameSend);
    return c;
  }();
  return cbs;
}

// No closed streams kept for the priority tree (nghttp2 would keep up to MAX_CONCURRENT_STREAMS
// of them per connection: hundreds of MB under load, and work on every stream).
nghttp2_option* Options() {
  static nghttp2_option* opt = [] {
    nghttp2_option* o = nullptr;
    nghttp2_option_new(&o);
    nghttp2_option_set_no_closed_streams(o, 1);
    return o;
  }();
  return opt;
}

struct Conn {
  class Loop* loop = nullptr;
  uint64_t id = 0;
  int fd = -1;
  nghttp2_session* session = nullptr;
  std::string out;  // bytes not yet written, from out_off
  size_t out_off = 0;
  bool epollout = false;
  std::vector<size_t> ends;  // with write_each: where each answer ends in out
  size_t next_end = 0;
};

// A complete request: answered at once on this thread, or handed to the answering thread.
void Respond(nghttp2_session* s, int32_t id, Stream* st, Conn* c) {
  if (!handoff) {
    const int code = Dispatch(st->path, st->body, &st->answer);
    st->body.clear();
    Submit(s, id, st, code);
    return;
  }
  outgoing.push_back(Job{c->loop, c->id, id, st->path, std::move(st->body), {}, 0});
  st->body.clear();
}

// RAFTKV_H2_WRITE_EACH=1: one write per answer instead of one per read (the A/B of the
// batching: the same server, answers written as gRPC C++ writes them, each on its own).
const bool write_each = [] {
  const char* env = std::getenv("RAFTKV_H2_WRITE_EACH");
  return env != nullptr && std::string_view(env) == "1";
}();

// nghttp2 calls this for a frame at the next nghttp2_session_mem_send, after that frame's bytes
// were appended to out: a HEADERS frame with END_STREAM ends an answer there.
int OnFrameSend(nghttp2_session*, const nghttp2_frame* f, void* user) {
  if (write_each && f->hd.type == NGHTTP2_HEADERS && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    auto* c = static_cast<Conn*>(user);
    c->ends.push_back(c->out.size());
  }
  return 0;
}

// The answering thread of RAFTKV_H2_HANDOFF=1: takes the requests of a loop's batch, answers
// them, and hands the answers back to each loop with one wake-up per loop and batch.
class Answerer {
 public:
  void Push(std::vector<Job>* jobs) {
    {
      std::lock_guard<std::mutex> l(mu_);
      for (Job& j : *jobs) queue_.push_back(std::move(j));
    }
    jobs->clear();
    cv_.notify_one();
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_one();
  }
  void Run();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job> queue_;
  bool stop_ = false;
};

Answerer answerer;

// One event-loop thread and its connections.
class Loop {
 public:
  Loop() : ep_(epoll_create1(EPOLL_CLOEXEC)), wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    epoll_ctl(ep_, EPOLL_CTL_ADD, wake_, &ev);
  }

  // Hands a connected socket to this loop (from the acceptor).
  void Add(int fd) {
    {
      std::lock_guard<std::mutex> l(mu_);
      incoming_.push_back(fd);
    }
    eventfd_write(wake_, 1);
  }

  void Stop() {
    stop_.store(true);
    eventfd_write(wake_, 1);
  }

  // Answers from the answering thread.
  void Deliver(std::vector<Job>* jobs) {
    {
      std::lock_guard<std::mutex> l(mu_);
      for (Job& j : *jobs) answered_.push_back(std::move(j));
    }
    eventfd_write(wake_, 1);
  }

  void Run() {
    epoll_event events[128];
    while (!stop_.load()) {
      const int n = epoll_wait(ep_, events, 128, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::perror("raftkv-h2-floor: epoll_wait");
        return;
      }
      for (int i = 0; i < n; i++) {
        auto* c = static_cast<Conn*>(events[i].data.ptr);
        if (c == nullptr) {
          TakeIncoming();
          continue;
        }
        bool ok = true;
        if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) ok = ReadAll(c);
        if (ok) ok = Flush(c);
        if (!ok) Close(c);
      }
      if (!outgoing.empty()) answerer.Push(&outgoing);  // the whole batch, one wake-up
    }
    while (!conns_.empty()) Close(conns_.begin()->second);
    done_ = counters;
  }

  // After Run returned.
  const Counters& counters_done() const { return done_; }

 private:
  void TakeIncoming() {
    eventfd_t v;
    eventfd_read(wake_, &v);
    std::vector<int> fds;
    std::vector<Job> answered;
    {
      std::lock_guard<std::mutex> l(mu_);
      fds.swap(incoming_);
      answered.swap(answered_);
    }
    for (int fd : fds) Open(fd);
    // The answers of a batch: submitted to their sessions, then one Flush per connection.
    std::vector<Conn*> touched;
    for (Job& j : answered) {
      auto it = conns_.find(j.conn);
      if (it == conns_.end()) continue;  // closed meanwhile
      Conn* c = it->second;
      Stream* st = StreamOf(c->session, j.stream);
      if (st == nullptr) continue;  // reset meanwhile
      st->answer = std::move(j.answer);
      Submit(c->session, j.stream, st, j.code);
      if (touched.empty() || touched.back() != c) touched.push_back(c);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (Conn* c : touched) {
      if (!Flush(c)) Close(c);
    }
  }

  void Open(int fd) {
    auto* c = new Conn;
    c->loop = this;
    c->id = next_id_++;
    c->fd = fd;
    nghttp2_session_server_new2(&c->session, Callbacks(), c, Options());
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1u << 20},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kWindow)},
    };
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, kWindow);
    conns_.emplace(c->id, c);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    if (!Flush(c)) Close(c);  // our SETTINGS go out at once
  }

  void Close(Conn* c) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    nghttp2_session_del(c->session);  // closes its streams: OnStreamClose frees them
    conns_.erase(c->id);
    delete c;
  }

  // Everything the socket has, fed to nghttp2 (whose callbacks answer every complete request).
  // False when the connection is done (EOF, error, or a protocol error).
  bool ReadAll(Conn* c) {
    for (;;) {
      const ssize_t r = read(c->fd, buf_, sizeof buf_);
      if (r > 0) {
        counters.reads++;
        if (nghttp2_session_mem_recv(c->session, buf_, static_cast<size_t>(r)) < 0) return false;
        if (static_cast<size_t>(r) < sizeof buf_) return true;  // drained; spare the EAGAIN read
        continue;
      }
      if (r == 0) return false;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }

  // All nghttp2 has to send, gathered, then written in one write (more only if the kernel takes
  // part of it). The rest waits for EPOLLOUT. False when the connection is done.
  bool Flush(Conn* c) {
    for (;;) {
      while (c->out.size() - c->out_off < kMaxPendingOut) {
        const uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(c->session, &data);
        if (n < 0) return false;
        if (n == 0) break;
        c->out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      }
      bool blocked = false;
      while (c->out_off < c->out.size()) {
        size_t end = c->out.size();
        if (write_each) {
          while (c->next_end < c->ends.size() && c->ends[c->next_end] <= c->out_off) {
            c->next_end++;
          }
          if (c->next_end < c->ends.size()) end = c->ends[c->next_end];
        }
        const ssize_t w = send(c->fd, c->out.data() + c->out_off, end - c->out_off, MSG_NOSIGNAL);
        counters.writes++;
        if (w >= 0) {
          c->out_off += static_cast<size_t>(w);
          continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          blocked = true;
          break;
        }
        return false;
      }
      if (c->out_off == c->out.size()) {
        c->out.clear();
        c->out_off = 0;
        c->ends.clear();
        c->next_end = 0;
      }
      // Written all and nghttp2 has more (it was held back by kMaxPendingOut): go on.
      if (blocked || !nghttp2_session_want_write(c->session)) break;
    }
    const bool want_out = !c->out.empty();
    if (want_out != c->epollout) {
      epoll_event ev{};
      ev.events = want_out ? uint32_t{EPOLLIN | EPOLLOUT} : uint32_t{EPOLLIN};
      ev.data.ptr = c;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd, &ev);
      c->epollout = want_out;
    }
    return c->out.size() > 0 || nghttp2_session_want_read(c->session) != 0 ||
           nghttp2_session_want_write(c->session) != 0;
  }

  const int ep_;
  const int wake_;
  std::mutex mu_;
  std::vector<int> incoming_;
  std::atomic<bool> stop_{false};
  std::vector<Job> answered_;
  std::unordered_map<uint64_t, Conn*> conns_;
  uint64_t next_id_ = 1;
  Counters done_;
  uint8_t buf_[64 * 1024];
};

void Answerer::Run() {
  std::vector<Job> jobs;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      jobs.swap(queue_);
    }
    std::vector<std::pair<Loop*, std::vector<Job>>> by_loop;
    for (Job& j : jobs) {
      j.code = Dispatch(j.path, j.body, &j.answer);
      auto it = std::find_if(by_loop.begin(), by_loop.end(),
                             [&](const auto& p) { return p.first == j.loop; });
      if (it == by_loop.end()) {
        by_loop.emplace_back(j.loop, std::vector<Job>{});
        it = by_loop.end() - 1;
      }
      it->second.push_back(std::move(j));
    }
    jobs.clear();
    for (auto& [loop, answered] : by_loop) loop->Deliver(&answered);
  }
}

// A non-blocking listening socket on "host:port" (host may be a name or [v6]), or -1.
int Listen(const std::string& host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return -1;
  std::string host = host_port.substr(0, colon);
  const std::string port = host_port.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res) != 0) {
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

int Threads() {
  if (const char* env = std::getenv("RAFTKV_H2_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 2 : static_cast<int>(cores);
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM/SIGINT are read from a signalfd by the acceptor; blocked before the loops start, so
  // that they inherit the mask. Writes use MSG_NOSIGNAL; SIGPIPE is ignored anyway.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const std::vector<std::string> urls = na::ClientUrls(argc, argv);
  if (urls.empty()) {
    std::fprintf(stderr, "raftkv-h2-floor: --listen-client-urls http://host:port is required\n");
    return 2;
  }
  client_urls = &urls;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> listeners;
  for (const std::string& url : urls) {
    const std::string a = na::HostPort(url);
    if (a.empty()) {
      std::fprintf(stderr, "raftkv-h2-floor: only http:// client URLs are served\n");
      return 2;
    }
    const int fd = Listen(a);
    if (fd < 0) {
      std::fprintf(stderr, "raftkv-h2-floor: cannot listen on %s: %s\n", a.c_str(),
                   std::strerror(errno));
      return 1;
    }
    listeners.push_back(fd);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  const int sigfd = signalfd(-1, &signals, SFD_CLOEXEC);
  epoll_event sev{};
  sev.events = EPOLLIN;
  sev.data.fd = sigfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, sigfd, &sev);

  std::vector<std::unique_ptr<Loop>> loops;
  std::vector<std::thread> threads;
  for (int i = Threads(); i > 0; i--) {
    loops.push_back(std::make_unique<Loop>());
    threads.emplace_back([l = loops.back().get()] { l->Run(); });
  }
  std::thread answering;
  if (handoff) answering = std::thread([] { answerer.Run(); });
  size_t next = 0;
  bool stop = false;
  while (!stop) {
    epoll_event events[16];
    const int n = epoll_wait(ep, events, 16, -1);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      if (events[i].data.fd == sigfd) {
        stop = true;
        continue;
      }
      for (;;) {
        const int fd = accept4(events[i].data.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;  // EAGAIN (or a connection gone before we took it)
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        loops[next++ % loops.size()]->Add(fd);
      }
    }
  }
  for (auto& l : loops) l->Stop();
  for (auto& t : threads) t.join();
  if (answering.joinable()) {
    answerer.Stop();
    answering.join();
  }
  Counters sum;
  for (auto& l : loops) {
    sum.requests += l->counters_done().requests;
    sum.reads += l->counters_done().reads;
    sum.writes += l->counters_done().writes;
  }
  std::fprintf(stderr,
               "raftkv-h2-floor: %llu requests answered, %llu reads, %llu writes (%.2f answers "
               "per write)\n",
               static_cast<unsigned long long>(sum.requests),
               static_cast<unsigned long long>(sum.reads),
               static_cast<unsigned long long>(sum.writes),
               sum.writes == 0 ? 0.0 : static_cast<double>(sum.requests) / sum.writes);
  for (int fd : listeners) close(fd);
  return 0;
}
