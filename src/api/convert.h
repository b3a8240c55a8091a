// Conversion between etcd's wire messages (etcdserverpb / mvccpb) and the MVCC store's
// request and response types (kv/types.h), which mirror them field by field.
//
// Server direction: FromProto(request) -> Store -> ToProto(response). The reverse functions
// (ToProto(request), FromProto(response)) exist for clients and tests; with them every
// message round-trips. Requests must pass the checks in api/errors.h first: FromProto assumes
// the enum values are ones etcd declares.
//
// Headers: the store knows only the revision. ToProto fills ResponseHeader.revision at every
// level (nested txn responses included); the server adds cluster_id, member_id and raft_term
// to the top-level header with FillHeader, as etcd does.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "etcdserverpb/rpc.pb.h"
#include "kv/types.h"
#include "mvccpb/kv.pb.h"

namespace raftkv::api {

struct HeaderInfo {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
  uint64_t raft_term = 0;
};
void FillHeader(const HeaderInfo& info, etcdserverpb::ResponseHeader* header);
// FillHeader on a response still serialized, without parsing the rest of it: every etcd
// response has its ResponseHeader as field 1. The top-level fields are skipped over, the header
// is filled and written first, once; the other fields follow as they were. (Appending a second
// header would be merged by protobuf C++ and Go, but protobuf.js, under the Node.js client,
// keeps only the last one.) Corruption if the bytes are not a message.
Status FillHeaderBytes(const HeaderInfo& info, std::string* serialized_response);

// mvccpb.KeyValue
void ToProto(const kv::KeyValue& in, mvccpb::KeyValue* out);
kv::KeyValue FromProto(const mvccpb::KeyValue& in);

// Requests.
kv::RangeRequest FromProto(const etcdserverpb::RangeRequest& in);
kv::PutRequest FromProto(const etcdserverpb::PutRequest& in);
kv::DeleteRangeRequest FromProto(const etcdserverpb::DeleteRangeRequest& in);
kv::Compare FromProto(const etcdserverpb::Compare& in);
kv::TxnRequest FromProto(const etcdserverpb::TxnRequest& in);
kv::CompactionRequest FromProto(const etcdserverpb::CompactionRequest& in);

void ToProto(const kv::RangeRequest& in, etcdserverpb::RangeRequest* out);
void ToProto(const kv::PutRequest& in, etcdserverpb::PutRequest* out);
void ToProto(const kv::DeleteRangeRequest& in, etcdserverpb::DeleteRangeRequest* out);
void ToProto(const kv::Compare& in, etcdserverpb::Compare* out);
void ToProto(const kv::TxnRequest& in, etcdserverpb::TxnRequest* out);
void ToProto(const kv::CompactionRequest& in, etcdserverpb::CompactionRequest* out);

// Responses.
void ToProto(const kv::RangeResponse& in, etcdserverpb::RangeResponse* out);
void ToProto(const kv::PutResponse& in, etcdserverpb::PutResponse* out);
void ToProto(const kv::DeleteRangeResponse& in, etcdserverpb::DeleteRangeResponse* out);
void ToProto(const kv::TxnResponse& in, etcdserverpb::TxnResponse* out);
void ToProto(const kv::CompactionResponse& in, etcdserverpb::CompactionResponse* out);

kv::RangeResponse FromProto(const etcdserverpb::RangeResponse& in);
kv::PutResponse FromProto(const etcdserverpb::PutResponse& in);
kv::DeleteRangeResponse FromProto(const etcdserverpb::DeleteRangeResponse& in);
kv::TxnResponse FromProto(const etcdserverpb::TxnResponse& in);
kv::CompactionResponse FromProto(const etcdserverpb::CompactionResponse& in);

}  // namespace raftkv::api
