// Fuzz targets: everything a peer or a client can send raftkvd, decoded and used the way the
// server does, must end in a result or a clear error — never a crash, an assertion, a hang or
// memory out of proportion to the input. Each target takes arbitrary bytes; the gtest driver
// (fuzz_test.cc: the committed corpus, then seeded mutations of it, in `make test`) and the
// libFuzzer binaries (`make fuzz`, clang with ASan/UBSan) run the same functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace raftkv::fuzz {

// A raftkvpb.MessageBatch from a peer's raft stream: decoded message by message as
// PeerService does, then stepped into a follower's consensus core.
void PeerBatch(const uint8_t* data, size_t size);
// What a connection to the peer port sends on the framed message stream
// (transport/frame.h): read through the receiver's FrameSocket (preamble, length checks,
// frames split anywhere), the hello parsed, each batch frame run as PeerBatch.
void FramedStream(const uint8_t* data, size_t size);
// A raftkvpb.SnapshotChunk (the first of a snapshot stream): header and message decoded.
void SnapshotChunk(const uint8_t* data, size_t size);
// A client request: the first byte picks the etcd message type (Range, Put, DeleteRange,
// Txn, Compaction, Auth calls), the rest is its protobuf encoding. Parsed, validated at the
// edge as the services do, checked by the auth store, and run against a small MVCC store.
void ClientRequest(const uint8_t* data, size_t size);
// A server snapshot image (from a leader, or a snapshot file on disk), fed to the loader in
// chunks whose sizes come from the input.
void SnapshotImage(const uint8_t* data, size_t size);

struct Target {
  const char* name;
  void (*run)(const uint8_t*, size_t);
  // Valid inputs to start from (the committed corpus is made from these).
  std::vector<std::string> (*seeds)();
};
const std::vector<Target>& Targets();

}  // namespace raftkv::fuzz
