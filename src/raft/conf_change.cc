#include "raft/conf_change.h"

#include <cstdint>

#include "common/coding.h"

namespace raftkv::raft {

// Layout: transition u8 | count u32 | count × (type u8 | node id u64) | context (u32 length
// + bytes). Little-endian (common/coding.h).
std::string EncodeConfChange(const ConfChange& cc) {
  std::string s;
  PutU8(&s, static_cast<uint8_t>(cc.transition));
  PutU32(&s, static_cast<uint32_t>(cc.changes.size()));
  for (const auto& c : cc.changes) {
    PutU8(&s, static_cast<uint8_t>(c.type));
    PutU64(&s, c.node_id);
  }
  PutBytes(&s, cc.context);
  return s;
}

Result<ConfChange> DecodeConfChange(const std::string& data) {
  Decoder d(data);
  ConfChange cc;
  uint8_t kind = 0;
  if (!d.GetU8(&kind) || kind > 2) return Status::Corruption("conf change: bad transition");
  cc.transition = static_cast<ConfChangeTransition>(kind);
  uint32_t n = 0;
  if (!d.GetU32(&n)) return Status::Corruption("conf change: truncated count");
  if (n > data.size() / 9) return Status::Corruption("conf change: count exceeds data");
  for (uint32_t i = 0; i < n; i++) {
    ConfChangeSingle c;
    if (!d.GetU8(&kind) || kind > 2) return Status::Corruption("conf change: bad change type");
    c.type = static_cast<ConfChangeType>(kind);
    if (!d.GetU64(&c.node_id)) return Status::Corruption("conf change: truncated node id");
    cc.changes.push_back(c);
  }
  if (!d.GetBytes(&cc.context)) return Status::Corruption("conf change: truncated context");
  if (!d.empty()) return Status::Corruption("conf change: trailing bytes");
  return cc;
}

}  // namespace raftkv::raft
