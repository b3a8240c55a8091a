// StoreFeed: what the apply thread hands to readers on other threads. The store it applies
// to is the apply thread's; two kinds of readers follow it:
//  - serializable ranges, served on gRPC threads from the store last published (ReadStore);
//  - watchers, fed by the watch hub (src/watch/) with every revision the apply thread has
//    applied (Applied), and moved to the new store's history when a snapshot replaces the
//    store (Install).
// Both switch to an installed store before anything is applied to it.
#pragma once

#include <memory>
#include <mutex>

#include "kv/store.h"
#include "watch/hub.h"

namespace raftkv::server {

class StoreFeed {
 public:
  // `store`: the store the apply thread starts with (recovered from the newest snapshot).
  StoreFeed(std::shared_ptr<kv::Store> store, watch::HubOptions options);

  // Apply thread: the store is now at `revision`; watchers may be sent up to it. Called at
  // the end of each applied batch, and before a compaction (so what it drops was sent to
  // every synced watcher, or is read by the others before it goes).
  void Applied(int64_t revision) { hub_.Publish(revision); }
  // Apply thread: a snapshot replaced the store.
  void Install(std::shared_ptr<kv::Store> store);

  std::shared_ptr<kv::Store> ReadStore() const;
  watch::Hub& hub() { return hub_; }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<kv::Store> read_store_;  // under mu_
  watch::Hub hub_;
};

}  // namespace raftkv::server
