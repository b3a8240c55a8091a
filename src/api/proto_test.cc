// The generated descriptors carry the names clients put on the wire: gRPC method paths
// ("/etcdserverpb.KV/Range") and field numbers. These checks guard the contract against edits.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"

namespace raftkv::api {
namespace {
namespace pb = etcdserverpb;
using google::protobuf::DescriptorPool;
using google::protobuf::MethodDescriptor;

const MethodDescriptor* method(const std::string& service, const std::string& name) {
  const auto* s = DescriptorPool::generated_pool()->FindServiceByName("etcdserverpb." + service);
  if (s == nullptr) return nullptr;
  return s->FindMethodByName(name);
}

TEST(Proto, servicesAndMethods) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> services = {
      {"KV", {"Range", "Put", "DeleteRange", "Txn", "Compact"}},
      {"Watch", {"Watch"}},
      {"Lease", {"LeaseGrant", "LeaseRevoke", "LeaseKeepAlive", "LeaseTimeToLive", "LeaseLeases"}},
      {"Cluster", {"MemberAdd", "MemberRemove", "MemberUpdate", "MemberList", "MemberPromote"}},
      {"Maintenance",
       {"Alarm", "Status", "Defragment", "Hash", "HashKV", "Snapshot", "MoveLeader"}},
      {"Auth",
       {"AuthEnable", "AuthDisable", "Authenticate", "UserAdd", "UserGet", "UserList", "UserDelete",
        "UserChangePassword", "UserGrantRole", "UserRevokeRole", "RoleAdd", "RoleGet", "RoleList",
        "RoleDelete", "RoleGrantPermission", "RoleRevokePermission"}},
  };
  for (const auto& [service, methods] : services) {
    const auto* s = DescriptorPool::generated_pool()->FindServiceByName("etcdserverpb." + service);
    ASSERT_NE(s, nullptr) << service;
    EXPECT_EQ(s->method_count(), static_cast<int>(methods.size())) << service;
    for (const auto& m : methods) EXPECT_NE(s->FindMethodByName(m), nullptr) << service << "." << m;
  }
}

TEST(Proto, streamingShapes) {
  EXPECT_TRUE(method("Watch", "Watch")->client_streaming());
  EXPECT_TRUE(method("Watch", "Watch")->server_streaming());
  EXPECT_TRUE(method("Lease", "LeaseKeepAlive")->client_streaming());
  EXPECT_TRUE(method("Lease", "LeaseKeepAlive")->server_streaming());
  EXPECT_FALSE(method("Maintenance", "Snapshot")->client_streaming());
  EXPECT_TRUE(method("Maintenance", "Snapshot")->server_streaming());
  EXPECT_FALSE(method("KV", "Txn")->client_streaming());
  EXPECT_FALSE(method("KV", "Txn")->server_streaming());
  EXPECT_EQ(method("KV", "Compact")->input_type()->full_name(), "etcdserverpb.CompactionRequest");
}

int number(const google::protobuf::Descriptor* d, const std::string& field) {
  const auto* f = d->FindFieldByName(field);
  return f == nullptr ? -1 : f->number();
}

TEST(Proto, authFieldNumbersAsEtcds) {
  // etcd 3.4's authpb and Auth messages (auth/authpb/auth.proto, etcdserverpb/rpc.proto).
  EXPECT_EQ(number(authpb::Permission::descriptor(), "permType"), 1);
  EXPECT_EQ(number(authpb::Permission::descriptor(), "range_end"), 3);
  EXPECT_EQ(number(authpb::Role::descriptor(), "keyPermission"), 2);
  EXPECT_EQ(number(authpb::User::descriptor(), "options"), 4);
  EXPECT_EQ(number(pb::AuthUserAddRequest::descriptor(), "options"), 3);
  EXPECT_EQ(number(pb::AuthUserGrantRoleRequest::descriptor(), "user"), 1);
  EXPECT_EQ(number(pb::AuthRoleGrantPermissionRequest::descriptor(), "perm"), 2);
  EXPECT_EQ(number(pb::AuthRoleRevokePermissionRequest::descriptor(), "range_end"), 3);
  EXPECT_EQ(number(pb::AuthenticateResponse::descriptor(), "token"), 2);
  EXPECT_EQ(number(pb::AuthRoleGetResponse::descriptor(), "perm"), 2);
}

TEST(Proto, fieldNumbersThatAreEasyToGetWrong) {
  EXPECT_EQ(number(pb::Compare::descriptor(), "range_end"), 64);
  EXPECT_EQ(number(pb::Compare::descriptor(), "lease"), 8);
  EXPECT_EQ(number(pb::WatchResponse::descriptor(), "events"), 11);
  EXPECT_EQ(number(pb::RangeRequest::descriptor(), "max_create_revision"), 13);
  EXPECT_EQ(number(pb::LeaseTimeToLiveResponse::descriptor(), "grantedTTL"), 4);
  EXPECT_EQ(number(pb::StatusResponse::descriptor(), "isLearner"), 10);
  EXPECT_EQ(number(mvccpb::KeyValue::descriptor(), "lease"), 6);
  EXPECT_EQ(number(mvccpb::Event::descriptor(), "prev_kv"), 3);
  // The oneof members really are one oneof (setting one clears the others).
  pb::Compare c;
  c.set_version(1);
  c.set_value("x");
  EXPECT_EQ(c.target_union_case(), pb::Compare::kValue);
  EXPECT_EQ(c.version(), 0);
}

}  // namespace
}  // namespace raftkv::api
