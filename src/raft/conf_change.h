// Encoding of a ConfChange into a kConfChange entry's data. A simple little-endian,
// length-prefixed binary format:
//   u8 transition | u32 n | n x (u8 type, u64 node_id) | u32 len | len bytes of context
#pragma once

#include <string>

#include "common/status.h"
#include "raft/types.h"

namespace raftkv::raft {

std::string EncodeConfChange(const ConfChange& cc);
// Fails with kCorruption on truncated or malformed input (never trusts the bytes).
Result<ConfChange> DecodeConfChange(const std::string& data);

}  // namespace raftkv::raft
