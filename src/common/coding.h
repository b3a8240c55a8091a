// Little-endian fixed-width encoding shared by every binary format of the project (the WAL,
// snapshot files, the kv snapshot, configuration-change entries, simulator commands).
// Variable-sized fields are length-prefixed with a u32. Decoding never reads past the input:
// every Get returns false, consuming nothing, when the input is too short.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace raftkv {

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
// u32 length, then the bytes.
inline void PutBytes(std::string* out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

// Raw reads of a fixed-width value at `p` (the caller has checked the length).
inline uint32_t DecodeU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t DecodeU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// A cursor over encoded bytes.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  bool GetU8(uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool GetU32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = DecodeU32(in_.data());
    in_.remove_prefix(4);
    return true;
  }
  bool GetU64(uint64_t* v) {
    if (in_.size() < 8) return false;
    *v = DecodeU64(in_.data());
    in_.remove_prefix(8);
    return true;
  }
  bool GetI64(int64_t* v) {
    uint64_t u;
    if (!GetU64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  // A length-prefixed byte string (PutBytes).
  bool GetBytes(std::string* s) {
    std::string_view save = in_;
    uint32_t n;
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

}  // namespace raftkv
