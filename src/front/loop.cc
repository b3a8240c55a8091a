// A loop thread: epoll over its connections' sockets and its mailbox; the client side's
// nghttp2 callbacks; served calls and their answers.
#include "front/loop.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "front/wire.h"

namespace raftkv::front {

const std::string* Call::Find(std::string_view name) const {
  for (const Header& h : headers) {
    if (h.name == name) return &h.value;
  }
  return nullptr;
}

void Reply::Ok(std::string message) const {
  if (mailbox_) mailbox_->Post(internal::Answer{conn_, stream_, kGrpcOk, std::move(message)});
}

void Reply::Error(int code, std::string message) const {
  if (mailbox_) mailbox_->Post(internal::Answer{conn_, stream_, code, std::move(message)});
}

namespace internal {

Mailbox::Mailbox() : wake_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

Mailbox::~Mailbox() {
  for (int fd : fds) close(fd);
  close(wake_fd);
}

void Mailbox::Wake() {
  eventfd_write(wake_fd, 1);
}

// One eventfd write per batch: only the post that finds the loop not yet woken writes it.
void Mailbox::Post(Answer answer) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> l(mu);
    if (closed) return;
    answers.push_back(std::move(answer));
    wake = !woken;
    woken = true;
  }
  if (wake) Wake();
}

void Mailbox::AddConnection(int fd) {
  {
    std::lock_guard<std::mutex> l(mu);
    if (!closed) {
      fds.push_back(fd);
      fd = -1;
    }
    woken = true;
  }
  if (fd >= 0) close(fd);
  Wake();
}

void Mailbox::Take(std::vector<Answer>* out_answers, std::vector<int>* out_fds) {
  std::lock_guard<std::mutex> l(mu);
  out_answers->swap(answers);
  out_fds->swap(fds);
  woken = false;
}

void Mailbox::Close() {
  std::lock_guard<std::mutex> l(mu);
  closed = true;
}

nghttp2_nv Nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

std::vector<nghttp2_nv> ToNv(const std::vector<Header>& headers) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(headers.size());
  for (const Header& h : headers) nv.push_back(Nv(h.name, h.value));
  return nv;
}

nghttp2_option* SessionOptions() {
  static nghttp2_option* opt = [] {
    nghttp2_option* o = nullptr;
    nghttp2_option_new(&o);
    // Closed streams are not kept for the priority tree (up to MAX_CONCURRENT_STREAMS of them
    // per connection otherwise).
    nghttp2_option_set_no_closed_streams(o, 1);
    // Windows open as the bytes move on (nghttp2_session_consume): a forwarded stream whose
    // other side does not read stops its sender instead of growing our buffers.
    nghttp2_option_set_no_auto_window_update(o, 1);
    // No HTTP messaging checks beyond HTTP/2's framing: gRPC accepts what they refuse, and
    // clients send it. etcdctl's `endpoint status` sends ":authority: http://host:port";
    // gRPC C++ writes grpc-message values ending in a space ("grpc: error unmarshalling
    // request: "), which RFC 9113 forbids and would lose the status. The front passes both on.
    nghttp2_option_set_no_http_messaging(o, 1);
    return o;
  }();
  return opt;
}

namespace {

Conn* ConnOf(void* user) {
  return static_cast<Conn*>(user);
}

Stream* DownStream(nghttp2_session* s, int32_t id) {
  return static_cast<Stream*>(nghttp2_session_get_stream_user_data(s, id));
}

bool IsRequestHeaders(const nghttp2_frame* f) {
  return f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST;
}

int OnBeginHeaders(nghttp2_session* s, const nghttp2_frame* f, void* user) {
  if (!IsRequestHeaders(f)) return 0;
  Conn* c = ConnOf(user);
  auto st = std::make_unique<Stream>();
  st->id = f->hd.stream_id;
  nghttp2_session_set_stream_user_data(s, st->id, st.get());
  c->streams[st->id] = std::move(st);
  return 0;
}

int OnHeader(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
             const uint8_t* value, size_t valuelen, uint8_t, void*) {
  if (!IsRequestHeaders(f)) return 0;  // trailers from a client: gRPC clients send none
  Stream* st = DownStream(s, f->hd.stream_id);
  if (st == nullptr) return 0;
  st->header_bytes += namelen + valuelen;
  if (st->header_bytes > kMaxHeaderBytes) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  Header h{std::string(reinterpret_cast<const char*>(name), namelen),
           std::string(reinterpret_cast<const char*>(value), valuelen)};
  if (h.name == ":path") st->path = h.value;
  st->headers.push_back(std::move(h));
  return 0;
}

int OnDataChunk(nghttp2_session* s, uint8_t, int32_t id, const uint8_t* data, size_t len,
                void* user) {
  Conn* c = ConnOf(user);
  Stream* st = DownStream(s, id);
  if (st == nullptr || st->down_closed) {
    nghttp2_session_consume(s, id, len);
    return 0;
  }
  if (st->mode == Stream::kForwarded) {
    c->loop->ForwardedData(c, st, data, len);
  } else {
    c->loop->ServedData(c, st, data, len);
  }
  return 0;
}

int OnFrameRecv(nghttp2_session* s, const nghttp2_frame* f, void* user) {
  Conn* c = ConnOf(user);
  const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  Stream* st = DownStream(s, f->hd.stream_id);
  if (st == nullptr) return 0;
  if (IsRequestHeaders(f)) c->loop->StartCall(c, st);
  if (end) c->loop->EndOfRequest(c, st);
  return 0;
}

int OnStreamClose(nghttp2_session* s, int32_t id, uint32_t, void* user) {
  Conn* c = ConnOf(user);
  if (Stream* st = DownStream(s, id)) c->loop->DownStreamClosed(c, st);
  return 0;
}

// A served call's answer: the message's 5-byte gRPC header and the message, as DATA, then
// trailers with grpc-status 0.
ssize_t ReadServedAnswer(nghttp2_session* s, int32_t id, uint8_t* buf, size_t length,
                         uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto* st = static_cast<Stream*>(source->ptr);
  const size_t total = kFrameHeaderBytes + st->answer.size();
  size_t n = 0;
  while (n < length && st->sent < total) {
    if (st->sent < kFrameHeaderBytes) {
      const size_t k = std::min(length - n, kFrameHeaderBytes - st->sent);
      std::memcpy(buf + n, st->frame_header + st->sent, k);
      n += k;
      st->sent += k;
      continue;
    }
    const size_t off = st->sent - kFrameHeaderBytes;
    const size_t k = std::min(length - n, st->answer.size() - off);
    std::memcpy(buf + n, st->answer.data() + off, k);
    n += k;
    st->sent += k;
  }
  if (st->sent == total) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    static const nghttp2_nv trailers[] = {Nv("grpc-status", "0")};
    if (nghttp2_submit_trailer(s, id, trailers, 1) != 0) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st->answer.clear();
  }
  return static_cast<ssize_t>(n);
}

}  // namespace

nghttp2_session_callbacks* DownCallbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(c, OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, OnDataChunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, OnFrameRecv);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, OnStreamClose);
    return c;
  }();
  return cbs;
}

Loop::Loop(Handler* handler, const Options* options, std::vector<int> listeners,
           std::vector<std::unique_ptr<Loop>>* all)
    : handler_(handler),
      options_(options),
      listeners_(std::move(listeners)),
      all_(all),
      mailbox_(std::make_shared<Mailbox>()),
      ep_(epoll_create1(EPOLL_CLOEXEC)) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &wake_tag_;
  epoll_ctl(ep_, EPOLL_CTL_ADD, mailbox_->wake_fd, &ev);
  listener_tags_.reserve(listeners_.size());
  for (int fd : listeners_) {
    listener_tags_.push_back(Tag{Tag::kListener, nullptr, fd});
    ev.data.ptr = &listener_tags_.back();
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }
}

Loop::~Loop() {
  StopAndJoin();
  close(ep_);
}

void Loop::Start() {
  thread_ = std::thread([this] { Run(); });
  pthread_setname_np(thread_.native_handle(), "raftkv-front");
}

void Loop::StopAndJoin() {
  stop_.store(true);
  mailbox_->Wake();
  if (thread_.joinable()) thread_.join();
}

void Loop::StopListening() {
  for (int fd : listeners_) epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
}

Counters Loop::counters() const {
  return Counters{served_.load(), forwarded_.load(), reads_.load(), writes_.load()};
}

void Loop::Run() {
  epoll_event events[128];
  while (!stop_.load()) {
    const int n = epoll_wait(ep_, events, 128, -1);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      auto* tag = static_cast<Tag*>(events[i].data.ptr);
      switch (tag->kind) {
        case Tag::kWake: {
          eventfd_t v;
          eventfd_read(mailbox_->wake_fd, &v);
          break;
        }
        case Tag::kListener: Accept(tag->fd); break;
        case Tag::kDown:
        case Tag::kUp: {
          Conn* c = tag->conn;
          if (c->dead) break;
          Side* side = tag->kind == Tag::kDown ? &c->down : &c->up;
          if (side->fd < 0) break;  // the gRPC side closed earlier in this round
          if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && !ReadAll(c, side)) {
            if (tag->kind == Tag::kDown) {
              c->dead = true;
            } else {
              CloseUpstream(c);
            }
          }
          MarkDirty(c);
          break;
        }
      }
    }
    TakeMail();
    EndRound();
  }
  // Stopping: what was answered goes out if the sockets take it now; then everything closes.
  mailbox_->Close();
  TakeMail();
  EndRound();
  while (!conns_.empty()) Close(conns_.begin()->second.get());
}

void Loop::Accept(int listener) {
  for (;;) {
    const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a connection gone before we took it
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Loop* to = (*all_)[next_loop_++ % all_->size()].get();
    if (to == this) {
      Open(fd);
    } else {
      to->mailbox().AddConnection(fd);
    }
  }
}

void Loop::WatchSide(Side* side, uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &side->tag;
  epoll_ctl(ep_, op, side->fd, &ev);
}

void Loop::Open(int fd) {
  auto owned = std::make_unique<Conn>();
  Conn* c = owned.get();
  c->id = next_conn_id_++;
  c->loop = this;
  c->down.fd = fd;
  c->down.tag = Tag{Tag::kDown, c, fd};
  nghttp2_session_server_new2(&c->down.session, DownCallbacks(), c, SessionOptions());
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1u << 20},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
  };
  nghttp2_submit_settings(c->down.session, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(c->down.session, NGHTTP2_FLAG_NONE, 0, kConnWindow);
  conns_.emplace(c->id, std::move(owned));
  WatchSide(&c->down, EPOLLIN, EPOLL_CTL_ADD);
  MarkDirty(c);  // our SETTINGS go out at the end of the round
}

void Loop::Close(Conn* c) {
  CloseUpstream(c);  // may mark c dirty again (the resets it submits)
  dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end());
  epoll_ctl(ep_, EPOLL_CTL_DEL, c->down.fd, nullptr);
  close(c->down.fd);
  nghttp2_session_del(c->down.session);
  conns_.erase(c->id);
}

void Loop::MarkDirty(Conn* c) {
  if (c->dirty) return;
  c->dirty = true;
  dirty_.push_back(c);
}

// Everything the socket has, fed to nghttp2 (whose callbacks start and end the calls).
// False when this side is done: EOF, an error, or a protocol error.
bool Loop::ReadAll(Conn* c, Side* side) {
  for (;;) {
    const ssize_t r = read(side->fd, buf_, sizeof buf_);
    if (r > 0) {
      if (side == &c->down) count_read();
      if (nghttp2_session_mem_recv(side->session, buf_, static_cast<size_t>(r)) < 0) return false;
      if (static_cast<size_t>(r) < sizeof buf_) return true;  // drained; spare the EAGAIN read
      continue;
    }
    if (r == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// All nghttp2 has to send on this side, gathered and written with one send (more only if the
// kernel takes part of it; the rest waits for EPOLLOUT). False when the side is done.
bool Loop::Flush(Side* side, bool client) {
  for (;;) {
    while (side->out.size() - side->off < kMaxPendingOut) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(side->session, &data);
      if (n < 0) return false;
      if (n == 0) break;
      side->out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    bool blocked = false;
    while (side->off < side->out.size()) {
      const ssize_t w =
          send(side->fd, side->out.data() + side->off, side->out.size() - side->off, MSG_NOSIGNAL);
      if (client) writes_.fetch_add(1, std::memory_order_relaxed);
      if (w >= 0) {
        side->off += static_cast<size_t>(w);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        blocked = true;
        break;
      }
      return false;
    }
    if (side->off == side->out.size()) {
      side->out.clear();
      side->off = 0;
    }
    if (blocked || !nghttp2_session_want_write(side->session)) break;
  }
  const bool want_out = !side->out.empty();
  if (want_out != side->epollout) {
    WatchSide(side, want_out ? uint32_t{EPOLLIN | EPOLLOUT} : uint32_t{EPOLLIN}, EPOLL_CTL_MOD);
    side->epollout = want_out;
  }
  return !side->out.empty() || nghttp2_session_want_read(side->session) != 0 ||
         nghttp2_session_want_write(side->session) != 0;
}

// The answers other threads handed over, and the connections loop 0 accepted for us.
void Loop::TakeMail() {
  mailbox_->Take(&mail_, &new_fds_);
  for (int fd : new_fds_) Open(fd);
  new_fds_.clear();
  for (Answer& a : mail_) {
    auto it = conns_.find(a.conn);
    if (it == conns_.end() || it->second->dead) continue;  // closed meanwhile
    Conn* c = it->second.get();
    auto st = c->streams.find(a.stream);
    if (st == c->streams.end() || st->second->mode != Stream::kServed) continue;
    Submit(c, st->second.get(), a.code, std::move(a.bytes));
  }
  mail_.clear();
}

// Gathers and writes every connection touched this round; closes the dead ones.
void Loop::EndRound() {
  std::vector<Conn*> round;
  round.swap(dirty_);
  for (Conn* c : round) {
    c->dirty = false;
    if (!c->dead && !Flush(&c->down, true)) c->dead = true;
    if (!c->dead && c->up.fd >= 0 && !Flush(&c->up, false)) CloseUpstream(c);
  }
  for (Conn* c : round) {
    if (c->dead) Close(c);
  }
}

void Loop::Submit(Conn* c, Stream* st, int code, std::string bytes) {
  if (st->answered || st->down_closed) return;
  st->answered = true;
  MarkDirty(c);
  if (code != kGrpcOk) {  // trailers-only: one HEADERS frame with END_STREAM
    const std::string status = std::to_string(code);
    const std::string message = PercentEncode(bytes);
    const nghttp2_nv nv[] = {Nv(":status", "200"), Nv("content-type", "application/grpc"),
                             Nv("grpc-status", status), Nv("grpc-message", message)};
    nghttp2_submit_response(c->down.session, st->id, nv, 4, nullptr);
    return;
  }
  st->answer = std::move(bytes);
  PutFrameHeader(st->answer.size(), st->frame_header);
  static const nghttp2_nv headers[] = {Nv(":status", "200"),
                                       Nv("content-type", "application/grpc")};
  nghttp2_data_provider data;
  data.source.ptr = st;
  data.read_callback = ReadServedAnswer;
  nghttp2_submit_response(c->down.session, st->id, headers, 2, &data);
}

// The request's headers are complete: served here or forwarded.
void Loop::StartCall(Conn* c, Stream* st) {
  if (st->mode != Stream::kUndecided) return;
  bool grpc = false;
  bool identity = true;
  for (const Header& h : st->headers) {
    if (h.name == "content-type") grpc = h.value.rfind("application/grpc", 0) == 0;
    if (h.name == "grpc-encoding") identity = h.value == "identity";
  }
  if (grpc && identity && handler_->Serves(st->path)) {
    st->mode = Stream::kServed;
    return;
  }
  st->mode = Stream::kForwarded;
  if (!Forward(c, st)) {
    // No gRPC server to take it: refused as gRPC would refuse a call it cannot serve now.
    st->mode = Stream::kServed;
    Submit(c, st, kGrpcUnavailable, "raftkv: cannot reach the gRPC server");
  } else {
    forwarded_.fetch_add(1, std::memory_order_relaxed);
  }
}

void Loop::ServedData(Conn* c, Stream* st, const uint8_t* data, size_t len) {
  nghttp2_session_consume(c->down.session, st->id, len);
  if (st->too_large || st->answered) return;
  if (st->body.size() + len > options_->max_message_bytes + kFrameHeaderBytes) {
    st->too_large = true;
    st->body.clear();
    return;
  }
  st->body.append(reinterpret_cast<const char*>(data), len);
}

void Loop::EndOfRequest(Conn* c, Stream* st) {
  if (st->mode == Stream::kForwarded) {
    ForwardedEnd(c, st);
    return;
  }
  if (st->mode != Stream::kServed || st->answered) return;
  if (st->too_large) {
    Submit(c, st, kGrpcResourceExhausted,
           "Received message larger than max (more than " +
               std::to_string(options_->max_message_bytes) + " bytes)");
    return;
  }
  std::string_view message;
  switch (UnframeUnary(st->body, &message)) {
    case UnframeResult::kOk: break;
    case UnframeResult::kCompressed:
      Submit(c, st, kGrpcUnimplemented, "compressed message without grpc-encoding");
      return;
    case UnframeResult::kMalformed:
      Submit(c, st, kGrpcInternal, "malformed unary request: not exactly one gRPC message");
      return;
  }
  served_.fetch_add(1, std::memory_order_relaxed);
  Call call;
  call.path = st->path;
  call.headers = std::move(st->headers);
  call.message = message;
  call.reply = Reply(mailbox_, c->id, st->id);
  handler_->Serve(std::move(call));
  st->body.clear();
  st->body.shrink_to_fit();
}

void Loop::DownStreamClosed(Conn* c, Stream* st) {
  st->down_closed = true;
  if (st->mode == Stream::kForwarded && !st->up_closed && c->up.session != nullptr) {
    // The client is gone (or cancelled): so is the call upstream.
    nghttp2_submit_rst_stream(c->up.session, NGHTTP2_FLAG_NONE, st->up_id, NGHTTP2_CANCEL);
    MarkDirty(c);
  }
  MaybeErase(c, st);
}

void Loop::MaybeErase(Conn* c, Stream* st) {
  if (!st->down_closed) return;
  if (st->mode == Stream::kForwarded && !st->up_closed) return;
  c->streams.erase(st->id);
}

}  // namespace internal
}  // namespace raftkv::front
