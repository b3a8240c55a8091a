#include "auth/tokens.h"

#include <openssl/rand.h>

#include "common/check.h"

namespace raftkv::auth {
namespace {
constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr size_t kPrefixLength = 16;
}  // namespace

TokenTable::TokenTable(std::chrono::seconds ttl, size_t max_tokens, NowFn now)
    : ttl_(ttl), max_tokens_(max_tokens), now_(std::move(now)) {}

std::string TokenTable::NewPrefix() {
  unsigned char rnd[kPrefixLength];
  RAFTKV_CHECK(RAND_bytes(rnd, sizeof(rnd)) == 1, "the CSPRNG gives random bytes");
  std::string s;
  // 256 % 52 != 0: a slight bias towards the first letters, as etcd's tokens (also 16
  // letters) carry ~91 bits; with the modulo this is still above 90 bits.
  for (unsigned char c : rnd) s.push_back(kLetters[c % (sizeof(kLetters) - 1)]);
  return s;
}

std::string TokenTable::Token(const std::string& prefix, uint64_t index) {
  return prefix + "." + std::to_string(index);
}

std::optional<uint64_t> TokenTable::IndexOf(std::string_view token) {
  size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot + 1 >= token.size() || dot + 21 < token.size()) {
    return std::nullopt;
  }
  uint64_t index = 0;
  for (char c : token.substr(dot + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<uint64_t>(c - '0');
  }
  return index;
}

void TokenTable::Assign(const std::string& token, const std::string& user) {
  std::lock_guard<std::mutex> l(mu_);
  Clock::time_point now = now_();
  SweepLocked(now);
  auto [it, inserted] = tokens_.try_emplace(token, Entry{user, now});
  if (!inserted) return;  // the same entry applied twice (a replay): keep the first
  by_last_use_.emplace(now, token);
  while (tokens_.size() > max_tokens_) Erase(tokens_.find(by_last_use_.begin()->second));
}

std::optional<std::string> TokenTable::Lookup(const std::string& token) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  Clock::time_point now = now_();
  if (now - it->second.last_used >= ttl_) {
    Erase(it);
    return std::nullopt;
  }
  Touch(it, now);
  return it->second.user;
}

void TokenTable::InvalidateUser(const std::string& user) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    auto next = std::next(it);
    if (it->second.user == user) Erase(it);
    it = next;
  }
}

void TokenTable::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  tokens_.clear();
  by_last_use_.clear();
}

size_t TokenTable::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return tokens_.size();
}

// Removes `token`'s entry in the last-use index (several tokens may share a time point).
void TokenTable::Unindex(const std::string& token, Clock::time_point last_used) {
  auto range = by_last_use_.equal_range(last_used);
  for (auto i = range.first; i != range.second; ++i) {
    if (i->second == token) {
      by_last_use_.erase(i);
      return;
    }
  }
}

void TokenTable::Touch(std::unordered_map<std::string, Entry>::iterator it, Clock::time_point now) {
  Unindex(it->first, it->second.last_used);
  it->second.last_used = now;
  by_last_use_.emplace(now, it->first);
}

void TokenTable::Erase(std::unordered_map<std::string, Entry>::iterator it) {
  Unindex(it->first, it->second.last_used);
  tokens_.erase(it);
}

void TokenTable::SweepLocked(Clock::time_point now) {
  while (!by_last_use_.empty() && now - by_last_use_.begin()->first >= ttl_) {
    Erase(tokens_.find(by_last_use_.begin()->second));
  }
}

}  // namespace raftkv::auth
