// The front's listening sockets and its loops.
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "front/loop.h"

namespace raftkv::front {
namespace {

// A non-blocking listening socket on "host:port" (host may be a name or [v6]).
Result<int> Listen(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("no port in " + address);
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) return Status::InvalidArgument(address + ": " + gai_strerror(gai));
  int fd = -1;
  int err = 0;
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return Status::IOError("cannot listen on " + address + ": " + std::strerror(err));
  return fd;
}

int PortOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(const std::vector<std::string>& addresses,
                                              Options options, Handler* handler) {
  std::unique_ptr<Server> s(new Server());
  for (const std::string& a : addresses) {
    Result<int> fd = Listen(a);
    if (!fd.ok()) return fd.status();
    s->listeners_.push_back(*fd);
    s->ports_.push_back(PortOf(*fd));
  }
  s->options_ = std::make_unique<Options>(std::move(options));
  const int threads = std::max(1, s->options_->threads);
  for (int i = 0; i < threads; i++) {
    s->loops_.push_back(std::make_unique<internal::Loop>(
        handler, s->options_.get(), i == 0 ? s->listeners_ : std::vector<int>{}, &s->loops_));
  }
  for (auto& l : s->loops_) l->Start();
  return s;
}

Server::~Server() {
  Stop();
}

void Server::StopAccepting() {
  if (!loops_.empty()) loops_[0]->StopListening();
  // Stops listening (Linux): connection attempts are refused from here on.
  for (int fd : listeners_) shutdown(fd, SHUT_RDWR);
}

void Server::Stop() {
  if (stopped_) return;
  stopped_ = true;
  StopAccepting();
  for (auto& l : loops_) l->StopAndJoin();
  for (int fd : listeners_) close(fd);
  listeners_.clear();
}

Counters Server::counters() const {
  Counters sum;
  for (const auto& l : loops_) {
    const Counters c = l->counters();
    sum.served += c.served;
    sum.forwarded += c.forwarded;
    sum.reads += c.reads;
    sum.writes += c.writes;
  }
  return sum;
}

}  // namespace raftkv::front
