#include "tests/scenarios/questions.h"

namespace raftkv::scenario {

const std::vector<Question>& Questions() {
  static const std::vector<Question> kQuestions = {
      {"E1", "Election",
       "When the leader crashes, do the followers time out, and does one of them win with a "
       "majority? Does a candidate that hears AppendEntries of its own term step down?",
       "the leader turns dark; heartbeats stop; a follower turns yellow (pre-vote), orange "
       "(candidate), collects votes (green-ringed replies) and turns green with a higher term."},
      {"E2", "Election",
       "Does every election start a new, higher term, and are requests carrying a stale term "
       "rejected?",
       "the term under each node grows by one per election; a message from the old term gets a "
       "red-ringed (rejected) reply."},
      {"E3", "Election",
       "A follower that misses heartbeats increments its term, votes for itself and asks for "
       "votes; does a leader or candidate that sees a higher term step down?",
       "the cut link (red dashes) starves one follower; it campaigns; the old leader's colour "
       "drops to follower as soon as a higher term reaches it."},
      {"E4", "Election",
       "How does a server decide its vote: one vote per term, and only for a candidate whose log "
       "is at least as up-to-date?",
       "compare the candidate's last log cell with the voter's in the Logs panel; the voter with "
       "the newer last term answers with a red ring."},
      {"E5", "Election",
       "An old leader comes back (network heals, or it restarts) while an election with a higher "
       "term is under way: does it step down without committing anything?",
       "the returning node still shows leader with the old term; its appends are rejected and "
       "its uncommitted cells (pale, dashed) are later replaced."},
      {"E6", "Election",
       "A follower that granted its vote to a higher-term candidate then gets AppendEntries from "
       "the old leader: does it reject them and tell the old leader the new term?",
       "the follower's vote column changes first; the old leader's blue append comes back "
       "red-ringed and the old leader turns follower."},
      {"E7", "Election",
       "A stale leader sends AppendEntries to followers and to a candidate during an election: "
       "does each answer with its term so that the stale leader learns it and steps down?",
       "replies to the stale leader carry the higher term; watch its term jump and its role "
       "change in the Nodes table."},
      {"E8", "Election",
       "Can there be two leaders? At most one per term; randomized timeouts make split votes "
       "rare; a stale leader of an older term may think it leads but cannot commit.",
       "two green nodes may appear at once, but with different terms; the older one's commit "
       "line (green bar in Logs) never moves."},
      {"E9", "Election",
       "RequestVote and AppendEntries (heartbeats) are different messages, answered "
       "differently.",
       "orange vote requests versus grey heartbeats and blue appends; hover a dot to read it."},
      {"E10", "Election",
       "How do servers know each other? The configuration is part of the replicated log "
       "(configuration entries), not learned from heartbeats.",
       "hover the first log cells: they are 'config +v1' entries; the configuration under the "
       "clock changes only when such an entry is applied."},
      {"E11", "Election",
       "Five servers: with two down the other three elect a leader; with three down no leader "
       "can be elected and, with pre-vote, the survivors do not inflate their terms; they elect "
       "at once when a majority returns.",
       "crossed-out nodes; the survivors' yellow pre-vote rounds do not raise the term; a leader "
       "appears right after the third node restarts."},
      {"E12", "Election",
       "A server votes at most once per term, even across a crash and restart (the vote is "
       "persisted before it is sent).",
       "the voter crashes right after voting; after its restart the vote column still shows the "
       "same candidate for that term and a rival's request is rejected."},
      {"R1", "Replication",
       "A client write is appended by the leader, replicated, committed once a majority has it, "
       "applied, and only then answered; followers apply once they learn the commit index.",
       "a new cell appears on the leader, then (blue appends) on followers; the green commit "
       "line moves once a majority has it; the client operation turns ok after that."},
      {"R2", "Replication",
       "The leader waits for a majority, not for every follower: does a slow or dead follower "
       "slow commits?",
       "the dead follower's row stops growing while the commit line on the others keeps moving."},
      {"R3", "Replication",
       "Failures at each step: the leader crashes after appending locally, after replicating to "
       "a minority, after committing but before answering; a follower crashes mid-apply. Is a "
       "committed write ever lost?",
       "cells that were committed (solid) survive in the new leader's log; cells that were not "
       "(pale) may be replaced."},
      {"R4", "Replication",
       "After an election logs disagree: does the leader find the last matching entry quickly "
       "(a conflict hint per term) and the follower replace its conflicting suffix?",
       "red-ringed append replies jump back a whole term at a time; the follower's cells of the "
       "old term are overwritten with the leader's."},
      {"S1", "Safety",
       "Only a server holding every committed entry can win an election (the election "
       "restriction).",
       "the server missing the last committed cell campaigns and is refused (red rings); a "
       "server with the full log wins."},
      {"S2", "Safety",
       "A slow server with a stale log keeps timing out: it cannot win, it must not disrupt the "
       "healthy majority, and a rejected vote does not reset the rejecter's timer.",
       "the stale server's yellow pre-votes are refused; the leader's term stays the same."},
      {"S3", "Safety",
       "Figure 8: a leader must not commit an entry of an earlier term by counting replicas.",
       "an old-term cell sits on a majority but stays pale (uncommitted) until an entry of the "
       "leader's own term commits above it."},
      {"M1", "Membership",
       "Servers are added and removed while clients are served: the configuration is "
       "replicated through the log, a new server catches up as a learner first, and no two "
       "majorities can decide independently during the change.",
       "'config' cells in the log; the configuration under the clock changes when they apply; "
       "dashed nodes are not members; learners are labelled."},
      {"L1", "Snapshots",
       "A snapshot replaces the log prefix up to an index, keeping the last included index and "
       "term and the configuration.",
       "hatched cells: the prefix a node has compacted into its snapshot; the snap column in "
       "the Nodes table."},
      {"L2", "Snapshots",
       "A slow follower or a new server needs entries the leader has discarded: the leader "
       "sends its snapshot, then continues with the log.",
       "a purple InstallSnapshot travels to the lagging node, whose row jumps to a hatched "
       "prefix plus the newest cells."},
      {"L3", "Snapshots",
       "A restarting server loads its newest snapshot and replays only the log after it.",
       "after RESTART the node's applied marker starts at its snapshot index, not at 1."},
      {"L4", "Snapshots",
       "When to snapshot (once the log has grown past a threshold), while clients keep being "
       "served.",
       "hatched prefixes appear at different points on different nodes while client operations "
       "keep turning ok."},
      {"L5", "Storage", "A log and snapshot layout that is fast to append and fast to read back.",
       "a batch of client writes lands on the leader as one run of cells, durable (the "
       "durable column) after one disk write; hatched cells are compacted into a snapshot, "
       "their WAL segments deleted; after a follower's CRASH and RESTART its log starts at its "
       "snapshot and only the cells after it are replayed. The 'L5:' lines in What happened "
       "give the measured writes, fdatasyncs and bytes read back."},
      {"L6", "Snapshots", "Each server snapshots independently.",
       "the snap column differs from node to node."},
      {"C1", "Clients", "Clients find the leader and keep finding it when leadership changes.",
       "client operations keep succeeding across the leader change in the client panel."},
      {"C2", "Clients",
       "Exactly-once: a client whose write was committed but not answered retries; with client "
       "sessions the write takes effect once (x++ must not become x+2).",
       "the same (client, sequence number) appears twice in the log (hover the cells) and is "
       "applied once."},
      {"C3", "Clients",
       "Reads are linearizable: a deposed leader must not serve stale reads (ReadIndex, or a "
       "lease bounded by the election timeout).",
       "the isolated old leader's heartbeats (its read-index round) get no answers, so its read "
       "is never served; the new leader answers with the newest value."},
      {"transfer", "Membership",
       "Leadership transfer (thesis §3.10): the leader brings a named voter up to date and "
       "tells it to campaign at once (TimeoutNow).",
       "a red TimeoutNow dot, then the named voter wins the next term without a pre-vote "
       "round."},
  };
  return kQuestions;
}

}  // namespace raftkv::scenario
