// L5 in a running cluster: "Log and snapshot layout that is fast to append and fast to read
// back", told in the simulator with its disk model on (every node's log is a real
// storage::DiskStorage on its own FaultFileSystem), so that it has a replay like every other
// question. storage_layout_test.cc counts the same layout on one DiskStorage in detail
// (write offsets, preallocation, the bytes of each file read back); this story shows it
// happening among the messages of a live cluster:
//  - group commit: writes that arrive together are appended by one Ready, which is one WAL
//    write and one fdatasync; every Ready of every node is checked (a segment rotation, a
//    snapshot and a restart excepted, which do their own file work);
//  - snapshots: each node snapshots its small state machine and compacts its log, deleting
//    the WAL segments the snapshot covers (hatched cells in the replay);
//  - reading back: a follower loses power and restarts from its newest snapshot plus the WAL
//    after it: it reads a fraction of the log it wrote and replays only the tail.
// The measured numbers are written into the run as notes (the replay's "What happened").
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/trace.h"
#include "storage/fault_fs.h"
#include "storage/snapshot_file.h"
#include "tests/scenarios/scenario_util.h"

namespace raftkv::scenario {
namespace {

constexpr const char* kDataDir = "/data";  // where a simulated node keeps its files
constexpr uint64_t kClient = 7;            // this story's own client (sessions: C2)
constexpr int kKeys = 10;                  // few keys, big values: the log outgrows the state

std::string Payload(int i) {
  return "v" + std::to_string(i) + "-" + std::string(1000, 'x');
}

// The WAL segments and snapshot files in a node's data directory, with their sizes.
struct DirListing {
  std::map<std::string, uint64_t> segments, snapshots;
  uint64_t SegmentBytes() const {
    uint64_t n = 0;
    for (const auto& [name, size] : segments) n += size;
    return n;
  }
};

DirListing ListDir(storage::FaultFileSystem& fs) {
  DirListing out;
  auto names = fs.List(kDataDir);
  if (!names.ok()) return out;
  for (const std::string& n : *names) {
    const std::string path = std::string(kDataDir) + "/" + n;
    if (n.starts_with("wal-") && n.ends_with(".log")) out.segments[n] = fs.FileSize(path).value();
    if (n.ends_with(".snap")) out.snapshots[n] = fs.FileSize(path).value();
  }
  return out;
}

// Watches every node's durable writes (the trace's persist events) and checks that each
// Ready costs one WAL write and at most one fdatasync, exactly one if it appended entries.
class DiskWatch {
 public:
  struct Node {
    // Baseline: the file system's counters after the last checked Ready.
    uint64_t writes = 0, syncs = 0;
    Index durable = 0;
    std::vector<std::string> segment_names, snapshot_names;
    // What was seen.
    uint64_t readies = 0, appending_readies = 0, appended = 0, rotations = 0, installs = 0;
    std::map<std::string, uint64_t> segments_ever;  // name -> largest size seen
  };

  explicit DiskWatch(Cluster& c) : c_(c) {
    for (NodeId id : c_.NodeIds()) Rebase(id);
    c_.SetEventListener([this](const sim::TraceEvent& ev) { onEvent(ev); });
  }
  ~DiskWatch() { c_.SetEventListener(nullptr); }

  // Takes node `id`'s counters as they are now (after work that is not a Ready: its own
  // snapshot, a restart).
  void Rebase(NodeId id) {
    Node& n = nodes_[id];
    storage::FaultFileSystem& fs = *c_.FaultFs(id);
    n.writes = fs.write_count();
    n.syncs = fs.sync_count();
    n.durable = c_.PersistedLastIndex(id);
    const DirListing files = ListDir(fs);
    n.segment_names.clear();
    for (const auto& [name, size] : files.segments) {
      n.segment_names.push_back(name);
      n.segments_ever[name] = std::max(n.segments_ever[name], size);
    }
    n.snapshot_names.clear();
    for (const auto& [name, size] : files.snapshots) n.snapshot_names.push_back(name);
  }

  const Node& Of(NodeId id) const { return nodes_.at(id); }
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  void onEvent(const sim::TraceEvent& ev) {
    if (ev.kind == sim::TraceEvent::Kind::kNote && ev.text.starts_with("SNAPSHOT at")) {
      Rebase(ev.node);  // its own snapshot: a snapshot file, a compaction
      return;
    }
    if (ev.kind != sim::TraceEvent::Kind::kPersist) return;
    Node& n = nodes_[ev.node];
    storage::FaultFileSystem& fs = *c_.FaultFs(ev.node);
    const uint64_t writes = fs.write_count() - n.writes, syncs = fs.sync_count() - n.syncs;
    const Index durable_before = n.durable;
    const std::vector<std::string> segments_before = n.segment_names;
    const std::vector<std::string> snapshots_before = n.snapshot_names;
    Rebase(ev.node);
    ++n.readies;
    if (n.segment_names != segments_before) {
      ++n.rotations;  // a new segment: cut, header, preallocation, rename, directory sync
      return;
    }
    if (n.snapshot_names != snapshots_before) {
      ++n.installs;  // a leader's snapshot installed: its file first, then the WAL record
      return;
    }
    const bool appended = ev.index > durable_before;
    if (appended) {
      ++n.appending_readies;
      n.appended += ev.index - durable_before;
    }
    if (writes != 1 || syncs > 1 || (appended && syncs != 1)) {
      failures_.push_back("n" + std::to_string(ev.node) + " at " + sim::FormatTime(ev.at) +
                          ": a Ready persisting up to " + std::to_string(ev.index) + " cost " +
                          std::to_string(writes) + " writes and " + std::to_string(syncs) +
                          " syncs");
    }
  }

  Cluster& c_;
  std::map<NodeId, Node> nodes_;
  std::vector<std::string> failures_;
};

// Client writes of this story, sent together without waiting, recorded in the history so
// that the replay's client panel shows them.
class Writer {
 public:
  explicit Writer(Cluster& c) : c_(c) {}

  // Submits `count` puts through `via` at this instant and runs until every one is answered.
  bool PutTogether(NodeId via, int count, Time timeout = 5 * kSecond) {
    std::vector<size_t> ops;
    auto answered = std::make_shared<int>(0);
    for (int k = 0; k < count; ++k, ++next_) {
      check::Operation op;
      op.client = static_cast<int>(kClient);
      op.kind = check::OpKind::kPut;
      op.key = "k" + std::to_string(next_ % kKeys);
      op.value = Payload(next_);
      op.call_time = c_.Now();
      const size_t at = c_.mutable_history()->ops.size();
      c_.mutable_history()->ops.push_back(op);
      Cluster* cp = &c_;
      c_.SubmitWrite(via, PutCommand(kClient, ++seq_, op.key, op.value),
                     [cp, at, answered](const sim::ClientReply& r) {
                       check::Operation& done = cp->mutable_history()->ops[at];
                       if (done.return_time != check::kNever) return;
                       done.return_time = cp->Now();
                       done.outcome = r.ok() ? check::Outcome::kOk : check::Outcome::kFail;
                       ++*answered;
                     });
      ops.push_back(at);
    }
    if (!c_.RunUntil([&] { return *answered == count; }, timeout)) return false;
    for (size_t at : ops) {
      if (c_.history().ops[at].outcome != check::Outcome::kOk) return false;
    }
    return true;
  }
  // Runs until every live node has applied the last write.
  bool WaitAllAppliedLast() {
    return WaitAllApplied(c_, "k" + std::to_string((next_ - 1) % kKeys), Payload(next_ - 1));
  }

 private:
  Cluster& c_;
  int next_ = 0;
  uint64_t seq_ = 0;
};

std::string KiB(uint64_t bytes) {
  return std::to_string((bytes + 512) / 1024) + " KiB";
}

TEST(
    Storage,
    L5_in_a_cluster_a_ready_is_one_wal_write_and_sync_snapshots_drop_old_segments_and_a_restart_reads_only_the_tail) {
  ClusterOptions o = Options(3, 5);
  o.disk_model = true;
  o.snapshot_every = 60;  // each node snapshots after 31..90 applied entries
  Cluster c(o);
  DiskWatch watch(c);
  Writer writer(c);
  const NodeId leader = SettleLeader(c).leader;
  ASSERT_NE(leader, raft::kNoNode) << Trace(c);

  // 1. Group commit: 32 writes arrive at the leader at once. The first is appended by a
  //    Ready of its own; the others queue behind that write and go to disk together.
  const DiskWatch::Node before = watch.Of(leader);
  ASSERT_TRUE(writer.PutTogether(leader, 32)) << Trace(c);
  const DiskWatch::Node& after = watch.Of(leader);
  const uint64_t readies = after.appending_readies - before.appending_readies;
  EXPECT_EQ(after.appended - before.appended, 32u);
  EXPECT_LE(readies, 3u) << "32 writes that arrive together are appended in a few Readies";
  c.Note(leader, "L5: 32 writes arrived together; appended by " + std::to_string(readies) +
                     " Readies = " + std::to_string(readies) + " WAL writes + " +
                     std::to_string(readies) + " fdatasyncs");

  // 2. Steady load, 8 writes at a time: the log grows by ~1 KiB per entry over several
  //    64 KiB segments while the state machine stays at 10 keys; every node snapshots and
  //    compacts, deleting the segments its snapshot covers.
  for (int round = 0; round < 30; ++round) {
    ASSERT_TRUE(writer.PutTogether(c.Leader(), 8)) << "round " << round << "\n" << Trace(c);
  }
  ASSERT_TRUE(writer.WaitAllAppliedLast()) << Trace(c);
  for (NodeId id : c.NodeIds()) {
    const DirListing files = ListDir(*c.FaultFs(id));
    const DiskWatch::Node& w = watch.Of(id);
    EXPECT_GT(c.SnapshotIndex(id), 0u) << "n" << id;
    EXPECT_GT(c.Node(id)->FirstIndex(), 1u) << "n" << id << " compacted its log";
    EXPECT_GE(w.rotations, 2u) << "n" << id << ": the log spans several segments";
    EXPECT_LT(files.segments.size(), w.segments_ever.size())
        << "n" << id << ": the segments covered by a snapshot are deleted";
    EXPECT_LE(files.snapshots.size(), 2u) << "n" << id << ": the newest two snapshots are kept";
    const uint64_t checked = w.readies - w.rotations - w.installs;
    EXPECT_GE(w.appending_readies, 20u) << "n" << id;
    c.Note(id,
           "L5: " + std::to_string(w.readies) + " Readies written: " + std::to_string(checked) +
               " as one WAL write each (" + std::to_string(w.appending_readies) + " appending " +
               std::to_string(w.appended) + " entries, one fdatasync each), " +
               std::to_string(w.rotations) + " cutting a new segment" +
               (w.installs ? ", " + std::to_string(w.installs) + " installing the leader's snapshot"
                           : ""));
  }
  EXPECT_TRUE(watch.failures().empty()) << Join(watch.failures());

  // 3. A follower loses power and restarts: it reads its newest snapshot and the segments
  //    after it, not the log it wrote since the start, and replays only the entries after
  //    the snapshot. (A few more writes first, so that every node has a tail after its
  //    snapshot; the follower with the longest one crashes.)
  for (int round = 0; round < 2; ++round) ASSERT_TRUE(writer.PutTogether(c.Leader(), 8));
  ASSERT_TRUE(writer.WaitAllAppliedLast()) << Trace(c);
  NodeId f = raft::kNoNode;
  for (NodeId id : Others(c, c.Leader())) {
    const auto tail = [&](NodeId n) { return c.AppliedIndex(n) - c.SnapshotIndex(n); };
    if (f == raft::kNoNode || tail(id) > tail(f)) f = id;
  }
  c.Crash(f);
  storage::FaultFileSystem& fs = *c.FaultFs(f);
  const DirListing files = ListDir(fs);
  ASSERT_FALSE(files.snapshots.empty());
  Index snap = 0;  // the newest snapshot file: the one the restart loads
  uint64_t newest_snap = 0;
  for (const auto& [name, size] : files.snapshots) {
    raft::Term t = 0;
    Index i = 0;
    ASSERT_TRUE(storage::ParseSnapshotFileName(name, &t, &i)) << name;
    if (i > snap) {
      snap = i;
      newest_snap = size;
    }
  }
  uint64_t wal_written = 0;
  for (const auto& [name, size] : watch.Of(f).segments_ever) wal_written += size;
  const uint64_t read_before = fs.read_bytes();
  const uint64_t applied_before = c.EntriesApplied(f);
  c.Restart(f);
  const uint64_t read = fs.read_bytes() - read_before;
  watch.Rebase(f);
  EXPECT_GT(c.Node(f)->FirstIndex(), 1u);
  // The snapshot file is read in ranges: once to verify its checksum, once for the image.
  EXPECT_LE(read, files.SegmentBytes() + 2 * newest_snap + 4096)
      << "only the newest snapshot and the segments left after compaction";
  EXPECT_LT(read, wal_written / 2) << "a restart does not read the log the snapshot replaced";
  const Index commit = CommitOf(c, c.Leader());
  ASSERT_TRUE(c.RunUntil([&] { return c.AppliedIndex(f) >= commit; }, 2 * kSecond)) << Trace(c);
  const uint64_t replayed = c.EntriesApplied(f) - applied_before;
  EXPECT_EQ(replayed, c.AppliedIndex(f) - snap) << "only the entries after the snapshot";
  EXPECT_GT(replayed, 0u) << "the entries after the snapshot are replayed from the WAL";
  EXPECT_LT(replayed, snap);
  c.Note(f, "L5: restart read " + KiB(read) + " (snapshot at " + std::to_string(snap) + " and " +
                std::to_string(files.segments.size()) + " WAL segments) of the " +
                KiB(wal_written) + " of WAL segments it has written; re-applied only the " +
                std::to_string(replayed) + " entries after the snapshot");

  // 4. It serves again: more writes reach every node, each Ready still one write.
  for (int round = 0; round < 4; ++round) {
    ASSERT_TRUE(writer.PutTogether(c.Leader(), 8)) << Trace(c);
  }
  ASSERT_TRUE(writer.WaitAllAppliedLast()) << Trace(c);
  EXPECT_TRUE(watch.failures().empty()) << Join(watch.failures());
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace raftkv::scenario
