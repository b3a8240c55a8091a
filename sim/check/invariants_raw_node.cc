// The checker's view of a live RawNode. Kept apart from invariants.cc because it calls into
// the core implementation: whoever links it chooses which core (the normal one or a
// planted-bug build), and code that never observes a RawNode does not need a core at all.
#include "sim/check/invariants.h"

namespace raftkv::check {

NodeState RawNodeView::State() const {
  const raft::NodeStatus s = node_.GetStatus();
  NodeState st;
  st.term = s.hard_state.term;
  st.commit = s.hard_state.commit;
  st.applied = s.applied;
  st.role = s.soft_state.role;
  return st;
}

raft::Index RawNodeView::FirstIndex() const {
  return node_.FirstIndex();
}
raft::Index RawNodeView::LastIndex() const {
  return node_.LastIndex();
}
Result<raft::Term> RawNodeView::TermAt(raft::Index i) const {
  return node_.TermAt(i);
}
Result<std::vector<raft::Entry>> RawNodeView::Entries(raft::Index lo, raft::Index hi) const {
  return node_.Entries(lo, hi);
}

void SafetyChecker::Observe(raft::NodeId id, const raft::RawNode& node) {
  Observe(id, RawNodeView(node));
}

void SafetyChecker::FullCheck(const std::map<raft::NodeId, const raft::RawNode*>& live_nodes) {
  std::vector<RawNodeView> views;
  views.reserve(live_nodes.size());
  std::map<raft::NodeId, const NodeView*> by_id;
  for (const auto& [id, node] : live_nodes) {
    views.emplace_back(*node);
    by_id[id] = &views.back();
  }
  FullCheck(by_id);
}

}  // namespace raftkv::check
