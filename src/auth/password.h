// Passwords: bcrypt ("$2b$", libxcrypt's crypt_r family from Debian's libcrypt), the scheme
// etcd itself stores, with a 128-bit salt from OpenSSL's CSPRNG and a configurable cost
// (--bcrypt-cost, 4..31, default 10: about 50-100 ms per hash on one core). Only the hash is
// ever stored, replicated or logged; the password lives in the request that carried it.
//
// Why bcrypt and not OpenSSL's PBKDF2 or scrypt: it is what etcd uses (same cost knob, same
// "$2b$" strings, so an operator's expectations and the cost flag carry over), libxcrypt
// implements it in constant memory and returns a self-describing string (algorithm, cost,
// salt, hash), and its cost is CPU-bound, which the bounded PasswordWorkers pool turns into a
// bounded CPU share. Like etcd's, only the first 72 bytes of a password count.
//
// Hashing is slow on purpose, so it never runs on a gRPC or raft thread: PasswordWorkers runs
// it on a few threads of its own with a bounded queue; when the queue is full the request is
// refused ("etcdserver: too many requests") instead of piling up memory and CPU — a flood of
// failed logins costs at most `threads` cores and `max_queued` small jobs.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"

namespace raftkv::auth {

inline constexpr int kMinBcryptCost = 4;
inline constexpr int kMaxBcryptCost = 31;
inline constexpr int kDefaultBcryptCost = 10;

// A password on its way to a hashing job: shared by the closures that carry it, wiped from
// memory when the last of them is gone.
using Secret = std::shared_ptr<const std::string>;
Secret MakeSecret(std::string password);

// A "$2b$<cost>$<salt><hash>" string for `password`. InvalidArgument for a password holding
// a NUL byte (bcrypt works on C strings) or a cost outside [4, 31].
Result<std::string> HashPassword(std::string_view password, int cost);
// Whether `password` matches `hash` (compared in constant time). False for a malformed hash.
bool VerifyPassword(std::string_view password, const std::string& hash);

// A small pool of threads for password hashing with a bounded queue.
class PasswordWorkers {
 public:
  PasswordWorkers(int threads, size_t max_queued);
  ~PasswordWorkers();  // Stop()s
  PasswordWorkers(const PasswordWorkers&) = delete;
  PasswordWorkers& operator=(const PasswordWorkers&) = delete;

  // A job gets `stopped` = false when it runs on a worker, true when the pool stopped before
  // it could run (it must then only fail its call, quickly).
  using Job = std::function<void(bool stopped)>;
  // Queues `job` for a worker thread. Returns false, without calling it, when `max_queued`
  // jobs are already waiting or the pool has stopped.
  bool Submit(Job job);
  // Stops the threads; jobs not started are called with stopped = true, so every call
  // completes. Idempotent.
  void Stop();
  size_t queued() const;

 private:
  void Run();

  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;  // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace raftkv::auth
