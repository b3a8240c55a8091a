#include "api/convert.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <variant>

#include "common/check.h"

namespace raftkv::api {
namespace pb = etcdserverpb;

namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

kv::ResponseHeader headerFromProto(const pb::ResponseHeader& in) {
  kv::ResponseHeader h;
  h.revision = in.revision();
  return h;
}

void headerToProto(const kv::ResponseHeader& in, pb::ResponseHeader* out) {
  out->set_revision(in.revision);
}

kv::RequestOp requestOpFromProto(const pb::RequestOp& in) {
  kv::RequestOp op;
  switch (in.request_case()) {
    case pb::RequestOp::kRequestRange: op.request = FromProto(in.request_range()); break;
    case pb::RequestOp::kRequestPut: op.request = FromProto(in.request_put()); break;
    case pb::RequestOp::kRequestDeleteRange:
      op.request = FromProto(in.request_delete_range());
      break;
    case pb::RequestOp::kRequestTxn: op.request = FromProto(in.request_txn()); break;
    case pb::RequestOp::REQUEST_NOT_SET:
      RAFTKV_CHECK(false, "empty RequestOp: CheckTxnRequest rejects it before conversion");
  }
  return op;
}

void requestOpToProto(const kv::RequestOp& in, pb::RequestOp* out) {
  std::visit(
      Overloaded{
          [&](const kv::RangeRequest& r) { ToProto(r, out->mutable_request_range()); },
          [&](const kv::PutRequest& r) { ToProto(r, out->mutable_request_put()); },
          [&](const kv::DeleteRangeRequest& r) { ToProto(r, out->mutable_request_delete_range()); },
          [&](const kv::TxnRequest& r) { ToProto(r, out->mutable_request_txn()); },
      },
      in.request);
}

kv::ResponseOp responseOpFromProto(const pb::ResponseOp& in) {
  kv::ResponseOp op;
  switch (in.response_case()) {
    case pb::ResponseOp::kResponseRange: op.response = FromProto(in.response_range()); break;
    case pb::ResponseOp::kResponsePut: op.response = FromProto(in.response_put()); break;
    case pb::ResponseOp::kResponseDeleteRange:
      op.response = FromProto(in.response_delete_range());
      break;
    case pb::ResponseOp::kResponseTxn: op.response = FromProto(in.response_txn()); break;
    case pb::ResponseOp::RESPONSE_NOT_SET: break;  // a range response is the harmless default
  }
  return op;
}

void responseOpToProto(const kv::ResponseOp& in, pb::ResponseOp* out) {
  std::visit(Overloaded{
                 [&](const kv::RangeResponse& r) { ToProto(r, out->mutable_response_range()); },
                 [&](const kv::PutResponse& r) { ToProto(r, out->mutable_response_put()); },
                 [&](const kv::DeleteRangeResponse& r) {
                   ToProto(r, out->mutable_response_delete_range());
                 },
                 [&](const kv::TxnResponse& r) { ToProto(r, out->mutable_response_txn()); },
             },
             in.response);
}

}  // namespace

void FillHeader(const HeaderInfo& info, pb::ResponseHeader* header) {
  header->set_cluster_id(info.cluster_id);
  header->set_member_id(info.member_id);
  header->set_raft_term(info.raft_term);
}

Status FillHeaderBytes(const HeaderInfo& info, std::string* bytes) {
  using google::protobuf::internal::WireFormatLite;
  pb::ResponseHeader header;
  std::string rest;  // every top-level field but the header, in order
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes->data()),
                                            static_cast<int>(bytes->size()));
  for (;;) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (WireFormatLite::GetTagFieldNumber(tag) == 1 &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t len = 0;
      std::string piece;
      if (!in.ReadVarint32(&len) || !in.ReadString(&piece, static_cast<int>(len)) ||
          !header.MergeFromString(piece)) {
        return Status::Corruption("raftkv: undecodable response header");
      }
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) {
      return Status::Corruption("raftkv: undecodable response");
    }
    rest.append(*bytes, static_cast<size_t>(start),
                static_cast<size_t>(in.CurrentPosition() - start));
  }
  if (static_cast<size_t>(in.CurrentPosition()) != bytes->size()) {
    return Status::Corruption("raftkv: undecodable response");
  }
  FillHeader(info, &header);
  std::string out;
  out.reserve(rest.size() + 32);
  const std::string h = header.SerializeAsString();
  out.push_back(static_cast<char>((1 << 3) | WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
  for (uint64_t n = h.size();; n >>= 7) {  // its length, a varint
    if (n < 0x80) {
      out.push_back(static_cast<char>(n));
      break;
    }
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
  }
  out.append(h);
  out.append(rest);
  *bytes = std::move(out);
  return Status::OK();
}

// --- KeyValue ---------------------------------------------------------------------------------

void ToProto(const kv::KeyValue& in, mvccpb::KeyValue* out) {
  out->set_key(in.key);
  out->set_create_revision(in.create_revision);
  out->set_mod_revision(in.mod_revision);
  out->set_version(in.version);
  out->set_value(in.value);
  out->set_lease(in.lease);
}

kv::KeyValue FromProto(const mvccpb::KeyValue& in) {
  kv::KeyValue kv;
  kv.key = in.key();
  kv.create_revision = in.create_revision();
  kv.mod_revision = in.mod_revision();
  kv.version = in.version();
  kv.value = in.value();
  kv.lease = in.lease();
  return kv;
}

// --- Requests ---------------------------------------------------------------------------------

// The store's enums use etcd's numbers (types.h), so casting keeps the meaning; validity was
// checked at the API edge.
kv::RangeRequest FromProto(const pb::RangeRequest& in) {
  kv::RangeRequest r;
  r.key = in.key();
  r.range_end = in.range_end();
  r.limit = in.limit();
  r.revision = in.revision();
  r.sort_order = static_cast<kv::SortOrder>(in.sort_order());
  r.sort_target = static_cast<kv::SortTarget>(in.sort_target());
  r.serializable = in.serializable();
  r.keys_only = in.keys_only();
  r.count_only = in.count_only();
  r.min_mod_revision = in.min_mod_revision();
  r.max_mod_revision = in.max_mod_revision();
  r.min_create_revision = in.min_create_revision();
  r.max_create_revision = in.max_create_revision();
  return r;
}

void ToProto(const kv::RangeRequest& in, pb::RangeRequest* out) {
  out->set_key(in.key);
  out->set_range_end(in.range_end);
  out->set_limit(in.limit);
  out->set_revision(in.revision);
  out->set_sort_order(static_cast<pb::RangeRequest::SortOrder>(in.sort_order));
  out->set_sort_target(static_cast<pb::RangeRequest::SortTarget>(in.sort_target));
  out->set_serializable(in.serializable);
  out->set_keys_only(in.keys_only);
  out->set_count_only(in.count_only);
  out->set_min_mod_revision(in.min_mod_revision);
  out->set_max_mod_revision(in.max_mod_revision);
  out->set_min_create_revision(in.min_create_revision);
  out->set_max_create_revision(in.max_create_revision);
}

kv::PutRequest FromProto(const pb::PutRequest& in) {
  kv::PutRequest r;
  r.key = in.key();
  r.value = in.value();
  r.lease = in.lease();
  r.prev_kv = in.prev_kv();
  r.ignore_value = in.ignore_value();
  r.ignore_lease = in.ignore_lease();
  return r;
}

void ToProto(const kv::PutRequest& in, pb::PutRequest* out) {
  out->set_key(in.key);
  out->set_value(in.value);
  out->set_lease(in.lease);
  out->set_prev_kv(in.prev_kv);
  out->set_ignore_value(in.ignore_value);
  out->set_ignore_lease(in.ignore_lease);
}

kv::DeleteRangeRequest FromProto(const pb::DeleteRangeRequest& in) {
  kv::DeleteRangeRequest r;
  r.key = in.key();
  r.range_end = in.range_end();
  r.prev_kv = in.prev_kv();
  return r;
}

void ToProto(const kv::DeleteRangeRequest& in, pb::DeleteRangeRequest* out) {
  out->set_key(in.key);
  out->set_range_end(in.range_end);
  out->set_prev_kv(in.prev_kv);
}

// etcd reads the operand from target_union only when its case matches the target (otherwise
// the operand is zero/empty); copying the set case into the same-named field and leaving the
// others zero gives the store exactly that.
kv::Compare FromProto(const pb::Compare& in) {
  kv::Compare c;
  c.result = static_cast<kv::Compare::Result>(in.result());
  c.target = static_cast<kv::Compare::Target>(in.target());
  c.key = in.key();
  c.range_end = in.range_end();
  switch (in.target_union_case()) {
    case pb::Compare::kVersion: c.version = in.version(); break;
    case pb::Compare::kCreateRevision: c.create_revision = in.create_revision(); break;
    case pb::Compare::kModRevision: c.mod_revision = in.mod_revision(); break;
    case pb::Compare::kValue: c.value = in.value(); break;
    case pb::Compare::kLease: c.lease = in.lease(); break;
    case pb::Compare::TARGET_UNION_NOT_SET: break;
  }
  return c;
}

// Sets only the operand the target uses, as etcd's clients do.
void ToProto(const kv::Compare& in, pb::Compare* out) {
  out->set_result(static_cast<pb::Compare::CompareResult>(in.result));
  out->set_target(static_cast<pb::Compare::CompareTarget>(in.target));
  out->set_key(in.key);
  out->set_range_end(in.range_end);
  switch (in.target) {
    case kv::Compare::Target::kVersion: out->set_version(in.version); break;
    case kv::Compare::Target::kCreate: out->set_create_revision(in.create_revision); break;
    case kv::Compare::Target::kMod: out->set_mod_revision(in.mod_revision); break;
    case kv::Compare::Target::kValue: out->set_value(in.value); break;
    case kv::Compare::Target::kLease: out->set_lease(in.lease); break;
  }
}

kv::TxnRequest FromProto(const pb::TxnRequest& in) {
  kv::TxnRequest t;
  t.compare.reserve(in.compare_size());
  for (const auto& c : in.compare()) t.compare.push_back(FromProto(c));
  t.success.reserve(in.success_size());
  for (const auto& op : in.success()) t.success.push_back(requestOpFromProto(op));
  t.failure.reserve(in.failure_size());
  for (const auto& op : in.failure()) t.failure.push_back(requestOpFromProto(op));
  return t;
}

void ToProto(const kv::TxnRequest& in, pb::TxnRequest* out) {
  for (const auto& c : in.compare) ToProto(c, out->add_compare());
  for (const auto& op : in.success) requestOpToProto(op, out->add_success());
  for (const auto& op : in.failure) requestOpToProto(op, out->add_failure());
}

kv::CompactionRequest FromProto(const pb::CompactionRequest& in) {
  kv::CompactionRequest r;
  r.revision = in.revision();
  r.physical = in.physical();
  return r;
}

void ToProto(const kv::CompactionRequest& in, pb::CompactionRequest* out) {
  out->set_revision(in.revision);
  out->set_physical(in.physical);
}

// --- Responses --------------------------------------------------------------------------------

void ToProto(const kv::RangeResponse& in, pb::RangeResponse* out) {
  headerToProto(in.header, out->mutable_header());
  for (const auto& kv : in.kvs) ToProto(kv, out->add_kvs());
  out->set_more(in.more);
  out->set_count(in.count);
}

kv::RangeResponse FromProto(const pb::RangeResponse& in) {
  kv::RangeResponse r;
  r.header = headerFromProto(in.header());
  r.kvs.reserve(in.kvs_size());
  for (const auto& kv : in.kvs()) r.kvs.push_back(FromProto(kv));
  r.more = in.more();
  r.count = in.count();
  return r;
}

void ToProto(const kv::PutResponse& in, pb::PutResponse* out) {
  headerToProto(in.header, out->mutable_header());
  if (in.has_prev_kv) ToProto(in.prev_kv, out->mutable_prev_kv());
}

kv::PutResponse FromProto(const pb::PutResponse& in) {
  kv::PutResponse r;
  r.header = headerFromProto(in.header());
  r.has_prev_kv = in.has_prev_kv();
  if (r.has_prev_kv) r.prev_kv = FromProto(in.prev_kv());
  return r;
}

void ToProto(const kv::DeleteRangeResponse& in, pb::DeleteRangeResponse* out) {
  headerToProto(in.header, out->mutable_header());
  out->set_deleted(in.deleted);
  for (const auto& kv : in.prev_kvs) ToProto(kv, out->add_prev_kvs());
}

kv::DeleteRangeResponse FromProto(const pb::DeleteRangeResponse& in) {
  kv::DeleteRangeResponse r;
  r.header = headerFromProto(in.header());
  r.deleted = in.deleted();
  r.prev_kvs.reserve(in.prev_kvs_size());
  for (const auto& kv : in.prev_kvs()) r.prev_kvs.push_back(FromProto(kv));
  return r;
}

void ToProto(const kv::TxnResponse& in, pb::TxnResponse* out) {
  headerToProto(in.header, out->mutable_header());
  out->set_succeeded(in.succeeded);
  for (const auto& op : in.responses) responseOpToProto(op, out->add_responses());
}

kv::TxnResponse FromProto(const pb::TxnResponse& in) {
  kv::TxnResponse r;
  r.header = headerFromProto(in.header());
  r.succeeded = in.succeeded();
  r.responses.reserve(in.responses_size());
  for (const auto& op : in.responses()) r.responses.push_back(responseOpFromProto(op));
  return r;
}

void ToProto(const kv::CompactionResponse& in, pb::CompactionResponse* out) {
  headerToProto(in.header, out->mutable_header());
}

kv::CompactionResponse FromProto(const pb::CompactionResponse& in) {
  kv::CompactionResponse r;
  r.header = headerFromProto(in.header());
  return r;
}

}  // namespace raftkv::api
