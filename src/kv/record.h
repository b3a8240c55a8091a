// Record: one stored version of a key, as the MVCC store keeps it (store.h). Immutable once
// written and shared by pointer: snapshots and watch events hold records without copying
// values.
#pragma once

#include <cstdint>
#include <string>

#include "kv/key_index.h"

namespace raftkv::kv {

struct Record {
  std::string key;
  std::string value;
  Revision rev;
  int64_t create_revision = 0;
  int64_t version = 0;  // 0 for a tombstone
  int64_t lease = 0;
  bool tombstone = false;
};

}  // namespace raftkv::kv
