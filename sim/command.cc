#include "sim/command.h"

#include <cstring>

#include "common/coding.h"

namespace raftkv::sim {

std::string EncodeCommand(const Command& cmd) {
  std::string out;
  out.reserve(1 + 16 + 12 + cmd.key.size() + cmd.value.size() + cmd.expected.size());
  out.push_back(static_cast<char>(cmd.kind));
  PutU64(&out, cmd.client);
  PutU64(&out, cmd.seq);
  PutBytes(&out, cmd.key);
  PutBytes(&out, cmd.value);
  PutBytes(&out, cmd.expected);
  return out;
}

Result<Command> DecodeCommand(const std::string& data) {
  Decoder d(data);
  Command cmd;
  uint8_t kind = 0;
  if (!d.GetU8(&kind) || !d.GetU64(&cmd.client) || !d.GetU64(&cmd.seq) || !d.GetBytes(&cmd.key) ||
      !d.GetBytes(&cmd.value) || !d.GetBytes(&cmd.expected) || !d.empty()) {
    return Status::Corruption("malformed command payload");
  }
  if (kind != static_cast<uint8_t>(check::OpKind::kPut) &&
      kind != static_cast<uint8_t>(check::OpKind::kCas)) {
    return Status::Corruption("command kind is not put or cas");
  }
  cmd.kind = static_cast<check::OpKind>(kind);
  return cmd;
}

ApplyResult KvStateMachine::Apply(const Command& cmd) {
  ApplyResult res;
  Session& session = sessions_[cmd.client];
  if (cmd.seq < session.last_seq) {
    res.stale = true;
    return res;
  }
  if (cmd.seq == session.last_seq && cmd.seq != 0) {
    res.duplicate = true;
    res.cas_succeeded = session.last_cas_succeeded;
    return res;
  }
  if (cmd.kind == check::OpKind::kPut) {
    data_[cmd.key] = cmd.value;
  } else {
    auto it = data_.find(cmd.key);
    // An absent key never equals anything (history.h's model).
    res.cas_succeeded = it != data_.end() && it->second == cmd.expected;
    if (res.cas_succeeded) it->second = cmd.value;
  }
  session.last_seq = cmd.seq;
  session.last_cas_succeeded = res.cas_succeeded;
  return res;
}

std::optional<std::string> KvStateMachine::Get(const std::string& key) const {
  auto it = data_.find(key);
  if (it == data_.end()) return std::nullopt;
  return it->second;
}

void KvStateMachine::Clear() {
  data_.clear();
  sessions_.clear();
}

// Image: u32 n | n x (bytes key, bytes value) | u32 m | m x (u64 client, u64 seq, u8 cas).
// Sessions are written in client order so equal states give equal images.
std::string KvStateMachine::Serialize() const {
  std::string out;
  PutU32(&out, static_cast<uint32_t>(data_.size()));
  for (const auto& [k, v] : data_) {
    PutBytes(&out, k);
    PutBytes(&out, v);
  }
  std::map<uint64_t, Session> sorted(sessions_.begin(), sessions_.end());
  PutU32(&out, static_cast<uint32_t>(sorted.size()));
  for (const auto& [client, s] : sorted) {
    PutU64(&out, client);
    PutU64(&out, s.last_seq);
    PutU8(&out, s.last_cas_succeeded ? 1 : 0);
  }
  return out;
}

Status KvStateMachine::Restore(const std::string& image) {
  Clear();
  Decoder d(image);
  uint32_t n = 0;
  if (!d.GetU32(&n)) return Status::Corruption("state machine image: truncated");
  for (uint32_t i = 0; i < n; i++) {
    std::string k, v;
    if (!d.GetBytes(&k) || !d.GetBytes(&v)) {
      Clear();
      return Status::Corruption("state machine image: truncated data");
    }
    data_[k] = v;
  }
  if (!d.GetU32(&n)) {
    Clear();
    return Status::Corruption("state machine image: truncated");
  }
  for (uint32_t i = 0; i < n; i++) {
    uint64_t client = 0;
    Session s;
    uint8_t cas = 0;
    if (!d.GetU64(&client) || !d.GetU64(&s.last_seq) || !d.GetU8(&cas)) {
      Clear();
      return Status::Corruption("state machine image: truncated sessions");
    }
    s.last_cas_succeeded = cas != 0;
    sessions_[client] = s;
  }
  if (!d.empty()) {
    Clear();
    return Status::Corruption("state machine image: trailing bytes");
  }
  return Status::OK();
}

}  // namespace raftkv::sim
