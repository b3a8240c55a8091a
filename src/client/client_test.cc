// The client against real server processes: basic operations, failover when the member it
// talks to dies, and exactly-once writes through sessions.
#include "client/client.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "client/test_cluster.h"

#ifndef RAFTKV_SERVER_BINARY
#error "RAFTKV_SERVER_BINARY (path of raftkvd) must be defined by the build"
#endif

namespace raftkv::client {
namespace {

using testing::TestCluster;

class ClientTest : public ::testing::Test {
 protected:
  void StartCluster(int size, const std::vector<std::string>& flags = {}) {
    cluster_ = std::make_unique<TestCluster>(size, RAFTKV_SERVER_BINARY);
    cluster_->AddFlags(flags);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<Client> Connect(bool exactly_once = true) {
    ClientOptions options;
    options.endpoints = cluster_->Endpoints();
    // RAFTKV_CLIENT_TEST_NO_SESSIONS=1 runs the tests against a server without raftkv's
    // sessions (etcd): the exactly-once tests then fail, as they must.
    options.exactly_once = exactly_once && std::getenv("RAFTKV_CLIENT_TEST_NO_SESSIONS") == nullptr;
    Result<std::unique_ptr<Client>> c = Client::Connect(options);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }

  void TearDown() override {
    if (HasFailure() && cluster_) cluster_->KeepLogs();
  }

  std::unique_ptr<TestCluster> cluster_;
};

// The answer without who sent it (member id, term): what a retry must reproduce.
template <typename Resp>
Resp Outcome(const std::string& bytes) {
  Resp resp;
  EXPECT_TRUE(resp.ParseFromString(bytes));
  resp.mutable_header()->clear_member_id();
  resp.mutable_header()->clear_raft_term();
  return resp;
}

TEST_F(ClientTest, PutGetDeleteCompareAndSwap) {
  StartCluster(1);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->client_id(), 0u);

  Result<WriteResult> put = c->Put("k", "v1");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  Result<GetResult> got = c->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "v1");
  EXPECT_EQ(got->kvs[0].mod_revision, put->revision);
  EXPECT_EQ(got->kvs[0].version, 1);

  GetOptions serializable;
  serializable.serializable = true;
  got = c->Get("k", serializable);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kvs.at(0).value, "v1");

  Result<WriteResult> cas = c->CompareAndSwap("k", std::string("v1"), "v2");
  ASSERT_TRUE(cas.ok()) << cas.status().ToString();
  EXPECT_TRUE(cas->succeeded);
  cas = c->CompareAndSwap("k", std::string("v1"), "v3");
  ASSERT_TRUE(cas.ok());
  EXPECT_FALSE(cas->succeeded);
  cas = c->CompareAndSwap("fresh", std::nullopt, "created");
  ASSERT_TRUE(cas.ok());
  EXPECT_TRUE(cas->succeeded);
  EXPECT_EQ(c->Get("k")->kvs.at(0).value, "v2");

  Result<WriteResult> del = c->Delete("k");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->deleted, 1);
  EXPECT_TRUE(c->Get("k")->kvs.empty());

  // A request error comes back with etcd's message, and is not retried.
  GetOptions future;
  future.revision = 1000000;
  got = c->Get("k", future);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(), "etcdserver: mvcc: required revision is a future revision");

  Result<std::vector<MemberInfo>> members = c->MemberList();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 1u);
  EXPECT_EQ(members->at(0).name, "m1");
  Result<MemberStatus> status = c->Status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->leader, status->member_id);
  EXPECT_GE(status->raft_term, 1u);
}

TEST_F(ClientTest, KeepsWorkingWhenItsMemberIsKilled) {
  StartCluster(3);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Put("before", "1").ok());

  std::string talked_to = c->current_endpoint();
  std::vector<std::string> endpoints = cluster_->Endpoints();
  size_t victim = std::find(endpoints.begin(), endpoints.end(), talked_to) - endpoints.begin();
  ASSERT_LT(victim, endpoints.size());
  cluster_->Kill(victim, SIGKILL);

  for (int i = 0; i < 5; ++i) {
    Result<WriteResult> put = c->Put("after" + std::to_string(i), "2");
    ASSERT_TRUE(put.ok()) << put.status().ToString();
  }
  EXPECT_NE(c->current_endpoint(), talked_to);
  Result<GetResult> got = c->Get("after", GetOptions{"aftes"});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->kvs.size(), 5u);
  EXPECT_EQ(c->Get("before")->kvs.at(0).value, "1");
}

// The index of the member every member names as leader, or -1.
int LeaderIndex(TestCluster& cluster) {
  std::vector<MemberStatus> statuses;
  for (size_t i = 0; i < cluster.size(); ++i) {
    ClientOptions options;
    options.endpoints = {cluster.member(i).client_endpoint()};
    options.exactly_once = false;
    auto c = Client::Connect(options);
    if (!c.ok()) return -1;
    Result<MemberStatus> s = (*c)->Status();
    if (!s.ok()) return -1;
    statuses.push_back(*s);
  }
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].member_id != statuses[0].leader) continue;
    for (const MemberStatus& s : statuses) {
      if (s.leader != statuses[0].leader) return -1;
    }
    return static_cast<int>(i);
  }
  return -1;
}

TEST_F(ClientTest, WritesThroughALeaderFailureAreEachAppliedOnce) {
  StartCluster(3);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  Result<WriteResult> first = c->Put("lf/000", "v");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  int leader = LeaderIndex(*cluster_);
  ASSERT_GE(leader, 0);
  cluster_->Kill(leader, SIGKILL);

  // Every write succeeds: the client retries through the election on other members, and
  // a retry of a write that was applied before its answer was lost is not applied again.
  const int kWrites = 30;
  int64_t last_revision = first->revision;
  for (int i = 1; i <= kWrites; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "lf/%03d", i);
    Result<WriteResult> put = c->Put(key, "v");
    ASSERT_TRUE(put.ok()) << key << ": " << put.status().ToString();
    EXPECT_EQ(put->revision, last_revision + 1) << key << " was applied more than once";
    last_revision = put->revision;
  }
  Result<GetResult> got = c->Get("lf/", GetOptions{"lf0"});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->kvs.size(), static_cast<size_t>(kWrites + 1));
  EXPECT_EQ(got->revision, first->revision + kWrites);
}

TEST_F(ClientTest, ResentPutIsAppliedOnceAndAnsweredTheSame) {
  StartCluster(1);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  Result<WriteResult> put = c->Put("once", "v");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  std::string first = c->LastWriteAnswerForTest();

  Result<std::string> again = c->ResendLastWriteForTest();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Outcome<etcdserverpb::PutResponse>(*again).DebugString(),
            Outcome<etcdserverpb::PutResponse>(first).DebugString());

  // The store revision moved once: the key was written once.
  Result<GetResult> got = c->Get("once");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revision, put->revision);
  EXPECT_EQ(got->kvs.at(0).version, 1);
}

TEST_F(ClientTest, ResentCompareAndSwapAndDeleteGiveTheFirstAnswer) {
  StartCluster(1);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Put("cas", "old").ok());
  Result<WriteResult> cas = c->CompareAndSwap("cas", std::string("old"), "new");
  ASSERT_TRUE(cas.ok());
  ASSERT_TRUE(cas->succeeded);
  // Applied again, the compare would fail; the session answers with the first outcome.
  Result<std::string> again = c->ResendLastWriteForTest();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  etcdserverpb::TxnResponse txn = Outcome<etcdserverpb::TxnResponse>(*again);
  EXPECT_TRUE(txn.succeeded());
  EXPECT_EQ(txn.header().revision(), cas->revision);

  Result<WriteResult> del = c->Delete("cas");
  ASSERT_TRUE(del.ok());
  ASSERT_EQ(del->deleted, 1);
  again = c->ResendLastWriteForTest();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Outcome<etcdserverpb::DeleteRangeResponse>(*again).deleted(), 1);
  EXPECT_EQ(c->Get("cas")->revision, del->revision);
}

TEST_F(ClientTest, ExpiredSessionIsRenewedAndTheWriteAppliedOnce) {
  // Sessions idle for 300 ms of log time expire; log time moves with other clients' writes.
  StartCluster(1, {"--session-timeout", "300"});
  auto a = Connect();
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Put("exp/a", "1").ok());
  uint64_t first_id = a->client_id();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  auto b = Connect(/*exactly_once=*/false);
  ASSERT_NE(b, nullptr);
  Result<WriteResult> tick = b->Put("exp/tick", "x");  // an entry stamped after a's timeout
  ASSERT_TRUE(tick.ok()) << tick.status().ToString();

  // a's next write is refused as expired on its first try, so the client registers again
  // and sends it under the new session.
  Result<WriteResult> put = a->Put("exp/a", "2");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_NE(a->client_id(), first_id);
  EXPECT_EQ(put->revision, tick->revision + 1);
  Result<GetResult> got = a->Get("exp/a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kvs.at(0).value, "2");
  EXPECT_EQ(got->kvs.at(0).version, 2);
}

TEST_F(ClientTest, WithoutSessionAResentPutIsAppliedTwice) {
  // The control for the tests above: plain etcd semantics apply a resend again.
  StartCluster(1);
  auto c = Connect(/*exactly_once=*/false);
  ASSERT_NE(c, nullptr);
  Result<WriteResult> put = c->Put("twice", "v");
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(c->ResendLastWriteForTest().ok());
  Result<GetResult> got = c->Get("twice");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revision, put->revision + 1);
  EXPECT_EQ(got->kvs.at(0).version, 2);
}

}  // namespace
}  // namespace raftkv::client
