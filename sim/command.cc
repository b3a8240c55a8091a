#include "sim/command.h"

#include <cstring>

namespace raftkv::sim {
namespace {

void putU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putBytes(std::string* out, const std::string& s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out->append(s);
}

class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}
  bool U8(uint8_t* v) {
    if (pos_ + 1 > s_.size()) return false;
    *v = static_cast<uint8_t>(s_[pos_++]);
    return true;
  }
  bool U64(uint64_t* v) {
    if (pos_ + 8 > s_.size()) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= uint64_t{static_cast<uint8_t>(s_[pos_ + i])} << (8 * i);
    pos_ += 8;
    return true;
  }
  bool Bytes(std::string* v) {
    if (pos_ + 4 > s_.size()) return false;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= uint32_t{static_cast<uint8_t>(s_[pos_ + i])} << (8 * i);
    pos_ += 4;
    if (pos_ + n > s_.size()) return false;
    v->assign(s_, pos_, n);
    pos_ += n;
    return true;
  }
  bool Done() const { return pos_ == s_.size(); }

 private:
  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

std::string EncodeCommand(const Command& cmd) {
  std::string out;
  out.reserve(1 + 16 + 12 + cmd.key.size() + cmd.value.size() + cmd.expected.size());
  out.push_back(static_cast<char>(cmd.kind));
  putU64(&out, cmd.client);
  putU64(&out, cmd.seq);
  putBytes(&out, cmd.key);
  putBytes(&out, cmd.value);
  putBytes(&out, cmd.expected);
  return out;
}

Result<Command> DecodeCommand(const std::string& data) {
  Reader r(data);
  Command cmd;
  uint8_t kind = 0;
  if (!r.U8(&kind) || !r.U64(&cmd.client) || !r.U64(&cmd.seq) || !r.Bytes(&cmd.key) ||
      !r.Bytes(&cmd.value) || !r.Bytes(&cmd.expected) || !r.Done()) {
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

}  // namespace raftkv::sim
