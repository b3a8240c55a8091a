// Test-only helpers: a seeded RandomSource and a tiny synchronous "network" of RawNodes
// over MemoryStorage that follows the Ready contract (persist, send, apply, Advance).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/conf_change.h"
#include "raft/memory_storage.h"
#include "raft/raw_node.h"

namespace raftkv::raft::testing {

class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t Uniform(uint64_t n) override {
    state_ += 0x9e3779b97f4a7c15ULL;  // splitmix64
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) % n;
  }

 private:
  uint64_t state_;
};

struct TestNode {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<SeededRandom> random;
  std::unique_ptr<RawNode> node;
  std::vector<Entry> applied;          // committed entries handed out, in order
  std::vector<ReadState> read_states;  // completed reads
  ConfState conf;
};

inline Config TestConfig(NodeId id, MemoryStorage* s, RandomSource* r) {
  Config c;
  c.id = id;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.storage = s;
  c.random = r;
  return c;
}

// A node restarted from a storage holding `terms[i]` at index i+1, hard state term `term`
// and voters `voters` (no bootstrap).
inline TestNode MakeNodeWithLog(NodeId id, std::vector<NodeId> voters, std::vector<Term> terms,
                                Term term, std::function<void(Config&)> tweak = {}) {
  TestNode tn;
  tn.storage = std::make_unique<MemoryStorage>();
  tn.random = std::make_unique<SeededRandom>(id * 7919);
  std::vector<Entry> ents;
  for (size_t i = 0; i < terms.size(); i++) {
    ents.push_back(Entry{terms[i], i + 1, EntryType::kNormal, ""});
  }
  EXPECT_TRUE(tn.storage->Append(ents).ok());
  tn.storage->SetHardState(HardState{term, kNoNode, 0});
  tn.conf.voters = voters;
  tn.storage->SetConfState(tn.conf);
  Config c = TestConfig(id, tn.storage.get(), tn.random.get());
  if (tweak) tweak(c);
  auto r = RawNode::Create(c, {});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  tn.node = std::move(*r);
  return tn;
}

class Network {
 public:
  using Tweak = std::function<void(Config&)>;

  explicit Network(int n, Tweak tweak = {}) : tweak_(tweak) {
    std::vector<NodeId> peers;
    for (int i = 1; i <= n; i++) peers.push_back(i);
    for (NodeId id : peers) {
      auto& tn = nodes_[id];
      tn.storage = std::make_unique<MemoryStorage>();
      tn.random = std::make_unique<SeededRandom>(id * 7919);
      Config c = TestConfig(id, tn.storage.get(), tn.random.get());
      if (tweak) tweak(c);
      auto r = RawNode::Create(c, peers);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      tn.node = std::move(*r);
    }
    Stabilize();
  }

  // A network of nodes built by the caller (e.g. with MakeNodeWithLog).
  explicit Network(std::map<NodeId, TestNode> nodes) : nodes_(std::move(nodes)) {}

  RawNode& node(NodeId id) { return *nodes_.at(id).node; }
  TestNode& test_node(NodeId id) { return nodes_.at(id); }
  std::vector<NodeId> ids() const {
    std::vector<NodeId> out;
    for (const auto& [id, tn] : nodes_) out.push_back(id);
    return out;
  }

  // Handles every pending Ready of every node, then delivers queued messages, until the
  // network is quiet. Returns the number of messages delivered.
  int Stabilize(int max_rounds = 10000) {
    int delivered = 0;
    for (int round = 0; round < max_rounds; round++) {
      bool any = false;
      for (auto& [id, tn] : nodes_) any |= HandleReady(id);
      if (queue_.empty() && !any) break;
      while (!queue_.empty()) {
        Message m = std::move(queue_.front());
        queue_.pop_front();
        if (!Deliverable(m)) continue;
        delivered++;
        sent_.push_back(m);
        (void)nodes_.at(m.to).node->Step(m);
      }
    }
    return delivered;
  }

  // Random-order delivery for randomized tests: handles Readies, then delivers (or drops,
  // with probability drop_pct%) up to `n` queued messages picked at random.
  void Shuffle(RandomSource& rnd, int n, int drop_pct) {
    for (auto& [id, tn] : nodes_) HandleReady(id);
    for (int i = 0; i < n && !queue_.empty(); i++) {
      size_t k = rnd.Uniform(queue_.size());
      Message m = std::move(queue_[k]);
      queue_.erase(queue_.begin() + k);
      if (!Deliverable(m) || static_cast<int>(rnd.Uniform(100)) < drop_pct) continue;
      sent_.push_back(m);
      (void)nodes_.at(m.to).node->Step(m);
      HandleReady(m.to);
    }
  }

  // Persists, sends, applies one Ready of `id`, as a runtime must.
  bool HandleReady(NodeId id) {
    TestNode& tn = nodes_.at(id);
    if (!tn.node->HasReady()) return false;
    Ready rd = tn.node->GetReady();
    for (auto& m : rd.leader_messages) queue_.push_back(m);
    if (rd.snapshot) {
      EXPECT_TRUE(tn.storage->ApplySnapshot(*rd.snapshot).ok());
    }
    if (!rd.entries.empty()) {
      EXPECT_TRUE(tn.storage->Append(rd.entries).ok());
    }
    if (rd.hard_state) tn.storage->SetHardState(*rd.hard_state);
    for (auto& m : rd.messages) queue_.push_back(m);
    for (const Entry& e : rd.committed_entries) {
      if (e.type == EntryType::kConfChange) {
        auto cc = DecodeConfChange(e.data);
        EXPECT_TRUE(cc.ok());
        // The storage keeps the snapshot's configuration; a restart replays the log's
        // changes (raw_node.h).
        if (cc.ok()) tn.conf = tn.node->ApplyConfChange(*cc);
      }
      tn.applied.push_back(e);
    }
    for (auto& rs : rd.read_states) tn.read_states.push_back(rs);
    tn.node->Advance();
    return true;
  }

  void TickAll(int n = 1) {
    for (int i = 0; i < n; i++) {
      for (auto& [id, tn] : nodes_) tn.node->Tick();
      Stabilize();
    }
  }

  // Elects `id` (a campaign, then message exchange until quiet).
  void Elect(NodeId id) {
    EXPECT_TRUE(node(id).Campaign().ok());
    Stabilize();
  }

  // Ticks everyone until some node wins an election by timing out; returns the leader.
  // (With lease reads a node refuses votes for an election timeout after it starts, so
  // an immediate Elect would fail.)
  NodeId ElectByTimeout(int max_ticks = 200) {
    for (int i = 0; i < max_ticks && Leader() == kNoNode; i++) TickAll();
    EXPECT_NE(Leader(), kNoNode) << "no leader after " << max_ticks << " ticks";
    return Leader();
  }

  // Crash and restart `id`: unpersisted state (none: MemoryStorage writes at once) and the
  // in-memory state machine are lost; the node recovers from its storage.
  void Restart(NodeId id, std::vector<NodeId> peers = {}) {
    TestNode& tn = nodes_.at(id);
    tn.node.reset();
    tn.applied.clear();
    tn.read_states.clear();
    Config c = TestConfig(id, tn.storage.get(), tn.random.get());
    if (tweak_) tweak_(c);
    auto r = RawNode::Create(c, peers);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    tn.node = std::move(*r);
  }

  // A new, empty node joining the cluster (learns the configuration from the leader).
  void AddNode(NodeId id) {
    TestNode& tn = nodes_[id];
    tn.storage = std::make_unique<MemoryStorage>();
    tn.random = std::make_unique<SeededRandom>(id * 7919);
    Config c = TestConfig(id, tn.storage.get(), tn.random.get());
    if (tweak_) tweak_(c);
    auto r = RawNode::Create(c, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    tn.node = std::move(*r);
  }

  void Isolate(NodeId id) { isolated_.insert(id); }
  void Cut(NodeId a, NodeId b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  void Heal() {
    isolated_.clear();
    cut_.clear();
  }
  // Optional filter: return false to drop a message.
  std::function<bool(const Message&)> filter;

  const std::vector<Message>& sent() const { return sent_; }
  void ClearSent() { sent_.clear(); }
  int CountSent(MessageType t) const {
    int n = 0;
    for (const auto& m : sent_) n += m.type == t;
    return n;
  }

  NodeId Leader() {
    for (auto& [id, tn] : nodes_) {
      if (tn.node->GetStatus().soft_state.role == Role::kLeader) return id;
    }
    return kNoNode;
  }

 private:
  bool Deliverable(const Message& m) const {
    if (!nodes_.count(m.to)) return false;
    if (isolated_.count(m.from) || isolated_.count(m.to)) return false;
    if (cut_.count({m.from, m.to})) return false;
    if (filter && !filter(m)) return false;
    return true;
  }

  Tweak tweak_;
  std::map<NodeId, TestNode> nodes_;
  std::deque<Message> queue_;
  std::vector<Message> sent_;
  std::set<NodeId> isolated_;
  std::set<std::pair<NodeId, NodeId>> cut_;
};

}  // namespace raftkv::raft::testing
