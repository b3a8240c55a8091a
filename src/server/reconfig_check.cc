#include "server/reconfig_check.h"

#include "api/errors.h"

namespace raftkv::server {
namespace {

bool IsStarted(const etcdserverpb::Member& m) {
  return !m.name().empty();
}

// Voters other than `except`, and how many of them have started.
struct VoterCount {
  size_t voters = 0;
  size_t started = 0;
};
VoterCount CountVoters(const ReconfigView& v, uint64_t except) {
  VoterCount c;
  for (const auto& m : v.members) {
    if (m.islearner() || m.id() == except) continue;
    c.voters++;
    if (IsStarted(m)) c.started++;
  }
  return c;
}

size_t Quorum(size_t voters) {
  return voters / 2 + 1;
}

// Voters this member can reach now, counting itself.
size_t ConnectedVoters(const ReconfigView& v) {
  size_t n = 0;
  for (const auto& m : v.members) {
    if (m.islearner()) continue;
    if (m.id() == v.self || v.connected.count(m.id()) > 0) n++;
  }
  return n;
}

Status NotEnoughStarted() {
  return Status::FailedPrecondition(api::kErrNotEnoughStartedMembers);
}

}  // namespace

Status CheckAddMember(const ReconfigView& v, bool is_learner) {
  if (is_learner) return Status::OK();
  VoterCount c = CountVoters(v, 0);
  size_t after = c.voters + 1;  // the new member has not started yet
  // One started member growing to two: how a cluster restored from a backup grows back.
  bool restoring = c.started == 1 && after == 2;
  if (!restoring && c.started < Quorum(after)) return NotEnoughStarted();
  if (v.knows_connectivity && ConnectedVoters(v) != c.voters) {
    return Status::Unavailable(api::kErrUnhealthy);
  }
  return Status::OK();
}

Status CheckRemoveMember(const ReconfigView& v, uint64_t id) {
  const etcdserverpb::Member* target = nullptr;
  for (const auto& m : v.members) {
    if (m.id() == id) target = &m;
  }
  if (target == nullptr || target->islearner()) return Status::OK();
  VoterCount c = CountVoters(v, id);
  if (c.started < Quorum(c.voters)) return NotEnoughStarted();
  if (!v.knows_connectivity) return Status::OK();
  // A voter that is down is not part of the active quorum: removing it costs nothing.
  if (id != v.self && v.connected.count(id) == 0) return Status::OK();
  size_t active_after = ConnectedVoters(v) - 1;
  if (active_after < Quorum(c.voters)) return Status::Unavailable(api::kErrUnhealthy);
  return Status::OK();
}

Status CheckPromoteMember(const ReconfigView& v) {
  VoterCount c = CountVoters(v, 0);
  if (c.started + 1 < Quorum(c.voters + 1)) return NotEnoughStarted();
  return Status::OK();
}

}  // namespace raftkv::server
