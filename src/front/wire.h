// gRPC's framing on HTTP/2 as the front writes and reads it: a message is 1 byte (compressed
// or not), a 4-byte big-endian length and the bytes; a call ends with trailers carrying
// grpc-status and a percent-encoded grpc-message (gRPC's PROTOCOL-HTTP2 document).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace raftkv::front {

inline constexpr size_t kFrameHeaderBytes = 5;

// gRPC status codes the front itself answers with.
inline constexpr int kGrpcOk = 0;
inline constexpr int kGrpcInvalidArgument = 3;
inline constexpr int kGrpcResourceExhausted = 8;
inline constexpr int kGrpcUnimplemented = 12;
inline constexpr int kGrpcInternal = 13;
inline constexpr int kGrpcUnavailable = 14;

// Writes the 5-byte header of an uncompressed message of n bytes at out.
inline void PutFrameHeader(size_t n, char* out) {
  out[0] = 0;
  out[1] = static_cast<char>((n >> 24) & 0xff);
  out[2] = static_cast<char>((n >> 16) & 0xff);
  out[3] = static_cast<char>((n >> 8) & 0xff);
  out[4] = static_cast<char>(n & 0xff);
}

enum class UnframeResult { kOk, kCompressed, kMalformed };

// The one message of a unary request's body. An empty body is an empty message (gRPC clients
// send one frame even then, but a DATA-less request is not malformed HTTP/2).
UnframeResult UnframeUnary(std::string_view body, std::string_view* message);

// gRPC's percent-encoding of grpc-message: bytes outside 0x20..0x7e and '%' become %XX.
std::string PercentEncode(std::string_view text);

}  // namespace raftkv::front
