// watch_wire.h: the hand-built WatchResponse bytes against the message built field by field
// and serialized by protobuf, for the hub's real responses (a real store and hub: shared and
// filtered pieces, prev_kv, deletes, leases, coalesced revisions) and for every control
// response (created, canceled with a reason, compaction, refusals, progress).
#include "server/daemon/watch_wire.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "kv/test_util.h"

namespace raftkv::server::daemon {
namespace {

using etcdserverpb::WatchResponse;
using namespace raftkv::kv::testing;

const api::HeaderInfo kHeader{std::numeric_limits<uint64_t>::max() - 5, 0x8e9e05c52164694dULL, 7};

std::string Flat(const grpc::ByteBuffer& bb) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(bb.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// The hand-built bytes (as a string and as the ByteBuffer the service writes) equal protobuf's
// serialization of the message, and parse back to the same message.
void ExpectSameAsMessage(const api::HeaderInfo& h, const watch::Response& r) {
  WatchResponse want;
  FillWatchResponse(h, r, &want);
  const std::string bytes = EncodeWatchResponseBytes(h, r);
  EXPECT_EQ(bytes, want.SerializeAsString()) << want.ShortDebugString();
  grpc::ByteBuffer bb;
  EncodeWatchResponse(h, r, &bb);
  EXPECT_EQ(Flat(bb), bytes);
  WatchResponse got;
  ASSERT_TRUE(got.ParseFromString(bytes));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got, want))
      << "got " << got.ShortDebugString() << "\nwant " << want.ShortDebugString();
}

std::vector<watch::Response> DrainAll(watch::Stream& s) {
  std::vector<watch::Response> out;
  for (int guard = 0; guard < 1000; ++guard) {
    watch::Response r;
    watch::Stream::Step step = s.Next(&r);
    if (step == watch::Stream::Step::kIdle) return out;
    if (step == watch::Stream::Step::kSend) out.push_back(std::move(r));
  }
  ADD_FAILURE() << "the stream never went idle";
  return out;
}

watch::WatchSpec Spec(const std::string& key, const std::string& end = "") {
  watch::WatchSpec s;
  s.keys = kv::KeyRange{key, end};
  return s;
}

// The hub's responses to watchers of every kind, over puts (with a lease, empty values),
// multi-key deletes and revisions queued together: each encodes to the message's bytes. The
// shared pieces are encoded once per prev_kv choice and reused, so the watchers sharing a
// piece with different prev_kv choices check both memo slots.
TEST(WatchWireTest, EncodeWatchResponse_hubResponsesEqualTheSerializedMessage) {
  auto store = std::make_shared<kv::Store>();
  MustPut(*store, "a", "before");
  ASSERT_TRUE(store->LeaseGrant(0x1234567890LL, 60).ok());
  watch::Hub hub(store);
  auto stream = hub.OpenStream([] {});
  stream->Create(0, Spec("a"));  // plain
  watch::WatchSpec prev = Spec("a");
  prev.prev_kv = true;
  stream->Create(0, prev);
  watch::WatchSpec no_put = Spec("a", "c");  // a range with a filter: pieces of its own
  no_put.no_put = true;
  no_put.prev_kv = true;
  stream->Create(0, no_put);
  watch::WatchSpec no_delete = Spec("a", "c");
  no_delete.no_delete = true;
  no_delete.fragment = true;
  no_delete.progress_notify = true;
  stream->Create(0, no_delete);
  watch::WatchSpec all = Spec(std::string(1, '\0'), std::string(1, '\0'));
  all.prev_kv = true;
  stream->Create(0, all);
  // Written before the sender takes anything: the revisions coalesce per watcher.
  hub.Publish(MustPut(*store, "a", "1", /*lease=*/0x1234567890LL).header.revision);
  hub.Publish(MustPut(*store, "b", "").header.revision);
  hub.Publish(MustPut(*store, "a", std::string(300, 'v')).header.revision);
  hub.Publish(MustDelete(*store, "a", "c").header.revision);  // two deletes in one revision
  hub.Publish(MustPut(*store, std::string("\xff\x00k", 3), "bin").header.revision);
  hub.NotifyProgress();
  stream->RequestProgress();
  std::vector<watch::Response> got = DrainAll(*stream);
  size_t with_events = 0, multi_piece = 0;
  for (const watch::Response& r : got) {
    SCOPED_TRACE("watch " + std::to_string(r.watch_id) + " rev " + std::to_string(r.revision));
    ExpectSameAsMessage(kHeader, r);
    with_events += r.events.empty() ? 0 : 1;
    multi_piece += r.events.part_count() > 1 ? 1 : 0;
  }
  EXPECT_EQ(with_events, 5u);  // one coalesced response per watcher
  EXPECT_GE(multi_piece, 4u);
  // And once more: now every piece's bytes come from its memo.
  for (const watch::Response& r : got) ExpectSameAsMessage(kHeader, r);
  stream->Close();
}

// Control responses: created, canceled (by the client, with a reason, for compaction with
// header revision 0), refusals with watch id -1, progress, and zero header ids.
TEST(WatchWireTest, EncodeWatchResponse_controlResponsesEqualTheSerializedMessage) {
  std::vector<watch::Response> rs(6);
  rs[0].created = true;
  rs[0].watch_id = 3;
  rs[0].revision = 42;
  rs[1].canceled = true;
  rs[1].watch_id = 3;
  rs[1].revision = 43;
  rs[2].created = rs[2].canceled = true;
  rs[2].watch_id = watch::kInvalidWatchId;
  rs[2].revision = 43;
  rs[2].cancel_reason = watch::kErrWatcherDuplicateID;
  rs[3].canceled = true;
  rs[3].watch_id = 9;
  rs[3].compact_revision = 17;
  rs[4].watch_id = watch::kInvalidWatchId;  // a progress response
  rs[4].revision = std::numeric_limits<int64_t>::max();
  rs[5].watch_id = std::numeric_limits<int64_t>::max();
  rs[5].prev_kv = rs[5].fragment = true;  // no events: neither changes the bytes
  for (const watch::Response& r : rs) {
    ExpectSameAsMessage(kHeader, r);
    ExpectSameAsMessage(api::HeaderInfo{}, r);
  }
}

// Events built by hand: a delete with and without a previous version, a put whose previous
// version is absent (a create), prev_kv asked or not.
TEST(WatchWireTest, AppendEventsField_equalsTheMessagesEventsField) {
  auto rec = [](const std::string& k, const std::string& v, int64_t rev, bool tomb) {
    auto r = std::make_shared<kv::Record>();
    r->key = k;
    r->value = v;
    r->rev.main = rev;
    r->create_revision = tomb ? 0 : 5;
    r->version = tomb ? 0 : 2;
    r->lease = tomb ? 0 : 99;
    r->tombstone = tomb;
    return r;
  };
  kv::Event put{kv::Event::Type::kPut, rec("k", "v2", 8, false), rec("k", "v1", 6, false)};
  kv::Event create{kv::Event::Type::kPut, rec("n", "", 8, false), nullptr};
  kv::Event del{kv::Event::Type::kDelete, rec("k", "", 9, true), rec("k", "v2", 8, false)};
  kv::Event del_no_prev{kv::Event::Type::kDelete, rec("m", "", 9, true), nullptr};
  for (bool prev_kv : {false, true}) {
    watch::Response r;
    r.watch_id = 1;
    r.revision = 9;
    r.prev_kv = prev_kv;
    r.events = watch::EventList({put, create});
    r.events.Append(
        std::make_shared<const watch::EventPiece>(std::vector<kv::Event>{del, del_no_prev}));
    ExpectSameAsMessage(kHeader, r);
  }
}

}  // namespace
}  // namespace raftkv::server::daemon
