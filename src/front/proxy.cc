// Forwarded calls: the gRPC side of a connection (an nghttp2 client session on a socket to the
// process's gRPC server) and the streams that cross it. Bytes move on as each side takes them
// and only then open the sender's window (nghttp2_session_consume), so a slow reader on
// either side slows its sender instead of growing the front's buffers.
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "front/loop.h"
#include "front/wire.h"

namespace raftkv::front::internal {
namespace {

Conn* ConnOf(void* user) {
  return static_cast<Conn*>(user);
}

Stream* UpStream(nghttp2_session* s, int32_t id) {
  return static_cast<Stream*>(nghttp2_session_get_stream_user_data(s, id));
}

// The request's bytes for the gRPC server; END_STREAM once the client's arrived and all went.
ssize_t ReadRequest(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* data_flags,
                    nghttp2_data_source* source, void* user) {
  Conn* c = ConnOf(user);
  auto* st = static_cast<Stream*>(source->ptr);
  const size_t n = std::min(length, st->to_up.size() - st->to_up_off);
  std::memcpy(buf, st->to_up.data() + st->to_up_off, n);
  st->to_up_off += n;
  if (n > 0) {
    if (st->down_closed) {
      nghttp2_session_consume_connection(c->down.session, n);
    } else {
      nghttp2_session_consume(c->down.session, st->id, n);
    }
    c->loop->MarkDirty(c);  // the client's WINDOW_UPDATE
  }
  if (st->to_up_off == st->to_up.size()) {
    st->to_up.clear();
    st->to_up_off = 0;
    if (st->down_ended) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

// The response's bytes for the client; the gRPC server's trailers once all went.
ssize_t ReadResponse(nghttp2_session* s, int32_t id, uint8_t* buf, size_t length,
                     uint32_t* data_flags, nghttp2_data_source* source, void* user) {
  Conn* c = ConnOf(user);
  auto* st = static_cast<Stream*>(source->ptr);
  const size_t n = std::min(length, st->to_down.size() - st->to_down_off);
  std::memcpy(buf, st->to_down.data() + st->to_down_off, n);
  st->to_down_off += n;
  if (n > 0 && c->up.session != nullptr) {
    if (st->up_closed) {
      nghttp2_session_consume_connection(c->up.session, n);
    } else {
      nghttp2_session_consume(c->up.session, st->up_id, n);
    }
    c->loop->MarkDirty(c);  // the gRPC server's WINDOW_UPDATE
  }
  if (st->to_down_off == st->to_down.size()) {
    st->to_down.clear();
    st->to_down_off = 0;
    if (st->up_ended) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!st->trailers.empty()) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nv = ToNv(st->trailers);
        if (nghttp2_submit_trailer(s, id, nv.data(), nv.size()) != 0) {
          return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
      }
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

int OnUpHeader(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
               const uint8_t* value, size_t valuelen, uint8_t, void*) {
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* st = UpStream(s, f->hd.stream_id);
  if (st == nullptr) return 0;
  Header h{std::string(reinterpret_cast<const char*>(name), namelen),
           std::string(reinterpret_cast<const char*>(value), valuelen)};
  (st->got_response_headers ? st->trailers : st->response_headers).push_back(std::move(h));
  return 0;
}

int OnUpFrameRecv(nghttp2_session* s, const nghttp2_frame* f, void* user) {
  Conn* c = ConnOf(user);
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  Stream* st = UpStream(s, f->hd.stream_id);
  if (st == nullptr) return 0;
  const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (f->hd.type == NGHTTP2_HEADERS && !st->got_response_headers) {
    if (f->headers.cat != NGHTTP2_HCAT_RESPONSE) return 0;  // 1xx: gRPC sends none
    st->got_response_headers = true;
    if (st->down_closed) return 0;
    std::vector<nghttp2_nv> nv = ToNv(st->response_headers);
    if (end) {  // trailers-only
      st->up_ended = true;
      nghttp2_submit_response(c->down.session, st->id, nv.data(), nv.size(), nullptr);
    } else {
      nghttp2_data_provider data;
      data.source.ptr = st;
      data.read_callback = ReadResponse;
      nghttp2_submit_response(c->down.session, st->id, nv.data(), nv.size(), &data);
    }
    c->loop->MarkDirty(c);
    return 0;
  }
  if (end) {
    st->up_ended = true;
    if (!st->down_closed && st->got_response_headers) {
      nghttp2_session_resume_data(c->down.session, st->id);
      c->loop->MarkDirty(c);
    }
  }
  return 0;
}

int OnUpDataChunk(nghttp2_session* s, uint8_t, int32_t id, const uint8_t* data, size_t len,
                  void* user) {
  Conn* c = ConnOf(user);
  Stream* st = UpStream(s, id);
  if (st == nullptr || st->down_closed) {  // nobody to give it to
    nghttp2_session_consume(s, id, len);
    return 0;
  }
  st->to_down.append(reinterpret_cast<const char*>(data), len);
  nghttp2_session_resume_data(c->down.session, st->id);
  c->loop->MarkDirty(c);
  return 0;
}

int OnUpStreamClose(nghttp2_session* s, int32_t id, uint32_t error_code, void* user) {
  Conn* c = ConnOf(user);
  if (Stream* st = UpStream(s, id)) c->loop->UpStreamClosed(c, st, error_code);
  return 0;
}

}  // namespace

nghttp2_session_callbacks* UpCallbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_header_callback(c, OnUpHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, OnUpFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, OnUpDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, OnUpStreamClose);
    return c;
  }();
  return cbs;
}

bool Loop::OpenUpstream(Conn* c) {
  if (!options_->connect_upstream) return false;
  Result<int> fd = options_->connect_upstream();
  if (!fd.ok()) return false;
  fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
  c->up.fd = *fd;
  c->up.tag = Tag{Tag::kUp, c, *fd};
  nghttp2_session_client_new2(&c->up.session, UpCallbacks(), c, SessionOptions());
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
  };
  nghttp2_submit_settings(c->up.session, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(c->up.session, NGHTTP2_FLAG_NONE, 0, kConnWindow);
  WatchSide(&c->up, EPOLLIN, EPOLL_CTL_ADD);
  return true;
}

// The gRPC side is gone (closed, broken, or it sent GOAWAY and finished): the calls still
// crossing it are reset for their clients, who retry as after any reset stream.
void Loop::CloseUpstream(Conn* c) {
  if (c->up.fd < 0) return;
  epoll_ctl(ep_, EPOLL_CTL_DEL, c->up.fd, nullptr);
  close(c->up.fd);
  nghttp2_session_del(c->up.session);
  c->up = Side{};
  std::vector<Stream*> crossing;
  for (auto& [id, st] : c->streams) {
    if (st->mode == Stream::kForwarded && !st->up_closed) crossing.push_back(st.get());
  }
  for (Stream* st : crossing) {
    st->up_closed = true;
    if (!st->down_closed && !st->up_ended) {
      nghttp2_submit_rst_stream(c->down.session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    }
    MarkDirty(c);
    MaybeErase(c, st);
  }
}

bool Loop::Forward(Conn* c, Stream* st) {
  if (c->up.session == nullptr && !OpenUpstream(c)) return false;
  // After the gRPC server's GOAWAY (it is shutting down) it takes no new calls; those still
  // crossing finish, then the side closes (Flush) and a later call opens a new one.
  if (nghttp2_session_check_request_allowed(c->up.session) == 0) return false;
  std::vector<nghttp2_nv> nv = ToNv(st->headers);
  nghttp2_data_provider data;
  data.source.ptr = st;
  data.read_callback = ReadRequest;
  const int32_t id =
      nghttp2_submit_request(c->up.session, nullptr, nv.data(), nv.size(), &data, st);
  if (id < 0) return false;
  st->up_id = id;
  st->headers.clear();
  MarkDirty(c);
  return true;
}

void Loop::ForwardedData(Conn* c, Stream* st, const uint8_t* data, size_t len) {
  if (st->up_closed) {
    nghttp2_session_consume(c->down.session, st->id, len);
    return;
  }
  st->to_up.append(reinterpret_cast<const char*>(data), len);
  nghttp2_session_resume_data(c->up.session, st->up_id);
  MarkDirty(c);
}

void Loop::ForwardedEnd(Conn* c, Stream* st) {
  st->down_ended = true;
  if (st->up_closed) return;
  nghttp2_session_resume_data(c->up.session, st->up_id);
  MarkDirty(c);
}

void Loop::UpStreamClosed(Conn* c, Stream* st, uint32_t error_code) {
  st->up_closed = true;
  if (!st->down_closed && !st->up_ended) {
    // Reset by the gRPC server (or refused) before it finished: so is the client's stream.
    nghttp2_submit_rst_stream(
        c->down.session, NGHTTP2_FLAG_NONE, st->id,
        error_code == NGHTTP2_NO_ERROR ? uint32_t{NGHTTP2_INTERNAL_ERROR} : error_code);
    MarkDirty(c);
  }
  MaybeErase(c, st);
}

}  // namespace raftkv::front::internal
