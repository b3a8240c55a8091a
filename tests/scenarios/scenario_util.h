// Small helpers shared by the scenario tests: cluster options for the classic paper setting,
// short accessors for a node's term/role/commit, a message recorder that can also drop
// traffic, and the closing "no safety violation" check. Scenarios stay readable as stories;
// the plumbing lives here.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/types.h"
#include "sim/cluster.h"
#include "sim/command.h"
#include "tests/scenarios/replay_recording.h"

namespace raftkv::scenario {

using raft::Index;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Role;
using raft::Term;
using sim::Cluster;
using sim::ClusterOptions;
using sim::kMillisecond;
using sim::kSecond;
using sim::Time;

// Every story runs with a fixed seed; RAFTKV_SCENARIO_SEED=<n> shifts all seeds by n to
// check that a story does not depend on one lucky schedule.
inline uint64_t SeedShift() {
  const char* s = std::getenv("RAFTKV_SCENARIO_SEED");
  return s == nullptr ? 0 : std::strtoull(s, nullptr, 10);
}

// Defaults of the simulator (pre-vote and check-quorum on) with `nodes` servers.
inline ClusterOptions Options(int nodes, uint64_t seed = 1) {
  ClusterOptions o;
  o.nodes = nodes;
  o.seed = seed + SeedShift();
  o.recent_events = 2000;              // enough history for a failure message
  o.observer = NewScenarioRecorder();  // RAFTKV_SCENARIO_HTML: a replay page per cluster
  return o;
}

// The Raft of the paper (§5): no pre-vote, no check-quorum. Used where a scenario needs a
// follower to raise its term or a stale leader to keep believing it leads.
inline ClusterOptions PaperOptions(int nodes, uint64_t seed = 1) {
  ClusterOptions o = Options(nodes, seed);
  o.pre_vote = false;
  o.check_quorum = false;
  return o;
}

// The base election timeout in virtual time; the actual one is in [1x, 2x) of it.
inline Time ElectionTimeout(const ClusterOptions& o) {
  return o.election_tick * o.tick_interval;
}

inline Term TermOf(const Cluster& c, NodeId id) {
  return c.Status(id).hard_state.term;
}
inline NodeId VoteOf(const Cluster& c, NodeId id) {
  return c.Status(id).hard_state.vote;
}
inline Index CommitOf(const Cluster& c, NodeId id) {
  return c.Status(id).hard_state.commit;
}
inline Role RoleOf(const Cluster& c, NodeId id) {
  return c.Status(id).soft_state.role;
}
inline bool IsLeader(const Cluster& c, NodeId id) {
  return c.IsUp(id) && RoleOf(c, id) == Role::kLeader;
}

// Term of entry `i` in live node `id`'s log; 0 if it has no such entry.
inline Term LogTermAt(const Cluster& c, NodeId id, Index i) {
  const raft::RawNode* n = c.Node(id);
  if (n == nullptr || i == 0 || i > n->LastIndex() || i < n->FirstIndex()) return 0;
  auto t = n->TermAt(i);
  return t.ok() ? t.value() : 0;
}

// Every node but `id` (and but those in `also_not`).
inline std::vector<NodeId> Others(const Cluster& c, NodeId id,
                                  const std::vector<NodeId>& also_not = {}) {
  std::vector<NodeId> out;
  for (NodeId n : c.NodeIds()) {
    if (n == id) continue;
    bool skip = false;
    for (NodeId x : also_not) skip = skip || x == n;
    if (!skip) out.push_back(n);
  }
  return out;
}

inline bool IsResponse(MessageType t) {
  return t == MessageType::kAppendResponse || t == MessageType::kHeartbeatResponse ||
         t == MessageType::kVoteResponse || t == MessageType::kPreVoteResponse ||
         t == MessageType::kReadIndexResponse;
}

inline bool IsVoteGrant(const Message& m) {
  return m.type == MessageType::kVoteResponse && !m.reject;
}
// AppendEntries in either form: with entries, or an empty heartbeat.
inline bool IsLeaderToFollower(const Message& m) {
  return m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat;
}

// Runs until every live node is at `term`.
inline bool WaitAllAtTerm(Cluster& c, Term term, Time timeout = kSecond) {
  return c.RunUntil(
      [&] {
        for (NodeId id : c.NodeIds()) {
          if (c.IsUp(id) && TermOf(c, id) != term) return false;
        }
        return true;
      },
      timeout);
}

// A message as the network accepted it, with the virtual time it was sent.
struct Sent {
  Time at = 0;
  Message msg;
};

// Watches every message the cluster sends, keeps them, and drops those matching the
// current drop rule. Install once per scenario; change the rule as the story unfolds.
class MessageRecorder {
 public:
  explicit MessageRecorder(Cluster& cluster) : cluster_(cluster) {
    cluster_.SetMessageHook([this](const Message& m) {
      sent_.push_back({cluster_.Now(), m});
      if (drop_ && drop_(m)) {
        ++dropped_;
        return false;
      }
      return true;
    });
  }
  ~MessageRecorder() { cluster_.SetMessageHook(nullptr); }
  MessageRecorder(const MessageRecorder&) = delete;
  MessageRecorder& operator=(const MessageRecorder&) = delete;

  // Messages for which `rule` returns true are lost from now on (nullptr: none).
  void Drop(std::function<bool(const Message&)> rule) { drop_ = std::move(rule); }
  void DropNothing() { drop_ = nullptr; }

  const std::vector<Sent>& sent() const { return sent_; }
  size_t dropped() const { return dropped_; }
  // Position to pass to the queries below to look only at what is sent after now.
  size_t Mark() const { return sent_.size(); }

  size_t Count(const std::function<bool(const Message&)>& pred, size_t since = 0) const {
    size_t n = 0;
    for (size_t i = since; i < sent_.size(); ++i) n += pred(sent_[i].msg) ? 1 : 0;
    return n;
  }
  // Position just after the first message matching `pred` (Mark() if none): what is sent
  // from there on was sent after it.
  size_t After(const std::function<bool(const Message&)>& pred, size_t since = 0) const {
    for (size_t i = since; i < sent_.size(); ++i) {
      if (pred(sent_[i].msg)) return i + 1;
    }
    return sent_.size();
  }
  bool Any(const std::function<bool(const Message&)>& pred, size_t since = 0) const {
    return Count(pred, since) > 0;
  }
  std::vector<Sent> Filter(const std::function<bool(const Message&)>& pred,
                           size_t since = 0) const {
    std::vector<Sent> out;
    for (size_t i = since; i < sent_.size(); ++i) {
      if (pred(sent_[i].msg)) out.push_back(sent_[i]);
    }
    return out;
  }

 private:
  Cluster& cluster_;
  std::vector<Sent> sent_;
  std::function<bool(const Message&)> drop_;
  size_t dropped_ = 0;
};

// Granted votes (not pre-votes) seen so far: voter -> term -> candidates it granted.
// Election Safety rests on each voter granting at most one candidate per term (§5.2).
inline std::map<NodeId, std::map<Term, std::set<NodeId>>> GrantedVotes(const MessageRecorder& rec) {
  std::map<NodeId, std::map<Term, std::set<NodeId>>> out;
  for (const Sent& s : rec.sent()) {
    const Message& m = s.msg;
    if (m.type == MessageType::kVoteResponse && !m.reject) out[m.from][m.term].insert(m.to);
  }
  return out;
}

// Runs for `duration`, calling `observe` after every event (the simulator checks the
// predicate of RunUntil after each event; this one never holds).
inline void RunObserving(Cluster& c, Time duration, const std::function<void()>& observe) {
  c.RunUntil(
      [&] {
        observe();
        return false;
      },
      duration);
}

// Leaders seen per term, sampled after every event.
class LeaderLog {
 public:
  void Sample(const Cluster& c) {
    for (NodeId id : c.NodeIds()) {
      if (IsLeader(c, id)) leaders_[TermOf(c, id)].insert(id);
    }
  }
  const std::map<Term, std::set<NodeId>>& leaders() const { return leaders_; }

 private:
  std::map<Term, std::set<NodeId>> leaders_;
};

inline std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += "  " + l + "\n";
  return out;
}

// The cluster's last events, for failure messages: `ASSERT_TRUE(...) << Trace(c)`.
inline std::string Trace(const Cluster& c, size_t n = 2000) {
  return "recent events:\n" + Join(c.RecentEvents(n));
}

// Every scenario ends here: the invariant checker saw no safety violation.
inline void ExpectNoViolations(const Cluster& c) {
  EXPECT_TRUE(c.Violations().empty()) << "safety violations:\n"
                                      << Join(c.Violations()) << "recent events:\n"
                                      << Join(c.RecentEvents(40));
}

// Runs until every live node has applied `key` = `value`.
inline bool WaitAllApplied(Cluster& c, const std::string& key, const std::string& value,
                           Time timeout = 2 * kSecond) {
  return c.RunUntil(
      [&] {
        for (NodeId id : c.NodeIds()) {
          if (c.IsUp(id) && c.AppliedValue(id, key) != std::optional<std::string>(value)) {
            return false;
          }
        }
        return true;
      },
      timeout);
}

// Runs until one of `nodes` is a leader; returns it, or kNoNode after `timeout`. Unlike
// Cluster::WaitForLeader it ignores a stale leader cut off elsewhere.
inline NodeId WaitForLeaderAmong(Cluster& c, const std::vector<NodeId>& nodes,
                                 Time timeout = 5 * kSecond) {
  NodeId found = raft::kNoNode;
  c.RunUntil(
      [&] {
        for (NodeId id : nodes) {
          if (IsLeader(c, id)) found = id;
        }
        return found != raft::kNoNode;
      },
      timeout);
  return found;
}

// Waits for a leader whose whole log (its no-op included) is committed and applied on
// every live node: the quiet starting point of most stories. Returns kNoNode on timeout.
inline NodeId StableLeader(Cluster& c, Time timeout = 10 * kSecond) {
  const Time deadline = c.Now() + timeout;
  NodeId leader = c.WaitForLeader(timeout);
  if (leader == raft::kNoNode) return leader;
  const bool settled = c.RunUntil(
      [&] {
        if (!IsLeader(c, leader)) return false;
        const Index last = c.Status(leader).last_index;
        for (NodeId id : c.NodeIds()) {
          if (!c.IsUp(id)) continue;
          raft::NodeStatus s = c.Status(id);
          if (s.last_index != last || s.hard_state.commit != last || s.applied != last ||
              s.soft_state.lead != leader) {
            return false;
          }
        }
        return true;
      },
      deadline - c.Now());
  return settled ? leader : raft::kNoNode;
}

// The quiet start of most stories (StableLeader, then every node at the leader's term),
// with the other nodes in id order to cast in the story's roles:
//   const auto [old, t, others] = SettleLeader(c);
//   ASSERT_NE(old, kNoNode) << Trace(c);
struct Settled {
  NodeId leader = raft::kNoNode;  // kNoNode if no leader settled in time
  Term term = 0;
  std::vector<NodeId> others;
};
inline Settled SettleLeader(Cluster& c, Time timeout = 10 * kSecond) {
  Settled s;
  s.leader = StableLeader(c, timeout);
  if (s.leader == raft::kNoNode) return s;
  s.term = TermOf(c, s.leader);
  if (!WaitAllAtTerm(c, s.term)) return Settled{};
  s.others = Others(c, s.leader);
  return s;
}

// A linearizable read through whichever node leads, retried until it succeeds.
inline sim::ClientReply GetViaLeader(Cluster& c, const std::string& key,
                                     Time timeout = 5 * kSecond) {
  const Time deadline = c.Now() + timeout;
  sim::ClientReply r;
  while (c.Now() < deadline) {
    NodeId l = c.WaitForLeader(deadline - c.Now());
    if (l == raft::kNoNode) break;
    r = c.Get(l, key, 500 * kMillisecond);
    if (r.ok()) return r;
  }
  return r;
}

// A session write of the scenario's own client (the Put/Cas helpers use client 0); a retry
// submits the same command again (same client and sequence number).
inline sim::Command PutCommand(uint64_t client, uint64_t seq, const std::string& key,
                               const std::string& value) {
  return sim::Command{check::OpKind::kPut, client, seq, key, value, ""};
}
inline sim::Command CasCommand(uint64_t client, uint64_t seq, const std::string& key,
                               const std::string& expected, const std::string& value) {
  return sim::Command{check::OpKind::kCas, client, seq, key, value, expected};
}

// The answer to an asynchronous client request, once it comes.
struct PendingReply {
  bool answered = false;
  sim::ClientReply reply;
  Time at = 0;
};

// Submits `cmd` through `via` without waiting; the returned record fills in when answered.
inline std::shared_ptr<PendingReply> SubmitWrite(Cluster& c, NodeId via, const sim::Command& cmd) {
  auto p = std::make_shared<PendingReply>();
  Cluster* cp = &c;
  c.SubmitWrite(via, cmd, [p, cp](const sim::ClientReply& r) {
    if (p->answered) return;
    p->answered = true;
    p->reply = r;
    p->at = cp->Now();
  });
  return p;
}

}  // namespace raftkv::scenario
