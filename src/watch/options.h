// HubOptions: the watch hub's bounds (hub.h), in a header of its own so that configuration
// code can carry them without the hub.
#pragma once

#include <cstddef>

#include "kv/events.h"

namespace raftkv::watch {

// etcd's limit: a response to a catching-up watcher holds at most this many revisions
// (watchBatchMaxRevs).
inline constexpr size_t kMaxRevisionsPerResponse = 1000;

struct HubOptions {
  // A synced watcher's queue: at most this many revisions, and this many bytes of keys and
  // values, wait to be sent; beyond, the watcher becomes unsynced and reads on from history
  // (etcd: a full channel of 128 responses makes a watcher a "victim").
  size_t max_queued_revisions = 128;
  size_t max_queued_bytes = 4 << 20;
  // One history read of an unsynced watcher (stored changes scanned, bytes returned).
  kv::EventBudget read_budget;
  // Queued revisions sent together: at most this many bytes (a revision is never split).
  size_t max_response_bytes = 1 << 20;
};

}  // namespace raftkv::watch
