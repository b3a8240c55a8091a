// The front's listening sockets and its loops.
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "front/loop.h"

namespace raftkv::front {
namespace {

int PortOf(int fd);

// A non-blocking listening socket per address "host:port" resolves to (host may be a name or
// [v6]; "localhost" is both 127.0.0.1 and ::1, and clients may use either), as gRPC binds.
// With port 0 the first socket picks the port and the others take the same.
Result<std::vector<int>> Listen(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("no port in " + address);
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
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
  std::vector<int> fds;
  int err = 0;
  int chosen_port = std::atoi(port.c_str());
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    if (chosen_port != 0 && a->ai_family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_port = htons(chosen_port);
    } else if (chosen_port != 0 && a->ai_family == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_port = htons(chosen_port);
    }
    const int fd =
        socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Each socket takes only its own family (no v4-mapped addresses on a v6 socket).
    if (a->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
      err = errno;
      close(fd);
      continue;
    }
    chosen_port = PortOf(fd);
    fds.push_back(fd);
  }
  freeaddrinfo(res);
  if (fds.empty()) {
    return Status::IOError("cannot listen on " + address + ": " + std::strerror(err));
  }
  return fds;
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
    Result<std::vector<int>> fds = Listen(a);
    if (!fds.ok()) {
      for (int fd : s->listeners_) close(fd);
      return fds.status();
    }
    s->ports_.push_back(PortOf(fds->front()));
    s->listeners_.insert(s->listeners_.end(), fds->begin(), fds->end());
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
