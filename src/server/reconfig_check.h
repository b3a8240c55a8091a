// etcd's --strict-reconfig-check (on by default): before proposing a membership change, the
// member that received the call refuses one that would leave the cluster unable to reach a
// quorum with the members that are up. The rules are etcd's (etcdserver mayAddMember,
// mayRemoveMember, mayPromoteMember):
//  - "started" members are those that have published their name (they ran at least once);
//    after the change, the started voters must still form a quorum of the new voter set,
//    else kErrNotEnoughStartedMembers;
//  - adding a voter also needs this member connected to every other voter, and removing a
//    connected voter needs the remaining connected voters to be a quorum, else
//    kErrUnhealthy (removing a voter that is down is always allowed: it is not part of the
//    active quorum). These two rules run on the leader only (ReconfigView).
// Learners never count, and adding or removing one is never refused here (§4.2.1: a
// non-voting member cannot cost the quorum).
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "common/status.h"
#include "etcdserverpb/rpc.pb.h"

namespace raftkv::server {

struct ReconfigView {
  std::vector<etcdserverpb::Member> members;  // the member table as applied
  uint64_t self = 0;
  std::set<uint64_t> connected;  // peers whose transport stream is up now
  // Whether `connected` says who is up. Only the leader streams to every voter (raftkv opens
  // a peer stream when it has something to send, unlike etcd's always-on streams), so on a
  // follower the connection rules are skipped and only the started-members rules apply.
  bool knows_connectivity = true;
};

Status CheckAddMember(const ReconfigView& v, bool is_learner);
Status CheckRemoveMember(const ReconfigView& v, uint64_t id);
// The learner being promoted counts as started (it is catching up; its lag is checked apart).
Status CheckPromoteMember(const ReconfigView& v);

}  // namespace raftkv::server
