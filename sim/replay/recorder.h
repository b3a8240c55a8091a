// ReplayRecorder: records a simulated run for the HTML replay (replay_html.h). It is a
// SimObserver, so it only watches: after every event it compares each node's state (role,
// term, vote, leader, commit/applied/last/first index, up or down, configuration) and log
// (index/term cells) with what it saw last and keeps the differences; it keeps every
// message the network scheduled or lost, with its fate; the links between nodes; the trace's
// notes (faults, phases, snapshots); violations with their virtual time; and, at the end,
// the client history. Nothing it does draws randomness or schedules events, so the run is
// the same with and without it.
//
// Memory: about 48 bytes per message and 16 per other change; a 2,000-operation 5-node run
// holds a few tens of MB while recording; the page encodes it compactly (replay_html.cc).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim/check/history.h"
#include "sim/observer.h"

namespace raftkv::sim {

// What the recorder saw, ready to be encoded.
struct ReplayData {
  // Fields of a node's state, in the order of their bits in a kNode record's mask.
  enum Field : uint8_t {
    kRole = 0,  // raft::Role; 4 = down
    kTerm = 1,
    kVote = 2,
    kLead = 3,
    kCommit = 4,
    kApplied = 5,
    kLast = 6,
    kFirst = 7,    // first index in the log (1 + the snapshot/compaction point)
    kDurable = 8,  // last index known durable (the last completed disk write)
    kConf = 9,     // string id of the node's configuration ("1,2,3|l4")
    kSnap = 10,    // index of the node's newest state machine snapshot
    kFields = 11,
  };
  // One change, in time order.
  struct Record {
    enum Kind : uint8_t {
      kNode = 1,       // node `a`: fields in `mask` changed; values in `values`
      kLog = 2,        // node `a`: log kept up to `b`, then `values` are the terms of b+1...
      kNote = 3,       // node `a` (0: cluster): text `b` (a string id)
      kLink = 4,       // link a->b is now up (c = 1) or cut (c = 0)
      kViolation = 5,  // text `b` (a string id)
    };
    int64_t at = 0;
    Kind kind = kNote;
    uint64_t a = 0, b = 0, c = 0;
    uint32_t mask = 0;
    std::vector<uint64_t> values;
  };
  struct Msg {
    // What became of one copy of a message.
    enum Fate : uint8_t {
      kInFlight = 0,       // the run ended first
      kDelivered = 1,      // handed to a live receiver
      kLostInFlight = 2,   // the link was cut while it travelled
      kReceiverDown = 3,   // arrived at a crashed node
      kDroppedCut = 4,     // lost at send: link cut
      kDroppedRandom = 5,  // lost at send: random loss
      kDroppedHook = 6,    // lost at send: the scenario's rule
    };
    int64_t sent = 0;
    int64_t arrive = 0;  // == sent for drops at send
    uint64_t from = 0, to = 0, term = 0, index = 0, log_term = 0, commit = 0;
    uint32_t entries = 0;
    uint8_t type = 0;
    Fate fate = kInFlight;
    bool reject = false;
    bool duplicate = false;
    bool delayed = false;  // took longer than the network's normal maximum delay
  };

  std::vector<uint64_t> nodes;  // ids, in order
  std::vector<Record> records;
  std::vector<Msg> msgs;  // in send order
  std::vector<std::string> strings;
  std::unordered_map<std::string, uint64_t> string_ids;
  // (index, term) -> label (string id) of every entry seen in any log.
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> entry_labels;
  check::History history;
  int64_t end = 0;
  uint64_t trace_hash = 0;
  int64_t normal_delay = 0;  // network's max normal delay at the start (µs)

  uint64_t Intern(const std::string& s);
};

class ReplayRecorder : public SimObserver {
 public:
  ReplayRecorder();
  const ReplayData& data() const { return data_; }
  // True once a whole run was recorded (the cluster was built and destroyed).
  bool finished() const { return finished_; }

  void OnStart(const Cluster& cluster) override;
  void OnEnd(const Cluster& cluster) override;
  void OnSync(const Cluster& cluster) override;
  void OnTrace(const TraceEvent& event) override;
  uint64_t OnScheduled(const raft::Message& msg, Time now, Time arrive, bool duplicate) override;
  void OnArrival(uint64_t token, bool link_up) override;
  void OnDropped(const raft::Message& msg, Time now, Drop why) override;

 private:
  struct NodeView {
    uint64_t fields[ReplayData::kFields] = {};
    std::vector<uint64_t> terms;  // terms[i] = term of index first_seen + i ... see cc
  };
  void syncNode(const Cluster& c, size_t slot, uint64_t id);
  void syncLog(const Cluster& c, size_t slot, uint64_t id);
  void syncLinks(const Cluster& c);
  void syncViolations(const Cluster& c);
  std::string entryLabel(const Cluster& c, uint64_t id, uint64_t index);

  ReplayData data_;
  // Only the first cluster the recorder is attached to is recorded (options copied to a
  // second cluster are ignored).
  bool active_ = false, finished_ = false;
  const Cluster* cluster_ = nullptr;
  Time now_ = 0;
  std::vector<NodeView> views_;
  std::vector<bool> links_;  // n*n, row = from
  size_t violations_seen_ = 0;
  std::vector<uint64_t> durable_;  // per slot, from the trace's persist events
  std::unordered_map<uint64_t, size_t> slot_of_;
};

}  // namespace raftkv::sim
