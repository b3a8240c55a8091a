// The watch history of the MVCC store: what changed at each revision, as etcd's watchers see
// it (mvccpb.Event). Events point at the store's immutable records, so reading history and
// handing it to many watchers never copies a value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kv/record.h"

namespace raftkv::kv {

// One change: a put (kv is the version written) or a delete (kv is the tombstone: key and
// revision only, as etcd's delete events carry). `prev` is the key's version just before the
// change, or null when there was none (a create) or it is compacted away (etcd answers a
// previous-version read below the compaction revision with nothing, too).
struct Event {
  enum class Type { kPut = 0, kDelete = 1 };  // mvccpb.Event.EventType's numbers
  Type type = Type::kPut;
  std::shared_ptr<const Record> kv;
  std::shared_ptr<const Record> prev;

  int64_t revision() const { return kv->rev.main; }
};

// Keys as etcd's ranges and watches name them: `end` empty means only `key`; `end` "\0"
// means every key >= `key`; otherwise [key, end).
struct KeyRange {
  std::string key;
  std::string end;

  bool Contains(const std::string& k) const;
  bool single() const { return end.empty(); }
  bool unbounded() const { return end.size() == 1 && end[0] == '\0'; }
};

// How much one history read may do before it stops (at the end of a revision).
struct EventBudget {
  size_t max_scanned = 4096;       // stored changes looked at
  size_t max_bytes = 1024 * 1024;  // keys and values of the events returned
};

// Bytes of keys and values an event carries (its previous version included).
size_t EventBytes(const Event& e);

// A piece of history: every event of revisions [from, through] in the range that was read,
// ordered by revision, then by the order of the changes inside a revision.
struct EventRead {
  std::vector<Event> events;
  int64_t through = 0;
};

}  // namespace raftkv::kv
