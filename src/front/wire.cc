#include "front/wire.h"

namespace raftkv::front {

UnframeResult UnframeUnary(std::string_view body, std::string_view* message) {
  if (body.empty()) {
    *message = {};
    return UnframeResult::kOk;
  }
  if (body.size() < kFrameHeaderBytes) return UnframeResult::kMalformed;
  const auto* b = reinterpret_cast<const unsigned char*>(body.data());
  if (b[0] > 1) return UnframeResult::kMalformed;
  const size_t n = (size_t{b[1]} << 24) | (size_t{b[2]} << 16) | (size_t{b[3]} << 8) | b[4];
  if (body.size() != kFrameHeaderBytes + n) return UnframeResult::kMalformed;
  if (b[0] == 1) return UnframeResult::kCompressed;
  *message = body.substr(kFrameHeaderBytes);
  return UnframeResult::kOk;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(ch);
      continue;
    }
    out.push_back('%');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

}  // namespace raftkv::front
