// The auth store as the apply thread drives it: entries in log order, then the checks a
// request meets. No server: entries are built here as the proposing member would.
#include "auth/store.h"

#include <gtest/gtest.h>

#include "auth/errors.h"

namespace raftkv::auth {
namespace {

const std::string kFromKey(1, '\0');

StoreOptions FastOptions() {
  StoreOptions o;
  o.bcrypt_cost = kMinBcryptCost;
  o.password_threads = 1;
  return o;
}

class AuthStoreTest : public ::testing::Test {
 protected:
  // Applies `req` as `who` at the next index; the error message, or "" on success.
  std::string Run(const raftkvpb::AuthRequest& req, const AuthInfo& who = {}) {
    auto r = store_.Apply(req, who, ++index_);
    last_ = r.ok() ? *r : std::string();
    return r.ok() ? "" : r.status().message();
  }
  std::string UserAdd(const std::string& name, const std::string& pw, const AuthInfo& who = {}) {
    raftkvpb::AuthRequest r;
    r.mutable_user_add()->set_name(name);
    r.mutable_user_add()->set_password_hash(*HashPassword(pw, kMinBcryptCost));
    return Run(r, who);
  }
  std::string RoleAdd(const std::string& name, const AuthInfo& who = {}) {
    raftkvpb::AuthRequest r;
    r.mutable_role_add()->set_name(name);
    return Run(r, who);
  }
  std::string Grant(const std::string& user, const std::string& role, const AuthInfo& who = {}) {
    raftkvpb::AuthRequest r;
    r.mutable_user_grant_role()->set_user(user);
    r.mutable_user_grant_role()->set_role(role);
    return Run(r, who);
  }
  std::string Permit(const std::string& role, authpb::Permission::Type t, const std::string& key,
                     const std::string& end, const AuthInfo& who) {
    raftkvpb::AuthRequest r;
    r.mutable_role_grant_permission()->set_name(role);
    auto* p = r.mutable_role_grant_permission()->mutable_perm();
    p->set_permtype(t);
    p->set_key(key);
    p->set_range_end(end);
    return Run(r, who);
  }
  std::string Enable(const AuthInfo& who = {}) {
    raftkvpb::AuthRequest r;
    r.mutable_enable();
    return Run(r, who);
  }
  // Authenticates `user` as the server does (password checked first, then the entry);
  // returns the token or the error.
  std::string Login(const std::string& user, const std::string& pw) {
    auto entry = store_.LookupPassword(user);
    if (!entry.ok()) return entry.status().message();
    if (entry->hash.empty() || !VerifyPassword(pw, entry->hash)) return kErrAuthFailed;
    raftkvpb::AuthRequest r;
    r.mutable_authenticate()->set_name(user);
    r.mutable_authenticate()->set_token_prefix(TokenTable::NewPrefix());
    r.mutable_authenticate()->set_checked_revision(entry->revision);
    std::string err = Run(r);
    if (!err.empty()) return err;
    etcdserverpb::AuthenticateResponse resp;
    EXPECT_TRUE(resp.ParseFromString(last_));
    return resp.token();
  }
  AuthInfo As(const std::string& token) {
    auto who = store_.Resolve(Credentials{token, ""});
    EXPECT_TRUE(who.ok()) << who.status().message();
    return who.ok() ? *who : AuthInfo{};
  }
  // root with the root role, auth enabled; returns root's identity.
  AuthInfo SetUpRoot() {
    EXPECT_EQ(UserAdd("root", "rootpw"), "");
    EXPECT_EQ(Grant("root", "root"), "");
    EXPECT_EQ(Enable(), "");
    return As(Login("root", "rootpw"));
  }

  Store store_{FastOptions()};
  uint64_t index_ = 10;
  std::string last_;
};

TEST_F(AuthStoreTest, enableNeedsRootUserWithRootRole) {
  EXPECT_EQ(Enable(), kErrRootUserNotExist);
  EXPECT_EQ(UserAdd("root", "pw"), "");
  EXPECT_EQ(Enable(), kErrRootRoleNotExist);
  EXPECT_EQ(Grant("root", "root"), "") << "the root role need not exist as a role";
  EXPECT_FALSE(store_.enabled());
  EXPECT_EQ(Enable(), "");
  EXPECT_TRUE(store_.enabled());
  EXPECT_EQ(Enable(), kErrUserEmpty) << "once enabled, auth changes need root";
}

TEST_F(AuthStoreTest, loginGivesTokenOnlyForTheRightPassword) {
  EXPECT_EQ(Login("root", "x"), kErrAuthNotEnabled);
  AuthInfo root = SetUpRoot();
  EXPECT_EQ(root.user, "root");
  EXPECT_EQ(Login("root", "wrong"), kErrAuthFailed);
  EXPECT_EQ(Login("nobody", "rootpw"), kErrAuthFailed);
  std::string token = Login("root", "rootpw");
  ASSERT_EQ(TokenTable::IndexOf(token), index_) << token;
  EXPECT_EQ(As(token).user, "root");
  auto bad = store_.Resolve(Credentials{std::string("bogus.1"), ""});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), kErrInvalidAuthToken);
}

TEST_F(AuthStoreTest, loginCheckedBeforeAChangeMustBeRedone) {
  AuthInfo root = SetUpRoot();
  ASSERT_EQ(UserAdd("alice", "a", root), "");
  auto entry = store_.LookupPassword("alice");
  ASSERT_TRUE(entry.ok());
  // The password changes between the check and the login entry.
  raftkvpb::AuthRequest change;
  change.mutable_user_change_password()->set_name("alice");
  change.mutable_user_change_password()->set_password_hash(*HashPassword("b", kMinBcryptCost));
  ASSERT_EQ(Run(change, root), "");
  raftkvpb::AuthRequest login;
  login.mutable_authenticate()->set_name("alice");
  login.mutable_authenticate()->set_token_prefix("p");
  login.mutable_authenticate()->set_checked_revision(entry->revision);
  EXPECT_EQ(Run(login), kErrStaleLogin);
}

TEST_F(AuthStoreTest, usersAndRolesWithEtcdErrors) {
  AuthInfo root = SetUpRoot();
  EXPECT_EQ(UserAdd("", "x", root), kErrUserEmpty);
  EXPECT_EQ(UserAdd("root", "x", root), kErrUserAlreadyExist);
  EXPECT_EQ(RoleAdd("", root), kErrRoleEmpty);
  EXPECT_EQ(RoleAdd("r", root), "");
  EXPECT_EQ(RoleAdd("r", root), kErrRoleAlreadyExist);
  EXPECT_EQ(Grant("ghost", "r", root), kErrUserNotFound);
  EXPECT_EQ(UserAdd("alice", "pw", root), "");
  EXPECT_EQ(Grant("alice", "nope", root), kErrRoleNotFound);
  EXPECT_EQ(Grant("alice", "r", root), "");
  EXPECT_EQ(Grant("alice", "r", root), "") << "granting twice is fine";

  raftkvpb::AuthRequest revoke;
  revoke.mutable_user_revoke_role()->set_name("alice");
  revoke.mutable_user_revoke_role()->set_role("r");
  EXPECT_EQ(Run(revoke, root), "");
  EXPECT_EQ(Run(revoke, root), kErrRoleNotGranted);
  revoke.mutable_user_revoke_role()->set_name("root");
  revoke.mutable_user_revoke_role()->set_role("root");
  EXPECT_EQ(Run(revoke, root), kErrInvalidAuthMgmt);

  raftkvpb::AuthRequest del;
  del.mutable_user_delete()->set_name("root");
  EXPECT_EQ(Run(del, root), kErrInvalidAuthMgmt);
  del.mutable_user_delete()->set_name("ghost");
  EXPECT_EQ(Run(del, root), kErrUserNotFound);
  raftkvpb::AuthRequest rdel;
  rdel.mutable_role_delete()->set_role("root");
  EXPECT_EQ(Run(rdel, root), kErrInvalidAuthMgmt);
  rdel.mutable_role_delete()->set_role("ghost");
  EXPECT_EQ(Run(rdel, root), kErrRoleNotFound);

  raftkvpb::AuthRequest unperm;
  unperm.mutable_role_revoke_permission()->set_role("r");
  unperm.mutable_role_revoke_permission()->set_key("k");
  EXPECT_EQ(Run(unperm, root), kErrPermissionNotGranted);

  auto users = store_.UserList(root);
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->users_size(), 2);
  auto roles = store_.RoleList(root);
  ASSERT_TRUE(roles.ok());
  EXPECT_EQ(roles->roles_size(), 1);
}

TEST_F(AuthStoreTest, onlyRootChangesAuthAndReadsTheLists) {
  AuthInfo root = SetUpRoot();
  ASSERT_EQ(UserAdd("alice", "pw", root), "");
  ASSERT_EQ(RoleAdd("reader", root), "");
  ASSERT_EQ(Grant("alice", "reader", root), "");
  AuthInfo alice = As(Login("alice", "pw"));
  EXPECT_EQ(UserAdd("mallory", "pw", alice), kErrPermissionDenied);
  EXPECT_EQ(RoleAdd("x", alice), kErrPermissionDenied);
  EXPECT_EQ(UserAdd("mallory", "pw", AuthInfo{"ghost", store_.revision()}), kErrUserNotFound);
  EXPECT_EQ(store_.UserList(alice).status().message(), kErrPermissionDenied);
  EXPECT_EQ(store_.RoleList(alice).status().message(), kErrPermissionDenied);
  // etcd: a user may read itself, a role holder its role.
  EXPECT_TRUE(store_.UserGet(alice, "alice").ok());
  EXPECT_EQ(store_.UserGet(alice, "root").status().message(), kErrPermissionDenied);
  EXPECT_TRUE(store_.RoleGet(alice, "reader").ok());
  EXPECT_EQ(store_.RoleGet(alice, "root").status().message(), kErrPermissionDenied);
  EXPECT_EQ(store_.UserGet(root, "ghost").status().message(), kErrUserNotFound);
  EXPECT_EQ(store_.RoleGet(root, "ghost").status().message(), kErrRoleNotFound);
  EXPECT_EQ(store_.CheckAdmin(alice).message(), kErrPermissionDenied);
  EXPECT_TRUE(store_.CheckAdmin(root).ok());
}

TEST_F(AuthStoreTest, keyPermissionsDecideEveryRequest) {
  AuthInfo root = SetUpRoot();
  ASSERT_EQ(UserAdd("alice", "pw", root), "");
  ASSERT_EQ(RoleAdd("app", root), "");
  ASSERT_EQ(Permit("app", authpb::Permission::READWRITE, "app/", "app0", root), "");
  ASSERT_EQ(Permit("app", authpb::Permission::READ, "cfg", "", root), "");
  ASSERT_EQ(Grant("alice", "app", root), "");
  AuthInfo alice = As(Login("alice", "pw"));

  EXPECT_TRUE(store_.CheckRange(alice, "app/", "app0").ok());
  EXPECT_TRUE(store_.CheckRange(alice, "cfg", "").ok());
  EXPECT_EQ(store_.CheckPut(alice, "cfg").message(), kErrPermissionDenied);
  EXPECT_EQ(store_.CheckRange(alice, "", kFromKey).message(), kErrPermissionDenied);
  EXPECT_TRUE(store_.CheckDeleteRange(alice, "app/a", "app/z", true).ok());
  EXPECT_EQ(store_.CheckDeleteRange(alice, "cfg", "", false).message(), kErrPermissionDenied);
  etcdserverpb::PutRequest put;
  put.set_key("app/x");
  put.set_prev_kv(true);
  EXPECT_TRUE(store_.CheckPutRequest(alice, put).ok());

  etcdserverpb::TxnRequest txn;
  auto* c = txn.add_compare();
  c->set_key("cfg");
  txn.add_success()->mutable_request_put()->set_key("app/y");
  EXPECT_TRUE(store_.CheckTxn(alice, txn).ok());
  // A nested txn writing outside the permissions is refused too.
  txn.add_failure()->mutable_request_txn()->add_success()->mutable_request_put()->set_key("x");
  EXPECT_EQ(store_.CheckTxn(alice, txn).message(), kErrPermissionDenied);

  // Root (resolved now: `root` is from before the changes above) may do anything; nobody
  // without credentials anything.
  EXPECT_EQ(store_.CheckPut(root, "anything").message(), kErrAuthOldRevision);
  EXPECT_TRUE(store_.CheckPut(AuthInfo{"root", store_.revision()}, "anything").ok());
  EXPECT_EQ(store_.CheckRange(AuthInfo{}, "app/x", "").message(), kErrUserEmpty);
}

TEST_F(AuthStoreTest, credentialsFromBeforeAChangeCarryNoOldRights) {
  AuthInfo root = SetUpRoot();
  ASSERT_EQ(UserAdd("alice", "pw", root), "");
  ASSERT_EQ(RoleAdd("w", root), "");
  ASSERT_EQ(Permit("w", authpb::Permission::WRITE, "k", "", root), "");
  ASSERT_EQ(Grant("alice", "w", root), "");
  std::string token = Login("alice", "pw");
  AuthInfo before = As(token);
  EXPECT_TRUE(store_.CheckPut(before, "k").ok());

  raftkvpb::AuthRequest revoke;
  revoke.mutable_role_revoke_permission()->set_role("w");
  revoke.mutable_role_revoke_permission()->set_key("k");
  ASSERT_EQ(Run(revoke, root), "");
  // A request resolved before the change (in flight meanwhile) is refused as stale...
  EXPECT_EQ(store_.CheckPut(before, "k").message(), kErrAuthOldRevision);
  EXPECT_EQ(store_.CheckUnchanged(before).message(), kErrAuthOldRevision);
  // ...and the same token, resolved again, no longer has the right.
  EXPECT_EQ(store_.CheckPut(As(token), "k").message(), kErrPermissionDenied);
}

TEST_F(AuthStoreTest, deletedUserOrNewPasswordInvalidatesTokens) {
  AuthInfo root = SetUpRoot();
  ASSERT_EQ(UserAdd("alice", "pw", root), "");
  ASSERT_EQ(UserAdd("bob", "pw", root), "");
  std::string alice = Login("alice", "pw");
  std::string bob = Login("bob", "pw");
  raftkvpb::AuthRequest change;
  change.mutable_user_change_password()->set_name("alice");
  change.mutable_user_change_password()->set_password_hash(*HashPassword("new", kMinBcryptCost));
  ASSERT_EQ(Run(change, root), "");
  raftkvpb::AuthRequest del;
  del.mutable_user_delete()->set_name("bob");
  ASSERT_EQ(Run(del, root), "");
  EXPECT_FALSE(store_.Resolve(Credentials{alice, ""}).ok());
  EXPECT_FALSE(store_.Resolve(Credentials{bob, ""}).ok());
  EXPECT_EQ(Login("alice", "pw"), kErrAuthFailed);
  EXPECT_NE(Login("alice", "new").find('.'), std::string::npos);
}

TEST_F(AuthStoreTest, disableDropsTokensAndOpensEverything) {
  AuthInfo root = SetUpRoot();
  std::string token = Login("root", "rootpw");
  raftkvpb::AuthRequest disable;
  disable.mutable_disable();
  EXPECT_EQ(Run(disable, AuthInfo{}), kErrUserEmpty);
  EXPECT_EQ(Run(disable, root), "");
  EXPECT_FALSE(store_.enabled());
  EXPECT_FALSE(store_.Resolve(Credentials{token, ""}).ok()) << "as etcd: no tokens while off";
  EXPECT_TRUE(store_.CheckPut(AuthInfo{}, "k").ok());
}

TEST_F(AuthStoreTest, commonNameIsTheUser) {
  AuthInfo root = SetUpRoot();
  auto who = store_.Resolve(Credentials{std::nullopt, "root"});
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->user, "root");
  EXPECT_EQ(who->revision, store_.revision());
  auto nobody = store_.Resolve(Credentials{});
  ASSERT_TRUE(nobody.ok());
  EXPECT_EQ(nobody->revision, 0u);
}

TEST_F(AuthStoreTest, snapshotRoundTripAndOldImages) {
  AuthInfo root = SetUpRoot();
  ASSERT_EQ(UserAdd("alice", "pw", root), "");
  ASSERT_EQ(RoleAdd("r", root), "");
  ASSERT_EQ(Permit("r", authpb::Permission::READ, "a", "b", root), "");
  ASSERT_EQ(Grant("alice", "r", root), "");
  std::string image = store_.Encode();
  EXPECT_EQ(image.find("rootpw"), std::string::npos) << "only hashes are stored";

  Store copy(FastOptions());
  ASSERT_TRUE(copy.Restore(image).ok());
  EXPECT_TRUE(copy.enabled());
  EXPECT_EQ(copy.revision(), store_.revision());
  EXPECT_EQ(copy.Encode(), image);
  AuthInfo alice{"alice", copy.revision()};
  EXPECT_TRUE(copy.CheckRange(alice, "a", "b").ok());
  EXPECT_FALSE(copy.CheckRange(alice, "b", "").ok());

  // An image from before auth existed: auth off, nothing defined.
  ASSERT_TRUE(copy.Restore("").ok());
  EXPECT_FALSE(copy.enabled());
  EXPECT_FALSE(copy.UserGet(root, "alice").ok());
  EXPECT_FALSE(copy.Restore("\xff\xff garbage").ok());
}

TEST_F(AuthStoreTest, restoreKeepsTokensOnlyOfUnchangedUsers) {
  AuthInfo root = SetUpRoot();
  ASSERT_EQ(UserAdd("alice", "pw", root), "");
  std::string image = store_.Encode();
  std::string alice = Login("alice", "pw");
  std::string root_token = Login("root", "rootpw");
  raftkvpb::AuthRequest change;
  change.mutable_user_change_password()->set_name("root");
  change.mutable_user_change_password()->set_password_hash(*HashPassword("z", kMinBcryptCost));
  ASSERT_EQ(Run(change, root), "");
  root_token = Login("root", "z");
  // Back to the image, where root still has its old password.
  ASSERT_TRUE(store_.Restore(image).ok());
  EXPECT_TRUE(store_.Resolve(Credentials{alice, ""}).ok());
  EXPECT_FALSE(store_.Resolve(Credentials{root_token, ""}).ok());
}

}  // namespace
}  // namespace raftkv::auth
