// SnapshotView: a consistent, pinned read view of a Store at one revision, serialized
// incrementally while the apply thread keeps writing newer revisions.
//
// Why it needs no copy of the data: the store is multi-versioned and its records are
// immutable, so everything visible at revision R stays readable at R while newer revisions
// are written. The view pins its compaction revision C so compaction cannot drop versions
// it still needs; WriteTo() holds the store lock only for one batch of keys at a time.
//
// Byte format (version 2), little-endian; "bytes" is a u32 length followed by the bytes:
//   magic "RKVS" | u32 format version | i64 revision R | i64 compact revision C
//   bytes session table (SessionTable::EncodeTo)
//   bytes lease table (lease::LeaseTable::EncodeTo: ids and TTLs; version 2 only)
//   per key with history visible in [C, R], in key order:
//     u8 1 | bytes record, the record being
//       bytes key | u32 n | n x { i64 main | i64 sub | i64 create_revision | i64 version |
//                                 i64 lease | u8 tombstone | bytes value }
//   u8 0 (end) | u32 CRC32 (IEEE) of every preceding byte
// Every variable-sized part is length-prefixed so SnapshotLoader can rebuild a store from
// chunks as they arrive, without holding the whole snapshot in memory. Which keys are
// attached to which lease is not stored: the loader attaches each key to the lease of its
// latest version. Version 1 (before leases were replicated) is still read: it has no lease
// table, so its keys' lease ids name no lease (they stay, and never expire).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace raftkv::kv {

class Store;

inline constexpr char kSnapshotMagic[] = "RKVS";
inline constexpr uint32_t kSnapshotFormatVersion = 2;

class SnapshotView {
 public:
  ~SnapshotView();  // releases the pin; a deferred compaction may then run
  SnapshotView(const SnapshotView&) = delete;
  SnapshotView& operator=(const SnapshotView&) = delete;

  int64_t revision() const { return rev_; }
  int64_t compact_revision() const { return compact_rev_; }

  // Serializes the view as consecutive chunks of at most `max_chunk_bytes` passed to `sink`
  // (stops at the first error it returns). May run on another thread than the store's
  // writer. The store lock is taken for at most `batch_keys` keys at a time. Besides the
  // chunk, at most one key's encoded history is buffered.
  Status WriteTo(const std::function<Status(std::string_view)>& sink, size_t batch_keys = 256,
                 size_t max_chunk_bytes = size_t{1} << 20) const;
  // WriteTo into one string.
  std::string Serialize() const;

 private:
  friend class Store;
  SnapshotView(Store* store, int64_t rev, int64_t compact_rev, std::string sessions,
               std::string leases);

  Store* store_;
  int64_t rev_;
  int64_t compact_rev_;
  std::string sessions_;  // the session table as of rev_, already encoded
  std::string leases_;    // the lease table as of rev_, already encoded
};

// Rebuilds a Store from the chunks of a snapshot, fed in order (any chunk boundaries).
// Store::Restore() is the one-buffer form.
class SnapshotLoader {
 public:
  explicit SnapshotLoader(int64_t max_txn_ops = 128);
  ~SnapshotLoader();

  // Parses what it can of `chunk`; an error is final (every later call returns it).
  Status Add(std::string_view chunk);
  // Writes `version` (default: the current one) instead of kSnapshotFormatVersion: tests of
  // reading older images.
  static std::string EncodeHeaderForTest(uint32_t version, int64_t rev, int64_t compact_rev);
  // Checks the end tag and the checksum and hands over the store.
  Result<std::unique_ptr<Store>> Finish();

 private:
  enum class Stage { kHeader, kKeys, kTrailer, kDone };
  Status parse();
  Status parseHeader(bool* progressed);
  Status parseKey(bool* progressed);
  Status loadKey(std::string_view record);
  void consume(size_t n);
  std::string_view avail() const { return std::string_view(pending_).substr(pos_); }

  Stage stage_ = Stage::kHeader;
  Status error_;
  std::string pending_;  // received, not yet parsed (from pos_)
  size_t pos_ = 0;
  uint32_t crc_ = 0;  // over every parsed byte
  std::unique_ptr<Store> store_;
  std::string prev_key_;
};

}  // namespace raftkv::kv
