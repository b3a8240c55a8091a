#include "server/wait.h"

#include <vector>

namespace raftkv::server {

bool WaitRegistry::Register(uint64_t id, Clock::time_point deadline, Waiter w) {
  Status closed;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!closed_) {
      waiting_[id] = Entry{deadline, Clock::now(), std::move(w)};
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

size_t WaitRegistry::CompleteBatch(std::vector<std::pair<uint64_t, ApplyResult>> batch,
                                   std::vector<double>* waited) {
  std::vector<std::pair<Waiter, ApplyResult*>> found;
  found.reserve(batch.size());
  {
    std::lock_guard<std::mutex> l(mu_);
    const Clock::time_point now = Clock::now();
    for (auto& [id, r] : batch) {
      auto it = waiting_.find(id);
      if (it == waiting_.end()) continue;
      if (waited) {
        waited->push_back(std::chrono::duration<double>(now - it->second.registered).count());
      }
      found.emplace_back(std::move(it->second.w), &r);
      waiting_.erase(it);
    }
  }
  for (auto& [w, r] : found) w(std::move(*r));  // outside the lock, in the batch's order
  return found.size();
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
