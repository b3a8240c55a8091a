#include "transport/peer_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace raftkv::transport {
namespace {

using Clock = std::chrono::steady_clock;
using raftkvpb::StreamHeader;

// How long a new connection may take to send its first bytes before it is given to gRPC
// (whose own handshake timeout then applies). Our senders and gRPC clients write at once.
// Options::handshake_timeout bounds the whole framed hello.
constexpr auto kClassifyTimeout = std::chrono::milliseconds(1000);
// The acceptor's wake-up period for joining finished connection threads.
constexpr int kReapMs = 200;
// How often a connection that sent part of the framed magic is looked at again.
constexpr int kPartialRecheckMs = 10;
// Accepts per acceptor round. Pending connections that became readable are looked at before
// each round's accepts, so a member's connection whose hello arrived is not pushed out by a
// burst of newer ones: a burst is well below kMaxUnadmitted.
constexpr int kAcceptBurst = 16;
// The largest hello accepted: a StreamHeader is three integers (at most 33 bytes).
constexpr uint32_t kMaxHelloPayload = 4096;
// How long the acceptor stops accepting after running out of fds or memory.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
// One line per this interval for each kind of refusal a flood of connections can repeat.
constexpr auto kRefusalLogInterval = std::chrono::seconds(10);

std::string PeerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return std::string("ipv4:") + host + ":" + std::to_string(ntohs(a->sin_port));
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
  return std::string("ipv6:[") + host + "]:" + std::to_string(ntohs(a->sin6_port));
}

std::string Hex(uint64_t v) {
  return fmt::format("{:x}", v);
}

// " (N more since the last line)" when a throttle left lines out.
std::string LeftOut(uint64_t n, const char* what) {
  return n == 0 ? "" : fmt::format(" ({} more {} since the last such line)", n, what);
}

// Binds every address `host` resolves to (as gRPC does for "localhost"), all on one port.
Result<std::vector<int>> BindAll(const std::string& host, const std::string& port_str, int* port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res); rc != 0) {
    return Status::IOError("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::vector<int> fds;
  std::string error;
  *port = 0;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int one = 1;
    // Restart on the same port while old connections linger in TIME_WAIT; never
    // SO_REUSEPORT: a port in use by another process must be an error.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
      int zero = 0;  // "[::]" also takes IPv4, as gRPC's listener does
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (*port != 0) {  // later addresses take the port the first one got
      if (ai->ai_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_port = htons(*port);
      } else {
        reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_port = htons(*port);
      }
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
      error = std::strerror(errno);
      close(fd);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    *port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                    : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    fds.push_back(fd);
  }
  freeaddrinfo(res);
  if (fds.empty()) return Status::IOError(error.empty() ? "no address to bind" : error);
  return fds;
}

}  // namespace

Result<std::unique_ptr<PeerListener>> PeerListener::Listen(const Options& options,
                                                           PeerService* service) {
  std::string host, port_str;
  if (!SplitHostPort(options.listen_address, &host, &port_str)) {
    return Status::NotFound("not a host:port address: " + options.listen_address);
  }
  int port = 0;
  auto fds = BindAll(host, port_str, &port);
  if (!fds.ok()) {
    return Status::IOError("cannot listen for peers on " + options.listen_address + ": " +
                           fds.status().message());
  }
  return std::unique_ptr<PeerListener>(new PeerListener(options, service, std::move(*fds), port));
}

PeerListener::PeerListener(const Options& options, PeerService* service, std::vector<int> fds,
                           int port)
    : options_(options),
      service_(service),
      listen_fds_(std::move(fds)),
      port_(port),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      poll_fd_(options.inbound_poll ? epoll_create1(EPOLL_CLOEXEC) : -1) {}

PeerListener::~PeerListener() {
  Stop();
  for (int fd : listen_fds_) close(fd);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (poll_fd_ >= 0) close(poll_fd_);
}

void PeerListener::Start(grpc::Server* server) {
  server_ = server;
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

void PeerListener::Stop() {
  std::list<std::unique_ptr<Inbound>> inbound;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  if (acceptor_.joinable()) acceptor_.join();
  // Polled streams are freed (their fds closed, which takes them out of the epoll set) while
  // no PollInbound call is reading them.
  std::lock_guard poll_lock(poll_mu_);
  {
    std::lock_guard lock(mu_);
    inbound.swap(inbound_);
  }
  for (auto& in : inbound) in->socket->Shutdown();
  for (auto& in : inbound) {
    if (in->thread.joinable()) in->thread.join();
  }
  inbound.clear();
}

void PeerListener::AcceptLoop() {
  std::vector<Pending> pending;  // oldest first
  while (true) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_, POLLIN, 0});
    const auto now = Clock::now();
    const bool paused = now < accept_paused_until_;
    for (int fd : listen_fds_) fds.push_back({paused ? -1 : fd, POLLIN, 0});
    for (const Pending& p : pending) fds.push_back({p.partial ? -1 : p.fd, POLLIN, 0});
    int timeout = kReapMs;
    if (paused) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(accept_paused_until_ - now);
      timeout = std::clamp<int>(static_cast<int>(left.count()) + 1, 0, timeout);
    }
    for (const Pending& p : pending) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - now).count();
      timeout = std::clamp<int>(static_cast<int>(left) + 1, 0, timeout);
      if (p.partial) timeout = std::min(timeout, kPartialRecheckMs);
    }
    poll(fds.data(), fds.size(), timeout);
    if (fds[0].revents != 0) break;  // Stop
    // Pending connections first: one whose bytes arrived leaves before new ones come in.
    const auto after = Clock::now();
    std::vector<Pending> still;
    for (size_t i = 0; i < pending.size(); i++) {
      Pending& p = pending[i];
      const bool readable = p.partial || fds[1 + listen_fds_.size() + i].revents != 0;
      const bool expired = after >= p.deadline;
      if (!(readable || expired) || !Advance(&p, expired)) still.push_back(std::move(p));
    }
    pending.swap(still);
    for (size_t i = 0; i < listen_fds_.size(); i++) {
      if (fds[1 + i].revents != 0) AcceptSome(listen_fds_[i], &pending);
    }
    ReapFinished();
  }
  for (Pending& p : pending) {
    if (!p.socket) close(p.fd);  // else the socket closes it
  }
}

void PeerListener::AcceptSome(int listen_fd, std::vector<Pending>* pending) {
  for (int i = 0; i < kAcceptBurst; i++) {
    // Non-blocking, as gRPC's endpoints require of the fds handed to them (a blocking one
    // can leave a gRPC poller thread stuck in recvmsg); a framed connection is made
    // blocking again for its reader thread.
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // EAGAIN: no more (the listening socket is non-blocking). A connection that was reset
      // before we took it (ECONNABORTED) is nothing to worry about either.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        PauseAccepting(errno);
      }
      return;
    }
    // gRPC sets this on the sockets it accepts itself, not on ones handed to it.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const auto now = Clock::now();
    Pending p;
    p.fd = fd;
    p.peer_address = PeerAddress(fd);
    p.accepted = now;
    p.deadline = now + std::min<Clock::duration>(kClassifyTimeout, options_.handshake_timeout);
    // Its first bytes are often there already (a sender writes its hello right after
    // connecting): then it never takes a slot.
    if (Advance(&p, false)) continue;
    if (pending->size() >= kMaxUnadmitted) DropOldest(pending, p.peer_address);
    pending->push_back(std::move(p));
  }
}

void PeerListener::PauseAccepting(int error) {
  accept_paused_until_ = Clock::now() + kAcceptPause;
  uint64_t left_out = 0;
  if (accept_failed_log_.Allow(&left_out)) {
    spdlog::warn("transport {:x}: cannot accept peer connections: {}; trying again in {} ms{}",
                 options_.self, std::strerror(error), kAcceptPause.count(),
                 LeftOut(left_out, "failed accepts"));
  }
}

// The oldest goes, not the newcomer (as nginx reuses its oldest idle connections when it runs
// out): a member's connection sends its hello within a round trip of connecting, so it is
// among the newest while it waits; refusing newcomers instead would let anyone who holds
// kMaxUnadmitted silent connections lock every member out for as long as they keep them.
void PeerListener::DropOldest(std::vector<Pending>* pending, const std::string& newcomer) {
  Pending& oldest = pending->front();
  uint64_t left_out = 0;
  if (dropped_log_.Allow(&left_out)) {
    spdlog::warn(
        "transport {:x}: {} peer connections have not finished their handshake (the limit): "
        "closed the oldest, from {}, to make room for one from {}{}",
        options_.self, kMaxUnadmitted, oldest.peer_address, newcomer, LeftOut(left_out, "closed"));
  }
  if (oldest.socket) {
    // A framed sender told why retries framed after its backoff (a silent close would make
    // it take us for an older member and fall back to gRPC).
    SendReject(oldest.socket.get(), "too many connections waiting for their handshake");
  } else {
    close(oldest.fd);
  }
  pending->erase(pending->begin());
}

bool PeerListener::Advance(Pending* pending, bool expired) {
  Pending& p = *pending;
  if (p.socket) return AdvanceFramed(pending, expired);
  char head[sizeof(kFrameMagic)];
  ssize_t n = recv(p.fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    close(p.fd);  // gone before saying anything
    return true;
  }
  const std::string_view seen(head, n > 0 ? static_cast<size_t>(n) : 0);
  const bool framed = seen.size() == sizeof(head) && MayBeFramed(seen);
  const bool undecided = !framed && MayBeFramed(seen);  // a partial magic, or nothing yet
  if (undecided && !expired) {
    pending->partial = !seen.empty();
    return false;
  }
  if (!framed) {
    // HTTP/2 (or garbage, or silence): gRPC serves it, refuses it or times it out. gRPC
    // names such a connection "fd:N" in its logs and ServerContext::peer().
    spdlog::debug("transport {:x}: connection from {} goes to gRPC as fd:{}", options_.self,
                  p.peer_address, p.fd);
    grpc::AddInsecureChannelFromFd(server_, p.fd);
    return true;
  }
  // Framed: the acceptor reads its preamble and hello itself, without blocking, so a
  // connection that stops half-way costs no thread. Its bytes are consumed from now on
  // (they never go to gRPC), so readiness is polled again.
  p.partial = false;
  p.socket = std::make_unique<FrameSocket>(p.fd);
  p.deadline = p.accepted + options_.handshake_timeout;
  return AdvanceFramed(pending, Clock::now() >= p.deadline);
}

Result<bool> PeerListener::TryReadHello(Pending* p, StreamHeader* header) {
  FrameSocket& sock = *p->socket;
  if (!p->preamble_read) {
    std::string preamble;
    auto got = sock.TryReadExact(kPreambleBytes, &preamble);
    if (!got.ok() || !*got) return got;
    RAFTKV_RETURN_IF_ERROR(CheckPreamble(preamble));
    p->preamble_read = true;
  }
  FrameType type = FrameType::kHello;
  std::string payload;
  auto got = sock.TryReadFrame(&type, &payload, kMaxHelloPayload);
  if (!got.ok() || !*got) return got;
  if (type != FrameType::kHello || !header->ParseFromString(payload)) {
    return Status::InvalidArgument("no readable header");
  }
  return true;
}

void PeerListener::SendReject(FrameSocket* socket, const std::string& why) {
  // Non-blocking: a new connection's send buffer is empty, so these few bytes go out at once.
  (void)socket->WriteAll(Preamble() + Frame(FrameType::kReject, why));
}

bool PeerListener::AdvanceFramed(Pending* pending, bool expired) {
  Pending& p = *pending;
  StreamHeader header;
  auto got = TryReadHello(&p, &header);
  if (got.ok() && !*got && !expired) return false;
  if (!got.ok() && p.socket->closed_by_peer()) {
    spdlog::debug("transport {:x}: framed connection from {} closed before its hello",
                  options_.self, p.peer_address);
    return true;  // the socket closes with p
  }
  if (!got.ok() || !*got) {  // malformed, or too slow
    const std::string why =
        !got.ok() ? got.status().message()
                  : fmt::format("no hello within {} ms", options_.handshake_timeout.count());
    uint64_t left_out = 0;
    if (refused_log_.Allow(&left_out)) {
      service_->Reject(grpc::StatusCode::INVALID_ARGUMENT, p.peer_address,
                       "framed stream: " + why + LeftOut(left_out, "refused"));
    }
    SendReject(p.socket.get(), why);
    return true;
  }
  // The same checks (and refusal log lines) as the gRPC stream's header.
  grpc::Status checked = service_->CheckHeader(header, p.peer_address);
  if (!checked.ok()) {
    SendReject(p.socket.get(), checked.error_message());
    return true;
  }
  if (LiveStreams() >= kMaxFramedStreams) {
    const std::string why =
        fmt::format("too many inbound framed streams ({}, the limit)", kMaxFramedStreams);
    uint64_t left_out = 0;
    if (over_streams_log_.Allow(&left_out)) {
      service_->Reject(grpc::StatusCode::RESOURCE_EXHAUSTED, p.peer_address,
                       "member " + Hex(header.from()) + ": " + why + LeftOut(left_out, "refused"));
    }
    SendReject(p.socket.get(), why);
    return true;
  }
  StartStream(std::move(p.socket), p.peer_address, header.from());
  return true;
}

size_t PeerListener::LiveStreams() {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& in : inbound_) n += in->done.load() ? 0 : 1;
  return n;
}

void PeerListener::StartStream(std::unique_ptr<FrameSocket> socket, const std::string& peer_address,
                               raft::NodeId from) {
  fcntl(socket->fd(), F_SETFL, fcntl(socket->fd(), F_GETFL) & ~O_NONBLOCK);
  auto in = std::make_unique<Inbound>();
  in->socket = std::move(socket);
  in->peer_address = peer_address;
  in->from = from;
  if (poll_fd_ >= 0) return StartPolled(std::move(in));
  std::lock_guard lock(mu_);
  Inbound* raw = in.get();
  inbound_.push_back(std::move(in));
  raw->thread = std::thread([this, raw] { ServeFramed(raw); });
}

bool PeerListener::LogThrottle::Allow(uint64_t* left_out) {
  const auto now = Clock::now();
  if (logged_ && now - last_ < kRefusalLogInterval) {
    left_out_++;
    return false;
  }
  logged_ = true;
  last_ = now;
  *left_out = left_out_;
  left_out_ = 0;
  return true;
}

void PeerListener::ReapFinished() {
  std::list<std::unique_ptr<Inbound>> finished;
  {
    std::lock_guard lock(mu_);
    for (auto it = inbound_.begin(); it != inbound_.end();) {
      if ((*it)->done.load()) {
        finished.push_back(std::move(*it));
        it = inbound_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& in : finished) {
    if (in->thread.joinable()) in->thread.join();
  }  // closes the sockets after
}

Status PeerListener::Admit(Inbound* in, PeerService::SenderTurn* turn) {
  // Before the sender is told to go on: from now on its older streams deliver nothing.
  *turn = service_->TakeOver(in->from);
  CloseSuperseded(in, turn->stream);
  raftkvpb::StreamAccept accept;
  accept.set_member_id(options_.self);
  return in->socket->WriteAll(Preamble() + Frame(FrameType::kAccept, accept.SerializeAsString()));
}

void PeerListener::CloseSuperseded(Inbound* in, uint64_t stream) {
  // Both ends of a race register here, so whichever comes second closes the older one.
  std::lock_guard lock(mu_);
  in->stream = stream;
  for (const auto& other : inbound_) {
    if (other.get() == in || other->from != in->from || other->stream == 0) continue;
    Inbound* older = other->stream < stream ? other.get() : in;
    spdlog::info("transport {:x}: inbound stream from peer {:x} ({}) superseded by a newer one",
                 options_.self, older->from, older->peer_address);
    older->socket->Shutdown();
  }
}

void PeerListener::ServeFramed(Inbound* in) {
  FrameSocket& sock = *in->socket;
  // The sender pings every keepalive_interval: silence for a whole period means it is gone.
  const auto silence = options_.keepalive_interval + options_.keepalive_timeout;
  TuneSocket(sock.fd(), silence, silence);
  if (Admit(in, &in->turn).ok()) {
    spdlog::info("transport {:x}: inbound stream from peer {:x} ({}) opened (framed)",
                 options_.self, in->from, in->peer_address);
    const std::string pong = Frame(FrameType::kPong, {});
    while (true) {
      FrameType type;
      std::string payload;
      Status st = sock.ReadFrame(&type, &payload);
      if (!st.ok()) {
        LogStreamEnd(*in, st);
        break;
      }
      if (type == FrameType::kPing) {
        if (!sock.WriteAll(pong).ok()) break;
        continue;
      }
      grpc::Status delivered = DeliverFrame(in, type, payload);
      if (!delivered.ok()) {
        (void)sock.WriteAll(Frame(FrameType::kReject, delivered.error_message()));
        break;
      }
    }
  }
  sock.Shutdown();  // the peer sees the end at once; the fd is closed after the join
  in->done.store(true);
}

grpc::Status PeerListener::DeliverFrame(Inbound* in, FrameType type, const std::string& payload) {
  if (type != FrameType::kBatch) {
    return service_->Reject(grpc::StatusCode::INVALID_ARGUMENT, in->peer_address,
                            "member " + Hex(in->from) + ": unexpected frame type " +
                                std::to_string(static_cast<int>(type)));
  }
  if (!in->batch.ParseFromString(payload)) {
    return service_->Reject(grpc::StatusCode::INVALID_ARGUMENT, in->peer_address,
                            "member " + Hex(in->from) + ": a batch that does not decode");
  }
  return service_->Deliver(in->from, in->turn, in->batch, in->peer_address);
}

void PeerListener::LogStreamEnd(const Inbound& in, const Status& st) {
  if (in.socket->closed_by_peer()) {
    spdlog::info("transport {:x}: inbound stream from peer {:x} closed", options_.self, in.from);
  } else if (st.Is(Status::Code::kInvalidArgument)) {  // an oversized length
    service_->Reject(grpc::StatusCode::INVALID_ARGUMENT, in.peer_address,
                     "member " + Hex(in.from) + ": " + st.message());
  } else {
    spdlog::warn("transport {:x}: inbound stream from peer {:x} ({}) ended: {}", options_.self,
                 in.from, in.peer_address, st.message());
  }
}

}  // namespace raftkv::transport
