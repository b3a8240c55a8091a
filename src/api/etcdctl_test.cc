// End to end: the real etcdctl (etcd 3.4's CLI) against an in-process gRPC server that exposes
// the KV service backed directly by a kv::Store. No raft here: the test exercises only the
// wire contract (protos, conversion, error mapping), single node.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include "api/convert.h"
#include "api/errors.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "kv/store.h"

namespace raftkv::api {
namespace {
namespace pb = etcdserverpb;

// Test-only adapter: validate at the edge, convert, apply to the store, convert back.
class StoreKvService final : public pb::KV::Service {
 public:
  grpc::Status Range(grpc::ServerContext*, const pb::RangeRequest* req,
                     pb::RangeResponse* resp) override {
    return serve(
        CheckRangeRequest(*req), [&] { return store_.Range(FromProto(*req)); }, resp);
  }
  grpc::Status Put(grpc::ServerContext*, const pb::PutRequest* req,
                   pb::PutResponse* resp) override {
    return serve(
        CheckPutRequest(*req), [&] { return store_.Put(FromProto(*req)); }, resp);
  }
  grpc::Status DeleteRange(grpc::ServerContext*, const pb::DeleteRangeRequest* req,
                           pb::DeleteRangeResponse* resp) override {
    return serve(
        CheckDeleteRangeRequest(*req), [&] { return store_.DeleteRange(FromProto(*req)); }, resp);
  }
  grpc::Status Txn(grpc::ServerContext*, const pb::TxnRequest* req,
                   pb::TxnResponse* resp) override {
    return serve(
        CheckTxnRequest(*req, kDefaultMaxTxnOps), [&] { return store_.Txn(FromProto(*req)); },
        resp);
  }
  grpc::Status Compact(grpc::ServerContext*, const pb::CompactionRequest* req,
                       pb::CompactionResponse* resp) override {
    return serve(
        Status::OK(), [&] { return store_.Compact(FromProto(*req)); }, resp);
  }

 private:
  template <class Apply, class Resp>
  grpc::Status serve(const Status& check, Apply apply, Resp* resp) {
    if (!check.ok()) return ToGrpcStatus(check);
    std::lock_guard<std::mutex> lock(mu_);
    auto result = apply();
    if (!result.ok()) return ToGrpcStatus(result.status());
    ToProto(*result, resp);
    FillHeader(HeaderInfo{.cluster_id = 1, .member_id = 1, .raft_term = 1}, resp->mutable_header());
    return grpc::Status::OK;
  }

  std::mutex mu_;
  kv::Store store_;
};

struct CmdResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

class EtcdctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    std::string tmpl = ::testing::TempDir() + "raftkv-etcdctl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // Runs `etcdctl <args>` (found on PATH) against the server, optionally feeding `input`.
  CmdResult etcdctl(const std::string& args, const std::string& input = "") {
    std::string cmd = "ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:" + std::to_string(port_) +
                      " --dial-timeout=3s --command-timeout=5s " + args;
    if (!input.empty()) {
      std::string path = dir_ + "/stdin";
      std::ofstream(path) << input;
      cmd += " < '" + path + "'";
    }
    cmd += " 2>&1";
    CmdResult r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
    int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  // Runs a command that must succeed and returns its output.
  std::string ok(const std::string& args, const std::string& input = "") {
    CmdResult r = etcdctl(args, input);
    EXPECT_EQ(r.exit_code, 0) << "etcdctl " << args << "\n" << r.output;
    return r.output;
  }

  StoreKvService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string dir_;
};

TEST_F(EtcdctlTest, putGetDelete) {
  EXPECT_EQ(ok("put k v"), "OK\n");
  EXPECT_EQ(ok("get k"), "k\nv\n");
  EXPECT_EQ(ok("put k2 v2"), "OK\n");
  EXPECT_EQ(ok("put other x"), "OK\n");
  EXPECT_EQ(ok("get --prefix k"), "k\nv\nk2\nv2\n");
  EXPECT_EQ(ok("get --prefix k --keys-only"), "k\n\nk2\n\n");
  // k was created at revision 2, k2 at 3, other at 4; two keys match, one is returned.
  EXPECT_EQ(ok("get --prefix k --limit=1 -w fields"),
            "\"ClusterID\" : 1\n\"MemberID\" : 1\n\"Revision\" : 4\n\"RaftTerm\" : 1\n"
            "\"Key\" : \"k\"\n\"CreateRevision\" : 2\n\"ModRevision\" : 2\n\"Version\" : 1\n"
            "\"Value\" : \"v\"\n\"Lease\" : 0\n\"More\" : true\n\"Count\" : 2\n");
  EXPECT_EQ(ok("del k"), "1\n");
  EXPECT_EQ(ok("get k"), "");
  EXPECT_EQ(ok("del --prev-kv --prefix k"), "1\nk2\nv2\n");
  EXPECT_EQ(ok("get --from-key ''"), "other\nx\n");
}

TEST_F(EtcdctlTest, txnBothBranches) {
  ok("put k1 v1");
  // compares, blank line, success ops, blank line, failure ops.
  const std::string script = "value(\"k1\") = \"v1\"\n\nput k2 yes\nget k1\n\nput k2 no\n\n";
  EXPECT_EQ(ok("txn", script), "SUCCESS\n\nOK\n\nk1\nv1\n");
  EXPECT_EQ(ok("get k2"), "k2\nyes\n");
  const std::string failing = "mod(\"k1\") > \"100\"\n\nput k2 yes\n\nput k2 no\n\n";
  EXPECT_EQ(ok("txn", failing), "FAILURE\n\nOK\n");
  EXPECT_EQ(ok("get k2"), "k2\nno\n");
}

TEST_F(EtcdctlTest, txnDuplicateKeyRejected) {
  CmdResult r = etcdctl("txn", "\nput a 1\nput a 2\n\n\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("etcdserver: duplicate key given in txn request"), std::string::npos)
      << r.output;
}

TEST_F(EtcdctlTest, historyAndCompaction) {
  ok("put k a");  // revision 2
  ok("put k b");  // revision 3
  ok("put k c");  // revision 4
  EXPECT_EQ(ok("get --rev=2 k"), "k\na\n");
  EXPECT_EQ(ok("get --rev=3 k"), "k\nb\n");
  EXPECT_EQ(ok("get k"), "k\nc\n");

  CmdResult future = etcdctl("get --rev=99 k");
  EXPECT_NE(future.exit_code, 0);
  EXPECT_NE(future.output.find("etcdserver: mvcc: required revision is a future revision"),
            std::string::npos)
      << future.output;

  EXPECT_EQ(ok("compact 3"), "compacted revision 3\n");
  CmdResult old = etcdctl("get --rev=2 k");
  EXPECT_NE(old.exit_code, 0);
  EXPECT_NE(old.output.find("etcdserver: mvcc: required revision has been compacted"),
            std::string::npos)
      << old.output;
  EXPECT_EQ(ok("get --rev=3 k"), "k\nb\n");
}

TEST_F(EtcdctlTest, emptyKeyRejectedAtEdge) {
  CmdResult r = etcdctl("put '' v");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("etcdserver: key is not provided"), std::string::npos) << r.output;
}

// etcdctl cannot build nested txns; the generated C++ stub can, over the same wire.
TEST_F(EtcdctlTest, nestedTxnThroughGeneratedStub) {
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
  auto stub = pb::KV::NewStub(channel);
  ok("put a 1");  // revision 2

  pb::TxnRequest req;
  auto* cmp = req.add_compare();
  cmp->set_key("a");
  cmp->set_target(pb::Compare::VALUE);
  cmp->set_value("1");
  pb::TxnRequest* inner = req.add_success()->mutable_request_txn();
  auto* icmp = inner->add_compare();
  icmp->set_key("b");
  icmp->set_target(pb::Compare::VERSION);
  icmp->set_version(0);  // b does not exist yet
  auto* put = inner->add_success()->mutable_request_put();
  put->set_key("b");
  put->set_value("2");
  inner->add_success()->mutable_request_range()->set_key("a");

  grpc::ClientContext ctx;
  pb::TxnResponse resp;
  grpc::Status st = stub->Txn(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(resp.succeeded());
  EXPECT_EQ(resp.header().revision(), 3);
  EXPECT_EQ(resp.header().cluster_id(), 1u);
  ASSERT_EQ(resp.responses_size(), 1);
  const pb::TxnResponse& in = resp.responses(0).response_txn();
  EXPECT_TRUE(in.succeeded());
  ASSERT_EQ(in.responses_size(), 2);
  EXPECT_TRUE(in.responses(0).has_response_put());
  ASSERT_EQ(in.responses(1).response_range().kvs_size(), 1);
  EXPECT_EQ(in.responses(1).response_range().kvs(0).value(), "1");
  EXPECT_EQ(ok("get b"), "b\n2\n");

  // Errors arrive with etcd's codes.
  pb::RangeRequest future;
  future.set_key("a");
  future.set_revision(50);
  grpc::ClientContext ctx2;
  pb::RangeResponse rr;
  st = stub->Range(&ctx2, future, &rr);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(st.error_message(), "etcdserver: mvcc: required revision is a future revision");

  pb::TxnRequest empty_op;
  empty_op.add_success();
  grpc::ClientContext ctx3;
  st = stub->Txn(&ctx3, empty_op, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "etcdserver: key not found");
}

}  // namespace
}  // namespace raftkv::api
