#include "raft/raft_log.h"

#include <algorithm>

#include "common/check.h"
#include "raft/planted_bugs.h"

namespace raftkv::raft {

// ---- Unstable ----

std::optional<Index> Unstable::MaybeFirstIndex() const {
  if (snapshot) return snapshot->meta.index + 1;
  return std::nullopt;
}

std::optional<Index> Unstable::MaybeLastIndex() const {
  if (!entries.empty()) return offset + entries.size() - 1;
  if (snapshot) return snapshot->meta.index;
  return std::nullopt;
}

std::optional<Term> Unstable::MaybeTerm(Index i) const {
  if (i < offset) {
    if (snapshot && snapshot->meta.index == i) return snapshot->meta.term;
    return std::nullopt;
  }
  auto last = MaybeLastIndex();
  if (!last || i > *last) return std::nullopt;
  if (i - offset >= entries.size()) return std::nullopt;
  return entries[i - offset].term;
}

void Unstable::StableTo(Index i, Term t) {
  auto gt = MaybeTerm(i);
  if (!gt || *gt != t || i < offset) return;  // replaced meanwhile: still unstable
  entries.erase(entries.begin(), entries.begin() + (i + 1 - offset));
  offset = i + 1;
}

void Unstable::StableSnapTo(Index i) {
  if (snapshot && snapshot->meta.index == i) snapshot.reset();
}

void Unstable::Restore(const Snapshot& s) {
  offset = s.meta.index + 1;
  entries.clear();
  snapshot = s;
}

void Unstable::TruncateAndAppend(const std::vector<Entry>& ents) {
  if (ents.empty()) return;
  Index after = ents.front().index;
  if (after == offset + entries.size()) {
    entries.insert(entries.end(), ents.begin(), ents.end());
  } else if (after <= offset) {
    // Replaces every unstable entry (and the stable suffix from `after` on).
    offset = after;
    entries = ents;
  } else {
    entries.resize(after - offset);
    entries.insert(entries.end(), ents.begin(), ents.end());
  }
}

std::vector<Entry> Unstable::Slice(Index lo, Index hi) const {
  RAFTKV_CHECK(offset <= lo && lo <= hi && hi <= offset + entries.size(),
               "unstable: slice out of range");
  return std::vector<Entry>(entries.begin() + (lo - offset), entries.begin() + (hi - offset));
}

// ---- RaftLog ----

RaftLog::RaftLog(LogStorage* storage) : storage_(storage) {
  Index first = storage_->FirstIndex();
  unstable_.offset = storage_->LastIndex() + 1;
  committed_ = first - 1;
  applied_ = first - 1;
}

Index RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  return storage_->FirstIndex();
}

Index RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  return storage_->LastIndex();
}

Term RaftLog::LastTerm() const {
  return TermOrZero(LastIndex());
}

Result<Term> RaftLog::TermAt(Index i) const {
  Index dummy = FirstIndex() - 1;
  if (i < dummy) return Status::Compacted("term: compacted");
  if (i > LastIndex()) return Status::Unavailable("term: beyond last index");
  if (auto t = unstable_.MaybeTerm(i)) return *t;
  return storage_->TermAt(i);
}

Term RaftLog::TermOrZero(Index i) const {
  auto t = TermAt(i);
  return t.ok() ? *t : 0;
}

bool RaftLog::MatchTerm(Index i, Term t) const {
  auto got = TermAt(i);
  return got.ok() && *got == t;
}

bool RaftLog::IsUpToDate(Index lasti, Term term) const {
  Term our = LastTerm();
  return term > our || (term == our && lasti >= LastIndex());
}

Index RaftLog::FindConflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!MatchTerm(e.index, e.term)) return e.index;
  }
  return 0;
}

std::pair<Index, Term> RaftLog::FindConflictByTerm(Index index, Term term) const {
  // Walk back from `index` while our entries are of a larger term than the probe's: none
  // of them can match. Each step is local; the leader pays one round trip per term.
  if (index > LastIndex()) return {index, 0};
  for (;;) {
    auto t = TermAt(index);
    if (!t.ok()) return {index, 0};  // compacted: the leader will fall back (snapshot)
    if (*t <= term || index == 0) return {index, *t};
    index--;
  }
}

Result<std::optional<Index>> RaftLog::MaybeAppend(Index index, Term log_term, Index committed,
                                                  const std::vector<Entry>& ents) {
  if (!MatchTerm(index, log_term)) return std::optional<Index>();
  // Log Matching (§5.3): we only append after the entry preceding `ents` matched.
  RAFTKV_CHECK(MatchTerm(index, log_term), "§5.3 Log Matching: append only after prev matched");
  Index lastnew = index + ents.size();
  Index ci = FindConflict(ents);
  if (ci != 0) {
    if (ci <= committed_) {
      return Status::Corruption("append would overwrite a committed entry");
    }
    Index off = index + 1;
    Append(std::vector<Entry>(ents.begin() + (ci - off), ents.end()));
  }
  CommitTo(std::min(committed, lastnew));
  return std::optional<Index>(lastnew);
}

Index RaftLog::Append(const std::vector<Entry>& ents) {
  if (ents.empty()) return LastIndex();
  RAFTKV_CHECK(ents.front().index - 1 >= committed_, "§5.4 committed entries are never truncated");
  RAFTKV_CHECK(ents.front().index <= LastIndex() + 1, "append: gap in the log");
  unstable_.TruncateAndAppend(ents);
  return LastIndex();
}

Status RaftLog::MustCheckOutOfBounds(Index lo, Index hi) const {
  if (lo > hi) return Status::InvalidArgument("slice: lo > hi");
  if (lo < FirstIndex()) return Status::Compacted("slice: compacted");
  if (hi > LastIndex() + 1) return Status::Unavailable("slice: beyond last index");
  return Status::OK();
}

Result<std::vector<Entry>> RaftLog::Slice(Index lo, Index hi, uint64_t max_size) const {
  RAFTKV_RETURN_IF_ERROR(MustCheckOutOfBounds(lo, hi));
  std::vector<Entry> out;
  if (lo == hi) return out;
  if (lo < unstable_.offset) {
    auto stored = storage_->Entries(lo, std::min(hi, unstable_.offset), max_size);
    if (!stored.ok()) return stored.status();
    out = std::move(*stored);
    // Storage stopped early because of the size limit: do not add unstable entries.
    if (out.size() < std::min(hi, unstable_.offset) - lo) return out;
  }
  if (hi > unstable_.offset) {
    auto un = unstable_.Slice(std::max(lo, unstable_.offset), hi);
    out.insert(out.end(), un.begin(), un.end());
  }
  // Limit to max_size (at least one entry).
  uint64_t size = 0;
  size_t n = 0;
  for (; n < out.size(); n++) {
    size += out[n].SizeBytes();
    if (n > 0 && size > max_size) break;
  }
  out.resize(n);
  return out;
}

Result<std::vector<Entry>> RaftLog::EntriesFrom(Index i, uint64_t max_size) const {
  if (i > LastIndex()) return std::vector<Entry>();
  return Slice(i, LastIndex() + 1, max_size);
}

std::vector<Entry> RaftLog::NextEntriesUpTo(Index up_to, uint64_t max_size) const {
  Index lo = std::max(applied_ + 1, FirstIndex());
  Index hi = std::min(up_to, LastIndex()) + 1;
  if (lo >= hi) return {};
  auto ents = Slice(lo, hi, max_size == 0 ? kNoLimit : max_size);
  RAFTKV_CHECK(ents.ok(), "committed entries must be readable");
  return std::move(*ents);
}

void RaftLog::CommitTo(Index i) {
  if (i <= committed_) return;  // the commit index never decreases
  RAFTKV_CHECK(i <= LastIndex(), "commit index beyond the last index");
  committed_ = i;
}

bool RaftLog::MaybeCommit(Index max_index, Term term) {
  if (max_index > committed_ && TermOrZero(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::AppliedTo(Index i) {
  if (i == 0) return;
  if constexpr (kPlantedBug != 4) RAFTKV_CHECK(i <= committed_, "applied <= committed");
  if (i > applied_) applied_ = i;
}

void RaftLog::Restore(const Snapshot& s) {
  committed_ = s.meta.index;
  unstable_.Restore(s);
}

Index RaftLog::LastStableIndex() const {
  if (unstable_.snapshot) return 0;  // the log is being replaced: nothing is durable
  return unstable_.offset - 1;
}

}  // namespace raftkv::raft
