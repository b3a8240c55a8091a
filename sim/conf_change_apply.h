// Applying a committed configuration-change entry (the bootstrap entries, and any later
// membership change) to the core, as every runtime must (raw_node.h ApplyConfChange).
#pragma once

#include "common/check.h"
#include "raft/conf_change.h"
#include "raft/raw_node.h"

namespace raftkv::sim {

// Returns the configuration after the change, for the runtime to persist.
inline raft::ConfState ApplyConfChangeEntry(raft::RawNode* core, const raft::Entry& e) {
  auto cc = raft::DecodeConfChange(e.data);
  RAFTKV_CHECK(cc.ok(), "a committed configuration change entry decodes");
  return core->ApplyConfChange(*cc);
}

}  // namespace raftkv::sim
