// On-disk format of the write-ahead log. Read this before wal.cc.
//
// A data directory holds:
//   VERSION                                  "raftkv-storage 1\n"; refused if different
//   LOCK                                     flock()ed while a process has the dir open
//   wal-<seq:016x>-<firstindex:016x>.log      WAL segments, seq = 0, 1, 2, ... without gaps
//   snap-<term:016x>-<index:016x>.snap        snapshot files (format in snapshot_file.h)
//   *.tmp                                    an interrupted create or rotation; deleted
//
// Segment = 32-byte header, then records back to back, then (last segment only) zeros up
// to the preallocated size (fallocate, default 64 MiB).
//   header: magic u32 | version u32 | seq u64 | first_index u64 | reserved u32 | crc u32
//   (crc = CRC32C of the 28 bytes before it). first_index = the index the next appended
//   entry had when the segment was created.
// Record = 12-byte header + payload; all integers little-endian:
//   crc u32 | length u32 | type u8 | 3 zero bytes | payload[length]
//   crc = CRC32C of bytes [4, 12 + length): it covers length, type and payload.
// Record types and payloads:
//   kEntry    term u64 | index u64 | entry type u8 | data
//   kHardState term u64 | vote u64 | commit u64
//   kMarker   index u64 | term u64 | kind u8 (0 = compacted up to index, 1 = a snapshot was
//             installed: the whole log before it is replaced)
//   kTruncate index u64: entries >= index are removed (a follower's conflicting suffix, §5.3)
//   kPadding  filler bytes (0xA5), ignored: ends a large batch on a 4 KiB boundary, so the
//             next write starts page-aligned (the kernel copies aligned writes into the page
//             cache much faster). Not zeros, so that a rotted padding record is not taken
//             for a torn tail (see Recovery).
// A segment starts with a kMarker (the latest one) and a kHardState record (the latest), so
// it stands alone once the segments before it are deleted.
//
// Writes. One Ready = one batch: [marker] [truncate] entries... [hard state], written with
// pwritev (large payloads are written from where they lie; a batch above 2 MiB goes in 2 MiB
// chunks, each handed to the disk at once with sync_file_range), then one fdatasync (group
// commit). The hard state goes last, so if it is durable, so are the entries its commit
// index refers to. Rotation follows etcd: once a segment has reached the segment size, the
// next batch opens a new one. Its leading records and that batch are written under a .tmp
// name and synced, then renamed into place and the directory fsynced before the batch is
// acknowledged; the previous segment is first cut to its used length and synced, so only
// the last segment ever has a zero or torn tail. (A segment may thus exceed the segment
// size by up to one batch.) Synced pages are dropped from the page cache (the log is read
// only at recovery).
//
// Recovery scans segments in seq order and verifies every CRC. In the last segment an
// all-zero record header is the end of the log (preallocated space), and a record that is
// cut short or fails its CRC is a torn tail that was never acknowledged: it is truncated —
// unless a valid record follows it and the bad one holds no all-zero 512-byte sector (the
// mark of an unsynced write cut by a crash), which means an old record rotted: Corruption.
// (Known limit: an acknowledged record zeroed wholesale at the end of the log, or a
// bit-flipped one followed only by zeros, is indistinguishable from a torn tail.) Any bad
// record or header anywhere else is Corruption naming the file and offset; nothing is ever
// skipped. Segments wholly below the latest compaction marker are deleted after a
// snapshot, so recovery reads only the log since the last compaction.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/coding.h"

namespace raftkv::storage::wal_format {

inline constexpr uint32_t kSegmentMagic = 0x4c41574bu;  // "KWAL" little-endian
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kRecordHeaderSize = 12;
inline constexpr uint32_t kMaxRecordPayload = 256u << 20;
inline constexpr const char* kVersionFileContent = "raftkv-storage 1\n";

static_assert(kSegmentHeaderSize == 4 + 4 + 8 + 8 + 4 + 4, "segment header layout");
static_assert(kRecordHeaderSize == 4 + 4 + 1 + 3, "record header layout");

enum class RecordType : uint8_t {
  kZero = 0,  // never written: preallocated space reads as zeros
  kEntry = 1,
  kHardState = 2,
  kMarker = 3,
  kTruncate = 4,
  kPadding = 5,
};

inline constexpr size_t kEntryFixedSize = 8 + 8 + 1;
inline constexpr size_t kHardStateSize = 8 + 8 + 8;
inline constexpr size_t kMarkerSize = 8 + 8 + 1;
inline constexpr size_t kTruncateSize = 8;
// Batches at least this large end with a kPadding record up to the next kPageSize boundary.
inline constexpr size_t kPadBatchesFrom = 64 << 10;
inline constexpr size_t kPageSize = 4096;
inline constexpr char kPaddingByte = static_cast<char>(0xA5);

// Little-endian fixed-width coding: common/coding.h (PutU32, PutU64, DecodeU32, DecodeU64).

// Reads fixed-width fields from a payload; ok() turns false on a short read.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  uint64_t U64() {
    if (!Need(8)) return 0;
    uint64_t v = DecodeU64(s_.data() + pos_);
    pos_ += 8;
    return v;
  }
  uint32_t U32() {
    if (!Need(4)) return 0;
    uint32_t v = DecodeU32(s_.data() + pos_);
    pos_ += 4;
    return v;
  }
  uint8_t U8() {
    if (!Need(1)) return 0;
    return static_cast<uint8_t>(s_[pos_++]);
  }
  std::string_view Bytes(uint64_t n) {
    if (!Need(n)) return {};
    std::string_view v = s_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string_view Rest() {
    std::string_view v = s_.substr(pos_);
    pos_ = s_.size();
    return v;
  }
  bool ok() const { return ok_; }
  bool done() const { return pos_ == s_.size(); }

 private:
  bool Need(uint64_t n) {
    if (!ok_ || s_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  std::string_view s_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Parses exactly 16 hex digits.
inline bool ParseHex16(const std::string& s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

std::string SegmentFileName(uint64_t seq, uint64_t first_index);
// Parses a segment file name; false if `name` is not one.
bool ParseSegmentFileName(const std::string& name, uint64_t* seq, uint64_t* first_index);

}  // namespace raftkv::storage::wal_format
