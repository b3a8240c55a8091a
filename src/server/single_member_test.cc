// One member: every KV call through raft and the WAL, restart, sessions, snapshots, errors.
#include <openssl/sha.h>

#include <fstream>

#include "api/errors.h"
#include "server/test_util.h"

namespace raftkv::server {
namespace {

using testing::Cluster;
using testing::Get;
using testing::Put;
using testing::Sync;
using testing::Value;

TEST(SingleMember, PutRangeDeleteTxnCompact) {
  Cluster c(1);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);

  auto p = Put(s, "a", "1");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->header().revision(), 2);
  EXPECT_EQ(p->header().member_id(), s->member_id());
  EXPECT_EQ(p->header().cluster_id(), s->cluster_id());
  EXPECT_GE(p->header().raft_term(), 1u);
  ASSERT_TRUE(Put(s, "b", "2").ok());
  EXPECT_EQ(Value(s, "a"), "1");
  EXPECT_EQ(Value(s, "a", /*serializable=*/true), "1");

  etcdserverpb::RangeRequest all;
  all.set_key("a");
  all.set_range_end("c");
  auto r = Sync<etcdserverpb::RangeResponse>([&](auto d) { s->Range(all, d); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count(), 2);
  EXPECT_EQ(r->header().revision(), 3);

  etcdserverpb::TxnRequest txn;
  auto* cmp = txn.add_compare();
  cmp->set_key("a");
  cmp->set_target(etcdserverpb::Compare::VALUE);
  cmp->set_result(etcdserverpb::Compare::EQUAL);
  cmp->set_value("1");
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key("a");
  put->set_value("11");
  auto t = Sync<etcdserverpb::TxnResponse>([&](auto d) { s->Txn(txn, {}, d); });
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE(t->succeeded());
  EXPECT_EQ(Value(s, "a"), "11");

  // A read-only txn takes the read path and changes nothing.
  etcdserverpb::TxnRequest ro;
  ro.add_success()->mutable_request_range()->set_key("b");
  auto rt = Sync<etcdserverpb::TxnResponse>([&](auto d) { s->Txn(ro, {}, d); });
  ASSERT_TRUE(rt.ok());
  EXPECT_EQ(rt->responses(0).response_range().kvs(0).value(), "2");
  EXPECT_EQ(rt->header().revision(), 4);

  etcdserverpb::DeleteRangeRequest del;
  del.set_key("b");
  auto dr = Sync<etcdserverpb::DeleteRangeResponse>([&](auto d) { s->DeleteRange(del, {}, d); });
  ASSERT_TRUE(dr.ok());
  EXPECT_EQ(dr->deleted(), 1);
  EXPECT_EQ(Value(s, "b"), "<none>");

  etcdserverpb::CompactionRequest comp;
  comp.set_revision(4);
  ASSERT_TRUE(Sync<etcdserverpb::CompactionResponse>([&](auto d) { s->Compact(comp, d); }).ok());
  etcdserverpb::RangeRequest old;
  old.set_key("a");
  old.set_revision(2);
  auto o = Sync<etcdserverpb::RangeResponse>([&](auto d) { s->Range(old, d); });
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().message(), "mvcc: required revision has been compacted");

  // Bad input is refused at the edge with etcd's text.
  auto empty = Put(s, "", "x");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "etcdserver: key is not provided");

  ServerStats st = s->GetStats();
  EXPECT_TRUE(st.is_leader);
  EXPECT_GT(st.wal_fsync.count, 0u);
  EXPECT_EQ(st.revision, 5);
  EXPECT_EQ(st.compact_revision, 4);
  EXPECT_GE(st.applied_index, 7u);
  etcdserverpb::StatusRequest sreq;
  auto status = Sync<etcdserverpb::StatusResponse>([&](auto d) { s->Status(sreq, d); });
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->leader(), s->member_id());
  EXPECT_GE(status->raftappliedindex(), 7u);
  EXPECT_EQ(status->header().revision(), 5);
  auto health = Sync<bool>([&](auto d) { s->CheckHealth(d); });
  EXPECT_TRUE(health.ok());
}

TEST(SingleMember, RestartKeepsData) {
  Cluster c(1);
  c.StartAll();
  ASSERT_NE(c.WaitLeader(), nullptr);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Put(c.at("n1"), "k" + std::to_string(i), "v").ok());
  uint64_t id = c.at("n1")->member_id();
  c.Stop("n1");
  ASSERT_TRUE(c.Start("n1").ok());
  ASSERT_NE(c.WaitLeader(), nullptr);
  EXPECT_EQ(c.at("n1")->member_id(), id);
  EXPECT_EQ(Value(c.at("n1"), "k19"), "v");
  auto p = Put(c.at("n1"), "after", "restart");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->header().revision(), 22);
}

TEST(SingleMember, SessionRetryIsAppliedOnce) {
  Cluster c(1);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  auto id = Sync<uint64_t>([&](auto d) { s->RegisterSession(d); });
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  SessionRef ref{*id, 1, 0};
  auto first = Put(s, "x", "1", ref);
  auto retry = Put(s, "x", "1", ref);
  ASSERT_TRUE(first.ok() && retry.ok());
  EXPECT_EQ(first->header().revision(), retry->header().revision());
  auto r = Get(s, "x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kvs(0).version(), 1);  // applied once
  EXPECT_EQ(r->header().revision(), first->header().revision());
  // An unknown session is refused.
  auto bad = Put(s, "x", "2", SessionRef{999999, 1, 0});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "raftkv: client session expired or unknown");
}

TEST(SingleMember, OpenSnapshotEndsWithSha256) {
  Cluster c(1);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Put(s, "k" + std::to_string(i), "v").ok());
  auto reader = s->OpenSnapshot();
  ASSERT_TRUE(reader.ok());
  std::string all;
  while (true) {
    auto more = (*reader)->Next(7, &all);
    ASSERT_TRUE(more.ok());
    if (!*more) break;
  }
  ASSERT_EQ(all.size(), (*reader)->size());
  ASSERT_GT(all.size(), 32u);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(all.data()), all.size() - 32, digest);
  EXPECT_EQ(all.substr(all.size() - 32), std::string(reinterpret_cast<char*>(digest), 32));
  EXPECT_EQ(all.substr(0, 4), "RKVS");
  EXPECT_EQ(all.size() % 512, 32u);  // what etcdctl snapshot save checks
}

TEST(SingleMember, CorruptWalFailsStartNamingFileAndOffset) {
  Cluster c(1);
  c.StartAll();
  ASSERT_NE(c.WaitLeader(), nullptr);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Put(c.at("n1"), "k" + std::to_string(i), "v").ok());
  std::string dir = c.Config("n1").data_dir;
  c.Stop("n1");
  // Flip a byte in the middle of the (only) WAL segment: not a torn tail, real corruption.
  std::string seg;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir + "/member/raft")) {
    if (e.path().extension() == ".wal" || e.path().filename().string().find("wal") == 0) {
      if (e.is_regular_file()) seg = e.path().string();
    }
  }
  ASSERT_FALSE(seg.empty());
  // Segments are preallocated: corrupt a byte a third of the way into the written part.
  std::string bytes;
  {
    std::ifstream in(seg, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  size_t used = bytes.find_last_not_of('\0');
  ASSERT_NE(used, std::string::npos);
  ASSERT_GT(used, 600u);
  size_t off = used / 3;
  std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(off));
  char b = static_cast<char>(bytes[off] ^ 0x5a);
  f.write(&b, 1);
  f.close();
  auto s = EtcdServer::Start(c.Config("n1"));
  ASSERT_FALSE(s.ok());
  const std::string& msg = s.status().message();
  EXPECT_NE(msg.find(std::filesystem::path(seg).filename().string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset"), std::string::npos) << msg;
}

TEST(SingleMember, StopFailsLaterCalls) {
  Cluster c(1);
  c.StartAll();
  EtcdServer* s = c.WaitLeader();
  ASSERT_NE(s, nullptr);
  s->Stop();
  auto p = Put(s, "a", "1");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), api::kErrStopped);
  s->Stop();  // idempotent
}

}  // namespace
}  // namespace raftkv::server
