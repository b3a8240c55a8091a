// Polled inbound streams (Options::inbound_poll): no reader thread per stream. The acceptor
// admits a stream and adds its socket to an epoll set; the thread that calls PollInbound (the
// server's raft loop, which sleeps on poll_fd() beside its own wake-up) reads what arrived,
// answers pings and delivers the batches itself. A raft message thus reaches the raft loop
// without a thread hand-off: on a follower the leader's append is read, stepped, written and
// acknowledged by one thread (README.md, "Polled inbound streams").
//
// Threads: StartPolled runs on the acceptor; PollInbound, DrainPolled, EndPolled and EndSilent
// on the polling thread, under poll_mu_. Only the polling thread sets a polled stream's `done`
// (after taking it out of the epoll set), and it never touches that stream again, so the
// acceptor's ReapFinished may free it; Stop frees streams under poll_mu_.
#include <spdlog/spdlog.h>
#include <sys/epoll.h>

#include <cerrno>
#include <cstring>

#include "transport/peer_listener.h"

namespace raftkv::transport {
namespace {

// Ready streams taken per epoll_wait; more stay readable for the next call.
constexpr int kPollEvents = 16;
// What one PollInbound call reads from one stream at most: a leader streaming a lagging
// follower's catch-up never holds the raft loop in one stream for long (the rest is read on
// the next round; the epoll set is level-triggered).
constexpr size_t kMaxReadPerPoll = 4 << 20;
// How often PollInbound looks for silent streams.
constexpr auto kSilenceCheckInterval = std::chrono::milliseconds(100);

}  // namespace

void PeerListener::StartPolled(std::unique_ptr<Inbound> in) {
  // The sender's timeout for our few bytes (accept, pongs); reads never block here.
  TuneSocket(in->socket->fd(), std::chrono::milliseconds(0),
             options_.keepalive_interval + options_.keepalive_timeout);
  // On the acceptor thread: a new connection's send buffer takes the accept at once.
  if (!Admit(in.get(), &in->turn).ok()) return;  // the socket closes with `in`
  spdlog::info("transport {:x}: inbound stream from peer {:x} ({}) opened (framed, polled)",
               options_.self, in->from, in->peer_address);
  Inbound* raw = in.get();
  raw->last_heard = Clock::now();
  std::lock_guard lock(mu_);
  if (stopped_) return;
  // Added to the list before the epoll set: what the poller is told about is in the list.
  inbound_.push_back(std::move(in));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = raw;
  if (epoll_ctl(poll_fd_, EPOLL_CTL_ADD, raw->socket->fd(), &ev) != 0) {
    spdlog::warn("transport {:x}: cannot poll the inbound stream from peer {:x}: {}", options_.self,
                 raw->from, std::strerror(errno));
    raw->socket->Shutdown();
    raw->done.store(true);
  }
}

void PeerListener::PollInbound() {
  if (poll_fd_ < 0) return;
  std::lock_guard poll_lock(poll_mu_);
  epoll_event events[kPollEvents];
  int n;
  do {
    n = epoll_wait(poll_fd_, events, kPollEvents, 0);
  } while (n < 0 && errno == EINTR);
  const auto now = Clock::now();
  for (int i = 0; i < n; i++) DrainPolled(static_cast<Inbound*>(events[i].data.ptr), now);
  if (now - last_silence_check_ >= kSilenceCheckInterval) {
    last_silence_check_ = now;
    EndSilent(now);
  }
}

void PeerListener::DrainPolled(Inbound* in, Clock::time_point now) {
  static const std::string pong = Frame(FrameType::kPong, {});
  std::string reject;
  Status st = in->socket->DrainFrames(
      [&](FrameType type, const std::string& payload) {
        in->last_heard = now;
        if (type == FrameType::kPing) {
          // Never waits: five bytes every keepalive_interval fill the send buffer only if the
          // peer stopped reading, and then its stream is done for anyway.
          auto wrote = in->socket->WriteNow(pong);
          if (!wrote.ok()) return wrote.status();
          if (*wrote != pong.size()) return Status::Unavailable("the peer does not read our pongs");
          return Status::OK();
        }
        grpc::Status delivered = DeliverFrame(in, type, payload);
        if (delivered.ok()) return Status::OK();
        reject = delivered.error_message();
        return Status::Aborted(reject);
      },
      kMaxReadPerPoll);
  if (st.ok()) return;  // everything that arrived was delivered
  if (!reject.empty()) {
    (void)in->socket->WriteNow(Frame(FrameType::kReject, reject));
  } else {
    LogStreamEnd(*in, st);
  }
  EndPolled(in);
}

void PeerListener::EndPolled(Inbound* in) {
  epoll_ctl(poll_fd_, EPOLL_CTL_DEL, in->socket->fd(), nullptr);
  in->socket->Shutdown();  // the peer sees the end at once; the fd is closed when reaped
  in->done.store(true);    // the last touch: ReapFinished may free it from now on
}

void PeerListener::EndSilent(Clock::time_point now) {
  const auto silence = options_.keepalive_interval + options_.keepalive_timeout;
  std::vector<Inbound*> silent;
  {
    std::lock_guard lock(mu_);
    for (const auto& in : inbound_) {
      if (!in->done.load() && now - in->last_heard > silence) silent.push_back(in.get());
    }
  }
  for (Inbound* in : silent) {
    spdlog::warn(
        "transport {:x}: inbound stream from peer {:x} ({}) ended: nothing received "
        "within the keepalive timeout",
        options_.self, in->from, in->peer_address);
    EndPolled(in);
  }
}

}  // namespace raftkv::transport
