// WaitRegistry: calls waiting for their log entry (or read) to be applied, by request id,
// each with a deadline. Every registered call completes exactly once: with the applied
// result, a timeout, or the error it was closed with (server stopped).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace raftkv::server {

// What applying an entry (or running a read) produced for its call: a serialized response.
using ApplyResult = Result<std::string>;
using Waiter = std::function<void(ApplyResult)>;

class WaitRegistry {
 public:
  using Clock = std::chrono::steady_clock;

  // Registers `w` under `id`. If the registry is closed, `w` fails at once (returns false).
  bool Register(uint64_t id, Clock::time_point deadline, Waiter w);
  // Completes `id` with `r`; false if it is not waiting (timed out, or another member's).
  bool Complete(uint64_t id, ApplyResult r);
  // Completes each (id, result) of `batch`, in order, taking the lock once for the batch
  // (the apply thread finishes a whole applied batch at a time). Ids not waiting are
  // skipped; returns how many calls were completed. With `waited`, appends how long each
  // completed call waited since Register, in seconds.
  size_t CompleteBatch(std::vector<std::pair<uint64_t, ApplyResult>> batch,
                       std::vector<double>* waited = nullptr);
  // Fails every call whose deadline passed with `why`.
  void Expire(Clock::time_point now, const Status& why);
  // Fails every call with `why` and refuses later ones with it.
  void Close(const Status& why);
  size_t size() const;

 private:
  struct Entry {
    Clock::time_point deadline;
    Clock::time_point registered;
    Waiter w;
  };
  mutable std::mutex mu_;
  std::map<uint64_t, Entry> waiting_;
  bool closed_ = false;
  Status close_status_;
};

}  // namespace raftkv::server
