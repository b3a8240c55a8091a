#include "storage/wal.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "common/check.h"
#include "storage/crc32c.h"
#include "storage/wal_format.h"

namespace raftkv::storage {

namespace wal_format {

std::string SegmentFileName(uint64_t seq, uint64_t first_index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "wal-%016" PRIx64 "-%016" PRIx64 ".log", seq, first_index);
  return buf;
}

bool ParseSegmentFileName(const std::string& name, uint64_t* seq, uint64_t* first_index) {
  if (name.size() != 4 + 16 + 1 + 16 + 4 || name.compare(0, 4, "wal-") != 0 || name[20] != '-' ||
      name.compare(37, 4, ".log") != 0) {
    return false;
  }
  return ParseHex16(name.substr(4, 16), seq) && ParseHex16(name.substr(21, 16), first_index);
}

}  // namespace wal_format

using namespace wal_format;  // NOLINT: the format's names are this file's vocabulary

namespace {

// Appends one framed record whose payload is `fixed` followed by `data`.
void AppendRecord(std::string* buf, RecordType type, std::string_view fixed,
                  std::string_view data = {}) {
  size_t start = buf->size();
  uint32_t len = static_cast<uint32_t>(fixed.size() + data.size());
  PutU32(buf, 0);  // crc, filled below
  PutU32(buf, len);
  buf->push_back(static_cast<char>(type));
  buf->append(3, '\0');
  buf->append(fixed);
  buf->append(data);
  uint32_t crc = crc32c::Value(buf->data() + start + 4, buf->size() - start - 4);
  for (int i = 0; i < 4; i++) (*buf)[start + i] = static_cast<char>(crc >> (8 * i));
}

// Entry payloads at least this large are written where they lie (pwritev), not copied.
constexpr size_t kGatherFrom = 1024;
// Synced pages are dropped from the page cache in steps of this much (one fadvise each).
constexpr uint64_t kDropCacheStep = 1 << 20;
// A large batch is encoded and written in chunks of about this size, and the disk is told
// to start writing each chunk at once, so the device works while the next chunk is encoded
// and copied; the fdatasync at the end then waits only for the tail.
constexpr uint64_t kStreamChunk = 2 << 20;

}  // namespace

// One batch's bytes, ready for one gathered write: record headers and small payloads are
// encoded into buf(); large entry payloads are only referenced, so a 16 MiB batch is not
// copied once more before the kernel copies it into the page cache.
class GatherBuffer {
 public:
  std::string* buf() { return &buf_; }
  void Clear() {
    buf_.clear();
    refs_.clear();
    ref_bytes_ = 0;
  }
  // Appends `data` by reference: it must stay alive and unchanged until the write is done.
  void AppendRef(std::string_view data) {
    refs_.push_back(Ref{buf_.size(), data});
    ref_bytes_ += data.size();
  }
  uint64_t size() const { return buf_.size() + ref_bytes_; }
  // The bytes in order; valid until the next change.
  std::span<const std::string_view> Pieces() {
    pieces_.clear();
    size_t from = 0;
    for (const Ref& r : refs_) {
      if (r.at > from) pieces_.push_back(std::string_view(buf_).substr(from, r.at - from));
      pieces_.push_back(r.data);
      from = r.at;
    }
    if (buf_.size() > from) pieces_.push_back(std::string_view(buf_).substr(from));
    return pieces_;
  }
  // Don't hoard the memory of a huge batch.
  void Shrink() {
    if (buf_.capacity() > (64u << 20)) std::string().swap(buf_);
    if (refs_.capacity() > (1u << 16)) std::vector<Ref>().swap(refs_);
  }

 private:
  struct Ref {
    size_t at;  // goes after buf_[0, at)
    std::string_view data;
  };
  std::string buf_;
  std::vector<Ref> refs_;
  uint64_t ref_bytes_ = 0;
  std::vector<std::string_view> pieces_;
};

namespace {

// Like AppendRecord, without building the fixed part separately (the hot path). A large
// payload is referenced, not copied; its CRC is computed where it lies.
void AppendEntry(GatherBuffer* g, const raft::Entry& e) {
  std::string* buf = g->buf();
  size_t start = buf->size();
  PutU32(buf, 0);
  PutU32(buf, static_cast<uint32_t>(kEntryFixedSize + e.data.size()));
  buf->push_back(static_cast<char>(RecordType::kEntry));
  buf->append(3, '\0');
  PutU64(buf, e.term);
  PutU64(buf, e.index);
  buf->push_back(static_cast<char>(e.type));
  const bool by_ref = e.data.size() >= kGatherFrom;
  if (!by_ref) buf->append(e.data);
  uint32_t crc = crc32c::Value(buf->data() + start + 4, buf->size() - start - 4);
  if (by_ref) {
    crc = crc32c::Extend(crc, e.data.data(), e.data.size());
    g->AppendRef(e.data);
  }
  for (int i = 0; i < 4; i++) (*buf)[start + i] = static_cast<char>(crc >> (8 * i));
}

void AppendHardState(std::string* buf, const raft::HardState& hs) {
  std::string p;
  PutU64(&p, hs.term);
  PutU64(&p, hs.vote);
  PutU64(&p, hs.commit);
  AppendRecord(buf, RecordType::kHardState, p);
}

void AppendMarker(std::string* buf, const WalMarker& m) {
  std::string p;
  PutU64(&p, m.index);
  PutU64(&p, m.term);
  p.push_back(m.install ? 1 : 0);
  AppendRecord(buf, RecordType::kMarker, p);
}

// Appends a kPadding record to a batch that would end at file offset `end`, so that it ends
// on a page boundary (a gap shorter than a record header is padded to the boundary after
// next).
void AppendPadding(std::string* buf, uint64_t end) {
  size_t gap = (kPageSize - end % kPageSize) % kPageSize;
  if (gap == 0) return;
  if (gap < kRecordHeaderSize) gap += kPageSize;
  AppendRecord(buf, RecordType::kPadding, std::string(gap - kRecordHeaderSize, kPaddingByte));
}

void AppendTruncate(std::string* buf, raft::Index index) {
  std::string p;
  PutU64(&p, index);
  AppendRecord(buf, RecordType::kTruncate, p);
}

std::string SegmentHeader(uint64_t seq, raft::Index first_index) {
  std::string h;
  PutU32(&h, kSegmentMagic);
  PutU32(&h, kFormatVersion);
  PutU64(&h, seq);
  PutU64(&h, first_index);
  PutU32(&h, 0);
  PutU32(&h, crc32c::Value(h.data(), h.size()));
  return h;
}

// Replays records into a WalState. The first segment kept may begin after entries that
// were compacted away with the segments before it: until a marker arrives, its base is only
// an anchor (index known, term not) and must be covered by a marker by the end.
class Replayer {
 public:
  explicit Replayer(WalState* st) : st_(st) {}

  void StartFirstSegment(raft::Index first_index) {
    st_->base = WalMarker{first_index - 1, 0, false};
    base_known_ = first_index == 1;
  }

  Status Apply(RecordType type, std::string_view payload) {
    Reader r(payload);
    switch (type) {
      case RecordType::kEntry: {
        raft::Entry e;
        e.term = r.U64();
        e.index = r.U64();
        e.type = static_cast<raft::EntryType>(r.U8());
        e.data = std::string(r.Rest());
        if (!r.ok()) return Status::Corruption("short entry record");
        if (e.index != st_->LastIndex() + 1) {
          return Status::Corruption("entry index " + std::to_string(e.index) + ", expected " +
                                    std::to_string(st_->LastIndex() + 1));
        }
        st_->entries.push_back(std::move(e));
        return Status::OK();
      }
      case RecordType::kHardState: {
        raft::HardState hs;
        hs.term = r.U64();
        hs.vote = r.U64();
        hs.commit = r.U64();
        if (!r.ok() || !r.done()) return Status::Corruption("bad hard state record");
        st_->hard_state = hs;
        return Status::OK();
      }
      case RecordType::kMarker: {
        WalMarker m;
        m.index = r.U64();
        m.term = r.U64();
        m.install = r.U8() == 1;
        if (!r.ok() || !r.done()) return Status::Corruption("bad marker record");
        return ApplyMarker(m);
      }
      case RecordType::kTruncate: {
        raft::Index t = r.U64();
        if (!r.ok() || !r.done()) return Status::Corruption("bad truncate record");
        return ApplyTruncate(t);
      }
      case RecordType::kPadding: return Status::OK();
      case RecordType::kZero: break;
    }
    return Status::Corruption("unknown record type " + std::to_string(int(type)));
  }

  Status Finish() {
    if (!base_known_) {
      return Status::Corruption("log starts at index " + std::to_string(st_->base.index + 1) +
                                " but no compaction marker covers the entries before it");
    }
    return Status::OK();
  }

 private:
  Status ApplyMarker(const WalMarker& m) {
    if (m.install) {
      st_->entries.clear();
      st_->base = m;
      base_known_ = true;
      return Status::OK();
    }
    if (base_known_ && m.index < st_->base.index) {
      return Status::Corruption("compaction marker goes backwards");
    }
    if (!base_known_ && m.index < st_->base.index) return Status::OK();  // stale repeat
    if (m.index > st_->LastIndex()) return Status::Corruption("compaction beyond last entry");
    size_t drop = m.index - st_->base.index;
    if (drop > 0 && st_->entries[drop - 1].term != m.term) {
      return Status::Corruption("compaction marker term differs from the entry's");
    }
    st_->entries.erase(st_->entries.begin(), st_->entries.begin() + drop);
    st_->base = m;
    base_known_ = true;
    return Status::OK();
  }

  Status ApplyTruncate(raft::Index t) {
    if (t > st_->LastIndex() + 1) return Status::Corruption("truncation beyond the log end");
    if (t <= st_->base.index) {
      if (base_known_) return Status::Corruption("truncation of compacted entries");
      // Truncating into deleted segments; a later marker must cover the gap.
      st_->entries.clear();
      st_->base.index = t - 1;
      return Status::OK();
    }
    st_->entries.resize(t - st_->base.index - 1);
    return Status::OK();
  }

  WalState* st_;
  bool base_known_ = true;
};

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

// Whether [begin, end) of `data` contains a whole 512-byte sector of zeros. A record with
// one was cut by a crash (sectors of an unsynced write that never reached the disk, which
// may happen out of order), not damaged later by bit rot.
bool HasZeroSector(std::string_view data, uint64_t begin, uint64_t end) {
  constexpr uint64_t kSector = 512;
  for (uint64_t s = (begin + kSector - 1) / kSector * kSector; s + kSector <= end; s += kSector) {
    if (AllZero(data.substr(s, kSector))) return true;
  }
  return false;
}

// Whether a well-formed record with a valid CRC starts at `off` of `data`.
bool ValidRecordAt(std::string_view data, uint64_t off) {
  if (off + kRecordHeaderSize > data.size()) return false;
  uint32_t len = DecodeU32(data.data() + off + 4);
  if (len > kMaxRecordPayload || off + kRecordHeaderSize + len > data.size()) return false;
  if (AllZero(data.substr(off, kRecordHeaderSize))) return false;
  uint32_t crc = crc32c::Value(data.data() + off + 4, kRecordHeaderSize - 4 + len);
  return crc == DecodeU32(data.data() + off);
}

// Replays one segment; *end = the offset where its valid records end.
Status ScanSegment(FileSystem* fs, const std::string& path, uint64_t seq, raft::Index first_index,
                   bool is_last, Replayer* replay, WalState* state, std::string* buf,
                   uint64_t* end) {
  RAFTKV_RETURN_IF_ERROR(fs->ReadInto(path, buf));
  std::string_view data = *buf;
  auto where = [&](uint64_t off) { return path + " at offset " + std::to_string(off); };
  if (data.size() < kSegmentHeaderSize ||
      DecodeU32(data.data() + 28) != crc32c::Value(data.data(), 28) ||
      DecodeU32(data.data()) != kSegmentMagic) {
    return Status::Corruption("bad segment header: " + where(0));
  }
  if (DecodeU32(data.data() + 4) != kFormatVersion) {
    return Status::Corruption("unsupported WAL format version: " + where(4));
  }
  if (DecodeU64(data.data() + 8) != seq || DecodeU64(data.data() + 16) != first_index) {
    return Status::Corruption("segment header does not match its file name: " + where(0));
  }
  uint64_t off = kSegmentHeaderSize;
  while (off < data.size()) {
    std::string_view rest = data.substr(off);
    bool fits = rest.size() >= kRecordHeaderSize;
    // All-zero header (or a zero remainder too short for one): preallocated space, the end.
    if (is_last && AllZero(rest.substr(0, kRecordHeaderSize))) break;
    uint32_t len = fits ? DecodeU32(rest.data() + 4) : 0;
    bool whole = fits && len <= kMaxRecordPayload && kRecordHeaderSize + len <= rest.size();
    bool crc_ok = whole && DecodeU32(rest.data()) ==
                               crc32c::Value(rest.data() + 4, kRecordHeaderSize - 4 + len);
    if (!crc_ok) {
      if (!is_last) return Status::Corruption("bad WAL record: " + where(off));
      uint64_t rec_end = off + kRecordHeaderSize + len;
      if (whole && !HasZeroSector(data, off, rec_end) && ValidRecordAt(data, rec_end)) {
        return Status::Corruption("bad WAL record followed by valid ones: " + where(off));
      }
      state->recovery_note = "truncated torn tail of " + where(off);
      break;
    }
    auto type = static_cast<RecordType>(rest[8]);
    Status s = replay->Apply(type, rest.substr(kRecordHeaderSize, len));
    if (!s.ok()) return Status::Corruption(s.message() + ": " + where(off));
    off += kRecordHeaderSize + len;
  }
  *end = off;
  return Status::OK();
}

}  // namespace

Wal::Wal(FileSystem* fs, std::string dir, WalOptions options)
    : fs_(fs), dir_(std::move(dir)), options_(options) {}

Wal::~Wal() = default;

Result<std::unique_ptr<Wal>> Wal::Open(FileSystem* fs, const std::string& dir,
                                       const WalOptions& options, WalState* state) {
  std::unique_ptr<Wal> wal(new Wal(fs, dir, options));
  *state = WalState{};
  RAFTKV_RETURN_IF_ERROR(wal->Recover(state));
  return wal;
}

Status Wal::Recover(WalState* state) {
  auto names = fs_->List(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (name.starts_with("wal-") && name.ends_with(".tmp")) {  // an interrupted create
      RAFTKV_RETURN_IF_ERROR(fs_->Remove(Path(name)));
      continue;
    }
    Segment s{0, 0, name};
    if (ParseSegmentFileName(name, &s.seq, &s.first_index)) segments_.push_back(s);
  }
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) { return a.seq < b.seq; });
  if (segments_.empty()) {
    RAFTKV_RETURN_IF_ERROR(CreateSegment(0, 1));
    return Status::OK();
  }
  // Deleting obsolete segments is not atomic: a crash may leave some of them behind, with
  // a gap in seq. Replay starts after the last gap; if what lies before it was still
  // needed, the log is not anchored by a marker and Finish() reports it.
  size_t start = 0;
  for (size_t i = 1; i < segments_.size(); i++) {
    if (segments_[i].seq != segments_[i - 1].seq + 1) start = i;
  }
  Replayer replay(state);
  replay.StartFirstSegment(segments_[start].first_index);
  uint64_t end = 0;
  std::string buf;  // reused for every segment
  for (size_t i = start; i < segments_.size(); i++) {
    if (segments_[i].first_index != state->LastIndex() + 1) {
      return Status::Corruption(Path(segments_[i].name) + ": starts at index " +
                                std::to_string(segments_[i].first_index) +
                                " but the log before it ends at " +
                                std::to_string(state->LastIndex()));
    }
    bool last = i + 1 == segments_.size();
    if (!last) fs_->Prefetch(Path(segments_[i + 1].name));  // read it while this one is parsed
    RAFTKV_RETURN_IF_ERROR(ScanSegment(fs_, Path(segments_[i].name), segments_[i].seq,
                                       segments_[i].first_index, last, &replay, state, &buf, &end));
  }
  Status anchored = replay.Finish();
  if (!anchored.ok() && start > 0) {
    return Status::Corruption(anchored.message() + " (WAL segment missing before " +
                              Path(segments_[start].name) + ")");
  }
  RAFTKV_RETURN_IF_ERROR(anchored);
  for (size_t i = 0; i < start; i++) RAFTKV_RETURN_IF_ERROR(fs_->Remove(Path(segments_[i].name)));
  segments_.erase(segments_.begin(), segments_.begin() + start);

  // Reopen the last segment for appending, cutting off any torn tail.
  const Segment& tail = segments_.back();
  auto f = fs_->OpenWritable(Path(tail.name), false);
  if (!f.ok()) return f.status();
  file_ = std::move(*f);
  if (!state->recovery_note.empty()) {  // a torn tail: cut it, preallocate again
    RAFTKV_RETURN_IF_ERROR(file_->Truncate(end));
    if (options_.preallocate) RAFTKV_RETURN_IF_ERROR(file_->Allocate(options_.segment_bytes));
  }
  auto size = fs_->FileSize(Path(tail.name));  // preallocated by this or an earlier run
  if (!size.ok()) return size.status();
  file_size_ = *size;
  // What was just read may be only in the page cache: the previous process may have died
  // after a failed or before a completed fdatasync. Make it durable before anything built
  // on it is acknowledged; the same for the names in the directory.
  RAFTKV_RETURN_IF_ERROR(file_->Sync());
  RAFTKV_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  offset_ = end;
  hs_ = state->hard_state;
  marker_ = state->base;
  last_index_ = state->LastIndex();
  return Status::OK();
}

Status Wal::Fail(Status s) {
  if (error_.ok()) error_ = s;
  return s;
}

namespace {

// What a new segment starts with: its header, then the latest marker and hard state, so it
// stands alone once the segments before it are deleted.
std::string SegmentLead(uint64_t seq, raft::Index first_index, const WalMarker& marker,
                        const raft::HardState& hs) {
  std::string buf = SegmentHeader(seq, first_index);
  // Repeated as a compaction point: replaying an install again would wipe the entries
  // appended after it in earlier segments.
  if (marker.index > 0) AppendMarker(&buf, WalMarker{marker.index, marker.term, false});
  if (!hs.IsEmpty()) AppendHardState(&buf, hs);
  return buf;
}

}  // namespace

// The first segment of an empty directory: written under a temporary name, synced, renamed
// into place and the directory synced, so a segment file exists whole or not at all.
Status Wal::CreateSegment(uint64_t seq, raft::Index first_index) {
  std::string name = SegmentFileName(seq, first_index);
  std::string tmp = Path(name + ".tmp");
  std::string buf = SegmentLead(seq, first_index, marker_, hs_);
  auto f = fs_->OpenWritable(tmp, true);
  if (!f.ok()) return f.status();
  file_ = std::move(*f);
  if (options_.preallocate) RAFTKV_RETURN_IF_ERROR(file_->Allocate(options_.segment_bytes));
  RAFTKV_RETURN_IF_ERROR(file_->WriteAt(0, buf));
  RAFTKV_RETURN_IF_ERROR(file_->Sync());
  RAFTKV_RETURN_IF_ERROR(fs_->Rename(tmp, Path(name)));
  RAFTKV_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  syncs_ += 2;
  offset_ = buf.size();
  file_size_ = std::max<uint64_t>(offset_, options_.preallocate ? options_.segment_bytes : 0);
  segments_.push_back(Segment{seq, first_index, name});
  return Status::OK();
}

// Makes the last segment final before a new one follows it: cut to its used length and
// durable, so that only the last segment ever has a zero or torn tail.
Status Wal::SealSegment() {
  if (file_size_ > offset_) {
    RAFTKV_RETURN_IF_ERROR(file_->Truncate(offset_));
    unsynced_ = true;
  }
  if (unsynced_) {
    RAFTKV_RETURN_IF_ERROR(file_->Sync());
    syncs_++;
    unsynced_ = false;
  }
  maybeDropCache(true);
  return Status::OK();
}

// Rotation follows etcd: a segment is cut once it has reached segment_bytes, so a batch
// never leaves the rest of a segment unused. The batch that comes next opens the new
// segment: its leading records and the batch are written and synced under a .tmp name, then
// the file is renamed into place and the directory synced (FinishNewSegment). The batch is
// acknowledged only once the name is durable; a crash before leaves a .tmp file, which
// recovery deletes (the batch was never acknowledged). Rotation thus costs one directory
// fsync, not two extra syncs.
Status Wal::OpenNextSegment(std::unique_ptr<WritableFile>* next) {
  RAFTKV_RETURN_IF_ERROR(SealSegment());
  std::string name = SegmentFileName(segments_.back().seq + 1, last_index_ + 1);
  auto f = fs_->OpenWritable(Path(name + ".tmp"), true);
  if (!f.ok()) return f.status();
  *next = std::move(*f);
  if (options_.preallocate) RAFTKV_RETURN_IF_ERROR((*next)->Allocate(options_.segment_bytes));
  return Status::OK();
}

Status Wal::FinishNewSegment(std::unique_ptr<WritableFile> next) {
  uint64_t seq = segments_.back().seq + 1;
  std::string name = SegmentFileName(seq, last_index_ + 1);
  RAFTKV_RETURN_IF_ERROR(fs_->Rename(Path(name + ".tmp"), Path(name)));
  RAFTKV_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  syncs_++;
  RAFTKV_RETURN_IF_ERROR(file_->Close());
  file_ = std::move(next);
  file_size_ = options_.preallocate ? options_.segment_bytes : 0;
  dropped_ = 0;
  segments_.push_back(Segment{seq, last_index_ + 1, name});
  return Status::OK();
}

// Writes what the batch buffer holds at *at and empties it. Unless it is the batch's last
// chunk, the disk is asked to start writing the whole pages written so far.
Status Wal::FlushChunk(WritableFile* f, uint64_t* at, uint64_t* kicked, bool last) {
  if (batch_->size() == 0) return Status::OK();
  RAFTKV_RETURN_IF_ERROR(f->WriteAtV(*at, batch_->Pieces()));
  *at += batch_->size();
  batch_->Clear();
  uint64_t upto = *at / kPageSize * kPageSize;
  if (!last && upto > *kicked) {
    f->StartWriteback(*kicked, upto - *kicked);
    *kicked = upto;
  }
  return Status::OK();
}

// The WAL is read only by recovery (DiskStorage serves entries from memory), so synced
// pages are dropped from the page cache as the log grows. Keeping them costs memory and,
// measured on the benchmark VM, made each 16 MiB pwrite several times slower, as every
// write needed fresh pages (docs/benchmarks.md). The page being appended to is kept: it
// would have to be read back from disk before the next write into it.
void Wal::maybeDropCache(bool all) {
  if (!options_.drop_cache) return;
  uint64_t upto = all ? offset_ : offset_ / kPageSize * kPageSize;
  if (upto <= dropped_ || (!all && upto - dropped_ < kDropCacheStep)) return;
  file_->DropCache(dropped_, upto - dropped_);
  dropped_ = upto;
}

Status Wal::Write(const raft::HardState* hs, std::span<const raft::Entry> entries,
                  const WalMarker* marker, bool sync) {
  if (!error_.ok()) return error_;
  for (const raft::Entry& e : entries) {
    if (e.data.size() > kMaxRecordPayload - kEntryFixedSize) {  // recovery would reject it
      return Status::InvalidArgument("entry " + std::to_string(e.index) + " of " +
                                     std::to_string(e.data.size()) + " bytes exceeds the WAL " +
                                     "record limit");
    }
  }
  if (hs == nullptr && entries.empty() && marker == nullptr) return Status::OK();
  WalMarker new_marker = marker != nullptr ? *marker : marker_;
  raft::Index last = marker != nullptr && marker->install ? marker->index : last_index_;
  if (!entries.empty()) {
    raft::Index first = entries.front().index;
    RAFTKV_CHECK(first > new_marker.index && first <= last + 1,
                 "appended entries must continue the log after the compaction point (§5.3)");
    for (size_t i = 0; i < entries.size(); i++) {
      RAFTKV_CHECK(entries[i].index == first + i, "a batch of entries must be contiguous");
    }
  }
  Status s = WriteBatch(hs, entries, marker, last, sync);
  if (!s.ok()) return Fail(s);
  marker_ = new_marker;
  last_index_ = entries.empty() ? last : entries.back().index;
  if (hs != nullptr) hs_ = *hs;
  return Status::OK();
}

// The body of Write, after the checks: encodes and writes the batch in chunks, then syncs.
// `last` is the log's last index once the marker, if any, is applied.
Status Wal::WriteBatch(const raft::HardState* hs, std::span<const raft::Entry> entries,
                       const WalMarker* marker, raft::Index last, bool sync) {
  if (!batch_) batch_ = std::make_unique<GatherBuffer>();
  GatherBuffer& batch = *batch_;  // reused: a fresh large buffer costs a page fault per 4 KiB
  batch.Clear();
  std::string* buf = batch.buf();
  const bool rotate = offset_ >= options_.segment_bytes;
  std::unique_ptr<WritableFile> next;
  if (rotate) {
    RAFTKV_RETURN_IF_ERROR(OpenNextSegment(&next));
    buf->append(SegmentLead(segments_.back().seq + 1, last_index_ + 1, marker_, hs_));
  }
  WritableFile* f = rotate ? next.get() : file_.get();
  const uint64_t start = rotate ? buf->size() : offset_;  // where this batch's records begin
  uint64_t at = rotate ? 0 : offset_;                     // where the buffer's bytes go
  uint64_t kicked = at / kPageSize * kPageSize;
  if (marker != nullptr) AppendMarker(buf, *marker);
  if (!entries.empty() && entries.front().index <= last) {
    AppendTruncate(buf, entries.front().index);
  }
  for (const raft::Entry& e : entries) {
    AppendEntry(&batch, e);
    if (batch.size() >= kStreamChunk) RAFTKV_RETURN_IF_ERROR(FlushChunk(f, &at, &kicked, false));
  }
  if (hs != nullptr) AppendHardState(buf, *hs);
  uint64_t end = at + batch.size();
  if (end - start >= kPadBatchesFrom) {
    AppendPadding(buf, end);
    end = at + batch.size();
  }
  RAFTKV_RETURN_IF_ERROR(FlushChunk(f, &at, &kicked, true));
  RAFTKV_CHECK(at == end, "the batch was written whole");
  batch.Shrink();
  if (sync || rotate) {
    RAFTKV_RETURN_IF_ERROR(f->Sync());
    syncs_++;
  }
  if (rotate) RAFTKV_RETURN_IF_ERROR(FinishNewSegment(std::move(next)));
  unsynced_ = !(sync || rotate);
  offset_ = end;
  file_size_ = std::max(file_size_, offset_);
  if (!unsynced_) maybeDropCache(false);
  return Status::OK();
}

Status Wal::RemoveSegmentsThrough(raft::Index compacted) {
  if (!error_.ok()) return error_;
  size_t n = 0;
  while (n + 1 < segments_.size() && segments_[n + 1].first_index <= compacted + 1) n++;
  if (n == 0) return Status::OK();
  for (size_t i = 0; i < n; i++) {
    Status s = fs_->Remove(Path(segments_[i].name));
    if (!s.ok()) return Fail(s);
  }
  segments_.erase(segments_.begin(), segments_.begin() + n);
  Status s = fs_->SyncDir(dir_);
  if (!s.ok()) return Fail(s);
  return Status::OK();
}

}  // namespace raftkv::storage
