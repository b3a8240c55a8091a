// The safety checker on hand-made logs: for each property, a sequence of observations that
// breaks it (must be reported) and a legal one that looks similar (must not be).
#include "sim/check/invariants.h"

#include <gtest/gtest.h>

namespace raftkv::check {
namespace {

using raft::Entry;
using raft::Index;
using raft::Role;
using raft::Term;

// A node as the checker sees it: a log (with an optional compacted prefix) and a state.
class FakeNode : public NodeView {
 public:
  NodeState st;
  Index first = 1;         // entries below `first` are compacted
  std::vector<Entry> log;  // log[i] has index i + 1

  NodeState State() const override { return st; }
  Index FirstIndex() const override { return first; }
  Index LastIndex() const override { return log.size(); }
  Result<Term> TermAt(Index i) const override {
    if (i + 1 < first) return Status::Compacted("compacted");
    if (i == 0) return Term{0};
    if (i > log.size()) return Status::Unavailable("beyond last");
    return log[i - 1].term;
  }
  Result<std::vector<Entry>> Entries(Index lo, Index hi) const override {
    if (lo < first) return Status::Compacted("compacted");
    if (hi > log.size() + 1 || lo > hi) return Status::Unavailable("out of range");
    return std::vector<Entry>(log.begin() + (lo - 1), log.begin() + (hi - 1));
  }

  void Append(Term term, std::string data = "") {
    log.push_back(Entry{term, log.size() + 1, raft::EntryType::kNormal, std::move(data)});
  }
  // Drops entries from `index` on (a follower replacing a conflicting suffix, §5.3).
  void TruncateFrom(Index index) { log.resize(index - 1); }
  void Set(Term term, Index commit, Role role = Role::kFollower) {
    st.term = term;
    st.commit = commit;
    st.role = role;
  }
  const Entry& At(Index i) const { return log[i - 1]; }
};

bool HasViolation(const SafetyChecker& c, const std::string& property) {
  for (const std::string& v : c.violations()) {
    if (v.rfind(property + ":", 0) == 0) return true;
  }
  return false;
}

std::string All(const SafetyChecker& c) {
  std::string s;
  for (const std::string& v : c.violations()) s += v + "\n";
  return s;
}

// Three nodes; node 1 leads term 1 and replicates entries 1..3 to everyone, commits them.
struct Cluster3 {
  SafetyChecker checker;
  FakeNode n[4];  // n[1..3]

  Cluster3() {
    for (int id = 1; id <= 3; id++) {
      for (int i = 1; i <= 3; i++) n[id].Append(1, "e" + std::to_string(i));
      n[id].Set(1, 3, id == 1 ? Role::kLeader : Role::kFollower);
    }
    ObserveAll();
  }
  void Observe(int id) { checker.Observe(id, n[id]); }
  void ObserveAll() {
    for (int id = 1; id <= 3; id++) Observe(id);
  }
};

TEST(SafetyChecker, Observe_legalHistoryWithLeaderChangeAndConflict) {
  Cluster3 c;
  // Node 1 appends 4 (term 1) locally, only node 3 gets it; then node 2 wins term 2
  // without it, and overwrites node 3's uncommitted index 4 (§5.3: legal).
  c.n[1].Append(1, "lost");
  c.n[3].Append(1, "lost");
  c.ObserveAll();
  c.n[1].Set(2, 3);
  c.n[2].Set(2, 3, Role::kLeader);
  c.n[2].Append(2, "noop");
  c.ObserveAll();
  c.n[3].TruncateFrom(4);
  c.n[3].Append(2, "noop");
  c.n[3].Set(2, 3);
  c.Observe(3);
  c.n[2].Set(2, 4, Role::kLeader);
  c.n[3].Set(2, 4);
  c.ObserveAll();
  for (int id = 1; id <= 3; id++) {
    for (Index i = 1; i <= 3; i++) c.checker.ObserveApply(id, c.n[id].At(i));
  }
  c.checker.ObserveApply(2, c.n[2].At(4));
  c.checker.ObserveApply(3, c.n[3].At(4));
  std::map<raft::NodeId, const NodeView*> live{{1, &c.n[1]}, {2, &c.n[2]}, {3, &c.n[3]}};
  c.checker.FullCheck(live);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

// ---- committed-kept ----

TEST(SafetyChecker, CommittedKept_followerTruncatingACommittedEntryReported) {
  Cluster3 c;
  // Entries 4 and 5 reach nodes 1 and 2; the leader commits them; node 2 has not heard the
  // new commit index yet (its commit is 3), then drops 5 (a stale duplicate append ending
  // at 4 truncated its log).
  for (int id : {1, 2}) {
    c.n[id].Append(1, "e4");
    c.n[id].Append(1, "e5");
  }
  c.ObserveAll();
  c.n[1].Set(1, 5, Role::kLeader);
  c.Observe(1);
  ASSERT_TRUE(c.checker.ok()) << All(c.checker);
  c.n[2].TruncateFrom(5);
  c.Observe(2);
  ASSERT_TRUE(HasViolation(c.checker, "committed-kept")) << All(c.checker);
  EXPECT_EQ(c.checker.violations()[0],
            "committed-kept: node 2 lost committed entry index 5 term 1 (its log now ends at 4) "
            "without a crash");
}

TEST(SafetyChecker, CommittedKept_uncommittedTruncationCompactionAndCrashAccepted) {
  Cluster3 c;
  c.n[2].Append(1, "e4");  // never committed
  c.Observe(2);
  c.n[2].TruncateFrom(4);  // a new leader's conflicting append replaces it: legal
  c.Observe(2);
  for (int id : {1, 3}) {
    c.n[id].Append(1, "e4");
    c.n[id].Append(1, "e5");
  }
  c.ObserveAll();
  c.n[1].Set(1, 5, Role::kLeader);
  c.Observe(1);
  c.n[3].first = 4;  // node 3 compacts through 3 (applied): not a loss
  c.Observe(3);
  c.checker.ObserveCrash(3);  // a crash may lose the unsynced tail
  c.n[3].TruncateFrom(5);
  c.n[3].Set(1, 3);
  c.Observe(3);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

// ---- Election Safety ----

TEST(SafetyChecker, ElectionSafety_twoLeadersInOneTermReported) {
  Cluster3 c;
  c.n[2].Set(1, 3, Role::kLeader);  // node 1 is still leader of term 1
  c.Observe(2);
  ASSERT_TRUE(HasViolation(c.checker, "election-safety")) << All(c.checker);
  EXPECT_EQ(c.checker.violations()[0], "election-safety: nodes 1 and 2 were both leader of term 1");
}

TEST(SafetyChecker, ElectionSafety_leadersOfDifferentTermsAccepted) {
  Cluster3 c;
  c.n[2].Set(2, 3, Role::kLeader);  // node 1 has not heard yet: still thinks it leads term 1
  c.ObserveAll();
  c.n[1].Set(2, 3);
  c.Observe(1);
  c.n[1].Set(3, 3, Role::kLeader);
  c.Observe(1);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

// ---- Leader Append-Only ----

TEST(SafetyChecker, LeaderAppendOnly_leaderOverwritingItsEntryReported) {
  Cluster3 c;
  c.n[1].Append(1, "a");
  c.n[1].Append(1, "b");
  c.Observe(1);
  c.n[1].TruncateFrom(5);
  c.n[1].Append(1, "other");  // same term, same index, different command
  c.Observe(1);
  ASSERT_TRUE(HasViolation(c.checker, "leader-append-only")) << All(c.checker);
  EXPECT_NE(c.checker.violations()[0].find("index 5"), std::string::npos);
}

TEST(SafetyChecker, LeaderAppendOnly_leaderDroppingEntriesReported) {
  Cluster3 c;
  c.n[1].Append(1, "a");
  c.Observe(1);
  c.n[1].TruncateFrom(4);
  c.Observe(1);
  EXPECT_TRUE(HasViolation(c.checker, "leader-append-only")) << All(c.checker);
}

TEST(SafetyChecker, LeaderAppendOnly_formerLeaderLosingUncommittedTailAccepted) {
  Cluster3 c;
  c.n[1].Append(1, "a");
  c.Observe(1);
  c.n[1].Set(2, 3);  // deposed, then its tail is replaced by the new leader's entries
  c.Observe(1);
  c.n[2].Set(2, 3, Role::kLeader);
  c.n[2].Append(2, "noop");
  c.Observe(2);
  c.n[1].TruncateFrom(4);
  c.n[1].Append(2, "noop");
  c.Observe(1);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

// ---- the commit rule of §5.4.2 (Figure 8) ----

TEST(SafetyChecker, LeaderCommitRule_committingOldTermEntryByCountingReported) {
  Cluster3 c;
  c.n[1].Append(1, "old");  // index 4, term 1, not committed
  c.Observe(1);
  c.n[2].Set(2, 3, Role::kLeader);  // node 2 leads term 2 with the old entry in its log
  c.n[2].Append(1, "old");
  c.n[2].Append(2, "noop");  // index 5
  c.Observe(2);
  c.n[2].Set(2, 4, Role::kLeader);  // commits index 4 (term 1) by counting replicas
  c.Observe(2);
  ASSERT_TRUE(HasViolation(c.checker, "leader-commit-rule")) << All(c.checker);
  EXPECT_EQ(c.checker.violations()[0],
            "leader-commit-rule: node 2 leader of term 2 advanced its commit index from 3 to 4 "
            "whose entry has term 1 (Figure 8)");
}

TEST(SafetyChecker, LeaderCommitRule_oldEntryCommittedBeneathOwnEntryAccepted) {
  Cluster3 c;
  c.n[2].Set(2, 3, Role::kLeader);
  c.n[2].Append(1, "old");
  c.n[2].Append(2, "noop");
  c.Observe(2);
  c.n[2].Set(2, 5, Role::kLeader);  // index 4 becomes committed beneath index 5 (term 2)
  c.Observe(2);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

// ---- Log Matching ----

TEST(SafetyChecker, LogMatching_sameIndexAndTermDifferentDataReported) {
  Cluster3 c;
  c.n[1].Append(1, "x");
  c.n[2].Append(1, "y");
  c.ObserveAll();
  ASSERT_TRUE(HasViolation(c.checker, "log-matching")) << All(c.checker);
  EXPECT_EQ(c.checker.violations()[0],
            "log-matching: nodes 1 and 2 hold different entries at index 4 term 1");
}

TEST(SafetyChecker, LogMatching_sameEntryAfterDifferentPrefixReported) {
  Cluster3 c;
  c.n[1].Set(3, 3);
  c.n[1].Append(2, "p");  // index 4 term 2
  c.n[1].Append(3, "q");  // index 5 term 3
  c.n[2].Set(3, 3);
  c.n[2].Append(1, "r");  // index 4 term 1: a different prefix ...
  c.n[2].Append(3, "q");  // ... under the same (5, 3)
  c.ObserveAll();
  ASSERT_TRUE(HasViolation(c.checker, "log-matching")) << All(c.checker);
  EXPECT_NE(c.checker.violations()[0].find("differ at index 4"), std::string::npos)
      << All(c.checker);
}

TEST(SafetyChecker, LogMatching_differentTermsAtOneIndexAccepted) {
  Cluster3 c;
  c.n[1].Append(1, "x");
  c.n[2].Set(2, 3);
  c.n[2].Append(2, "y");
  c.ObserveAll();
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

// ---- Leader Completeness ----

TEST(SafetyChecker, LeaderCompleteness_leaderMissingCommittedEntryReported) {
  Cluster3 c;
  c.n[1].Append(1, "committed");
  c.n[2].Append(1, "committed");
  c.n[1].Set(1, 4, Role::kLeader);
  c.ObserveAll();                   // index 4 is now committed (node 1's commit index covers it)
  c.n[3].Set(2, 3, Role::kLeader);  // node 3 lacks index 4 but becomes leader of term 2
  c.Observe(3);
  ASSERT_TRUE(HasViolation(c.checker, "leader-completeness")) << All(c.checker);
  EXPECT_NE(c.checker.violations()[0].find("index 4 term 1"), std::string::npos) << All(c.checker);
}

TEST(SafetyChecker, LeaderCompleteness_leaderWithDifferentCommittedEntryReported) {
  Cluster3 c;
  c.n[1].Append(1, "committed");
  c.n[1].Set(1, 4, Role::kLeader);
  c.ObserveAll();
  c.n[3].Append(1, "other");  // same index and term, other data (also a Log Matching break)
  c.n[3].Set(2, 3, Role::kLeader);
  c.Observe(3);
  EXPECT_TRUE(HasViolation(c.checker, "leader-completeness")) << All(c.checker);
}

TEST(SafetyChecker, LeaderCompleteness_newLeaderWithAllCommittedEntriesAccepted) {
  Cluster3 c;
  c.n[1].Append(1, "committed");
  c.n[2].Append(1, "committed");
  c.n[1].Set(1, 4, Role::kLeader);
  c.ObserveAll();
  c.n[1].Set(2, 4);
  c.Observe(1);
  c.n[2].Set(2, 3, Role::kLeader);  // has index 4, though its commit index is behind
  c.Observe(2);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

TEST(SafetyChecker, LeaderCompleteness_staleLeaderOfOlderTermAccepted) {
  // Entries committed in term 3 need not be in the log of a leader of term 2 (one elected
  // late, whose votes were delayed): completeness is owed only to later terms.
  Cluster3 c;
  c.n[2].Set(3, 3, Role::kLeader);
  c.n[2].Append(3, "t3");
  c.n[1].Set(3, 3);
  c.n[1].Append(3, "t3");
  c.ObserveAll();
  c.n[2].Set(3, 4, Role::kLeader);
  c.Observe(2);
  c.n[3].Set(2, 3, Role::kLeader);
  c.Observe(3);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

// ---- State Machine Safety ----

TEST(SafetyChecker, StateMachineSafety_differentEntriesAppliedAtOneIndexReported) {
  SafetyChecker checker;
  FakeNode a;
  a.Append(1, "x");
  a.Set(1, 1);
  checker.Observe(1, a);
  checker.ObserveApply(1, a.At(1));
  checker.ObserveApply(2, Entry{1, 1, raft::EntryType::kNormal, "y"});
  EXPECT_TRUE(HasViolation(checker, "state-machine-safety")) << All(checker);
  EXPECT_EQ(checker.violations().size(), 2u) << All(checker);  // differs from committed too
}

TEST(SafetyChecker, StateMachineSafety_applyingUncommittedEntryReported) {
  SafetyChecker checker;
  FakeNode a;
  a.Append(1, "x");
  a.Append(1, "y");
  a.Set(1, 1, Role::kLeader);
  checker.Observe(1, a);
  checker.ObserveApply(1, a.At(1));
  EXPECT_TRUE(checker.ok()) << All(checker);
  checker.ObserveApply(1, a.At(2));
  ASSERT_TRUE(HasViolation(checker, "state-machine-safety")) << All(checker);
  EXPECT_NE(checker.violations()[0].find("before any node committed it"), std::string::npos);
}

TEST(SafetyChecker, StateMachineSafety_sameEntriesAppliedEverywhereAccepted) {
  Cluster3 c;
  for (int id = 1; id <= 3; id++) {
    for (Index i = 1; i <= 3; i++) c.checker.ObserveApply(id, c.n[id].At(i));
  }
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

TEST(SafetyChecker, StateMachineSafety_committedEntriesDisagreeReported) {
  Cluster3 c;
  c.n[1].Append(1, "x");
  c.n[1].Set(1, 4, Role::kLeader);
  c.Observe(1);
  c.n[2].Set(2, 3);
  c.n[2].Append(2, "y");
  c.n[2].Set(2, 4);  // commits a different entry at 4
  c.Observe(2);
  EXPECT_TRUE(HasViolation(c.checker, "state-machine-safety")) << All(c.checker);
}

TEST(SafetyChecker, StateMachineSafety_snapshotOfWrongTermReported) {
  Cluster3 c;
  c.checker.ObserveSnapshotApply(2, 3, 1);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
  c.checker.ObserveSnapshotApply(2, 3, 2);
  EXPECT_TRUE(HasViolation(c.checker, "state-machine-safety")) << All(c.checker);
  c.checker.ObserveSnapshotApply(3, 9, 1);  // beyond anything committed
  EXPECT_EQ(c.checker.violations().size(), 2u) << All(c.checker);
}

// ---- monotonicity ----

TEST(SafetyChecker, Monotonic_termGoingDownReported) {
  Cluster3 c;
  c.n[2].Set(3, 3);
  c.Observe(2);
  c.n[2].Set(2, 3);
  c.Observe(2);
  EXPECT_TRUE(HasViolation(c.checker, "term-monotonic")) << All(c.checker);
}

TEST(SafetyChecker, Monotonic_commitGoingDownReported) {
  Cluster3 c;
  c.n[2].Set(1, 2);
  c.Observe(2);
  EXPECT_TRUE(HasViolation(c.checker, "commit-monotonic")) << All(c.checker);
}

TEST(SafetyChecker, Monotonic_lowerCommitAfterCrashAccepted) {
  Cluster3 c;
  c.checker.ObserveCrash(2);
  c.n[2].Set(1, 0);  // restarted: its commit index is learned again from the leader
  c.Observe(2);
  c.n[2].Set(1, 3);
  c.Observe(2);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

TEST(SafetyChecker, Monotonic_appliedBeyondCommitReported) {
  Cluster3 c;
  c.n[3].st.applied = 4;
  c.Observe(3);
  EXPECT_TRUE(HasViolation(c.checker, "applied-beyond-commit")) << All(c.checker);
}

// ---- compaction (issue 3) ----

TEST(SafetyChecker, Compaction_compactedPrefixIsNotAViolation) {
  Cluster3 c;
  for (int i = 0; i < 5; i++) {
    for (int id = 1; id <= 3; id++) c.n[id].Append(1, "more" + std::to_string(i));
  }
  c.n[1].Set(1, 8, Role::kLeader);
  c.Observe(1);
  c.n[2].first = 7;  // node 2 compacted 1..6 into a snapshot
  c.n[2].Set(1, 8);
  c.Observe(2);
  c.checker.ObserveCrash(3);
  c.n[3].first = 5;  // restarts from a snapshot: everything it reads starts at 5
  c.n[3].Set(1, 8);
  c.Observe(3);
  std::map<raft::NodeId, const NodeView*> live{{1, &c.n[1]}, {2, &c.n[2]}, {3, &c.n[3]}};
  c.checker.FullCheck(live);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
}

// ---- full re-check ----

TEST(SafetyChecker, FullCheck_findsCommittedEntryChangedBehindTheMirror) {
  Cluster3 c;
  // Index 2 is at or below node 3's commit index: incremental checks do not re-read it.
  c.n[3].log[1].data = "tampered";
  c.Observe(3);
  EXPECT_TRUE(c.checker.ok()) << All(c.checker);
  std::map<raft::NodeId, const NodeView*> live{{3, &c.n[3]}};
  c.checker.FullCheck(live);
  EXPECT_TRUE(HasViolation(c.checker, "state-machine-safety")) << All(c.checker);
  EXPECT_TRUE(HasViolation(c.checker, "log-matching")) << All(c.checker);
}

TEST(SafetyChecker, Violations_areOneLineAndReportedOnce) {
  Cluster3 c;
  c.n[2].Set(1, 3, Role::kLeader);
  for (int i = 0; i < 5; i++) c.Observe(2);
  ASSERT_EQ(c.checker.violations().size(), 1u) << All(c.checker);
  EXPECT_EQ(c.checker.violations()[0].find('\n'), std::string::npos);
}

}  // namespace
}  // namespace raftkv::check
