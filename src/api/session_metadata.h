// gRPC metadata keys of raftkv's exactly-once sessions (see proto/raftkvpb/session.proto).
#pragma once

namespace raftkv::api {

inline constexpr char kMetaClientId[] = "raftkv-client-id";
inline constexpr char kMetaSeq[] = "raftkv-seq";
inline constexpr char kMetaAcked[] = "raftkv-acked";

}  // namespace raftkv::api
