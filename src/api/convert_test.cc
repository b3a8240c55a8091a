#include "api/convert.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>

namespace raftkv::api {
namespace {
namespace pb = etcdserverpb;
using google::protobuf::util::MessageDifferencer;

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// Wire -> store -> wire must give back the same message (every field the store carries).
template <class Pb>
void expectRoundTrip(const Pb& msg) {
  Pb back;
  ToProto(FromProto(msg), &back);
  EXPECT_TRUE(MessageDifferencer::Equals(msg, back))
      << "before: " << msg.ShortDebugString() << "\nafter:  " << back.ShortDebugString();
}

void setKv(mvccpb::KeyValue* kv, const std::string& key, int64_t n) {
  kv->set_key(key);
  kv->set_create_revision(n);
  kv->set_mod_revision(n + 1);
  kv->set_version(n + 2);
  kv->set_value("val-" + key);
  kv->set_lease(n + 3);
}

pb::RangeRequest fullRange() {
  pb::RangeRequest r;
  r.set_key("a");
  r.set_range_end(std::string(1, '\0'));
  r.set_limit(7);
  r.set_revision(9);
  r.set_sort_order(pb::RangeRequest::DESCEND);
  r.set_sort_target(pb::RangeRequest::VALUE);
  r.set_serializable(true);
  r.set_keys_only(true);
  r.set_count_only(true);
  r.set_min_mod_revision(1);
  r.set_max_mod_revision(2);
  r.set_min_create_revision(3);
  r.set_max_create_revision(4);
  return r;
}

TEST(Convert, KeyValue_roundTrip) {
  mvccpb::KeyValue kv;
  setKv(&kv, std::string("k\0\xff", 3), 10);
  kv::KeyValue s = FromProto(kv);
  EXPECT_EQ(s.key, std::string("k\0\xff", 3));
  EXPECT_EQ(s.create_revision, 10);
  EXPECT_EQ(s.mod_revision, 11);
  EXPECT_EQ(s.version, 12);
  EXPECT_EQ(s.lease, 13);
  mvccpb::KeyValue back;
  ToProto(s, &back);
  EXPECT_TRUE(MessageDifferencer::Equals(kv, back));
}

TEST(Convert, RangeRequest_everyField) {
  pb::RangeRequest r = fullRange();
  kv::RangeRequest s = FromProto(r);
  EXPECT_EQ(s.key, "a");
  EXPECT_EQ(s.range_end, std::string(1, '\0'));
  EXPECT_EQ(s.limit, 7);
  EXPECT_EQ(s.revision, 9);
  EXPECT_EQ(s.sort_order, kv::SortOrder::kDescend);
  EXPECT_EQ(s.sort_target, kv::SortTarget::kValue);
  EXPECT_TRUE(s.serializable && s.keys_only && s.count_only);
  EXPECT_EQ(s.min_mod_revision, 1);
  EXPECT_EQ(s.max_mod_revision, 2);
  EXPECT_EQ(s.min_create_revision, 3);
  EXPECT_EQ(s.max_create_revision, 4);
  expectRoundTrip(r);
  // Every sort order and target keeps its meaning.
  for (int o = 0; o <= 2; o++) {
    for (int t = 0; t <= 4; t++) {
      r.set_sort_order(static_cast<pb::RangeRequest::SortOrder>(o));
      r.set_sort_target(static_cast<pb::RangeRequest::SortTarget>(t));
      expectRoundTrip(r);
    }
  }
}

TEST(Convert, RangeResponse_roundTrip) {
  pb::RangeResponse r;
  r.mutable_header()->set_revision(42);
  setKv(r.add_kvs(), "a", 1);
  setKv(r.add_kvs(), "b", 5);
  r.set_more(true);
  r.set_count(3);
  kv::RangeResponse s = FromProto(r);
  ASSERT_EQ(s.kvs.size(), 2u);
  EXPECT_EQ(s.kvs[1].key, "b");
  EXPECT_EQ(s.header.revision, 42);
  EXPECT_TRUE(s.more);
  EXPECT_EQ(s.count, 3);
  expectRoundTrip(r);
}

TEST(Convert, PutRequestAndResponse_roundTrip) {
  pb::PutRequest r;
  r.set_key("k");
  r.set_value("v");
  r.set_lease(77);
  r.set_prev_kv(true);
  r.set_ignore_value(true);
  r.set_ignore_lease(true);
  kv::PutRequest s = FromProto(r);
  EXPECT_EQ(s.lease, 77);
  EXPECT_TRUE(s.prev_kv && s.ignore_value && s.ignore_lease);
  expectRoundTrip(r);

  pb::PutResponse with;
  with.mutable_header()->set_revision(3);
  setKv(with.mutable_prev_kv(), "k", 2);
  EXPECT_TRUE(FromProto(with).has_prev_kv);
  expectRoundTrip(with);

  // No prev_kv stays absent on the wire (clients test for its presence).
  pb::PutResponse without;
  without.mutable_header()->set_revision(3);
  EXPECT_FALSE(FromProto(without).has_prev_kv);
  pb::PutResponse back;
  ToProto(FromProto(without), &back);
  EXPECT_FALSE(back.has_prev_kv());
}

TEST(Convert, DeleteRange_roundTrip) {
  pb::DeleteRangeRequest r;
  r.set_key("a");
  r.set_range_end("z");
  r.set_prev_kv(true);
  expectRoundTrip(r);

  pb::DeleteRangeResponse resp;
  resp.mutable_header()->set_revision(8);
  resp.set_deleted(2);
  setKv(resp.add_prev_kvs(), "a", 1);
  setKv(resp.add_prev_kvs(), "b", 2);
  kv::DeleteRangeResponse s = FromProto(resp);
  EXPECT_EQ(s.deleted, 2);
  EXPECT_EQ(s.prev_kvs.size(), 2u);
  expectRoundTrip(resp);
}

TEST(Convert, Compare_everyTargetAndResult) {
  for (int res = 0; res <= 3; res++) {
    for (int tgt = 0; tgt <= 4; tgt++) {
      pb::Compare c;
      c.set_result(static_cast<pb::Compare::CompareResult>(res));
      c.set_target(static_cast<pb::Compare::CompareTarget>(tgt));
      c.set_key("k");
      c.set_range_end("l");
      switch (c.target()) {
        case pb::Compare::VERSION: c.set_version(5); break;
        case pb::Compare::CREATE: c.set_create_revision(6); break;
        case pb::Compare::MOD: c.set_mod_revision(7); break;
        case pb::Compare::VALUE: c.set_value("x"); break;
        case pb::Compare::LEASE: c.set_lease(8); break;
        default: FAIL();
      }
      kv::Compare s = FromProto(c);
      EXPECT_EQ(static_cast<int>(s.result), res);
      EXPECT_EQ(static_cast<int>(s.target), tgt);
      EXPECT_EQ(s.range_end, "l");
      expectRoundTrip(c);
    }
  }
}

TEST(Convert, Compare_operandOfOtherTargetIsIgnored) {
  // etcd reads the operand only from the union case matching the target.
  pb::Compare c;
  c.set_target(pb::Compare::MOD);
  c.set_key("k");
  c.set_version(9);
  kv::Compare s = FromProto(c);
  EXPECT_EQ(s.mod_revision, 0);
  EXPECT_EQ(s.version, 9);  // carried, but the store reads mod_revision for MOD
}

pb::TxnRequest nestedTxn() {
  pb::TxnRequest t;
  auto* c = t.add_compare();
  c->set_target(pb::Compare::VALUE);
  c->set_key("k");
  c->set_value("v");
  *t.add_success()->mutable_request_range() = fullRange();
  auto* put = t.add_success()->mutable_request_put();
  put->set_key("p");
  put->set_value("q");
  t.add_failure()->mutable_request_delete_range()->set_key("d");
  // A txn inside the failure branch, itself holding a txn.
  pb::TxnRequest* inner = t.add_failure()->mutable_request_txn();
  auto* ic = inner->add_compare();
  ic->set_result(pb::Compare::GREATER);
  ic->set_target(pb::Compare::CREATE);
  ic->set_key("i");
  ic->set_create_revision(3);
  inner->add_success()->mutable_request_put()->set_key("x");
  inner->add_failure()->mutable_request_txn()->add_success()->mutable_request_range()->set_key(
      "deep");
  return t;
}

TEST(Convert, TxnRequest_nestedRoundTrip) {
  pb::TxnRequest t = nestedTxn();
  kv::TxnRequest s = FromProto(t);
  ASSERT_EQ(s.compare.size(), 1u);
  ASSERT_EQ(s.success.size(), 2u);
  ASSERT_EQ(s.failure.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<kv::RangeRequest>(s.success[0].request));
  EXPECT_TRUE(std::holds_alternative<kv::PutRequest>(s.success[1].request));
  EXPECT_TRUE(std::holds_alternative<kv::DeleteRangeRequest>(s.failure[0].request));
  const auto& inner = std::get<kv::TxnRequest>(s.failure[1].request);
  EXPECT_EQ(inner.compare[0].create_revision, 3);
  const auto& deepest = std::get<kv::TxnRequest>(inner.failure[0].request);
  EXPECT_EQ(std::get<kv::RangeRequest>(deepest.success[0].request).key, "deep");
  expectRoundTrip(t);
}

TEST(Convert, TxnResponse_nestedRoundTrip) {
  pb::TxnResponse t;
  t.mutable_header()->set_revision(20);
  t.set_succeeded(true);
  auto* rr = t.add_responses()->mutable_response_range();
  rr->mutable_header()->set_revision(20);
  setKv(rr->add_kvs(), "a", 1);
  rr->set_count(1);
  auto* pr = t.add_responses()->mutable_response_put();
  pr->mutable_header()->set_revision(20);
  setKv(pr->mutable_prev_kv(), "p", 4);
  auto* dr = t.add_responses()->mutable_response_delete_range();
  dr->mutable_header()->set_revision(20);
  dr->set_deleted(1);
  auto* inner = t.add_responses()->mutable_response_txn();
  inner->mutable_header()->set_revision(20);
  inner->add_responses()->mutable_response_put()->mutable_header()->set_revision(20);
  kv::TxnResponse s = FromProto(t);
  ASSERT_EQ(s.responses.size(), 4u);
  EXPECT_TRUE(std::get<kv::PutResponse>(s.responses[1].response).has_prev_kv);
  EXPECT_EQ(std::get<kv::TxnResponse>(s.responses[3].response).responses.size(), 1u);
  expectRoundTrip(t);
}

TEST(Convert, Compaction_roundTrip) {
  pb::CompactionRequest r;
  r.set_revision(300);
  r.set_physical(true);
  kv::CompactionRequest s = FromProto(r);
  EXPECT_EQ(s.revision, 300);
  EXPECT_TRUE(s.physical);
  expectRoundTrip(r);
  pb::CompactionResponse resp;
  resp.mutable_header()->set_revision(301);
  expectRoundTrip(resp);
}

TEST(Convert, FillHeader_setsServerFields) {
  kv::PutResponse s;
  s.header.revision = 5;
  pb::PutResponse r;
  ToProto(s, &r);
  FillHeader(HeaderInfo{.cluster_id = 1, .member_id = 2, .raft_term = 3}, r.mutable_header());
  EXPECT_EQ(r.header().revision(), 5);
  EXPECT_EQ(r.header().cluster_id(), 1u);
  EXPECT_EQ(r.header().member_id(), 2u);
  EXPECT_EQ(r.header().raft_term(), 3u);
}

// --- Wire bytes, checked by hand against etcd 3.4's field numbers ---------------------------

TEST(WireBytes, PutRequest) {
  kv::PutRequest s;
  s.key = "a";
  s.value = "b";
  s.prev_kv = true;
  pb::PutRequest r;
  ToProto(s, &r);
  EXPECT_EQ(hex(r.SerializeAsString()), "0a 01 61 12 01 62 20 01");
}

TEST(WireBytes, RangeRequest) {
  kv::RangeRequest s;
  s.key = "a";
  s.range_end = "b";
  s.limit = 5;
  s.sort_order = kv::SortOrder::kDescend;
  s.sort_target = kv::SortTarget::kMod;
  pb::RangeRequest r;
  ToProto(s, &r);
  EXPECT_EQ(hex(r.SerializeAsString()), "0a 01 61 12 01 62 18 05 28 02 30 03");
}

TEST(WireBytes, CompareRangeEndIsField64) {
  kv::Compare s;
  s.result = kv::Compare::Result::kNotEqual;
  s.target = kv::Compare::Target::kValue;
  s.key = "k";
  s.value = "v";
  s.range_end = "z";
  pb::Compare c;
  ToProto(s, &c);
  // range_end: tag (64 << 3 | 2) = 514 = varint 82 04.
  EXPECT_EQ(hex(c.SerializeAsString()), "08 03 10 03 1a 01 6b 3a 01 76 82 04 01 7a");
}

TEST(WireBytes, TxnWithPut) {
  kv::PutRequest put;
  put.key = "k";
  put.value = "v";
  kv::TxnRequest t;
  t.success.push_back(kv::RequestOp{put});
  pb::TxnRequest r;
  ToProto(t, &r);
  // success(2) { request_put(2) { key(1) "k", value(2) "v" } }
  EXPECT_EQ(hex(r.SerializeAsString()), "12 08 12 06 0a 01 6b 12 01 76");
}

TEST(WireBytes, CompactionRequest) {
  pb::CompactionRequest r;
  ToProto(kv::CompactionRequest{.revision = 300, .physical = true}, &r);
  EXPECT_EQ(hex(r.SerializeAsString()), "08 ac 02 10 01");
}

TEST(WireBytes, RangeResponseDecodes) {
  // header(1){revision(3)=7}, kvs(2){key(1)="a", mod_revision(3)=7, value(5)="b"}, count(4)=1
  const std::string bytes(
      "\x0a\x02\x18\x07"
      "\x12\x08\x0a\x01\x61\x18\x07\x2a\x01\x62"
      "\x20\x01",
      16);
  pb::RangeResponse r;
  ASSERT_TRUE(r.ParseFromString(bytes));
  kv::RangeResponse s = FromProto(r);
  EXPECT_EQ(s.header.revision, 7);
  ASSERT_EQ(s.kvs.size(), 1u);
  EXPECT_EQ(s.kvs[0].key, "a");
  EXPECT_EQ(s.kvs[0].mod_revision, 7);
  EXPECT_EQ(s.kvs[0].value, "b");
  EXPECT_EQ(s.count, 1);
}

// FillHeaderBytes is FillHeader on the message, byte for byte: one header, first, with the
// store's revision kept, for every kind of response (a Range with kvs, a Txn with nested
// responses, a response without a header yet). Byte equality also rules out a second header
// occurrence, which protobuf.js would not merge.
TEST(Convert, FillHeaderBytes_isFillHeaderWithoutAParse) {
  const HeaderInfo info{0x1234567890abcdefULL, 77, 300};
  pb::RangeResponse range;
  range.mutable_header()->set_revision(42);
  range.add_kvs()->set_key("k");
  range.set_count(1);
  pb::TxnResponse txn;
  txn.mutable_header()->set_revision(9);
  txn.set_succeeded(true);
  txn.add_responses()->mutable_response_put()->mutable_header()->set_revision(9);
  pb::PutResponse empty;  // no header at all yet
  for (const google::protobuf::Message* m :
       std::initializer_list<const google::protobuf::Message*>{&range, &txn, &empty}) {
    std::unique_ptr<google::protobuf::Message> want(m->New());
    want->CopyFrom(*m);
    auto* header = static_cast<pb::ResponseHeader*>(want->GetReflection()->MutableMessage(
        want.get(), want->GetDescriptor()->FindFieldByName("header")));
    FillHeader(info, header);
    std::string bytes = m->SerializeAsString();
    ASSERT_TRUE(FillHeaderBytes(info, &bytes).ok());
    EXPECT_EQ(bytes, want->SerializeAsString()) << want->DebugString();
  }
  std::string garbage = "\x0a\x05ab";  // a header field longer than the bytes
  EXPECT_FALSE(FillHeaderBytes(info, &garbage).ok());
}

}  // namespace
}  // namespace raftkv::api
