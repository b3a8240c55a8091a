#include "server/daemon/require_leader.h"

#include <vector>

#include "api/errors.h"

namespace raftkv::server::daemon {

bool RequiresLeader(const grpc::CallbackServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("hasleader");
  return it != md.end() && it->second == "true";
}

grpc::Status NoLeaderStatus() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, api::kErrNoLeader);
}

void LeaderStreams::set_limit(Clock::duration limit) {
  std::lock_guard<std::mutex> l(mu_);
  limit_ = limit;
}

uint64_t LeaderStreams::Add(Cancel cancel) {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t token = next_token_++;
  streams_.emplace(token, std::move(cancel));
  return token;
}

void LeaderStreams::Remove(uint64_t token) {
  std::lock_guard<std::mutex> l(mu_);
  streams_.erase(token);
}

void LeaderStreams::Observe(bool has_leader, Clock::time_point now) {
  std::vector<Cancel> cancels;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (has_leader) {
      leaderless_since_.reset();
      return;
    }
    if (!leaderless_since_) leaderless_since_ = now;
    if (now - *leaderless_since_ < limit_) return;
    for (auto& [token, cancel] : streams_) cancels.push_back(std::move(cancel));
    streams_.clear();
  }
  // Outside the lock: a stream's cancel takes the stream's own lock.
  for (Cancel& c : cancels) c();
}

size_t LeaderStreams::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return streams_.size();
}

}  // namespace raftkv::server::daemon
