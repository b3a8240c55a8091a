#include "storage/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace raftkv::storage::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

// kTables[k][b]: CRC of byte b followed by k zero bytes (slicing-by-8).
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = b;
    for (int i = 0; i < 8; i++) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][b] = c;
  }
  for (int k = 1; k < 8; k++) {
    for (uint32_t b = 0; b < 256; b++) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}

constexpr Tables kTables = MakeTables();

#if defined(__x86_64__)
// One crc32 instruction takes 3 cycles but a new one can start every cycle, so large inputs
// run three independent streams over adjacent blocks and join them. The CRC register is
// linear: running it from state c over X equals Shift(c) ^ (running it from 0 over X), where
// Shift(c) runs c over |X| zero bytes. kShiftTables apply Shift for one block, a byte at a
// time (as kTables do for a single byte).
constexpr size_t kStreamBlock = 4096;
using ShiftTables = std::array<std::array<uint32_t, 256>, 4>;

__attribute__((target("sse4.2"))) uint32_t RunOverZeros(uint32_t c, size_t n) {
  uint64_t r = c;
  for (size_t i = 0; i < n / 8; i++) r = __builtin_ia32_crc32di(r, 0);
  return static_cast<uint32_t>(r);
}

ShiftTables MakeShiftTables() {
  std::array<uint32_t, 32> basis;  // Shift of each single-bit register
  for (int i = 0; i < 32; i++) basis[i] = RunOverZeros(1u << i, kStreamBlock);
  ShiftTables t{};
  for (int k = 0; k < 4; k++) {
    for (uint32_t b = 0; b < 256; b++) {
      uint32_t v = 0;
      for (int i = 0; i < 8; i++) {
        if (b & (1u << i)) v ^= basis[8 * k + i];
      }
      t[k][b] = v;
    }
  }
  return t;
}

uint32_t ShiftBlock(const ShiftTables& t, uint32_t c) {
  return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t crc, const void* data,
                                                          size_t n) {
  static const ShiftTables kShift = MakeShiftTables();
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t c = static_cast<uint32_t>(~crc);
  auto load = [](const uint8_t* q) {
    uint64_t v;
    std::memcpy(&v, q, 8);
    return v;
  };
  while (n >= 3 * kStreamBlock) {
    uint64_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < kStreamBlock; i += 8) {
      c = __builtin_ia32_crc32di(c, load(p + i));
      c1 = __builtin_ia32_crc32di(c1, load(p + kStreamBlock + i));
      c2 = __builtin_ia32_crc32di(c2, load(p + 2 * kStreamBlock + i));
    }
    c = ShiftBlock(kShift, static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1);
    c = ShiftBlock(kShift, static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c2);
    p += 3 * kStreamBlock;
    n -= 3 * kStreamBlock;
  }
  while (n >= 8) {
    c = __builtin_ia32_crc32di(c, load(p));
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = __builtin_ia32_crc32qi(c32, *p++);
    n--;
  }
  return ~c32;
}

bool DetectHardware() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  return (ecx & bit_SSE4_2) != 0;
}
#else
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n) {
  return ExtendSoftware(crc, data, n);
}
bool DetectHardware() {
  return false;
}
#endif

const bool kHasHardware = DetectHardware();

}  // namespace

uint32_t ExtendSoftware(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (n >= 8) {
    uint32_t lo =
        c ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
    c = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^
        kTables[4][lo >> 24] ^ kTables[3][p[4]] ^ kTables[2][p[5]] ^ kTables[1][p[6]] ^
        kTables[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xff];
    n--;
  }
  return ~c;
}

bool HardwareAvailable() {
  return kHasHardware;
}

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  return kHasHardware ? ExtendHardware(crc, data, n) : ExtendSoftware(crc, data, n);
}

}  // namespace raftkv::storage::crc32c
