// SnapshotView: a consistent, pinned read view of a Store at one revision, serialized
// incrementally while the apply thread keeps writing newer revisions.
//
// Why it needs no copy of the data: the store is multi-versioned and its records are
// immutable, so everything visible at revision R stays readable at R while newer revisions
// are written. The view pins its compaction revision C so compaction cannot drop versions
// it still needs; WriteTo() holds the store lock only for one batch of keys at a time.
//
// Byte format (version 1), little-endian:
//   magic "RKVS" | u32 format version
//   i64 revision R | i64 compact revision C
//   session table (SessionTable::EncodeTo)
//   per key with history visible in [C, R], in key order:
//     u8 1 | bytes key | u32 n | n x { i64 main | i64 sub | i64 create_revision |
//                                      i64 version | i64 lease | u8 tombstone | bytes value }
//   u8 0 (end) | u32 CRC32 (IEEE) of every preceding byte
// where "bytes" is a u32 length followed by the bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace raftkv::kv {

class Store;

inline constexpr char kSnapshotMagic[] = "RKVS";
inline constexpr uint32_t kSnapshotFormatVersion = 1;

class SnapshotView {
 public:
  ~SnapshotView();  // releases the pin; a deferred compaction may then run
  SnapshotView(const SnapshotView&) = delete;
  SnapshotView& operator=(const SnapshotView&) = delete;

  int64_t revision() const { return rev_; }
  int64_t compact_revision() const { return compact_rev_; }

  // Serializes the view as consecutive chunks passed to `sink` (stops at the first error it
  // returns). May run on another thread than the store's writer. The store lock is taken for
  // at most `batch_keys` keys at a time.
  Status WriteTo(const std::function<Status(std::string_view)>& sink,
                 size_t batch_keys = 256) const;
  // WriteTo into one string.
  std::string Serialize() const;

 private:
  friend class Store;
  SnapshotView(Store* store, int64_t rev, int64_t compact_rev, std::string sessions);

  Store* store_;
  int64_t rev_;
  int64_t compact_rev_;
  std::string sessions_;  // the session table as of rev_, already encoded
};

}  // namespace raftkv::kv
