#include "sim/replay/recorder.h"

#include <algorithm>

#include "common/check.h"
#include "raft/conf_change.h"
#include "sim/cluster.h"
#include "sim/command.h"
#include "sim/network.h"
#include "sim/replay/encoding.h"
#include "sim/trace.h"

namespace raftkv::sim {
namespace {

// "1,2,3" voters, "|l4,5" learners, "|o1,2,3" outgoing voters of a joint configuration.
std::string DescribeConf(const raft::ConfState& cs) {
  auto list = [](const std::vector<raft::NodeId>& ids) {
    std::string s;
    for (raft::NodeId id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
    return s;
  };
  std::string s = list(cs.voters);
  if (!cs.learners.empty() || !cs.learners_next.empty()) {
    std::vector<raft::NodeId> l = cs.learners;
    l.insert(l.end(), cs.learners_next.begin(), cs.learners_next.end());
    s += "|l" + list(l);
  }
  if (!cs.voters_outgoing.empty()) s += "|o" + list(cs.voters_outgoing);
  return s;
}

// A short description of a log entry for the page's tooltips.
std::string DescribeEntry(const raft::Entry& e) {
  if (e.type == raft::EntryType::kConfChange) {
    auto cc = raft::DecodeConfChange(e.data);
    return cc.ok() ? "config " + DescribeConfChange(*cc) : "config change";
  }
  if (e.data.empty()) return "no-op (new leader, §8)";
  auto cmd = DecodeCommand(e.data);
  if (!cmd.ok()) return "entry";
  auto clip = [](const std::string& s) { return s.size() > 12 ? s.substr(0, 12) + "…" : s; };
  std::string who = " (c" + std::to_string(cmd->client) + "#" + std::to_string(cmd->seq) + ")";
  if (cmd->kind == check::OpKind::kCas) {
    return "cas " + clip(cmd->key) + " " + clip(cmd->expected) + "→" + clip(cmd->value) + who;
  }
  return "put " + clip(cmd->key) + "=" + clip(cmd->value) + who;
}

}  // namespace

uint64_t ReplayData::Intern(const std::string& s) {
  auto [it, added] = string_ids.emplace(s, strings.size());
  if (added) strings.push_back(s);
  return it->second;
}

ReplayRecorder::ReplayRecorder() {
  data_.Intern("");  // string 0 is empty
}

void ReplayRecorder::OnStart(const Cluster& c) {
  if (active_ || finished_) return;
  active_ = true;
  cluster_ = &c;
  now_ = c.Now();
  data_.nodes = c.NodeIds();
  for (size_t i = 0; i < data_.nodes.size(); ++i) slot_of_[data_.nodes[i]] = i;
  views_.assign(data_.nodes.size(), NodeView{});
  durable_.assign(data_.nodes.size(), 0);
  links_.assign(data_.nodes.size() * data_.nodes.size(), true);
  data_.normal_delay = c.network_options().max_delay;
  OnSync(c);
}

void ReplayRecorder::OnEnd(const Cluster& c) {
  if (!active_ || &c != cluster_) return;
  OnSync(c);
  data_.end = c.Now();
  data_.history = c.history();
  for (const check::Operation& op : data_.history.ops) {
    for (const std::string* s : {&op.key, &op.value, &op.expected}) data_.Intern(*s);
    if (op.read_value) data_.Intern(*op.read_value);
  }
  data_.trace_hash = c.TraceHash();
  cluster_ = nullptr;
  active_ = false;
  finished_ = true;
}

void ReplayRecorder::OnSync(const Cluster& c) {
  if (!active_ || &c != cluster_) return;
  now_ = c.Now();
  for (size_t slot = 0; slot < data_.nodes.size(); ++slot) {
    syncNode(c, slot, data_.nodes[slot]);
    if (c.IsUp(data_.nodes[slot])) syncLog(c, slot, data_.nodes[slot]);
  }
  syncLinks(c);
  syncViolations(c);
}

void ReplayRecorder::syncNode(const Cluster& c, size_t slot, uint64_t id) {
  uint64_t now[ReplayData::kFields] = {};
  if (c.IsUp(id)) {
    const raft::RawNode* n = c.Node(id);
    raft::NodeStatus st = n->GetStatus();
    now[ReplayData::kRole] = static_cast<uint64_t>(st.soft_state.role);
    now[ReplayData::kTerm] = st.hard_state.term;
    now[ReplayData::kVote] = st.hard_state.vote;
    now[ReplayData::kLead] = st.soft_state.lead;
    now[ReplayData::kCommit] = st.hard_state.commit;
    now[ReplayData::kApplied] = c.AppliedIndex(id);
    now[ReplayData::kLast] = st.last_index;
    now[ReplayData::kFirst] = st.first_index;
    now[ReplayData::kConf] = data_.Intern(DescribeConf(st.conf));
  } else {
    // Down: what survives on its disk.
    const NodeView& v = views_[slot];
    raft::HardState hs = c.PersistedHardState(id);
    now[ReplayData::kRole] = 4;
    now[ReplayData::kTerm] = hs.term;
    now[ReplayData::kVote] = hs.vote;
    now[ReplayData::kCommit] = hs.commit;
    now[ReplayData::kLast] = v.fields[ReplayData::kLast];
    now[ReplayData::kFirst] = v.fields[ReplayData::kFirst];
    now[ReplayData::kConf] = v.fields[ReplayData::kConf];
  }
  now[ReplayData::kDurable] = durable_[slot];
  now[ReplayData::kSnap] = c.SnapshotIndex(id);
  NodeView& v = views_[slot];
  ReplayData::Record r;
  for (int f = 0; f < ReplayData::kFields; ++f) {
    if (now[f] == v.fields[f]) continue;
    r.mask |= 1u << f;
    r.values.push_back(now[f]);
    v.fields[f] = now[f];
  }
  if (r.mask == 0) return;
  r.at = now_;
  r.kind = ReplayData::Record::kNode;
  r.a = slot;
  data_.records.push_back(std::move(r));
}

// Log Matching (§5.3): if a node's entry at index i has the term we saw there before, the
// whole prefix up to i is unchanged, so the first difference is found by walking down from
// the top only over entries that changed.
void ReplayRecorder::syncLog(const Cluster& c, size_t slot, uint64_t id) {
  const raft::RawNode* n = c.Node(id);
  NodeView& v = views_[slot];
  const uint64_t last = n->LastIndex();
  const uint64_t first = n->FirstIndex();
  const uint64_t old_last = v.terms.empty() ? 0 : v.terms.size() - 1;
  auto term_at = [&](uint64_t i) -> uint64_t {
    auto t = n->TermAt(i);
    return t.ok() ? *t : 0;
  };
  if (last == old_last && (last == 0 || term_at(last) == v.terms[last])) return;
  uint64_t keep = std::min(last, old_last);
  while (keep >= first && keep > 0 && term_at(keep) != v.terms[keep]) --keep;
  // Entries below `first` are in the node's snapshot: kept as we saw them.
  ReplayData::Record r;
  r.at = now_;
  r.kind = ReplayData::Record::kLog;
  r.a = slot;
  r.b = keep;
  v.terms.resize(keep + 1, 0);
  for (uint64_t i = keep + 1; i <= last; ++i) {
    uint64_t t = i < first ? 0 : term_at(i);
    v.terms.push_back(t);
    r.values.push_back(t);
    if (t != 0 && !data_.entry_labels.count({i, t})) {
      auto e = n->Entries(i, i + 1);
      data_.entry_labels[{i, t}] =
          data_.Intern(e.ok() && !e->empty() ? DescribeEntry(e->front()) : "entry");
    }
  }
  if (v.terms.size() == 1) v.terms.clear();
  data_.records.push_back(std::move(r));
}

void ReplayRecorder::syncLinks(const Cluster& c) {
  const size_t n = data_.nodes.size();
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      if (a == b) continue;
      bool up = c.LinkUp(data_.nodes[a], data_.nodes[b]);
      if (up == links_[a * n + b]) continue;
      links_[a * n + b] = up;
      ReplayData::Record r;
      r.at = now_;
      r.kind = ReplayData::Record::kLink;
      r.a = a;
      r.b = b;
      r.c = up ? 1 : 0;
      data_.records.push_back(std::move(r));
    }
  }
}

void ReplayRecorder::syncViolations(const Cluster& c) {
  const auto& found = c.Violations();
  for (; violations_seen_ < found.size(); ++violations_seen_) {
    ReplayData::Record r;
    r.at = now_;
    r.kind = ReplayData::Record::kViolation;
    r.b = data_.Intern(found[violations_seen_]);
    data_.records.push_back(std::move(r));
  }
}

void ReplayRecorder::OnTrace(const TraceEvent& ev) {
  if (!active_) return;
  if (ev.kind == TraceEvent::Kind::kPersist) {
    auto it = slot_of_.find(ev.node);
    if (it != slot_of_.end()) durable_[it->second] = ev.index;
    return;
  }
  if (ev.kind != TraceEvent::Kind::kNote) return;
  // Violations come from the cluster's list (with their property); the note repeats them.
  if (ev.text.rfind("VIOLATION ", 0) == 0) return;
  ReplayData::Record r;
  r.at = ev.at;
  r.kind = ReplayData::Record::kNote;
  r.a = ev.node;
  r.b = data_.Intern(ev.text);
  data_.records.push_back(std::move(r));
}

uint64_t ReplayRecorder::OnScheduled(const raft::Message& m, Time now, Time arrive,
                                     bool duplicate) {
  if (!active_) return UINT64_MAX;
  ReplayData::Msg x;
  x.sent = now;
  x.arrive = arrive;
  x.from = m.from;
  x.to = m.to;
  x.term = m.term;
  x.index = m.index;
  x.log_term = m.log_term;
  x.commit = m.commit;
  x.entries = static_cast<uint32_t>(m.entries.size());
  x.type = static_cast<uint8_t>(m.type);
  x.reject = m.reject;
  x.duplicate = duplicate;
  x.delayed = arrive - now > data_.normal_delay;
  if (m.type == raft::MessageType::kSnapshot && m.snapshot) x.index = m.snapshot->meta.index;
  data_.msgs.push_back(x);
  return data_.msgs.size() - 1;
}

void ReplayRecorder::OnArrival(uint64_t token, bool link_up) {
  if (!active_ || token == UINT64_MAX) return;
  RAFTKV_CHECK(token < data_.msgs.size(), "arrival of a message the recorder saw sent");
  ReplayData::Msg& x = data_.msgs[token];
  if (!link_up) {
    x.fate = ReplayData::Msg::kLostInFlight;
  } else if (cluster_ != nullptr && x.to >= 1 && !cluster_->IsUp(x.to)) {
    x.fate = ReplayData::Msg::kReceiverDown;
  } else {
    x.fate = ReplayData::Msg::kDelivered;
  }
}

void ReplayRecorder::OnDropped(const raft::Message& m, Time now, Drop why) {
  if (!active_) return;
  OnScheduled(m, now, now, false);
  ReplayData::Msg& x = data_.msgs.back();
  x.delayed = false;
  x.fate = why == Drop::kLinkCut  ? ReplayData::Msg::kDroppedCut
           : why == Drop::kRandom ? ReplayData::Msg::kDroppedRandom
                                  : ReplayData::Msg::kDroppedHook;
}

}  // namespace raftkv::sim
