#include "sim/demo.h"

#include <string>

#include "sim/cluster.h"
#include "sim/trace.h"

namespace raftkv::sim {
namespace {

class Timeline {
 public:
  Timeline(Cluster* c, FILE* out) : c_(c), out_(out) {}
  void Say(const std::string& text) {
    std::fprintf(out_, "[%10s] %s\n", FormatTime(c_->Now()).c_str(), text.c_str());
  }

 private:
  Cluster* c_;
  FILE* out_;
};

std::string node(NodeId id) {
  return "n" + std::to_string(id);
}

}  // namespace

int RunDemo(FILE* out, uint64_t seed) {
  ClusterOptions opts;
  opts.nodes = 5;
  opts.seed = seed;
  Cluster c(opts);
  Timeline t(&c, out);
  bool ok = true;

  // Announce every election won, as it happens.
  c.SetEventListener([&](const TraceEvent& ev) {
    if (ev.kind == TraceEvent::Kind::kRole && ev.text == "Leader") {
      std::fprintf(out, "[%10s] %s won the election for term %llu\n", FormatTime(ev.at).c_str(),
                   node(ev.node).c_str(), static_cast<unsigned long long>(ev.term));
    }
  });

  t.Say("5-node cluster starts (ids 1..5); election timeout 100-200ms, heartbeat 10ms");
  NodeId leader = c.WaitForLeader();
  if (leader == raft::kNoNode) {
    t.Say("no leader elected");
    return 1;
  }
  t.Say("leader is " + node(leader));

  auto write = [&](NodeId via, const std::string& k, const std::string& v) {
    ClientReply r = c.Put(via, k, v);
    if (r.ok()) {
      t.Say("write " + k + "=" + v + " committed (via " + node(via) + ", applied index " +
            std::to_string(c.AppliedIndex(via)) + ")");
    } else {
      t.Say("write " + k + "=" + v + " FAILED via " + node(via));
      ok = false;
    }
  };
  write(leader, "color", "red");
  write(leader, "shape", "circle");
  write(leader, "size", "small");

  t.Say("FAULT: crash the leader " + node(leader));
  NodeId old = leader;
  c.Crash(old);
  leader = c.WaitForLeader();
  if (leader == raft::kNoNode) {
    t.Say("no new leader elected");
    return 1;
  }
  t.Say("leader changed: " + node(old) + " -> " + node(leader));
  write(leader, "color", "blue");
  t.Say("restart " + node(old) + " (it recovers from its disk and catches up)");
  c.Restart(old);
  c.RunFor(300 * kMillisecond);

  // Isolate the leader with one follower; the other three elect a new leader.
  std::vector<NodeId> minority{leader}, majority;
  for (NodeId id : c.NodeIds()) {
    if (id == leader) continue;
    (minority.size() < 2 ? minority : majority).push_back(id);
  }
  t.Say("FAULT: partition {" + node(minority[0]) + "," + node(minority[1]) + "} | {" +
        node(majority[0]) + "," + node(majority[1]) + "," + node(majority[2]) + "}");
  c.Partition({minority, majority});
  ClientReply stale = c.Put(minority[0], "shape", "square", 500 * kMillisecond);
  t.Say(std::string("write shape=square via the old leader in the minority: ") +
        (stale.ok() ? "committed (unexpected!)" : "not committed, as Raft promises"));
  if (stale.ok()) ok = false;
  NodeId majority_leader = raft::kNoNode;
  c.RunUntil(
      [&]() {
        for (NodeId id : majority) {
          if (c.Status(id).soft_state.role == raft::Role::kLeader) majority_leader = id;
        }
        return majority_leader != raft::kNoNode;
      },
      5 * kSecond);
  if (majority_leader == raft::kNoNode) {
    t.Say("the majority did not elect a leader");
    return 1;
  }
  write(majority_leader, "shape", "triangle");
  t.Say("HEAL: the partition heals");
  c.Heal();
  c.RunFor(1 * kSecond);
  leader = c.WaitForLeader();
  write(leader, "size", "large");
  c.RunFor(500 * kMillisecond);

  t.Say("final applied state of every node:");
  std::vector<std::pair<std::string, std::string>> first;
  for (NodeId id : c.NodeIds()) {
    auto state = c.AppliedState(id);
    std::string line = "  " + node(id) + " applied=" + std::to_string(c.AppliedIndex(id)) + ":";
    for (const auto& [k, v] : state) line.append(" ").append(k).append("=").append(v);
    std::fprintf(out, "%s\n", line.c_str());
    if (id == 1) first = state;
    if (state != first) ok = false;
  }
  if (!c.Violations().empty()) {
    for (const auto& v : c.Violations()) std::fprintf(out, "VIOLATION %s\n", v.c_str());
    ok = false;
  }
  std::fprintf(out, "%s\n", ok ? "demo finished: every node agrees" : "demo FAILED");
  return ok ? 0 : 1;
}

}  // namespace raftkv::sim
