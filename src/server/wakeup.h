// An eventfd that one thread sleeps on (with poll, beside other descriptors) and other
// threads ring. The raft loop sleeps on it and on the transport's inbound streams at once,
// which a condition variable cannot do.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "common/check.h"

namespace raftkv::server {

class Wakeup {
 public:
  Wakeup() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    RAFTKV_CHECK(fd_ >= 0, "an eventfd for the raft loop's wake-ups");
  }
  ~Wakeup() { close(fd_); }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Polls readable from the first Ring until Clear.
  int fd() const { return fd_; }
  void Ring() {
    const uint64_t one = 1;
    (void)!write(fd_, &one, sizeof(one));
  }
  void Clear() {
    uint64_t n;
    (void)!read(fd_, &n, sizeof(n));
  }

 private:
  const int fd_;
};

}  // namespace raftkv::server
