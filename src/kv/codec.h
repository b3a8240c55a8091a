// Little-endian encoding helpers and CRC32 (IEEE) for the kv snapshot format and hashes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace raftkv::kv {

// CRC32 (IEEE 802.3 polynomial, as Go's crc32.ChecksumIEEE used by etcd's hashes).
uint32_t Crc32Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32(std::string_view s) {
  return Crc32Extend(0, s.data(), s.size());
}

inline void PutU8(std::string* out, uint8_t v) {
  out->push_back(static_cast<char>(v));
}
inline void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void PutI64(std::string* out, int64_t v) {
  PutU64(out, static_cast<uint64_t>(v));
}
inline void PutBytes(std::string* out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

// A cursor over encoded bytes; every Get returns false (and consumes nothing) when the input
// is too short, so a truncated snapshot is reported, never read past.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  bool GetU8(uint8_t* v) {
    if (in_.size() < 1) return false;
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool GetU32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i)
      *v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return true;
  }
  bool GetU64(uint64_t* v) {
    if (in_.size() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i)
      *v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    return true;
  }
  bool GetI64(int64_t* v) {
    uint64_t u;
    if (!GetU64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool GetBytes(std::string* s) {
    uint32_t n;
    std::string_view save = in_;
    if (!GetU32(&n)) return false;
    if (in_.size() < n) {
      in_ = save;
      return false;
    }
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool empty() const { return in_.empty(); }
  size_t remaining() const { return in_.size(); }

 private:
  std::string_view in_;
};

}  // namespace raftkv::kv
