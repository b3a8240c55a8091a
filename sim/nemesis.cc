#include "sim/nemesis.h"

#include <algorithm>
#include <sstream>

#include "storage/fault_fs.h"

namespace raftkv::sim {

FaultSet FaultSet::All() {
  FaultSet f;
  f.crash = f.partition = f.asym = f.drop = f.dup = f.reorder = f.delay = f.slow = f.disk = true;
  f.member = f.snapshot = f.transfer = true;
  return f;
}

Result<FaultSet> FaultSet::Parse(const std::string& list) {
  FaultSet f;
  std::stringstream ss(list);
  std::string name;
  while (std::getline(ss, name, ',')) {
    if (name == "all")
      f = All();
    else if (name == "none")
      f = None();
    else if (name == "crash")
      f.crash = true;
    else if (name == "partition")
      f.partition = true;
    else if (name == "asym")
      f.asym = true;
    else if (name == "drop")
      f.drop = true;
    else if (name == "dup")
      f.dup = true;
    else if (name == "reorder")
      f.reorder = true;
    else if (name == "delay")
      f.delay = true;
    else if (name == "slow")
      f.slow = true;
    else if (name == "disk")
      f.disk = true;
    else if (name == "member")
      f.member = true;
    else if (name == "snapshot")
      f.snapshot = true;
    else if (name == "transfer")
      f.transfer = true;
    else if (name == "stale")
      f.stale = true;
    else if (name == "replay")
      f.replay = true;
    else
      return Status::InvalidArgument("unknown fault '" + name +
                                     "' (crash, partition, asym, drop, dup, reorder, "
                                     "delay, slow, disk, member, snapshot, transfer, stale, "
                                     "replay, all, none)");
  }
  return f;
}

std::string FaultSet::ToString() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ",";
    s += name;
  };
  add(crash, "crash");
  add(partition, "partition");
  add(asym, "asym");
  add(drop, "drop");
  add(dup, "dup");
  add(reorder, "reorder");
  add(delay, "delay");
  add(slow, "slow");
  add(disk, "disk");
  add(member, "member");
  add(snapshot, "snapshot");
  add(transfer, "transfer");
  add(stale, "stale");
  add(replay, "replay");
  return s.empty() ? "none" : s;
}

Nemesis::Nemesis(Cluster* cluster, const FaultSet& faults, double rate)
    : cluster_(cluster),
      rng_(&cluster->rng()),
      faults_set_(faults),
      rate_(rate > 0 ? rate : 1.0),
      base_network_(cluster->network_options()),
      ids_(cluster->NodeIds()) {
  for (NodeId id : ids_) {
    if (cluster->IsUp(id) && cluster->Status(id).conf.voters.empty()) never_members_.push_back(id);
  }
  if (faults_set_.replay) {
    // The network keeps old messages from the start, so replays reach back to early terms.
    base_network_.record = true;
    cluster_->SetNetwork(base_network_);
  }
}

void Nemesis::Start() {
  if (faults_set_.crash) watchVotes();
  if (faults_set_.Any()) scheduleNext();
}

void Nemesis::scheduleNext() {
  Time gap = static_cast<Time>(static_cast<double>(rng_->Range(20, 400) * kMillisecond) / rate_);
  cluster_->After(gap, [this]() {
    if (stopped_) return;
    act();
    scheduleNext();
  });
}

void Nemesis::act() {
  std::vector<void (Nemesis::*)()> actions;
  if (faults_set_.crash) actions.push_back(&Nemesis::crashSome);
  if (faults_set_.partition) actions.push_back(&Nemesis::partitionSome);
  if (faults_set_.asym) actions.push_back(&Nemesis::cutSomeLinks);
  if (faults_set_.drop || faults_set_.dup || faults_set_.reorder || faults_set_.delay ||
      faults_set_.stale) {
    actions.push_back(&Nemesis::changeWeather);
  }
  if (faults_set_.slow) actions.push_back(&Nemesis::slowSomeDisk);
  if (faults_set_.disk) actions.push_back(&Nemesis::failSomeDisk);
  if (faults_set_.member) actions.push_back(&Nemesis::changeMembership);
  if (faults_set_.transfer) actions.push_back(&Nemesis::transferLeadership);
  if (faults_set_.replay) actions.push_back(&Nemesis::replayOldMessages);
  ++faults_;
  (this->*actions[rng_->Uniform(actions.size())])();
}

std::vector<NodeId> Nemesis::upNodes() const {
  std::vector<NodeId> up;
  for (NodeId id : ids_) {
    if (cluster_->IsUp(id)) up.push_back(id);
  }
  return up;
}

std::vector<NodeId> Nemesis::shuffled(std::vector<NodeId> v) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng_->Uniform(i)]);
  return v;
}

void Nemesis::crashSome() {
  std::vector<NodeId> up = upNodes();
  size_t down = ids_.size() - up.size();
  // Mostly a minority down at a time; now and then a majority (the cluster stalls).
  size_t max_down = rng_->Chance(0.1) ? ids_.size() / 2 + 1 : (ids_.size() - 1) / 2;
  if (up.empty() || down >= max_down) {
    restartSome();
    return;
  }
  // Usually one node, sometimes several at once; a third of the time the leader.
  size_t count = rng_->Chance(0.2) ? 2 : 1;
  count = std::min(count, max_down - down);
  std::vector<NodeId> victims;
  NodeId leader = cluster_->Leader();
  if (leader != raft::kNoNode && rng_->Chance(0.35)) victims.push_back(leader);
  for (NodeId id : shuffled(up)) {
    if (victims.size() >= count) break;
    if (std::find(victims.begin(), victims.end(), id) == victims.end()) victims.push_back(id);
  }
  for (NodeId id : victims) {
    // A quick bounce, or a long absence.
    crashFor(id, rng_->Chance(0.5) ? rng_->Range(1, 100) * kMillisecond
                                   : rng_->Range(100, 3000) * kMillisecond);
  }
}

void Nemesis::crashFor(NodeId id, Time down) {
  if (!cluster_->IsUp(id)) return;
  cluster_->Crash(id);
  uint64_t epoch = epoch_;
  cluster_->After(down, [this, id, epoch]() {
    if (epoch == epoch_ && !cluster_->IsUp(id)) cluster_->Restart(id);
  });
}

void Nemesis::restartSome() {
  std::vector<NodeId> down;
  for (NodeId id : ids_) {
    if (!cluster_->IsUp(id)) down.push_back(id);
  }
  if (!down.empty()) cluster_->Restart(down[rng_->Uniform(down.size())]);
}

void Nemesis::watchVotes() {
  // Targeted timing: now and then crash a node just after it granted a vote, the moment
  // when a vote that was not made durable first would be forgotten (§5.1, Figure 2).
  cluster_->SetMessageHook([this](const raft::Message& m) {
    if (stopped_ || m.type != raft::MessageType::kVoteResponse || m.reject) return true;
    if (!rng_->Chance(0.25)) return true;
    NodeId voter = m.from;
    uint64_t epoch = epoch_;
    cluster_->After(rng_->Range(0, 2 * kMillisecond), [this, voter, epoch]() {
      if (epoch == epoch_ && !stopped_) crashFor(voter, rng_->Range(1, 30) * kMillisecond);
    });
    return true;
  });
}

void Nemesis::partitionSome() {
  std::vector<NodeId> order = shuffled(ids_);
  NodeId leader = cluster_->Leader();
  int shape = static_cast<int>(rng_->Uniform(3));
  size_t n = order.size();
  if (n < 2) return;
  if (shape == 1 && leader != raft::kNoNode) {
    // The leader isolated in a minority.
    std::vector<NodeId> minority{leader};
    std::vector<NodeId> majority;
    size_t minority_size = rng_->Range(1, std::max<int64_t>(1, (n - 1) / 2));
    for (NodeId id : order) {
      if (id == leader) continue;
      (minority.size() < minority_size ? minority : majority).push_back(id);
    }
    cluster_->Partition({minority, majority});
  } else if (shape == 2 && n >= 3) {
    // A bridge node that sees both sides, which cannot see each other.
    NodeId bridge = order[0];
    size_t split = rng_->Range(2, n - 1);
    std::vector<NodeId> a(order.begin() + 1, order.begin() + split);
    std::vector<NodeId> b(order.begin() + split, order.end());
    a.push_back(bridge);
    b.push_back(bridge);
    cluster_->Heal();
    cluster_->Note(raft::kNoNode, "BRIDGE n" + std::to_string(bridge));
    for (NodeId x : a) {
      for (NodeId y : b) {
        if (x == bridge || y == bridge) continue;
        cluster_->CutLink(x, y);
        cluster_->CutLink(y, x);
      }
    }
  } else {
    size_t split = rng_->Range(1, n - 1);
    cluster_->Partition({std::vector<NodeId>(order.begin(), order.begin() + split),
                         std::vector<NodeId>(order.begin() + split, order.end())});
  }
  uint64_t epoch = epoch_;
  cluster_->After(rng_->Range(100, 3000) * kMillisecond, [this, epoch]() {
    if (epoch == epoch_) cluster_->Heal();
  });
}

void Nemesis::cutSomeLinks() {
  int cuts = static_cast<int>(rng_->Range(1, ids_.size()));
  NodeId leader = cluster_->Leader();
  uint64_t epoch = epoch_;
  for (int i = 0; i < cuts; ++i) {
    NodeId from =
        (leader != raft::kNoNode && rng_->Chance(0.4)) ? leader : ids_[rng_->Uniform(ids_.size())];
    NodeId to = ids_[rng_->Uniform(ids_.size())];
    if (from == to) continue;
    cluster_->CutLink(from, to);
    cluster_->After(rng_->Range(100, 2000) * kMillisecond, [this, from, to, epoch]() {
      if (epoch == epoch_) cluster_->RestoreLink(from, to);
    });
  }
}

void Nemesis::changeWeather() {
  NetworkOptions net = base_network_;
  std::string text = "NETWORK";
  if (faults_set_.drop && rng_->Chance(0.6)) {
    net.drop_rate = rng_->Range(1, 20) / 100.0;
    text += " drop=" + std::to_string(static_cast<int>(net.drop_rate * 100)) + "%";
  }
  if (faults_set_.dup && rng_->Chance(0.6)) {
    net.duplicate_rate = rng_->Range(1, 20) / 100.0;
    text += " dup=" + std::to_string(static_cast<int>(net.duplicate_rate * 100)) + "%";
  }
  if (faults_set_.reorder && rng_->Chance(0.6)) {
    net.max_delay = rng_->Range(5, 30) * kMillisecond;
    text += " delay<=" + std::to_string(net.max_delay / kMillisecond) + "ms";
  }
  if (faults_set_.delay && rng_->Chance(0.5)) {
    net.long_delay_rate = rng_->Range(1, 5) / 100.0;
    net.long_delay_max = rng_->Range(50, 500) * kMillisecond;
    text += " long-delays";
  }
  if (faults_set_.stale && rng_->Chance(0.6)) {
    net.stale_rate = rng_->Range(1, 20) / 100.0;
    net.stale_min_delay = rng_->Range(1, 50) * kMillisecond;
    net.stale_max_delay = net.stale_min_delay + rng_->Range(10, 5000) * kMillisecond;
    text += " stale=" + std::to_string(static_cast<int>(net.stale_rate * 100)) +
            "%<=" + std::to_string(net.stale_max_delay / kMillisecond) + "ms";
  }
  if (text == "NETWORK") text += " clean";
  cluster_->Note(raft::kNoNode, text);
  cluster_->SetNetwork(net);
}

void Nemesis::slowSomeDisk() {
  NodeId id = ids_[rng_->Uniform(ids_.size())];
  cluster_->SetSlowDisk(id, rng_->Range(5, 80) * kMillisecond);
  uint64_t epoch = epoch_;
  cluster_->After(rng_->Range(200, 3000) * kMillisecond, [this, id, epoch]() {
    if (epoch == epoch_) cluster_->SetSlowDisk(id, 0);
  });
}

void Nemesis::failSomeDisk() {
  // The node crashes itself when the write fails; the cluster restarts it later.
  std::vector<NodeId> up = upNodes();
  if (up.empty()) return;
  NodeId id = up[rng_->Uniform(up.size())];
  bool on_sync = rng_->Chance(0.5);
  int64_t after = rng_->Range(0, 20);
  cluster_->InjectDiskFault(id, on_sync, after, /*no_space=*/rng_->Chance(0.5));
}

void Nemesis::HealAll() {
  ++epoch_;
  cluster_->SetMessageHook(nullptr);
  cluster_->Heal();
  cluster_->SetNetwork(base_network_);
  for (NodeId id : ids_) {
    cluster_->SetSlowDisk(id, 0);
    if (cluster_->FaultFs(id)) cluster_->FaultFs(id)->ClearFaults();
    if (!cluster_->IsUp(id)) cluster_->Restart(id);
  }
}

}  // namespace raftkv::sim
