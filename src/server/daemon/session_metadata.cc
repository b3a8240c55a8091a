// raftkv's exactly-once session metadata (raftkvpb/session.proto) read from a gRPC call.
#include "api/session_metadata.h"

#include <charconv>

#include "server/daemon/services.h"

namespace raftkv::server::daemon {
namespace {

// The value of `key`, if the client sent it (the last one if sent twice).
const grpc::string_ref* Find(const std::multimap<grpc::string_ref, grpc::string_ref>& md,
                             const char* key) {
  const grpc::string_ref* found = nullptr;
  auto [begin, end] = md.equal_range(grpc::string_ref(key));
  for (auto it = begin; it != end; ++it) found = &it->second;
  return found;
}

Status ParseU64(const char* key, const grpc::string_ref& text, uint64_t* out) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, *out);
  if (text.empty() || ec != std::errc() || end != last) {
    return Status::InvalidArgument(std::string("raftkv: bad ") + key + " metadata \"" +
                                   std::string(first, text.size()) +
                                   "\" (expected a decimal unsigned integer)");
  }
  return Status::OK();
}

}  // namespace

Result<SessionRef> ParseSessionMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
  SessionRef session;
  const grpc::string_ref* client = Find(md, api::kMetaClientId);
  const grpc::string_ref* seq = Find(md, api::kMetaSeq);
  const grpc::string_ref* acked = Find(md, api::kMetaAcked);
  if (client == nullptr) {
    if (seq != nullptr || acked != nullptr) {
      return Status::InvalidArgument(std::string("raftkv: ") + api::kMetaSeq + "/" +
                                     api::kMetaAcked + " metadata without " + api::kMetaClientId);
    }
    return session;
  }
  RAFTKV_RETURN_IF_ERROR(ParseU64(api::kMetaClientId, *client, &session.client_id));
  if (session.client_id == 0) {
    return Status::InvalidArgument(std::string("raftkv: bad ") + api::kMetaClientId +
                                   " metadata \"0\" (client ids start at 1)");
  }
  if (seq == nullptr) {
    return Status::InvalidArgument(std::string("raftkv: ") + api::kMetaClientId +
                                   " metadata without " + api::kMetaSeq);
  }
  RAFTKV_RETURN_IF_ERROR(ParseU64(api::kMetaSeq, *seq, &session.seq));
  if (session.seq == 0) {
    return Status::InvalidArgument(std::string("raftkv: bad ") + api::kMetaSeq +
                                   " metadata \"0\" (sequence numbers start at 1)");
  }
  if (acked != nullptr) {
    RAFTKV_RETURN_IF_ERROR(ParseU64(api::kMetaAcked, *acked, &session.acked_through));
  }
  // The response to this request has not been received yet, so it cannot be acknowledged.
  if (session.acked_through >= session.seq) {
    return Status::InvalidArgument(std::string("raftkv: ") + api::kMetaAcked + " (" +
                                   std::to_string(session.acked_through) + ") must be below " +
                                   api::kMetaSeq + " (" + std::to_string(session.seq) + ")");
  }
  return session;
}

}  // namespace raftkv::server::daemon
