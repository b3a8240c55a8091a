#include "sim/cluster.h"

#include <algorithm>

#include "common/check.h"
#include "sim/check/invariants.h"
#include "sim/event_queue.h"
#include "sim/network.h"
#include "sim/observer.h"
#include "sim/random.h"
#include "sim/sim_node.h"
#include "sim/trace.h"

namespace raftkv::sim {

// The scenario helpers (Put/Get/Cas) use this client id for their session.
inline constexpr int kScenarioClient = 0;

struct Cluster::Impl {
  explicit Impl(const ClusterOptions& opts)
      : options(opts),
        rng(opts.seed),
        tracer(opts.recent_events, opts.trace),
        network(opts.nodes + opts.spare_nodes, &queue, &rng, opts.network,
                [this](const raft::Message& m) { deliver(m); }) {
    ctx.options = &options;
    ctx.queue = &queue;
    ctx.network = &network;
    ctx.rng = &rng;
    ctx.checker = &checker;
    ctx.conf_checker = &conf_checker;
    ctx.tracer = &tracer;
    ctx.violation = [this](const std::string& text) { recordViolation(text); };
    ctx.disk_failed = [this](NodeId id, const raftkv::Status& why) { onDiskFailed(id, why); };
    network.SetObserver(opts.observer);
    tracer.SetObserver(opts.observer);
  }

  // Disk model: node `id` crashed itself on a failed write; it comes back once the fault is
  // cleared (SimNode::Restart clears it), unless something else restarted it first.
  void onDiskFailed(NodeId id, const raftkv::Status& why) {
    tracer.Note(queue.Now(), id, "DISK FAILED (" + why.ToString() + "): CRASH");
    uint64_t life = node(id)->incarnation();
    queue.After(rng.Range(10, 1000) * kMillisecond, [this, id, life]() {
      SimNode* n = node(id);
      if (n->up() || n->incarnation() != life) return;
      restart(id);
    });
  }

  raftkv::Status restart(NodeId id) {
    SimNode* n = node(id);
    if (n->up()) return raftkv::Status::OK();
    tracer.Note(queue.Now(), id, "RESTART");
    raftkv::Status s = n->Restart();
    if (!s.ok()) {
      tracer.Note(queue.Now(), id, "RESTART REFUSED: " + s.ToString());
      return s;
    }
    scheduleTicks(id, rng.Range(1, options.tick_interval));
    collectViolations();
    return s;
  }

  SimNode* node(NodeId id) {
    RAFTKV_CHECK(id >= 1 && id <= nodes.size(), "node ids are 1..nodes");
    return nodes[id - 1].get();
  }
  const SimNode* node(NodeId id) const {
    RAFTKV_CHECK(id >= 1 && id <= nodes.size(), "node ids are 1..nodes");
    return nodes[id - 1].get();
  }

  void deliver(const raft::Message& m) {
    if (m.to < 1 || m.to > nodes.size()) return;
    SimNode* n = node(m.to);
    if (!n->up()) return;  // a crashed node hears nothing
    n->Receive(m);
  }

  // Each node's logical clock: one Tick() every tick_interval of its life.
  void scheduleTicks(NodeId id, Time first) {
    uint64_t life = node(id)->incarnation();
    queue.After(first, [this, id, life]() {
      SimNode* n = node(id);
      if (!n->up() || n->incarnation() != life) return;
      n->Tick();
      scheduleTicks(id, options.tick_interval);
    });
  }

  // Runs the next event; false once the event budget is spent.
  bool step() {
    if (halted) return false;
    if (options.max_events != 0 && queue.Processed() >= options.max_events) {
      halted = true;
      recordViolation("liveness: event budget of " + std::to_string(options.max_events) +
                      " events exhausted at virtual time " + FormatTime(queue.Now()) +
                      " (message storm or livelock)");
      return false;
    }
    if (stormDetected()) return false;
    if (options.observer) options.observer->OnSync(*self);
    queue.RunNext();
    collectViolations();
    if (options.observer) options.observer->OnSync(*self);
    return true;
  }

  // ClusterOptions::max_events_per_second: a storm is stopped within a virtual second
  // instead of running until the whole event budget is spent.
  bool stormDetected() {
    if (queue.Now() >= storm_window_start + kSecond) {
      storm_window_start = queue.Now();
      storm_window_events = 0;
    }
    peak_window_events = std::max(peak_window_events, ++storm_window_events);
    if (options.max_events_per_second == 0 ||
        storm_window_events <= options.max_events_per_second) {
      return false;
    }
    halted = true;
    recordViolation("liveness: more than " + std::to_string(options.max_events_per_second) +
                    " events within one second of virtual time, at " + FormatTime(queue.Now()) +
                    " (message storm or livelock)");
    return true;
  }

  void collectViolations() {
    const auto& found = checker.violations();
    while (checker_seen < found.size()) {
      recordViolation(found[checker_seen++]);
    }
    const auto& conf_found = conf_checker.violations();
    while (conf_checker_seen < conf_found.size()) {
      recordViolation(conf_found[conf_checker_seen++]);
    }
  }

  void recordViolation(const std::string& text) {
    if (violations.empty()) first_events = tracer.Recent(options.recent_events);
    violations.push_back(text);
    tracer.Note(queue.Now(), raft::kNoNode, "VIOLATION " + text);
  }

  ClusterOptions options;
  Rng rng;
  EventQueue queue;
  Tracer tracer;
  check::SafetyChecker checker;
  check::ConfigChecker conf_checker;
  Network network;
  SimContext ctx;
  std::vector<std::unique_ptr<SimNode>> nodes;
  check::History history;
  std::vector<std::string> violations;
  std::vector<std::string> first_events;
  size_t checker_seen = 0;
  size_t conf_checker_seen = 0;
  uint64_t scenario_seq = 0;
  bool halted = false;
  Time storm_window_start = 0;
  uint64_t storm_window_events = 0;
  uint64_t peak_window_events = 0;
  const Cluster* self = nullptr;  // for the observer
};

Cluster::Cluster(const ClusterOptions& options) : impl_(std::make_unique<Impl>(options)) {
  RAFTKV_CHECK(options.nodes >= 1, "a cluster has at least one node");
  impl_->self = this;
  std::vector<NodeId> peers;
  for (int i = 1; i <= options.nodes; ++i) peers.push_back(static_cast<NodeId>(i));
  for (NodeId id : peers) {
    impl_->nodes.push_back(std::make_unique<SimNode>(id, peers, &impl_->ctx));
  }
  // Spare nodes: up, with an empty disk and no configuration, until a membership change
  // adds them (they catch up from the leader's log or snapshot).
  std::vector<NodeId> all = peers;
  for (int i = 1; i <= options.spare_nodes; ++i) {
    NodeId id = static_cast<NodeId>(options.nodes + i);
    impl_->nodes.push_back(std::make_unique<SimNode>(id, std::vector<NodeId>{}, &impl_->ctx));
    all.push_back(id);
  }
  for (NodeId id : all) {
    impl_->node(id)->Start();
    // Random phases so the nodes' clocks do not tick in lockstep.
    impl_->scheduleTicks(id, impl_->rng.Range(1, options.tick_interval));
  }
  impl_->collectViolations();
  if (options.observer) options.observer->OnStart(*this);
}

Cluster::~Cluster() {
  if (impl_->options.observer) impl_->options.observer->OnEnd(*this);
}

Time Cluster::Now() const {
  return impl_->queue.Now();
}

void Cluster::RunFor(Time duration) {
  Time end = impl_->queue.Now() + duration;
  while (!impl_->queue.Empty() && impl_->queue.NextTime() <= end) {
    if (!impl_->step()) return;
  }
  impl_->queue.AdvanceTo(end);
}

bool Cluster::RunUntil(const std::function<bool()>& pred, Time timeout) {
  Time end = impl_->queue.Now() + timeout;
  if (pred()) return true;
  while (!impl_->queue.Empty() && impl_->queue.NextTime() <= end) {
    if (!impl_->step()) return pred();
    if (pred()) return true;
  }
  impl_->queue.AdvanceTo(end);
  return pred();
}

std::vector<NodeId> Cluster::NodeIds() const {
  std::vector<NodeId> ids;
  for (const auto& n : impl_->nodes) ids.push_back(n->id());
  return ids;
}

bool Cluster::IsUp(NodeId id) const {
  return impl_->node(id)->up();
}

bool Cluster::LinkUp(NodeId from, NodeId to) const {
  return impl_->network.LinkUp(from, to);
}

std::vector<NodeId> Cluster::Members() const {
  NodeId from = Leader();
  if (from == raft::kNoNode) {
    raft::Index best = 0;
    for (const auto& n : impl_->nodes) {
      if (n->up() && n->applied() > best) {
        best = n->applied();
        from = n->id();
      }
    }
  }
  if (from == raft::kNoNode) return NodeIds();
  raft::ConfState cs = Status(from).conf;
  std::vector<NodeId> ids = cs.voters;
  for (const auto* v : {&cs.voters_outgoing, &cs.learners, &cs.learners_next}) {
    ids.insert(ids.end(), v->begin(), v->end());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids.empty() ? NodeIds() : ids;
}

NodeId Cluster::Leader() const {
  NodeId best = raft::kNoNode;
  raft::Term best_term = 0;
  for (const auto& n : impl_->nodes) {
    if (!n->up()) continue;
    raft::NodeStatus st = n->core()->GetStatus();
    if (st.soft_state.role == raft::Role::kLeader && st.hard_state.term >= best_term) {
      best = n->id();
      best_term = st.hard_state.term;
    }
  }
  return best;
}

namespace {

std::vector<NodeId> LiveNodesIn(const std::vector<std::unique_ptr<SimNode>>& nodes,
                                std::initializer_list<raft::Role> roles) {
  std::vector<NodeId> out;
  for (const auto& n : nodes) {
    if (!n->up()) continue;
    raft::Role role = n->core()->GetStatus().soft_state.role;
    if (std::find(roles.begin(), roles.end(), role) != roles.end()) out.push_back(n->id());
  }
  return out;
}

}  // namespace

std::vector<NodeId> Cluster::SelfProclaimedLeaders() const {
  return LiveNodesIn(impl_->nodes, {raft::Role::kLeader});
}

std::vector<NodeId> Cluster::DeposedLeaders() const {
  std::vector<NodeId> leaders = SelfProclaimedLeaders();
  raft::Term top = 0;
  for (NodeId id : leaders) top = std::max(top, Status(id).hard_state.term);
  std::erase_if(leaders, [&](NodeId id) { return Status(id).hard_state.term == top; });
  return leaders;
}

std::vector<NodeId> Cluster::Campaigning() const {
  return LiveNodesIn(impl_->nodes, {raft::Role::kCandidate, raft::Role::kPreCandidate});
}

NodeId Cluster::WaitForLeader(Time timeout) {
  NodeId leader = raft::kNoNode;
  RunUntil(
      [&]() {
        leader = Leader();
        return leader != raft::kNoNode;
      },
      timeout);
  return leader;
}

const raft::RawNode* Cluster::Node(NodeId id) const {
  return impl_->node(id)->core();
}

raft::NodeStatus Cluster::Status(NodeId id) const {
  RAFTKV_CHECK(IsUp(id), "Status() needs a live node");
  return impl_->node(id)->core()->GetStatus();
}

raft::HardState Cluster::PersistedHardState(NodeId id) const {
  return impl_->node(id)->persisted_hard_state();
}

raft::Index Cluster::PersistedLastIndex(NodeId id) const {
  return impl_->node(id)->persisted_last_index();
}

std::optional<std::string> Cluster::AppliedValue(NodeId id, const std::string& key) const {
  return impl_->node(id)->state().Get(key);
}

raft::Index Cluster::AppliedIndex(NodeId id) const {
  return impl_->node(id)->applied();
}

std::vector<std::pair<std::string, std::string>> Cluster::AppliedState(NodeId id) const {
  const auto& data = impl_->node(id)->state().data();
  return {data.begin(), data.end()};
}

// ---- faults ----

void Cluster::Crash(NodeId id) {
  SimNode* n = impl_->node(id);
  if (!n->up()) return;
  Note(id, "CRASH");
  n->Crash();
  impl_->collectViolations();
}

void Cluster::Restart(NodeId id) {
  raftkv::Status s = impl_->restart(id);
  if (!s.ok()) {
    AddViolation("recovery", "n" + std::to_string(id) + " cannot restart: " + s.ToString());
  }
}

raftkv::Status Cluster::TryRestart(NodeId id) {
  return impl_->restart(id);
}

void Cluster::InjectDiskFault(NodeId id, bool on_sync, int64_t after, bool no_space) {
  SimNode* n = impl_->node(id);
  if (!n->fault_fs()) return;
  Note(id, std::string("DISK FAULT ") + (no_space ? "ENOSPC" : "EIO") + " on " +
               (on_sync ? "sync" : "write") + " +" + std::to_string(after));
  n->InjectDiskFault(on_sync, after,
                     no_space ? storage::FaultFileSystem::Fault::kNoSpace
                              : storage::FaultFileSystem::Fault::kIOError);
}

storage::FaultFileSystem* Cluster::FaultFs(NodeId id) {
  return impl_->node(id)->fault_fs();
}

void Cluster::Isolate(NodeId id) {
  Note(id, "ISOLATE");
  impl_->network.Isolate(id);
}

void Cluster::Partition(const std::vector<std::vector<NodeId>>& groups) {
  std::string text = "PARTITION";
  for (const auto& g : groups) {
    text += " {";
    for (size_t i = 0; i < g.size(); ++i) text += (i ? "," : "") + std::to_string(g[i]);
    text += "}";
  }
  Note(raft::kNoNode, text);
  impl_->network.Partition(groups);
}

void Cluster::CutLink(NodeId from, NodeId to) {
  Note(raft::kNoNode, "CUT n" + std::to_string(from) + "->n" + std::to_string(to));
  impl_->network.CutLink(from, to);
}

void Cluster::RestoreLink(NodeId from, NodeId to) {
  Note(raft::kNoNode, "RESTORE n" + std::to_string(from) + "->n" + std::to_string(to));
  impl_->network.RestoreLink(from, to);
}

void Cluster::Heal() {
  Note(raft::kNoNode, "HEAL all links");
  impl_->network.HealAll();
}

void Cluster::SetSlowDisk(NodeId id, Time extra) {
  Note(id, extra ? "SLOW DISK +" + std::to_string(extra / kMillisecond) + "ms" : "DISK normal");
  impl_->node(id)->SetSlowDisk(extra);
}

void Cluster::SetNetwork(const NetworkOptions& network) {
  impl_->network.SetOptions(network);
}

void Cluster::ReplayOldMessages(size_t count, Time spread, NodeId to) {
  size_t sent = impl_->network.ReplayRecorded(count, spread, to);
  Note(to, "REPLAY " + std::to_string(sent) + " old messages" +
               (to == raft::kNoNode ? "" : " to n" + std::to_string(to)));
}

const NetworkOptions& Cluster::network_options() const {
  return impl_->network.options();
}

const NetworkStats& Cluster::network_stats() const {
  return impl_->network.stats();
}

// ---- direct actions ----

void Cluster::Campaign(NodeId id) {
  if (!IsUp(id)) return;
  impl_->node(id)->Campaign();
  impl_->collectViolations();
}

void Cluster::TransferLeader(NodeId leader, NodeId transferee) {
  if (!IsUp(leader)) return;
  impl_->node(leader)->TransferLeader(transferee);
  impl_->collectViolations();
}

raftkv::Status Cluster::ProposeConfChange(NodeId via, const raft::ConfChange& cc) {
  if (!IsUp(via)) return raftkv::Status::Unavailable("node is down");
  impl_->tracer.Note(impl_->queue.Now(), via, "PROPOSE CONF CHANGE " + DescribeConfChange(cc));
  raftkv::Status s = impl_->node(via)->ProposeConfChange(cc);
  if (!s.ok()) impl_->tracer.Note(impl_->queue.Now(), via, "  refused: " + s.ToString());
  impl_->collectViolations();
  return s;
}

std::string DescribeConfChange(const raft::ConfChange& cc) {
  if (cc.changes.empty()) return "leave-joint";
  std::string s;
  for (const raft::ConfChangeSingle& c : cc.changes) {
    if (!s.empty()) s += ",";
    s += c.type == raft::ConfChangeType::kAddNode          ? "+v"
         : c.type == raft::ConfChangeType::kAddLearnerNode ? "+l"
                                                           : "-";
    s += std::to_string(c.node_id);
  }
  if (cc.transition == raft::ConfChangeTransition::kJointExplicit) s += " (explicit joint)";
  return s;
}

uint64_t Cluster::SnapshotsTaken() const {
  uint64_t n = 0;
  for (const auto& node : impl_->nodes) n += node->snapshots_taken();
  return n;
}

uint64_t Cluster::SnapshotsInstalled() const {
  uint64_t n = 0;
  for (const auto& node : impl_->nodes) n += node->snapshots_installed();
  return n;
}

uint64_t Cluster::EntriesApplied(NodeId id) const {
  return impl_->node(id)->entries_applied();
}

raft::Index Cluster::SnapshotIndex(NodeId id) const {
  return impl_->node(id)->snapshot_index();
}

// ---- clients ----

void Cluster::SubmitWrite(NodeId via, const Command& cmd,
                          std::function<void(const ClientReply&)> done) {
  SimNode* n = impl_->node(via);
  if (!n->up()) return;
  n->SubmitWrite(cmd, std::move(done));
  impl_->collectViolations();
}

void Cluster::SubmitRead(NodeId via, const std::string& key,
                         std::function<void(const ClientReply&)> done) {
  SimNode* n = impl_->node(via);
  if (!n->up()) return;
  n->SubmitRead(key, std::move(done));
  impl_->collectViolations();
}

namespace {

// Runs one scenario operation to its reply or timeout and records it in the history.
ClientReply runScenarioOp(
    Cluster* c, check::History* h, check::Operation op, Time timeout,
    const std::function<void(std::function<void(const ClientReply&)>)>& submit) {
  op.client = kScenarioClient;
  op.call_time = c->Now();
  auto reply = std::make_shared<std::optional<ClientReply>>();
  submit([reply](const ClientReply& r) {
    if (!*reply) *reply = r;
  });
  c->RunUntil([&]() { return reply->has_value(); }, timeout);
  ClientReply r;
  if (!reply->has_value()) {
    r.code = ClientReply::Code::kTimeout;
    op.outcome = check::Outcome::kUnknown;
    op.return_time = check::kNever;
  } else {
    r = **reply;
    op.return_time = c->Now();
    // A refusal from the core means nothing was proposed (one attempt only).
    op.outcome = r.ok() ? check::Outcome::kOk : check::Outcome::kFail;
    op.read_value = r.value;
    op.cas_succeeded = r.cas_succeeded;
  }
  h->ops.push_back(std::move(op));
  return r;
}

}  // namespace

ClientReply Cluster::Put(NodeId via, const std::string& key, const std::string& value,
                         Time timeout) {
  Command cmd{check::OpKind::kPut, kScenarioClient, ++impl_->scenario_seq, key, value, ""};
  check::Operation op;
  op.kind = check::OpKind::kPut;
  op.key = key;
  op.value = value;
  return runScenarioOp(this, &impl_->history, op, timeout,
                       [&](auto done) { SubmitWrite(via, cmd, std::move(done)); });
}

ClientReply Cluster::Get(NodeId via, const std::string& key, Time timeout) {
  check::Operation op;
  op.kind = check::OpKind::kGet;
  op.key = key;
  return runScenarioOp(this, &impl_->history, op, timeout,
                       [&](auto done) { SubmitRead(via, key, std::move(done)); });
}

ClientReply Cluster::Cas(NodeId via, const std::string& key, const std::string& expected,
                         const std::string& value, Time timeout) {
  Command cmd{check::OpKind::kCas, kScenarioClient, ++impl_->scenario_seq, key, value, expected};
  check::Operation op;
  op.kind = check::OpKind::kCas;
  op.key = key;
  op.value = value;
  op.expected = expected;
  return runScenarioOp(this, &impl_->history, op, timeout,
                       [&](auto done) { SubmitWrite(via, cmd, std::move(done)); });
}

const check::History& Cluster::history() const {
  return impl_->history;
}
check::History* Cluster::mutable_history() {
  return &impl_->history;
}

// ---- observation ----

void Cluster::SetMessageHook(std::function<bool(const raft::Message&)> hook) {
  impl_->network.SetHook(std::move(hook));
}

const std::vector<std::string>& Cluster::Violations() const {
  return impl_->violations;
}

std::vector<std::string> Cluster::RecentEvents(size_t n) const {
  return impl_->tracer.Recent(n);
}

void Cluster::After(Time delay, std::function<void()> fn) {
  impl_->queue.After(delay, std::move(fn));
}

Rng& Cluster::rng() {
  return impl_->rng;
}

void Cluster::AddViolation(const std::string& property, const std::string& description) {
  impl_->recordViolation(property + ": " + description);
}

void Cluster::FullCheck() {
  std::map<raft::NodeId, const raft::RawNode*> live;
  for (const auto& n : impl_->nodes) {
    if (n->up()) live[n->id()] = n->core();
  }
  impl_->checker.FullCheck(live);
  impl_->collectViolations();
}

const std::vector<std::string>& Cluster::EventsBeforeFirstViolation() const {
  return impl_->first_events;
}

void Cluster::Note(NodeId node, const std::string& text) {
  impl_->tracer.Note(impl_->queue.Now(), node, text);
}

void Cluster::SetEventListener(std::function<void(const TraceEvent&)> listener) {
  impl_->tracer.SetListener(std::move(listener));
}

bool Cluster::Halted() const {
  return impl_->halted;
}

uint64_t Cluster::PeakEventsPerSecond() const {
  return impl_->peak_window_events;
}

uint64_t Cluster::EventsProcessed() const {
  return impl_->queue.Processed();
}
uint64_t Cluster::TraceHash() const {
  return impl_->tracer.hash();
}

}  // namespace raftkv::sim
