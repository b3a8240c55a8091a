#include "server/wait.h"

#include <vector>

namespace raftkv::server {

bool WaitRegistry::Register(uint64_t id, Clock::time_point deadline, Waiter w) {
  Status closed;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!closed_) {
      waiting_[id] = Entry{deadline, std::move(w)};
      return true;
    }
    closed = close_status_;
  }
  w(closed);
  return false;
}

bool WaitRegistry::Complete(uint64_t id, ApplyResult r) {
  Waiter w;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = waiting_.find(id);
    if (it == waiting_.end()) return false;
    w = std::move(it->second.w);
    waiting_.erase(it);
  }
  w(std::move(r));  // outside the lock: callbacks may register new calls
  return true;
}

void WaitRegistry::Expire(Clock::time_point now, const Status& why) {
  std::vector<Waiter> expired;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.w));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : expired) w(why);
}

void WaitRegistry::Close(const Status& why) {
  std::map<uint64_t, Entry> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    close_status_ = why;
    all.swap(waiting_);
  }
  for (auto& [id, e] : all) e.w(why);
}

size_t WaitRegistry::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return waiting_.size();
}

}  // namespace raftkv::server
