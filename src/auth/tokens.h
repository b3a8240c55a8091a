// Simple tokens (etcd's --auth-token simple): "<16 random letters>.<raft index>", handed out by
// the Authenticate entry at that index on every member, so a client may present its token to
// any member. They live in memory only (a restart forgets them; clients authenticate again, as
// with etcd) and expire after `ttl` without use; each use restarts the clock.
//
// Memory is bounded: expired tokens are swept as new ones are added, and beyond `max_tokens`
// the least recently used token is dropped (its client gets "invalid auth token" and logs in
// again), so a flood of logins cannot grow the table without limit.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace raftkv::auth {

class TokenTable {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;

  TokenTable(std::chrono::seconds ttl, size_t max_tokens, NowFn now = Clock::now);

  // A fresh random prefix (16 letters from OpenSSL's CSPRNG); the token is prefix + "." +
  // the index of the entry that assigns it.
  static std::string NewPrefix();
  static std::string Token(const std::string& prefix, uint64_t index);
  // The raft index in a token, or nullopt if it is not shaped like one of ours.
  static std::optional<uint64_t> IndexOf(std::string_view token);

  void Assign(const std::string& token, const std::string& user);
  // The token's user (its clock restarted), or nullopt if unknown or expired.
  std::optional<std::string> Lookup(const std::string& token);
  // Drops every token of `user` (etcd: after the user is deleted or its password changes).
  void InvalidateUser(const std::string& user);
  void Clear();
  size_t size() const;

 private:
  struct Entry {
    std::string user;
    Clock::time_point last_used;
  };
  void Unindex(const std::string& token, Clock::time_point last_used);
  void Touch(std::unordered_map<std::string, Entry>::iterator it, Clock::time_point now);
  void Erase(std::unordered_map<std::string, Entry>::iterator it);
  void SweepLocked(Clock::time_point now);

  const std::chrono::seconds ttl_;
  const size_t max_tokens_;
  const NowFn now_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> tokens_;              // guarded by mu_
  std::multimap<Clock::time_point, std::string> by_last_use_;  // guarded by mu_
};

}  // namespace raftkv::auth
