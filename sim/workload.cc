#include "sim/workload.h"

#include "common/check.h"

namespace raftkv::sim {

Workload::Workload(Cluster* cluster, const WorkloadOptions& options)
    : cluster_(cluster), rng_(&cluster->rng()), options_(options) {
  for (int i = 0; i < options_.clients; ++i) {
    Client c;
    c.id = i + 1;  // client 0 is the scenario helpers' session
    clients_.push_back(c);
  }
  last_seen_.assign(options_.keys, "");
}

void Workload::Start() {
  for (Client& c : clients_) {
    int ci = c.id - 1;
    cluster_->After(rng_->Range(0, options_.max_think),
                    [this, ci]() { maybeStartNext(clients_[ci]); });
  }
}

void Workload::StartFinalReads() {
  stopped_ = true;
  for (int i = 0; i < options_.keys; ++i) final_keys_.push_back(key(i));
  for (Client& c : clients_) {
    if (!c.busy) maybeStartNext(c);
  }
}

void Workload::maybeStartNext(Client& c) {
  if (c.busy) return;
  if (!final_keys_.empty()) {
    std::string k = final_keys_.front();
    final_keys_.pop_front();
    begin(c, true, k);
    return;
  }
  if (stopped_ || started_ >= options_.ops) return;
  begin(c, false, "");
}

void Workload::begin(Client& c, bool final_read, const std::string& final_key) {
  c.busy = true;
  ++busy_;
  c.final_read = final_read;
  ++c.op;
  c.attempt = 0;
  c.maybe_proposed = false;
  c.started = cluster_->Now();
  check::Operation op;
  op.client = c.id;
  op.call_time = c.started;
  op.outcome = check::Outcome::kUnknown;
  op.return_time = check::kNever;
  if (final_read) {
    c.is_read = true;
    c.key = final_key;
    op.kind = check::OpKind::kGet;
    op.key = c.key;
  } else {
    ++started_;
    int k = static_cast<int>(rng_->Uniform(options_.keys));
    c.key = key(k);
    int dice = static_cast<int>(rng_->Uniform(100));
    c.is_read = dice < options_.read_percent;
    op.key = c.key;
    if (c.is_read) {
      op.kind = check::OpKind::kGet;
    } else {
      bool cas = dice < options_.read_percent + options_.cas_percent;
      // Values are unique per write (client, seq), so a read tells which write it saw.
      std::string value = "v" + std::to_string(c.id) + "." + std::to_string(c.next_seq);
      c.cmd = Command{cas ? check::OpKind::kCas : check::OpKind::kPut,
                      static_cast<uint64_t>(c.id),
                      c.next_seq++,
                      c.key,
                      value,
                      cas ? last_seen_[k] : ""};
      op.kind = c.cmd.kind;
      op.value = c.cmd.value;
      op.expected = c.cmd.expected;
    }
  }
  c.history_index = cluster_->mutable_history()->ops.size();
  cluster_->mutable_history()->ops.push_back(std::move(op));
  cluster_->Note(raft::kNoNode,
                 "client " + check::Describe(cluster_->history().ops[c.history_index]));
  sendAttempt(c);
}

NodeId Workload::pickNode(Client& c) {
  if (options_.read_anywhere && c.is_read && !c.final_read) return pickReadNode(c);
  if (c.leader_guess != raft::kNoNode) return c.leader_guess;
  auto ids = cluster_->Members();
  return ids[rng_->Uniform(ids.size())];
}

NodeId Workload::pickReadNode(Client& c) {
  const std::vector<NodeId> ids = cluster_->NodeIds();
  if (c.home == raft::kNoNode || rng_->Chance(0.05)) c.home = ids[rng_->Uniform(ids.size())];
  switch (rng_->Uniform(4)) {
    case 0: return c.home;
    case 1: {
      // Two nodes may believe they lead (one deposed, in a minority or not yet told).
      std::vector<NodeId> leaders = cluster_->SelfProclaimedLeaders();
      if (!leaders.empty()) return leaders[rng_->Uniform(leaders.size())];
      break;
    }
    case 2:
      if (c.leader_guess != raft::kNoNode) return c.leader_guess;
      break;
    default: break;
  }
  return ids[rng_->Uniform(ids.size())];
}

void Workload::probeDeposedLeaders(const std::string& key) {
  for (NodeId id : cluster_->DeposedLeaders()) {
    check::Operation op;
    op.client = 1'000'001 + next_probe_client_++;
    op.kind = check::OpKind::kGet;
    op.key = key;
    op.call_time = cluster_->Now();
    op.outcome = check::Outcome::kUnknown;  // until it answers (a correct node will not)
    op.return_time = check::kNever;
    size_t index = cluster_->mutable_history()->ops.size();
    cluster_->mutable_history()->ops.push_back(op);
    cluster_->Note(id, "probe read of a deposed leader: " + check::Describe(op));
    cluster_->SubmitRead(id, key, [this, index](const ClientReply& r) {
      if (!r.ok()) return;
      check::Operation& done = cluster_->mutable_history()->ops[index];
      done.outcome = check::Outcome::kOk;
      done.return_time = cluster_->Now();
      done.read_value = r.value;
      cluster_->Note(raft::kNoNode, "client done " + check::Describe(done));
    });
  }
}

void Workload::sendAttempt(Client& c) {
  ++c.attempt;
  NodeId via = pickNode(c);
  int ci = c.id - 1;
  uint64_t op = c.op;
  int attempt = c.attempt;
  auto done = [this, ci, op, attempt](const ClientReply& r) { onReply(ci, op, attempt, r); };
  if (c.is_read) {
    cluster_->SubmitRead(via, c.key, done);
  } else {
    cluster_->SubmitWrite(via, c.cmd, done);
  }
  Time timeout = options_.attempt_timeout;
  cluster_->After(timeout, [this, ci, op, attempt]() { onTimeout(ci, op, attempt); });
}

void Workload::onReply(int ci, uint64_t op, int attempt, const ClientReply& r) {
  Client& c = clients_[ci];
  if (!c.busy || c.op != op) return;  // an answer to an operation already finished
  if (r.ok()) {
    // Any attempt's answer is valid: every attempt of a write carries the same session seq.
    finish(c, check::Outcome::kOk, &r);
    return;
  }
  if (attempt != c.attempt) return;  // an old attempt's refusal; a newer one is running
  c.leader_guess = r.leader_hint;
  retryOrGiveUp(c, r.leader_hint != raft::kNoNode ? rng_->Range(1, 2 * kMillisecond)
                                                  : rng_->Range(10, 50) * kMillisecond);
}

void Workload::onTimeout(int ci, uint64_t op, int attempt) {
  Client& c = clients_[ci];
  if (!c.busy || c.op != op || c.attempt != attempt) return;
  // The node may have proposed the write before going silent.
  if (!c.is_read) c.maybe_proposed = true;
  c.leader_guess = raft::kNoNode;
  retryOrGiveUp(c, rng_->Range(1, 10) * kMillisecond);
}

void Workload::retryOrGiveUp(Client& c, Time backoff) {
  int max_attempts = c.final_read ? options_.max_attempts * 5 : options_.max_attempts;
  Time give_up = c.final_read ? options_.give_up_after * 5 : options_.give_up_after;
  if (c.attempt >= max_attempts || cluster_->Now() - c.started >= give_up) {
    bool refused_only = !c.is_read && !c.maybe_proposed;
    finish(c, refused_only ? check::Outcome::kFail : check::Outcome::kUnknown, nullptr);
    return;
  }
  int ci = c.id - 1;
  uint64_t op = c.op;
  int attempt = c.attempt;
  cluster_->After(backoff, [this, ci, op, attempt]() {
    Client& cl = clients_[ci];
    if (cl.busy && cl.op == op && cl.attempt == attempt) sendAttempt(cl);
  });
}

void Workload::finish(Client& c, check::Outcome outcome, const ClientReply* r) {
  check::Operation& op = cluster_->mutable_history()->ops[c.history_index];
  op.outcome = outcome;
  op.return_time = outcome == check::Outcome::kUnknown ? check::kNever : cluster_->Now();
  if (r != nullptr) {
    op.read_value = r->value;
    op.cas_succeeded = r->cas_succeeded;
    int k = std::stoi(c.key.substr(1));
    if (c.is_read) {
      last_seen_[k] = r->value.value_or("");
    } else if (c.cmd.kind == check::OpKind::kPut || r->cas_succeeded) {
      last_seen_[k] = c.cmd.value;
    }
    if (!c.is_read && outcome == check::Outcome::kOk && options_.probe_deposed_leaders) {
      // A microsecond later, so that the write precedes the probes in real time.
      cluster_->After(1, [this, key = c.key]() { probeDeposedLeaders(key); });
    }
  }
  cluster_->Note(raft::kNoNode, "client done " + check::Describe(op));
  if (c.final_read && outcome != check::Outcome::kOk) ++final_reads_failed_;
  c.busy = false;
  --busy_;
  ++finished_;
  int ci = c.id - 1;
  cluster_->After(rng_->Range(0, options_.max_think),
                  [this, ci]() { maybeStartNext(clients_[ci]); });
}

}  // namespace raftkv::sim
