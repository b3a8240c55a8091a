// Request and response structs of the key-value state machine. They mirror etcd's v3 API
// messages (etcdserverpb.RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest,
// CompactionRequest and mvccpb.KeyValue) field by field, so the gRPC layer maps them 1:1.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace raftkv::kv {

// mvccpb.KeyValue.
struct KeyValue {
  std::string key;
  int64_t create_revision = 0;  // revision of the put that created this generation of the key
  int64_t mod_revision = 0;     // revision of the last modification
  int64_t version = 0;          // number of puts since creation; 0 means deleted
  std::string value;
  int64_t lease = 0;

  bool operator==(const KeyValue&) const = default;
};

struct ResponseHeader {
  int64_t revision = 0;  // the store's revision when the response was produced
};

// --- Range ---------------------------------------------------------------------------------
enum class SortOrder { kNone = 0, kAscend = 1, kDescend = 2 };
enum class SortTarget { kKey = 0, kVersion = 1, kCreate = 2, kMod = 3, kValue = 4 };

struct RangeRequest {
  std::string key;
  // Empty: only `key`. Otherwise the half-open range [key, range_end); "\0" (one zero byte)
  // means every key >= key.
  std::string range_end;
  int64_t limit = 0;     // 0 = no limit
  int64_t revision = 0;  // <= 0 = current revision
  SortOrder sort_order = SortOrder::kNone;
  SortTarget sort_target = SortTarget::kKey;
  bool serializable = false;  // meaningful to the server only
  bool keys_only = false;
  bool count_only = false;
  int64_t min_mod_revision = 0;  // 0 = no bound
  int64_t max_mod_revision = 0;
  int64_t min_create_revision = 0;
  int64_t max_create_revision = 0;
};

struct RangeResponse {
  ResponseHeader header;
  std::vector<KeyValue> kvs;
  bool more = false;  // more keys matched than `limit` allowed to return
  int64_t count = 0;  // number of keys in the range at the revision (before limit/filters)
};

// --- Put -----------------------------------------------------------------------------------
struct PutRequest {
  std::string key;
  std::string value;
  int64_t lease = 0;
  bool prev_kv = false;
  bool ignore_value = false;  // keep the current value (key must exist)
  bool ignore_lease = false;  // keep the current lease (key must exist)
};

struct PutResponse {
  ResponseHeader header;
  bool has_prev_kv = false;
  KeyValue prev_kv;
};

// --- DeleteRange ---------------------------------------------------------------------------
struct DeleteRangeRequest {
  std::string key;
  std::string range_end;  // same meaning as in RangeRequest
  bool prev_kv = false;
};

struct DeleteRangeResponse {
  ResponseHeader header;
  int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

// --- Txn -----------------------------------------------------------------------------------
struct Compare {
  enum class Result { kEqual = 0, kGreater = 1, kLess = 2, kNotEqual = 3 };
  enum class Target { kVersion = 0, kCreate = 1, kMod = 2, kValue = 3, kLease = 4 };
  Result result = Result::kEqual;
  Target target = Target::kVersion;
  std::string key;
  std::string range_end;  // compare every key in [key, range_end)
  // The operand; which one is used depends on `target` (etcd's target_union).
  int64_t version = 0;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  std::string value;
  int64_t lease = 0;
};

struct RequestOp;
struct ResponseOp;

struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<RequestOp> success;
  std::vector<RequestOp> failure;
};

struct TxnResponse {
  ResponseHeader header;
  bool succeeded = false;
  std::vector<ResponseOp> responses;
};

struct RequestOp {
  std::variant<RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest> request;
};

struct ResponseOp {
  std::variant<RangeResponse, PutResponse, DeleteRangeResponse, TxnResponse> response;
};

// --- Compaction / maintenance ----------------------------------------------------------------
struct CompactionRequest {
  int64_t revision = 0;
  bool physical = false;  // accepted; compaction here is always finished before returning
};

struct CompactionResponse {
  ResponseHeader header;
};

struct HashKVResponse {
  ResponseHeader header;
  uint32_t hash = 0;
  int64_t compact_revision = 0;
};

}  // namespace raftkv::kv
