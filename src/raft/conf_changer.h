// The configuration changer: pure functions from (configuration, change) to the next
// configuration (thesis ch. 4, etcd's confchange package). Used by the core when a change
// is proposed (to refuse invalid ones early) and applied, and by the simulator's checkers.
//
// Three kinds of change:
//  - simple: one add/remove/add-learner with transition kAuto, outside a joint
//    configuration. Old and new majorities always overlap (§4.1).
//  - enter joint: several changes, or an explicit joint transition. The new `voters` are
//    the changed set, `voters_outgoing` the old voters; decisions need a majority of each
//    (§4.3). A voter demoted to learner waits in `learners_next` until the joint
//    configuration is left (it still votes in the outgoing half).
//  - leave joint: an empty change list while joint: outgoing voters are dropped and
//    `learners_next` become learners.
#pragma once

#include <set>

#include "common/status.h"
#include "raft/quorum.h"
#include "raft/types.h"

namespace raftkv::raft {

bool IsJoint(const ConfState& cs);
bool IsLeaveJoint(const ConfChange& cc);
bool EntersJoint(const ConfChange& cc);

// The configuration after `cc`, or kFailedPrecondition/kInvalidArgument naming why the
// change does not apply to `cs` (e.g. a simple change while joint, leaving a configuration
// that is not joint, removing every voter). Never changes anything on error.
Result<ConfState> NextConfState(const ConfState& cs, const ConfChange& cc);

// The voting configuration of `cs` as quorum math sees it.
JointConfig ToJointConfig(const ConfState& cs);
// Every member: voters (both halves), learners and learners_next.
std::set<NodeId> Members(const ConfState& cs);

// Whether every quorum of `a` intersects every quorum of `b` (a quorum of a joint
// configuration is a majority of each half). Exact: searches for a quorum of `a` and a
// quorum of `b` that are disjoint, over the (small) union of their voters.
bool QuorumsIntersect(const ConfState& a, const ConfState& b);

}  // namespace raftkv::raft
