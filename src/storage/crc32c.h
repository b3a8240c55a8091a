// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of every
// WAL record and snapshot file. Uses the SSE4.2 crc32 instruction when the CPU has it and a
// table-driven (slicing-by-8) software version otherwise; both give identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace raftkv::storage::crc32c {

// Extends `crc` (the CRC32C of some prefix) with `n` more bytes. Extend(0, d, n) is the
// CRC32C of d[0, n).
uint32_t Extend(uint32_t crc, const void* data, size_t n);

inline uint32_t Value(const void* data, size_t n) {
  return Extend(0, data, n);
}
inline uint32_t Value(std::string_view s) {
  return Extend(0, s.data(), s.size());
}

// The software path alone, so tests can compare it with the hardware path.
uint32_t ExtendSoftware(uint32_t crc, const void* data, size_t n);
bool HardwareAvailable();

}  // namespace raftkv::storage::crc32c
