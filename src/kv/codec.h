// CRC32 (IEEE) for the kv snapshot format and hashes, and the shared little-endian coding.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/coding.h"

namespace raftkv::kv {

// CRC32 (IEEE 802.3 polynomial, as Go's crc32.ChecksumIEEE used by etcd's hashes).
uint32_t Crc32Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32(std::string_view s) {
  return Crc32Extend(0, s.data(), s.size());
}

}  // namespace raftkv::kv
