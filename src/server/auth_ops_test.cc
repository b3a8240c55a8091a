// The apply thread's permission checks on the Lease surface (auth_ops.h), as etcd 3.4's auth
// applier makes them: a client's revoke needs write permission on every attached key, a put
// naming a lease is checked against the lease's keys too, the leader's expiry is never
// refused, and asking for a lease's keys needs read permission on them.
#include "server/auth_ops.h"

#include <gtest/gtest.h>

#include "auth/errors.h"

namespace raftkv::server {
namespace {

// Users: root, and "alice" with readwrite on [app/, app0). Lease 7 holds "app/a" and
// "secret"; lease 8 holds "app/b" only.
class LeasePermissions : public ::testing::Test {
 protected:
  LeasePermissions() : auth_(Options()) {
    Apply([](raftkvpb::AuthRequest* r) { r->mutable_user_add()->set_name("root"); });
    Apply([](raftkvpb::AuthRequest* r) {
      r->mutable_user_grant_role()->set_user("root");
      r->mutable_user_grant_role()->set_role("root");
    });
    Apply([](raftkvpb::AuthRequest* r) { r->mutable_user_add()->set_name("alice"); });
    Apply([](raftkvpb::AuthRequest* r) { r->mutable_role_add()->set_name("app"); });
    Apply([](raftkvpb::AuthRequest* r) {
      auto* g = r->mutable_role_grant_permission();
      g->set_name("app");
      g->mutable_perm()->set_key("app/");
      g->mutable_perm()->set_range_end("app0");
      g->mutable_perm()->set_permtype(authpb::Permission::READWRITE);
    });
    Apply([](raftkvpb::AuthRequest* r) {
      r->mutable_user_grant_role()->set_user("alice");
      r->mutable_user_grant_role()->set_role("app");
    });
    EXPECT_TRUE(store_.LeaseGrant(7, 60).ok());
    EXPECT_TRUE(store_.LeaseGrant(8, 60).ok());
    Attach("app/a", 7);
    Attach("secret", 7);
    Attach("app/b", 8);
  }

  static auth::StoreOptions Options() {
    auth::StoreOptions o;
    o.password_threads = 0;
    return o;
  }
  template <typename F>
  void Apply(F fill) {
    raftkvpb::AuthRequest r;
    fill(&r);
    ASSERT_TRUE(auth_.Apply(r, auth::AuthInfo{"root", auth_.revision()}, ++index_).ok());
  }
  void Attach(const std::string& key, int64_t lease) {
    kv::PutRequest p;
    p.key = key;
    p.value = "v";
    p.lease = lease;
    ASSERT_TRUE(store_.Put(p).ok());
  }
  void Enable() {
    Apply([](raftkvpb::AuthRequest* r) { r->mutable_enable(); });
  }
  auth::AuthInfo Alice() const { return {"alice", auth_.revision()}; }
  auth::AuthInfo Root() const { return {"root", auth_.revision()}; }

  Status Revoke(const auth::AuthInfo& who, int64_t id, uint64_t expiry_term = 0) const {
    raftkvpb::InternalRequest r;
    SetCaller(who, &r);
    r.mutable_lease_revoke()->set_id(id);
    r.mutable_lease_revoke()->set_expiry_term(expiry_term);
    return CheckApplyPermission(auth_, store_, r);
  }
  Status PutWithLease(const auth::AuthInfo& who, const std::string& key, int64_t lease) const {
    raftkvpb::InternalRequest r;
    SetCaller(who, &r);
    r.mutable_put()->set_key(key);
    r.mutable_put()->set_lease(lease);
    return CheckApplyPermission(auth_, store_, r);
  }

  auth::Store auth_;
  kv::Store store_;
  uint64_t index_ = 1;
};

TEST_F(LeasePermissions, checkApplyPermission_revokeNeedsWriteOnEveryAttachedKey) {
  Enable();
  Status s = Revoke(Alice(), 7);  // "secret" is not hers
  EXPECT_EQ(s.message(), auth::kErrPermissionDenied);
  EXPECT_TRUE(Revoke(Alice(), 8).ok());  // only app/b
  EXPECT_TRUE(Revoke(Alice(), 99).ok()) << "an unknown lease has no keys to protect";
  EXPECT_TRUE(Revoke(Root(), 7).ok());
  EXPECT_EQ(Revoke(auth::AuthInfo{}, 8).message(), auth::kErrUserEmpty);
}

TEST_F(LeasePermissions, checkApplyPermission_expiryRevokeIsNeverRefused) {
  Enable();
  // The leader's expiry carries no caller at all: it is the system's decision.
  EXPECT_TRUE(Revoke(auth::AuthInfo{}, 7, /*expiry_term=*/3).ok());
}

TEST_F(LeasePermissions, checkApplyPermission_putWithLeaseChecksTheLeaseKeys) {
  Enable();
  EXPECT_TRUE(PutWithLease(Alice(), "app/c", 8).ok());
  EXPECT_EQ(PutWithLease(Alice(), "app/c", 7).message(), auth::kErrPermissionDenied)
      << "she could not revoke lease 7, so she may not attach to it";
  EXPECT_EQ(PutWithLease(Alice(), "other", 8).message(), auth::kErrPermissionDenied)
      << "a put with a lease is still a put";
  EXPECT_TRUE(PutWithLease(Root(), "other", 7).ok());
}

TEST_F(LeasePermissions, checkLeaseKeys_readNeedsAUserAndEveryKey) {
  Enable();
  EXPECT_EQ(CheckLeaseKeys(auth_, store_, Alice(), 7, LeaseKeyAccess::kRead).message(),
            auth::kErrPermissionDenied);
  EXPECT_TRUE(CheckLeaseKeys(auth_, store_, Alice(), 8, LeaseKeyAccess::kRead).ok());
  EXPECT_EQ(CheckLeaseKeys(auth_, store_, auth::AuthInfo{}, 99, LeaseKeyAccess::kRead).message(),
            auth::kErrUserEmpty)
      << "etcd asks for a user before it looks at the lease";
}

TEST_F(LeasePermissions, checkApplyPermission_staleCallerGetsOldRevision) {
  Enable();
  auth::AuthInfo before = Alice();
  Apply([](raftkvpb::AuthRequest* r) { r->mutable_role_add()->set_name("other"); });
  EXPECT_EQ(Revoke(before, 8).message(), auth::kErrAuthOldRevision);
  EXPECT_TRUE(Revoke(Alice(), 8).ok());
}

TEST_F(LeasePermissions, checkApplyPermission_authDisabledAllowsEverything) {
  EXPECT_TRUE(Revoke(auth::AuthInfo{}, 7).ok());
  EXPECT_TRUE(PutWithLease(auth::AuthInfo{}, "secret", 7).ok());
  EXPECT_TRUE(CheckLeaseKeys(auth_, store_, auth::AuthInfo{}, 7, LeaseKeyAccess::kRead).ok());
}

}  // namespace
}  // namespace raftkv::server
