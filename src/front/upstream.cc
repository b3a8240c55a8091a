#include "front/upstream.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <random>

namespace raftkv::front {

std::string UniqueAbstractName(const std::string& prefix) {
  std::random_device rd;
  const uint64_t r = (uint64_t{rd()} << 32) | rd();
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(r);
}

Result<int> ConnectAbstract(const std::string& name) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (name.size() + 1 > sizeof a.sun_path) {
    return Status::InvalidArgument("abstract socket name too long: " + name);
  }
  a.sun_path[0] = '\0';  // abstract: no file
  std::memcpy(a.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(std::string("socket: ") + std::strerror(errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) {
    const int err = errno;
    close(fd);
    return Status::IOError("cannot connect to the gRPC server (unix-abstract:" + name +
                           "): " + std::strerror(err));
  }
  return fd;
}

}  // namespace raftkv::front
