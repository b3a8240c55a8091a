// Applying a committed configuration-change entry (the bootstrap entries, and any later
// membership change) to the core, as every runtime must (raw_node.h ApplyConfChange).
#pragma once

#include "common/check.h"
#include "raft/conf_change.h"
#include "raft/conf_changer.h"
#include "raft/raw_node.h"

namespace raftkv::sim {

// Returns the configuration after the change, for the runtime to persist.
inline raft::ConfState ApplyConfChangeEntry(raft::RawNode* core, const raft::Entry& e) {
  auto cc = raft::DecodeConfChange(e.data);
  RAFTKV_CHECK(cc.ok(), "a committed configuration change entry decodes");
  return core->ApplyConfChange(*cc);
}

// The configuration after the committed change entry `e` to `cs`, computed without the core
// (which may hold a newer snapshot's configuration already). The core's rule: a change that
// does not apply leaves the configuration as it is (raft.cc ApplyConfChange).
inline raft::ConfState ConfStateAfterEntry(const raft::ConfState& cs, const raft::Entry& e) {
  auto cc = raft::DecodeConfChange(e.data);
  RAFTKV_CHECK(cc.ok(), "a committed configuration change entry decodes");
  auto next = raft::NextConfState(cs, *cc);
  return next.ok() ? *next : cs;
}

}  // namespace raftkv::sim
