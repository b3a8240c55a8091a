#include "sim/check/linearizability.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>

namespace raftkv::check {
namespace {

using Verdict = LinearizabilityResult::Verdict;

Operation Put(int client, std::string key, std::string value, int64_t call, int64_t ret) {
  Operation op;
  op.client = client;
  op.kind = OpKind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.call_time = call;
  op.return_time = ret;
  op.outcome = Outcome::kOk;
  return op;
}

Operation Get(int client, std::string key, std::optional<std::string> read, int64_t call,
              int64_t ret) {
  Operation op;
  op.client = client;
  op.kind = OpKind::kGet;
  op.key = std::move(key);
  op.read_value = std::move(read);
  op.call_time = call;
  op.return_time = ret;
  op.outcome = Outcome::kOk;
  return op;
}

Operation Cas(int client, std::string key, std::string expected, std::string value, bool succeeded,
              int64_t call, int64_t ret) {
  Operation op;
  op.client = client;
  op.kind = OpKind::kCas;
  op.key = std::move(key);
  op.expected = std::move(expected);
  op.value = std::move(value);
  op.cas_succeeded = succeeded;
  op.call_time = call;
  op.return_time = ret;
  op.outcome = Outcome::kOk;
  return op;
}

Operation Unknown(Operation op) {
  op.outcome = Outcome::kUnknown;
  op.return_time = kNever;
  op.read_value.reset();
  op.cas_succeeded = false;
  return op;
}

Operation Failed(Operation op) {
  op.outcome = Outcome::kFail;
  return op;
}

LinearizabilityResult Check(std::vector<Operation> ops) {
  History h;
  h.ops = std::move(ops);
  return CheckLinearizable(h);
}

// ---- linearizable histories ----

TEST(Linearizability, CheckLinearizable_emptyHistory) {
  EXPECT_EQ(Check({}).verdict, Verdict::kLinearizable);
}

TEST(Linearizability, CheckLinearizable_sequentialOps) {
  auto r = Check({
      Get(1, "k", std::nullopt, 0, 10),
      Put(1, "k", "a", 20, 30),
      Get(2, "k", "a", 40, 50),
      Put(2, "k", "b", 60, 70),
      Get(1, "k", "b", 80, 90),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_concurrentPutGetSeesOldValue) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Put(1, "k", "b", 20, 60),
      Get(2, "k", "a", 30, 40),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_concurrentPutGetSeesNewValue) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Put(1, "k", "b", 20, 60),
      Get(2, "k", "b", 30, 40),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_concurrentGetsSeeOldThenNew) {
  // Two reads during one write: the later one may see the new value and the earlier the
  // old one, but not the other way round (checked in the failing section).
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Put(1, "k", "b", 20, 100),
      Get(2, "k", "a", 30, 40),
      Get(3, "k", "b", 50, 60),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_unknownPutThatTookEffect) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Unknown(Put(1, "k", "b", 20, 0)),
      Get(2, "k", "b", 100, 110),
      Get(2, "k", "b", 120, 130),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_unknownPutThatDidNotTakeEffect) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Unknown(Put(1, "k", "b", 20, 0)),
      Get(2, "k", "a", 100, 110),
      Put(2, "k", "c", 120, 130),
      Get(2, "k", "c", 140, 150),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_unknownPutTakesEffectLate) {
  // An unknown write may take effect long after its call, even between two later reads.
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Unknown(Put(1, "k", "b", 20, 0)),
      Get(2, "k", "a", 100, 110),
      Get(2, "k", "b", 200, 210),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_failedAndUnknownReadsCarryNoInformation) {
  auto r = Check({
      Failed(Put(1, "k", "x", 0, 5)),
      Put(1, "k", "a", 10, 20),
      Unknown(Get(2, "k", "zzz", 30, 0)),
      Get(2, "k", "a", 40, 50),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_casChain) {
  auto r = Check({
      Put(1, "k", "0", 0, 10),
      Cas(1, "k", "0", "1", true, 20, 30),
      Cas(2, "k", "0", "x", false, 25, 35),  // concurrent, lost the race
      Cas(2, "k", "1", "2", true, 40, 50),
      Cas(3, "k", "2", "3", true, 60, 70),
      Get(1, "k", "3", 80, 90),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_casOnAbsentKeyFails) {
  auto r = Check({
      Cas(1, "k", "", "x", false, 0, 10),
      Get(1, "k", std::nullopt, 20, 30),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_unknownCasThatTookEffect) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Unknown(Cas(1, "k", "a", "b", false, 20, 0)),
      Get(2, "k", "b", 100, 110),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_equalTimesCountAsConcurrent) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Get(2, "k", std::nullopt, 10, 20),  // called at the instant the put returned
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_unknownWriteNeverReadExplainsFailedCas) {
  // The cas can only have failed if the timed-out put of 'x' took effect before it.
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Unknown(Put(2, "k", "x", 20, 0)),
      Cas(3, "k", "a", "c", false, 30, 40),
  });
  EXPECT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
}

// ---- histories that are not linearizable ----

TEST(Linearizability, CheckLinearizable_staleReadIsViolation) {
  auto r = Check({
      Put(1, "k", "a", 0, 10), Put(1, "k", "b", 20, 30),
      Get(2, "k", "a", 40, 50),  // b completed before this read started
  });
  ASSERT_EQ(r.verdict, Verdict::kViolation);
  EXPECT_EQ(r.key, "k");
  EXPECT_NE(r.explanation.find("get(k) = ok 'a' [40, 50]"), std::string::npos) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_readsGoingBackInTimeIsViolation) {
  auto r = Check({
      Put(1, "k", "a", 0, 10), Put(1, "k", "b", 20, 100), Get(2, "k", "b", 30, 40),
      Get(3, "k", "a", 50, 60),  // after a read saw b, no read may see a
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_lostWriteIsViolation) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Put(2, "k", "b", 20, 30),  // acknowledged
      Get(3, "k", "a", 40, 50),  // but a later read returns the prior value
      Get(3, "k", "a", 60, 70),
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_readOfNeverWrittenValueIsViolation) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Get(2, "k", "ghost", 20, 30),
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_readOfAbsentAfterWriteIsViolation) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Get(2, "k", std::nullopt, 20, 30),
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_ambiguousOpsCannotExplainReadIsViolation) {
  // The only write of 'b' has unknown outcome, but it was invoked after the read returned.
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Get(2, "k", "b", 20, 30),
      Unknown(Put(1, "k", "b", 40, 0)),
      Unknown(Put(3, "k", "c", 5, 0)),
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_unknownWriteCannotBeUndoneIsViolation) {
  // An unknown write seen by one read stays in effect: a later read cannot see the old value.
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Unknown(Put(1, "k", "b", 20, 0)),
      Get(2, "k", "b", 30, 40),
      Get(2, "k", "a", 50, 60),
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_casClaimingImpossibleSuccessIsViolation) {
  auto r = Check({
      Put(1, "k", "a", 0, 10), Cas(2, "k", "x", "y", true, 20, 30),  // the value was never 'x'
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_twoCasSucceedingFromSameValueIsViolation) {
  auto r = Check({
      Put(1, "k", "0", 0, 10),
      Cas(1, "k", "0", "1", true, 20, 30),
      Cas(2, "k", "0", "2", true, 20, 30),
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_casFailingWhenItMustSucceedIsViolation) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Cas(2, "k", "a", "b", false, 20, 30),
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_failedPutDoesNotTakeEffect) {
  auto r = Check({
      Put(1, "k", "a", 0, 10),
      Failed(Put(1, "k", "b", 20, 30)),
      Get(2, "k", "b", 40, 50),
  });
  EXPECT_EQ(r.verdict, Verdict::kViolation);
}

TEST(Linearizability, CheckLinearizable_violationNamesTheKey) {
  auto r = Check({
      Put(1, "good", "a", 0, 10),
      Get(1, "good", "a", 20, 30),
      Put(1, "bad", "a", 0, 10),
      Put(1, "bad", "b", 20, 30),
      Get(2, "bad", "a", 40, 50),
  });
  ASSERT_EQ(r.verdict, Verdict::kViolation);
  EXPECT_EQ(r.key, "bad");
  EXPECT_NE(r.explanation.find("key 'bad'"), std::string::npos) << r.explanation;
  EXPECT_NE(r.explanation.find("put(bad, 'b') = ok [20, 30]"), std::string::npos) << r.explanation;
}

TEST(Linearizability, CheckLinearizable_manyUnknownWritesStayCheap) {
  // Forty timed-out puts pending at once, then a stale read: without pruning, the search
  // would try every subset of the unknown writes before concluding.
  std::vector<Operation> ops;
  ops.push_back(Put(0, "k", "a", 0, 10));
  for (int i = 0; i < 40; i++) {
    ops.push_back(Unknown(Put(i + 1, "k", "u" + std::to_string(i), 20 + i, 0)));
    if (i % 2 == 0) {  // some of them are read, so they are not simply dropped
      ops.push_back(Get(50, "k", "u" + std::to_string(i), 100 + 10 * i, 105 + 10 * i));
    }
  }
  ops.push_back(Cas(60, "k", "zz", "y", false, 600, 610));  // a failed cas: junk is kept
  ops.push_back(Put(61, "k", "b", 700, 710));
  ops.push_back(Get(62, "k", "a", 720, 730));  // stale: 'b' completed before
  History h;
  h.ops = ops;
  LinearizabilityOptions opts;
  opts.max_states_per_key = 100'000;
  auto r = CheckLinearizable(h, opts);
  EXPECT_EQ(r.verdict, Verdict::kViolation) << r.explanation;
  EXPECT_LT(r.states_explored, 100'000u);
}

TEST(Linearizability, CheckLinearizable_givesUpPastStateLimit) {
  std::vector<Operation> ops;
  // Many concurrent writes and a read that none of them explains: the search must try
  // many orders before it can conclude, which exceeds a tiny budget.
  for (int i = 0; i < 20; i++) ops.push_back(Put(i, "k", "v" + std::to_string(i), 0, 100));
  ops.push_back(Get(99, "k", "none", 0, 100));
  History h;
  h.ops = ops;
  LinearizabilityOptions opts;
  opts.max_states_per_key = 50;
  auto r = CheckLinearizable(h, opts);
  EXPECT_EQ(r.verdict, Verdict::kGaveUp);
  EXPECT_EQ(r.key, "k");
}

// ---- randomized property tests ----

struct RandomHistoryOptions {
  int ops = 200;
  int keys = 3;
  int64_t spread = 30;         // how far a call/return may lie from the linearization point
  double unknown_rate = 0.05;  // puts/cas of unknown outcome (half of them take effect)
};

// A sequential execution of a register per key, stretched into overlapping intervals that
// each contain the operation's linearization point: linearizable by construction.
History RandomLinearizableHistory(uint64_t seed, const RandomHistoryOptions& o) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::map<std::string, std::optional<std::string>> model;
  std::map<std::string, std::vector<std::string>> in_effect;  // values each key has held
  History h;
  for (int i = 0; i < o.ops; i++) {
    const int64_t point = 10 * i + o.spread;
    const std::string key = "k" + std::to_string(uniform(0, o.keys - 1));
    const int client = static_cast<int>(uniform(0, 9));
    const int64_t call = point - uniform(0, o.spread);
    const int64_t ret = point + uniform(0, o.spread);
    std::optional<std::string>& value = model[key];
    const int64_t dice = uniform(0, 99);
    Operation op;
    if (dice < 40) {
      op = Get(client, key, value, call, ret);
    } else if (dice < 75) {
      op = Put(client, key, "v" + std::to_string(i), call, ret);
    } else {
      // Expect the current value or an older one that was in effect (as a client that
      // read it earlier would).
      const std::vector<std::string>& past = in_effect[key];
      const bool hit = value.has_value() && uniform(0, 1) == 0;
      const std::string expected =
          hit || past.empty()
              ? value.value_or("none")
              : past[past.size() - 1 - uniform(0, std::min<int64_t>(5, past.size() - 1))];
      const bool swaps = value.has_value() && *value == expected;
      op = Cas(client, key, expected, "v" + std::to_string(i), swaps, call, ret);
    }
    bool takes_effect = true;
    if (op.kind != OpKind::kGet &&
        std::uniform_real_distribution<double>(0, 1)(rng) < o.unknown_rate) {
      op = Unknown(op);
      takes_effect = uniform(0, 1) == 0;
    }
    if (takes_effect && op.kind == OpKind::kPut) value = op.value;
    if (takes_effect && op.kind == OpKind::kCas && value.has_value() && *value == op.expected) {
      value = op.value;
    }
    if (value && (in_effect[key].empty() || in_effect[key].back() != *value)) {
      in_effect[key].push_back(*value);
    }
    h.ops.push_back(op);
  }
  return h;
}

TEST(Linearizability, CheckLinearizable_randomHistoriesPassAndMutatedReadFails) {
  for (uint64_t seed = 1; seed <= 300; seed++) {
    RandomHistoryOptions o;
    o.ops = 60 + static_cast<int>(seed % 100);
    o.keys = 1 + static_cast<int>(seed % 3);
    History h = RandomLinearizableHistory(seed, o);
    auto r = CheckLinearizable(h);
    ASSERT_EQ(r.verdict, Verdict::kLinearizable) << "seed " << seed << "\n" << r.explanation;

    // Mutate one successful read to a value nobody wrote.
    std::vector<size_t> reads;
    for (size_t i = 0; i < h.ops.size(); i++) {
      if (h.ops[i].kind == OpKind::kGet && h.ops[i].outcome == Outcome::kOk) reads.push_back(i);
    }
    ASSERT_FALSE(reads.empty());
    Operation& victim = h.ops[reads[seed % reads.size()]];
    victim.read_value = "impossible";
    auto bad = CheckLinearizable(h);
    ASSERT_EQ(bad.verdict, Verdict::kViolation) << "seed " << seed;
    EXPECT_EQ(bad.key, victim.key);
  }
}

TEST(Linearizability, CheckLinearizable_randomHistoryWithStaleReadFails) {
  // Make one read return the value of the write before the last one that completed before
  // the read started (a stale read), on a single key with no concurrency around it.
  for (uint64_t seed = 1; seed <= 50; seed++) {
    RandomHistoryOptions o;
    o.keys = 1;
    o.unknown_rate = 0;
    History h = RandomLinearizableHistory(seed, o);
    const int64_t gap_start = 10 * static_cast<int64_t>(h.ops.size()) + 100;
    h.ops.push_back(Put(1, "k0", "old", gap_start, gap_start + 5));
    h.ops.push_back(Put(1, "k0", "new", gap_start + 10, gap_start + 15));
    h.ops.push_back(Get(2, "k0", "old", gap_start + 20, gap_start + 25));
    EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kViolation) << "seed " << seed;
  }
}

// Reference semantics by exhaustive search: every subset of the unknown-outcome writes,
// every order of the chosen operations that respects real time.
bool BruteForceLinearizable(const std::vector<Operation>& all) {
  std::vector<Operation> must, may;
  for (const Operation& op : all) {
    if (op.outcome == Outcome::kFail) continue;
    if (op.outcome == Outcome::kUnknown && op.kind == OpKind::kGet) continue;
    (op.outcome == Outcome::kOk ? must : may).push_back(op);
  }
  for (uint32_t mask = 0; mask < (1u << may.size()); mask++) {
    std::vector<Operation> ops = must;
    for (size_t i = 0; i < may.size(); i++) {
      if (mask & (1u << i)) ops.push_back(may[i]);
    }
    std::vector<int> order(ops.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = static_cast<int>(i);
    do {
      bool ok = true;
      for (size_t a = 0; a < order.size() && ok; a++) {
        for (size_t b = a + 1; b < order.size() && ok; b++) {
          // b placed after a: b must not have returned before a was called.
          const Operation& x = ops[order[a]];
          const Operation& y = ops[order[b]];
          if (y.outcome == Outcome::kOk && y.return_time < x.call_time) ok = false;
        }
      }
      std::optional<std::string> state;
      for (size_t k = 0; k < order.size() && ok; k++) {
        const Operation& op = ops[order[k]];
        switch (op.kind) {
          case OpKind::kPut: state = op.value; break;
          case OpKind::kGet: ok = state == op.read_value; break;
          case OpKind::kCas: {
            const bool matches = state.has_value() && *state == op.expected;
            if (op.outcome == Outcome::kOk && matches != op.cas_succeeded) ok = false;
            if (matches) state = op.value;
            break;
          }
        }
      }
      if (ok) return true;
    } while (std::next_permutation(order.begin(), order.end()));
  }
  return false;
}

TEST(Linearizability, CheckLinearizable_agreesWithBruteForceOnSmallHistories) {
  std::mt19937_64 rng(2026);
  auto pick = [&](int n) {
    return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng));
  };
  // Few values, so that many coincide; "d" and "e" are never read nor expected.
  const std::vector<std::string> values = {"a", "b", "c", "d", "e"};
  int linearizable = 0;
  for (int round = 0; round < 4000; round++) {
    std::vector<Operation> ops;
    const int n = 2 + pick(7);
    for (int i = 0; i < n; i++) {
      const int64_t call = pick(40);
      const int64_t ret = call + pick(15);
      const int kind = pick(3);
      Operation op;
      if (kind == 0) {
        op = Put(i, "k", values[pick(5)], call, ret);
      } else if (kind == 1) {
        const int r = pick(4);
        op = Get(i, "k", r == 3 ? std::nullopt : std::optional<std::string>(values[r]), call, ret);
      } else {
        op = Cas(i, "k", values[pick(3)], values[pick(5)], pick(2) == 0, call, ret);
      }
      const int outcome = pick(10);
      if (outcome < 3) op = Unknown(op);
      if (outcome == 3) op = Failed(op);
      ops.push_back(op);
    }
    const bool expected = BruteForceLinearizable(ops);
    const auto r = Check(ops);
    linearizable += expected ? 1 : 0;
    std::string dump;
    for (const Operation& op : ops) dump += Describe(op) + "\n";
    ASSERT_EQ(r.verdict, expected ? Verdict::kLinearizable : Verdict::kViolation)
        << "round " << round << "\n"
        << dump << r.explanation;
  }
  // Both verdicts were exercised.
  EXPECT_GT(linearizable, 400);
  EXPECT_LT(linearizable, 3600);
}

TEST(Linearizability, CheckLinearizable_largeHistoryIsFast) {
  RandomHistoryOptions o;
  o.ops = 5000;
  o.keys = 5;
  o.spread = 40;  // about eight operations in flight at any time
  History h = RandomLinearizableHistory(42, o);
  const auto start = std::chrono::steady_clock::now();
  auto r = CheckLinearizable(h);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  ASSERT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
  // Near-linear search: a handful of states per operation, not an exponential blow-up.
  EXPECT_LT(r.states_explored, 20u * h.ops.size());
  EXPECT_LT(ms, 2000) << "states " << r.states_explored;
}

TEST(Linearizability, CheckLinearizable_largeSingleKeyHistoryIsFast) {
  RandomHistoryOptions o;
  o.ops = 5000;
  o.keys = 1;
  o.spread = 40;
  History h = RandomLinearizableHistory(7, o);
  auto r = CheckLinearizable(h);
  ASSERT_EQ(r.verdict, Verdict::kLinearizable) << r.explanation;
  EXPECT_LT(r.states_explored, 20u * h.ops.size());
}

}  // namespace
}  // namespace raftkv::check
