// Linearizability checking, after Wing & Gong (1993) with Lowe's memoisation (2017), the
// algorithm of the "porcupine" checker.
//
// Each key's sub-history becomes a doubly linked list of call and return events sorted by
// time. The search walks the list: at a call it tries to linearize that operation now (the
// model must accept it in the current register state); it then removes the call and its
// return from the list ("lift") and restarts from the head. Reaching a return means the
// operation that returns there was not linearized before it returned: undo the most recent
// choice ("unlift") and try the next call after it. A (set of linearized operations,
// register state) pair already explored cannot lead anywhere new, so it is cached.
//
// Operations of unknown outcome have no return event: nothing forces them to be
// linearized, so the search succeeds as soon as every operation that did return is
// linearized. Unknown puts whose value nothing ever observes ("junk writes", typical of
// timed-out requests that never took effect) would make a failing search explore every
// subset of them; see KeyHistoryBuilder::classifyJunkWrites for how they are tamed.
#include "sim/check/linearizability.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "common/check.h"

namespace raftkv::check {

namespace {

using ValueId = int32_t;  // interned value; kAbsent = the key does not exist
constexpr ValueId kAbsent = -1;
constexpr ValueId kJunk = -2;  // the value of every junk write: nothing observes it

// One operation of a single key's sub-history, with values interned.
struct KeyOp {
  const Operation* op = nullptr;  // for explanations
  OpKind kind = OpKind::kGet;
  ValueId value = kAbsent;     // put: value written; cas: new value
  ValueId expected = kAbsent;  // cas: expected value
  ValueId read = kAbsent;      // ok get: value read
  bool cas_succeeded = false;  // ok cas
  bool unknown = false;        // may or may not have taken effect; never returns
  int junk_rank = -1;          // junk write: its rank among them in call order
};

// The sequential specification of one register. Returns whether `op` may take effect in
// `state`, and the state after it.
bool StepModel(const KeyOp& op, ValueId state, ValueId* next) {
  *next = state;
  switch (op.kind) {
    case OpKind::kPut: *next = op.value; return true;
    case OpKind::kGet: return state == op.read;
    case OpKind::kCas: {
      const bool matches = state != kAbsent && state == op.expected;
      // An unknown cas that takes effect but does not swap changes nothing, which is the
      // same as not linearizing it at all; so only the swapping case is worth trying.
      const bool swaps = op.unknown ? true : op.cas_succeeded;
      if (matches != swaps) return false;
      if (swaps) *next = op.value;
      return true;
    }
  }
  return false;
}

uint64_t Mix64(uint64_t x) {  // splitmix64's finaliser
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Set of (linearized-set bitset, state) pairs: open addressing, bitsets in one arena.
class StateCache {
 public:
  explicit StateCache(size_t words) : words_(words), slots_(1024) {}

  // Returns true if the pair was not there (and adds it).
  bool Insert(const uint64_t* bits, uint64_t bits_hash, ValueId state) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const uint64_t h =
        Mix64(bits_hash ^ (static_cast<uint64_t>(static_cast<uint32_t>(state)) << 32));
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.offset == kEmpty) {
        s = Slot{h, arena_.size(), state};
        arena_.insert(arena_.end(), bits, bits + words_);
        ++size_;
        return true;
      }
      if (s.hash == h && s.state == state &&
          std::memcmp(arena_.data() + s.offset, bits, words_ * sizeof(uint64_t)) == 0) {
        return false;
      }
    }
  }

  size_t Bytes() const {
    return arena_.capacity() * sizeof(uint64_t) + slots_.size() * sizeof(Slot);
  }

 private:
  static constexpr size_t kEmpty = ~size_t{0};
  struct Slot {
    uint64_t hash = 0;
    size_t offset = kEmpty;
    ValueId state = kAbsent;
  };

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.offset == kEmpty) continue;
      size_t i = s.hash & mask;
      while (slots_[i].offset != kEmpty) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  size_t words_;
  std::vector<Slot> slots_;
  std::vector<uint64_t> arena_;
  size_t size_ = 0;
};

// One key's operations ready for the search; values[id] names an interned value.
struct KeyHistory {
  std::vector<KeyOp> ops;
  std::vector<std::string> values;
};

// Interns the values of one key's operations and drops what carries no information.
class KeyHistoryBuilder {
 public:
  KeyHistory Build(const std::vector<const Operation*>& ops) {
    std::vector<KeyOp> out;
    for (const Operation* op : ops) {
      if (op->outcome == Outcome::kFail) continue;  // did not take effect
      const bool unknown = op->outcome == Outcome::kUnknown;
      if (unknown && op->kind == OpKind::kGet) continue;  // a read nobody saw: no information
      KeyOp k;
      k.op = op;
      k.kind = op->kind;
      k.unknown = unknown;
      if (op->kind != OpKind::kGet) k.value = intern(op->value);
      if (op->kind == OpKind::kCas) k.expected = intern(op->expected);
      if (op->kind == OpKind::kGet) k.read = op->read_value ? intern(*op->read_value) : kAbsent;
      k.cas_succeeded = op->cas_succeeded;
      out.push_back(k);
    }
    classifyJunkWrites(&out);
    return KeyHistory{std::move(out), std::move(values_)};
  }

 private:
  ValueId intern(const std::string& v) {
    auto [it, inserted] = ids_.try_emplace(v, static_cast<ValueId>(ids_.size()));
    if (inserted) values_.push_back(v);
    return it->second;
  }

  // A junk write is an unknown put whose value no operation observes: no ok get reads it
  // and no cas expects it. In a linearization it is either followed by another write
  // (then removing it changes nothing) or only by failed cas operations, which see "some
  // value other than the one expected". So:
  //  - without ok failed cas operations on the key, junk writes are dropped;
  //  - otherwise they all write one common value kJunk, which makes them interchangeable,
  //    and the search linearizes them only in call order (junk_rank): if some set of m
  //    junk writes fits a linearization, the m earliest-called ones fit it too (the i-th
  //    earliest was called no later than the i-th one placed). m subsets instead of 2^m.
  static void classifyJunkWrites(std::vector<KeyOp>* ops) {
    std::unordered_set<ValueId> observed;
    bool failed_cas = false;
    for (const KeyOp& k : *ops) {
      if (k.kind == OpKind::kGet) observed.insert(k.read);
      if (k.kind == OpKind::kCas) observed.insert(k.expected);
      if (k.kind == OpKind::kCas && !k.unknown && !k.cas_succeeded) failed_cas = true;
    }
    auto is_junk = [&](const KeyOp& k) {
      return k.unknown && k.kind == OpKind::kPut && !observed.contains(k.value);
    };
    if (!failed_cas) {
      std::erase_if(*ops, is_junk);
      return;
    }
    std::vector<KeyOp*> junk;
    for (KeyOp& k : *ops) {
      if (is_junk(k)) junk.push_back(&k);
    }
    std::stable_sort(junk.begin(), junk.end(), [](const KeyOp* a, const KeyOp* b) {
      return a->op->call_time < b->op->call_time;
    });
    for (size_t i = 0; i < junk.size(); i++) {
      junk[i]->value = kJunk;
      junk[i]->junk_rank = static_cast<int>(i);
    }
  }

  std::unordered_map<std::string, ValueId> ids_;
  std::vector<std::string> values_;
};

struct KeyResult {
  LinearizabilityResult::Verdict verdict = LinearizabilityResult::Verdict::kLinearizable;
  std::string explanation;
  uint64_t states = 0;
};

// Wing & Gong search over one key's operations.
class KeySearch {
 public:
  KeySearch(const std::string& key, KeyHistory h, const LinearizabilityOptions& opts)
      : key_(key), ops_(std::move(h.ops)), values_(std::move(h.values)), opts_(opts) {}

  KeyResult Run();

 private:
  struct Frame {
    int op;
    ValueId prev_state;
  };
  // Progress at the deepest point the search reached, for the explanation.
  struct Best {
    int depth = -1;
    std::vector<uint64_t> bits;
    ValueId state = kAbsent;
    std::vector<int> last_ops;  // the last few linearized operations, in order
    int stuck_op = -1;          // the operation whose return the search could not pass
  };

  int n() const { return static_cast<int>(ops_.size()); }
  int head() const { return 2 * n(); }
  int tail() const { return 2 * n() + 1; }
  bool isCall(int node) const { return node < 2 * n() && node % 2 == 0; }
  bool hasReturn(int op) const { return !ops_[op].unknown; }

  void buildEventList();
  void unlink(int node) {
    next_[prev_[node]] = next_[node];
    prev_[next_[node]] = prev_[node];
  }
  void relink(int node) {
    next_[prev_[node]] = node;
    prev_[next_[node]] = node;
  }
  void lift(int op) {
    unlink(2 * op);
    if (hasReturn(op)) unlink(2 * op + 1);
  }
  void unlift(int op) {  // exact reverse of lift
    if (hasReturn(op)) relink(2 * op + 1);
    relink(2 * op);
  }
  void flip(int op) {
    bits_[op / 64] ^= uint64_t{1} << (op % 64);
    bits_hash_ ^= Mix64(static_cast<uint64_t>(op) + 1);
  }
  bool worthTrying(int op, int junk_next) const;
  bool lastWriteWasInvisible() const;
  void maybeRecordBest(int return_node, ValueId state);
  std::string explainViolation() const;
  std::string valueName(ValueId v) const;

  std::string key_;
  std::vector<KeyOp> ops_;
  std::vector<std::string> values_;
  const LinearizabilityOptions& opts_;
  std::vector<int> next_, prev_;
  std::vector<uint64_t> bits_;
  uint64_t bits_hash_ = 0;
  std::vector<Frame> stack_;
  Best best_;
};

void KeySearch::buildEventList() {
  struct Event {
    int64_t time;
    bool is_return;
    int node;
  };
  std::vector<Event> events;
  events.reserve(2 * ops_.size());
  for (int i = 0; i < n(); i++) {
    const Operation& op = *ops_[i].op;
    events.push_back({op.call_time, false, 2 * i});
    if (hasReturn(i)) {
      RAFTKV_CHECK(op.return_time >= op.call_time,
                   "history: an operation returned before its call");
      events.push_back({op.return_time, true, 2 * i + 1});
    }
  }
  // Equal times count as concurrent (calls first): never report a violation that depends
  // on the order of two events at the same virtual instant.
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.is_return != b.is_return) return !a.is_return;
    return a.node < b.node;
  });
  next_.assign(2 * n() + 2, -1);
  prev_.assign(2 * n() + 2, -1);
  int last = head();
  for (const Event& e : events) {
    next_[last] = e.node;
    prev_[e.node] = last;
    last = e.node;
  }
  next_[last] = tail();
  prev_[tail()] = last;
}

KeyResult KeySearch::Run() {
  KeyResult result;
  buildEventList();
  bits_.assign((ops_.size() + 63) / 64 + 1, 0);
  StateCache cache(bits_.size());
  int remaining = 0;  // operations that returned and are not linearized yet
  int junk_next = 0;  // rank of the only junk write that may be linearized next
  for (int i = 0; i < n(); i++) remaining += hasReturn(i) ? 1 : 0;

  ValueId state = kAbsent;
  cache.Insert(bits_.data(), bits_hash_, state);
  int node = next_[head()];
  while (remaining > 0) {
    if (isCall(node)) {
      const int op = node / 2;
      ValueId after;
      if (worthTrying(op, junk_next) && StepModel(ops_[op], state, &after)) {
        flip(op);
        if (cache.Insert(bits_.data(), bits_hash_, after)) {
          if (++result.states > opts_.max_states_per_key || cache.Bytes() > opts_.max_cache_bytes) {
            result.verdict = LinearizabilityResult::Verdict::kGaveUp;
            result.explanation = "key '" + key_ + "': gave up after " +
                                 std::to_string(result.states) + " states (" + std::to_string(n()) +
                                 " operations, " + std::to_string(cache.Bytes() >> 20) +
                                 " MiB of cache)";
            return result;
          }
          stack_.push_back({op, state});
          state = after;
          lift(op);
          if (hasReturn(op)) remaining--;
          if (ops_[op].junk_rank >= 0) junk_next++;
          node = next_[head()];
          continue;
        }
        flip(op);  // explored already
      }
      node = next_[node];
      continue;
    }
    // A return (or the end): the operation returning here was not linearized in time.
    maybeRecordBest(node, state);
    if (stack_.empty()) {
      result.verdict = LinearizabilityResult::Verdict::kViolation;
      result.explanation = explainViolation();
      return result;
    }
    const Frame f = stack_.back();
    stack_.pop_back();
    state = f.prev_state;
    flip(f.op);
    unlift(f.op);
    if (hasReturn(f.op)) remaining++;
    if (ops_[f.op].junk_rank >= 0) junk_next--;
    node = next_[2 * static_cast<size_t>(f.op)];
  }
  return result;
}

// Prunes choices that cannot lead anywhere the search does not also reach another way.
bool KeySearch::worthTrying(int op, int junk_next) const {
  // Junk writes only in call order (see classifyJunkWrites).
  if (ops_[op].junk_rank >= 0 && ops_[op].junk_rank != junk_next) return false;
  // A put right after an invisible unknown write: see lastWriteWasInvisible.
  if (ops_[op].kind == OpKind::kPut && lastWriteWasInvisible()) return false;
  return true;
}

// True if the most recent write on the stack is of unknown outcome and every read
// linearized after it would also have been correct without it. A put linearized next
// would then overwrite it unseen: the same sequence without that write is explored too
// (from its parent state the put is just as available) and leaves the write free for
// later. Without this rule every pending unknown write doubles the states of a search.
bool KeySearch::lastWriteWasInvisible() const {
  for (size_t i = stack_.size(); i-- > 0;) {
    const KeyOp& w = ops_[stack_[i].op];
    const bool is_write =
        w.kind == OpKind::kPut || (w.kind == OpKind::kCas && (w.unknown || w.cas_succeeded));
    if (!is_write) continue;
    if (!w.unknown) return false;
    const ValueId before = stack_[i].prev_state;
    ValueId ignored;
    for (size_t j = i + 1; j < stack_.size(); j++) {
      if (!StepModel(ops_[stack_[j].op], before, &ignored)) return false;
    }
    return true;
  }
  return false;
}

void KeySearch::maybeRecordBest(int return_node, ValueId state) {
  const int depth = static_cast<int>(stack_.size());
  if (depth <= best_.depth) return;
  best_.depth = depth;
  best_.bits = bits_;
  best_.state = state;
  best_.last_ops.clear();
  for (size_t i = stack_.size() > 5 ? stack_.size() - 5 : 0; i < stack_.size(); i++) {
    best_.last_ops.push_back(stack_[i].op);
  }
  best_.stuck_op = return_node < 2 * n() ? return_node / 2 : -1;
}

std::string KeySearch::valueName(ValueId v) const {
  if (v == kAbsent) return "absent";
  if (v == kJunk) return "(a value written by a timed-out put and never read)";
  return "'" + values_[v] + "'";
}

std::string KeySearch::explainViolation() const {
  int unknown = 0;
  for (const KeyOp& k : ops_) unknown += k.unknown ? 1 : 0;
  std::string s = "key '" + key_ + "': no linearization of its " + std::to_string(n()) +
                  " operations (" + std::to_string(unknown) + " of unknown outcome).\n";
  s += "Longest linearizable prefix: " + std::to_string(best_.depth) + " operations";
  if (!best_.last_ops.empty()) s += ", ending with";
  s += ":\n";
  for (int op : best_.last_ops) s += "  " + Describe(*ops_[op].op) + "\n";
  s += "Register value then: " + valueName(best_.state) + "\n";
  if (best_.stuck_op < 0) return s;
  const Operation& stuck = *ops_[best_.stuck_op].op;
  s += "No pending operation can be linearized next such that this one fits before it "
       "returns:\n  " +
       Describe(stuck) + "\n";
  // The candidates the search tried at that point: called before the stuck operation
  // returned and not linearized.
  std::vector<int> pending;
  for (int i = 0; i < n(); i++) {
    const bool linearized = (best_.bits[i / 64] >> (i % 64)) & 1;
    if (!linearized && i != best_.stuck_op && ops_[i].op->call_time <= stuck.return_time) {
      pending.push_back(i);
    }
  }
  std::sort(pending.begin(), pending.end(),
            [&](int a, int b) { return ops_[a].op->call_time < ops_[b].op->call_time; });
  constexpr size_t kShown = 12;
  if (pending.size() > kShown) pending.erase(pending.begin(), pending.end() - kShown);
  if (!pending.empty())
    s += "Other pending operations then (last " + std::to_string(pending.size()) + "):\n";
  for (int op : pending) s += "  " + Describe(*ops_[op].op) + "\n";
  return s;
}

}  // namespace

LinearizabilityResult CheckLinearizable(const History& history,
                                        const LinearizabilityOptions& options) {
  std::map<std::string, std::vector<const Operation*>> by_key;
  for (const Operation& op : history.ops) by_key[op.key].push_back(&op);

  LinearizabilityResult result;
  for (const auto& [key, ops] : by_key) {
    KeyHistoryBuilder builder;
    KeySearch search(key, builder.Build(ops), options);
    KeyResult r = search.Run();
    result.states_explored += r.states;
    if (r.verdict == LinearizabilityResult::Verdict::kViolation) {
      result.verdict = r.verdict;
      result.key = key;
      result.explanation = std::move(r.explanation);
      return result;
    }
    if (r.verdict == LinearizabilityResult::Verdict::kGaveUp &&
        result.verdict == LinearizabilityResult::Verdict::kLinearizable) {
      result.verdict = r.verdict;  // keep looking: a violation elsewhere is more useful
      result.key = key;
      result.explanation = std::move(r.explanation);
    }
  }
  return result;
}

}  // namespace raftkv::check
