// RaftLog: the node's whole log as the protocol sees it — the stable part (read through
// LogStorage) followed by the unstable part (entries and a snapshot not yet handed to the
// runtime's durable write, etcd's unstable). Also tracks the commit and applied indexes.
//
// Invariants: applied <= committed <= LastIndex(); committed never decreases.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "common/status.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace raftkv::raft {

// Entries (and possibly a snapshot) not yet persisted. entries[i] has index offset + i.
class Unstable {
 public:
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;
  Index offset = 0;

  std::optional<Index> MaybeFirstIndex() const;
  std::optional<Index> MaybeLastIndex() const;
  std::optional<Term> MaybeTerm(Index i) const;
  // The runtime persisted entries up to `i` (whose term was `t`): drop them, unless they
  // were replaced meanwhile (then the term no longer matches and nothing is dropped).
  void StableTo(Index i, Term t);
  void StableSnapTo(Index i);
  void Restore(const Snapshot& s);
  // Appends `ents`, replacing any entries at or after ents[0].index.
  void TruncateAndAppend(const std::vector<Entry>& ents);
  // Entries [lo, hi); requires offset <= lo <= hi <= offset + entries.size().
  std::vector<Entry> Slice(Index lo, Index hi) const;
};

class RaftLog {
 public:
  // Starts from what `storage` holds: committed = applied = the snapshot index.
  explicit RaftLog(LogStorage* storage);

  Index FirstIndex() const;
  Index LastIndex() const;
  Term LastTerm() const;
  // Term of entry i; 0 (with OK) is never returned for a missing entry: kCompacted below
  // FirstIndex()-1, kUnavailable above LastIndex().
  Result<Term> TermAt(Index i) const;
  Term TermOrZero(Index i) const;
  bool MatchTerm(Index i, Term t) const;
  // §5.4.1: is a log ending at (lasti, term) at least as up-to-date as ours?
  bool IsUpToDate(Index lasti, Term term) const;

  // Follower side of AppendEntries: if our entry at `index` has `log_term`, appends the
  // new part of `ents`, advances commit to min(committed, last new index) and returns that
  // last new index. Returns nullopt if the terms do not match (the leader must back up).
  // An error means the message would overwrite committed entries (refused, not trusted).
  Result<std::optional<Index>> MaybeAppend(Index index, Term log_term, Index committed,
                                           const std::vector<Entry>& ents);
  // Appends `ents` (first index <= LastIndex()+1), truncating any suffix they replace.
  Index Append(const std::vector<Entry>& ents);
  // First index where `ents` disagrees with our log, or 0 if all of it is present.
  Index FindConflict(const std::vector<Entry>& ents) const;
  // Conflict hint (§5.3 optimisation): the largest index <= `index` whose term is <=
  // `term`, and that term.
  std::pair<Index, Term> FindConflictByTerm(Index index, Term term) const;

  // Entries [lo, hi), at most max_size bytes (but at least one if lo < hi).
  Result<std::vector<Entry>> Slice(Index lo, Index hi, uint64_t max_size) const;
  Result<std::vector<Entry>> EntriesFrom(Index i, uint64_t max_size) const;

  // Committed entries not yet handed to the application, up to `up_to` (normally the
  // commit index), at most max_size bytes (0 = no limit).
  std::vector<Entry> NextEntriesUpTo(Index up_to, uint64_t max_size) const;
  bool HasNextCommittedEntries() const { return committed_ > applied_; }

  void CommitTo(Index i);
  // Leader: commit `max_index` if it is of `term` (§5.4.2). Returns whether commit moved.
  bool MaybeCommit(Index max_index, Term term);
  void AppliedTo(Index i);
  void StableTo(Index i, Term t) { unstable_.StableTo(i, t); }
  void StableSnapTo(Index i) { unstable_.StableSnapTo(i); }
  void Restore(const Snapshot& s);

  // Last index whose entry is durable (handed to the runtime and Advance()d).
  Index LastStableIndex() const;

  const std::vector<Entry>& UnstableEntries() const { return unstable_.entries; }
  const std::optional<Snapshot>& UnstableSnapshot() const { return unstable_.snapshot; }
  Index committed() const { return committed_; }
  Index applied() const { return applied_; }
  LogStorage* storage() const { return storage_; }

 private:
  Status MustCheckOutOfBounds(Index lo, Index hi) const;

  LogStorage* storage_;
  Unstable unstable_;
  Index committed_ = 0;
  Index applied_ = 0;
};

}  // namespace raftkv::raft
