// Incremental checking of Raft's safety properties (Figure 3) from outside the nodes.
//
// What is kept, and why it is enough:
//  - per node, a mirror of the part of its log that may still change: the entries above
//    its commit index ("tail"), as (term, content hash). Entries at or below a node's
//    commit index were compared with the global committed log when the commit index
//    passed them and are not read again (FullCheck re-reads everything);
//  - the global committed log: for each index, the entry the first node whose commit
//    index covered it had there, and that node's term (an upper bound on the term in
//    which the entry was committed);
//  - for Log Matching, for every (index, term) ever seen: the entry's content hash and the
//    term of the entry before it. By induction on the index this gives "same index and
//    term => identical prefixes", and unlike a hash chained from index 1 it also works for
//    logs that start after a snapshot;
//  - the leader of each term, and the first entry applied at each index.
#include "sim/check/invariants.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

namespace raftkv::check {

using raft::Entry;
using raft::Index;
using raft::NodeId;
using raft::Role;
using raft::Term;

namespace {

// Violations stop being recorded past this many: one broken rule tends to repeat itself
// at every event, and the first ones are what a report needs.
constexpr size_t kMaxViolations = 100;

template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

// Hashes live only in memory, so the standard library's (fast, word-at-a-time) string
// hash is good enough.
uint64_t HashEntry(const Entry& e) {
  const uint64_t h = std::hash<std::string_view>()(e.data);
  return h ^ (static_cast<uint64_t>(e.type) * 0x9E3779B97F4A7C15ULL);
}

// An entry as the checker remembers it.
struct EntryId {
  Term term = 0;
  uint64_t hash = 0;
  bool operator==(const EntryId&) const = default;
};

struct CommittedEntry {
  bool known = false;  // false: committed, but its content was never seen (compacted)
  EntryId id;
  Term commit_term = 0;  // term of the node that first reported it committed
  NodeId from = raft::kNoNode;
};

struct AppliedEntry {
  bool known = false;
  EntryId id;
  NodeId from = raft::kNoNode;
};

struct LinkKey {
  Index index;
  Term term;
  bool operator==(const LinkKey&) const = default;
};
struct LinkKeyHash {
  size_t operator()(const LinkKey& k) const {
    return std::hash<uint64_t>()(k.index * 0x9E3779B97F4A7C15ULL ^ k.term);
  }
};
// What the first node seen holding (index, term) had there.
struct Link {
  uint64_t hash = 0;
  Term prev_term = 0;  // term at index-1; 0 = unknown (compacted) or index == 1
  NodeId from = raft::kNoNode;
};

}  // namespace

// Entries [lo, last] read from one node during one Observe/FullCheck.
struct SafetyChecker::ReadLog {
  Index lo = 1;
  Index last = 0;
  Term prev_term = 0;  // term at lo-1; 0 = unknown or lo == 1
  std::vector<EntryId> ids;

  bool Has(Index i) const { return i >= lo && i <= last; }
  const EntryId& At(Index i) const { return ids[i - lo]; }
  Term TermBefore(Index i) const { return i == lo ? prev_term : ids[i - 1 - lo].term; }
};

struct SafetyChecker::NodeMirror {
  bool seen = false;
  Term term = 0;
  Index commit = 0;
  Index stable = 0;  // entries <= stable were checked against the committed log
  Index last = 0;
  std::vector<EntryId> tail;  // entries (stable, last]
  Term leader_term = 0;       // term of its current leadership; 0 when not leader

  bool Has(Index i) const { return i > stable && i <= last; }
  const EntryId& At(Index i) const { return tail[i - stable - 1]; }
};

struct SafetyChecker::State {
  std::map<NodeId, NodeMirror> nodes;  // live nodes seen since their last crash
  std::map<Term, NodeId> leaders;
  std::vector<CommittedEntry> committed;  // [i-1] for index i; size() = highest commit seen
  std::unordered_map<LinkKey, Link, LinkKeyHash> links;
  std::vector<AppliedEntry> applied;  // [i-1] for index i
  std::set<std::string> reported;     // to report each distinct violation once
};

SafetyChecker::SafetyChecker() : state_(std::make_unique<State>()) {}
SafetyChecker::~SafetyChecker() = default;

void SafetyChecker::report(std::string violation) {
  if (violations_.size() >= kMaxViolations) return;
  if (!state_->reported.insert(violation).second) return;
  violations_.push_back(std::move(violation));
}

// Reads entries [max(from, first, 1), last] of `view` as ids, and the term before them.
// With `reuse`, a prefix of them whose terms still match the mirror is taken from it
// instead of being copied and hashed again: a command changed under an unchanged (index,
// term) would itself break Log Matching, which FullCheck re-reads in full.
Status SafetyChecker::readLog(const NodeView& view, Index from, const NodeMirror* reuse,
                              ReadLog* log) {
  const Index first = view.FirstIndex();
  const Index last = view.LastIndex();
  log->last = last;
  log->lo = std::max<Index>({from, first, 1});
  log->ids.clear();
  if (log->lo > last) log->lo = last + 1;
  Index next = log->lo;
  if (reuse != nullptr) {
    const Index hi = std::min(reuse->last, last);
    for (; next <= hi && reuse->Has(next); next++) {
      auto t = view.TermAt(next);
      if (!t.ok() || *t != reuse->At(next).term) break;
      log->ids.push_back(reuse->At(next));
    }
  }
  if (next <= last) {
    auto entries = view.Entries(next, last + 1);
    if (!entries.ok()) return entries.status();
    if (entries->size() != last + 1 - next) return Status::Unavailable("short read");
    for (const Entry& e : *entries) {
      if (e.index != log->lo + log->ids.size()) return Status::Corruption("entry out of place");
      log->ids.push_back(EntryId{e.term, HashEntry(e)});
    }
  }
  log->prev_term = 0;
  if (log->lo > 1) {
    auto t = view.TermAt(log->lo - 1);
    if (t.ok()) log->prev_term = *t;
  }
  return Status::OK();
}

void SafetyChecker::Observe(NodeId id, const NodeView& view) {
  const NodeState st = view.State();
  const Index last = view.LastIndex();
  NodeMirror& m = state_->nodes[id];
  checkMonotonic(id, st, last, m);

  // A leader staying leader is re-read in full (Leader Append-Only covers its commands
  // too); it is the node whose tail is shortest.
  const bool same_leadership =
      m.seen && m.leader_term != 0 && st.role == Role::kLeader && st.term == m.leader_term;
  ReadLog log;
  Status read =
      readLog(view, m.seen ? m.stable + 1 : 1, m.seen && !same_leadership ? &m : nullptr, &log);
  if (read.ok()) {
    if (same_leadership) {
      checkLeaderAppendOnly(id, st, log, m);
      checkLeaderCommit(id, st, log, m);
    }
    checkLogMatching(id, log, m.seen ? &m : nullptr);
    if (m.seen) checkCommittedKept(id, log, m);
    learnCommitted(id, st.term, st.commit, log);
    checkLeader(id, st, log, m);
    // Remember the tail: everything above the commit index may still change.
    const Index stable = std::max(std::min(st.commit, last), log.lo - 1);
    m.tail.assign(log.ids.begin() + (stable + 1 - log.lo), log.ids.end());
    m.stable = stable;
    m.last = last;
  }
  // (A failed read, e.g. kCompacted while a snapshot is being installed, is not a
  // violation: the next observation reads again from the mirror's stable point.)
  m.seen = true;
  m.term = st.term;
  m.commit = st.commit;
}

void SafetyChecker::checkMonotonic(NodeId id, const NodeState& st, Index last, NodeMirror& m) {
  if (m.seen && st.term < m.term) {
    report(Cat("term-monotonic: node ", id, " term went down from ", m.term, " to ", st.term,
               " without a crash"));
  }
  if (m.seen && st.commit < m.commit) {
    report(Cat("commit-monotonic: node ", id, " commit index went down from ", m.commit, " to ",
               st.commit, " without a crash (term ", st.term, ")"));
  }
  if (st.applied > st.commit) {
    report(Cat("applied-beyond-commit: node ", id, " applied index ", st.applied,
               " > commit index ", st.commit, " (term ", st.term, ")"));
  }
  if (st.commit > last) {
    report(Cat("commit-beyond-log: node ", id, " commit index ", st.commit, " > last index ", last,
               " (term ", st.term, ")"));
  }
}

// §5.3 Leader Append-Only: while a node stays leader of one term, every entry it had is
// still there, unchanged.
void SafetyChecker::checkLeaderAppendOnly(NodeId id, const NodeState& st, const ReadLog& log,
                                          const NodeMirror& m) {
  if (log.last < m.last) {
    report(Cat("leader-append-only: node ", id, " leader of term ", st.term,
               " lost entries: last index went from ", m.last, " to ", log.last));
  }
  const Index hi = std::min(m.last, log.last);
  for (Index i = std::max(log.lo, m.stable + 1); i <= hi; i++) {
    if (log.At(i) == m.At(i)) continue;
    report(Cat("leader-append-only: node ", id, " leader of term ", st.term,
               " changed its entry at index ", i, " (term ", m.At(i).term, " -> ", log.At(i).term,
               log.At(i).term == m.At(i).term ? ", other data)" : ")"));
    return;
  }
}

// §5.4.2 (Figure 8): a leader advances its commit index only to an entry of its own term;
// older entries become committed only indirectly, beneath one of its own. Checked when the
// commit index moves while the node stays leader of one term.
void SafetyChecker::checkLeaderCommit(NodeId id, const NodeState& st, const ReadLog& log,
                                      const NodeMirror& m) {
  if (st.commit <= m.commit || !log.Has(st.commit)) return;
  const Term t = log.At(st.commit).term;
  if (t == st.term) return;
  report(Cat("leader-commit-rule: node ", id, " leader of term ", st.term,
             " advanced its commit index from ", m.commit, " to ", st.commit,
             " whose entry has term ", t, " (Figure 8)"));
}

// §5.3 Log Matching, by induction: the first node seen with an entry at (index, term)
// fixes its content and the term before it; every other log must agree.
void SafetyChecker::checkLogMatching(NodeId id, const ReadLog& log, const NodeMirror* m) {
  bool prev_changed = true;
  for (Index i = log.lo; i <= log.last; i++) {
    const EntryId& e = log.At(i);
    const bool changed = m == nullptr || !m->Has(i) || !(m->At(i) == e);
    const bool check = changed || (i > log.lo && prev_changed);
    prev_changed = changed;
    if (!check) continue;  // the same pair as last time: checked then
    const Term prev = log.TermBefore(i);
    auto [it, inserted] = state_->links.try_emplace(LinkKey{i, e.term}, Link{e.hash, prev, id});
    if (inserted) continue;
    Link& link = it->second;
    if (link.hash != e.hash) {
      report(Cat("log-matching: nodes ", link.from, " and ", id,
                 " hold different entries at index ", i, " term ", e.term));
    } else if (prev != 0 && link.prev_term != 0 && prev != link.prev_term) {
      report(Cat("log-matching: nodes ", link.from, " and ", id, " agree on index ", i, " term ",
                 e.term, " but differ at index ", i - 1, " (term ", link.prev_term, " vs ", prev,
                 ")"));
    } else if (link.prev_term == 0) {
      link.prev_term = prev;
    }
  }
}

// A committed entry the node held above its commit index (in the mirror's tail) is still
// there, unchanged. Entries below the log's first index were compacted (a node compacts
// only what it applied) or replaced by a snapshot, which a correct node restores only when
// its own entry at the snapshot's index differs, i.e. when it holds no committed entry
// after it (Log Matching). A crash may lose an unsynced tail: ObserveCrash forgets the
// mirror.
void SafetyChecker::checkCommittedKept(NodeId id, const ReadLog& log, const NodeMirror& m) {
  const std::vector<CommittedEntry>& committed = state_->committed;
  const Index hi = std::min<Index>(m.last, committed.size());
  for (Index i = std::max(log.lo, m.stable + 1); i <= hi; i++) {
    const CommittedEntry& c = committed[i - 1];
    if (!c.known || !(m.At(i) == c.id)) continue;
    if (log.Has(i) && log.At(i) == c.id) continue;
    report(Cat("committed-kept: node ", id, " lost committed entry index ", i, " term ", c.id.term,
               log.Has(i) ? " (replaced by one of term " + std::to_string(log.At(i).term) + ")"
                          : " (its log now ends at " + std::to_string(log.last) + ")",
               " without a crash"));
    return;
  }
}

// Learns the entries that `commit` newly covers; two nodes committing different entries
// at one index would break State Machine Safety (§5.4.3).
void SafetyChecker::learnCommitted(NodeId id, Term node_term, Index commit, const ReadLog& log) {
  std::vector<CommittedEntry>& committed = state_->committed;
  if (commit > committed.size()) committed.resize(commit);
  const Index hi = std::min(commit, log.last);
  for (Index i = log.lo; i <= hi; i++) {
    CommittedEntry& c = committed[i - 1];
    const EntryId& e = log.At(i);
    if (!c.known) {
      c = CommittedEntry{true, e, std::max(node_term, e.term), id};
    } else if (!(c.id == e)) {
      report(Cat("state-machine-safety: nodes ", c.from, " and ", id,
                 " committed different entries at index ", i, " (term ", c.id.term, " vs ", e.term,
                 ")"));
    }
  }
}

// §5.2 Election Safety and §5.4 Leader Completeness, when a node is seen as leader.
void SafetyChecker::checkLeader(NodeId id, const NodeState& st, const ReadLog& log, NodeMirror& m) {
  if (st.role != Role::kLeader) {
    m.leader_term = 0;
    return;
  }
  auto [it, inserted] = state_->leaders.try_emplace(st.term, id);
  if (!inserted && it->second != id) {
    report(Cat("election-safety: nodes ", it->second, " and ", id, " were both leader of term ",
               st.term));
  }
  if (m.leader_term == st.term) return;  // checked when it became leader
  m.leader_term = st.term;
  // Entries below log.lo were compared with the committed log already (they are at or
  // below this node's commit index); the rest are in `log`. An entry committed in a term
  // >= st.term (possible for a stale leader elected late) need not be present.
  const std::vector<CommittedEntry>& committed = state_->committed;
  for (Index i = log.lo; i <= committed.size(); i++) {
    const CommittedEntry& c = committed[i - 1];
    if (!c.known || c.commit_term >= st.term) continue;
    if (i > log.last) {
      report(Cat("leader-completeness: node ", id, " became leader of term ", st.term,
                 " without committed entry index ", i, " term ", c.id.term, " (its log ends at ",
                 log.last, ")"));
      return;
    }
    if (!(log.At(i) == c.id)) {
      report(Cat("leader-completeness: node ", id, " became leader of term ", st.term,
                 " with index ", i, " term ", log.At(i).term, " but the committed entry there",
                 " has term ", c.id.term, c.id.term == log.At(i).term ? " and other data" : ""));
      return;
    }
  }
}

// §5.4.3 State Machine Safety: every applied entry is committed, and no two nodes apply
// different entries at one index.
void SafetyChecker::ObserveApply(NodeId id, const Entry& entry) {
  const Index i = entry.index;
  if (i == 0) {
    report(Cat("state-machine-safety: node ", id, " applied an entry with index 0"));
    return;
  }
  const EntryId e{entry.term, HashEntry(entry)};
  const std::vector<CommittedEntry>& committed = state_->committed;
  if (i > committed.size()) {
    report(Cat("state-machine-safety: node ", id, " applied index ", i, " term ", entry.term,
               " before any node committed it (highest commit index seen: ", committed.size(),
               ")"));
  } else if (committed[i - 1].known && !(committed[i - 1].id == e)) {
    report(Cat("state-machine-safety: node ", id, " applied index ", i, " term ", entry.term,
               " but node ", committed[i - 1].from, " committed term ", committed[i - 1].id.term,
               " there"));
  }
  std::vector<AppliedEntry>& applied = state_->applied;
  if (applied.size() < i) applied.resize(i);
  AppliedEntry& a = applied[i - 1];
  if (!a.known) {
    a = AppliedEntry{true, e, id};
  } else if (!(a.id == e)) {
    report(Cat("state-machine-safety: nodes ", a.from, " and ", id,
               " applied different entries at index ", i, " (term ", a.id.term, " vs ", entry.term,
               ")"));
  }
}

void SafetyChecker::ObserveSnapshotApply(NodeId id, Index index, Term term) {
  if (index == 0) return;
  const std::vector<CommittedEntry>& committed = state_->committed;
  if (index > committed.size()) {
    report(Cat("state-machine-safety: node ", id, " applied a snapshot up to index ", index,
               " term ", term, " before any node committed that index (highest commit seen: ",
               committed.size(), ")"));
  } else if (committed[index - 1].known && committed[index - 1].id.term != term) {
    report(Cat("state-machine-safety: node ", id, " applied a snapshot up to index ", index,
               " term ", term, " but node ", committed[index - 1].from, " committed term ",
               committed[index - 1].id.term, " there"));
  }
  const std::vector<AppliedEntry>& applied = state_->applied;
  if (index <= applied.size() && applied[index - 1].known && applied[index - 1].id.term != term) {
    report(Cat("state-machine-safety: node ", id, " applied a snapshot up to index ", index,
               " term ", term, " but node ", applied[index - 1].from, " applied term ",
               applied[index - 1].id.term, " there"));
  }
}

void SafetyChecker::ObserveCrash(NodeId id) {
  state_->nodes.erase(id);
}

void SafetyChecker::FullCheck(const std::map<NodeId, const NodeView*>& live_nodes) {
  for (const auto& [id, view] : live_nodes) {
    const NodeState st = view->State();
    ReadLog log;
    if (!readLog(*view, 1, nullptr, &log).ok()) continue;
    checkLogMatching(id, log, nullptr);
    learnCommitted(id, st.term, st.commit, log);
    if (st.role == Role::kLeader) {
      NodeMirror fresh;  // re-check Leader Completeness over the whole log
      checkLeader(id, st, log, fresh);
    }
  }
}

}  // namespace raftkv::check
