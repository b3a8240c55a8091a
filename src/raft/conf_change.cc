#include "raft/conf_change.h"

#include <cstdint>

namespace raftkv::raft {
namespace {

void PutU8(std::string* s, uint8_t v) {
  s->push_back(static_cast<char>(v));
}
void PutFixed(std::string* s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}
  bool Fixed(int bytes, uint64_t* out) {
    if (s_.size() - pos_ < static_cast<size_t>(bytes)) return false;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(s_[pos_ + i])) << (8 * i);
    }
    pos_ += bytes;
    *out = v;
    return true;
  }
  bool Bytes(size_t n, std::string* out) {
    if (s_.size() - pos_ < n) return false;
    *out = s_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool AtEnd() const { return pos_ == s_.size(); }

 private:
  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

std::string EncodeConfChange(const ConfChange& cc) {
  std::string s;
  PutU8(&s, static_cast<uint8_t>(cc.transition));
  PutFixed(&s, cc.changes.size(), 4);
  for (const auto& c : cc.changes) {
    PutU8(&s, static_cast<uint8_t>(c.type));
    PutFixed(&s, c.node_id, 8);
  }
  PutFixed(&s, cc.context.size(), 4);
  s += cc.context;
  return s;
}

Result<ConfChange> DecodeConfChange(const std::string& data) {
  Reader r(data);
  ConfChange cc;
  uint64_t v = 0;
  if (!r.Fixed(1, &v) || v > 2) return Status::Corruption("conf change: bad transition");
  cc.transition = static_cast<ConfChangeTransition>(v);
  uint64_t n = 0;
  if (!r.Fixed(4, &n)) return Status::Corruption("conf change: truncated count");
  if (n > data.size() / 9) return Status::Corruption("conf change: count exceeds data");
  for (uint64_t i = 0; i < n; i++) {
    ConfChangeSingle c;
    if (!r.Fixed(1, &v) || v > 2) return Status::Corruption("conf change: bad change type");
    c.type = static_cast<ConfChangeType>(v);
    if (!r.Fixed(8, &v)) return Status::Corruption("conf change: truncated node id");
    c.node_id = v;
    cc.changes.push_back(c);
  }
  uint64_t len = 0;
  if (!r.Fixed(4, &len)) return Status::Corruption("conf change: truncated context length");
  if (!r.Bytes(len, &cc.context)) return Status::Corruption("conf change: truncated context");
  if (!r.AtEnd()) return Status::Corruption("conf change: trailing bytes");
  return cc;
}

}  // namespace raftkv::raft
