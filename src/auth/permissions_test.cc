#include "auth/permissions.h"

#include <gtest/gtest.h>

namespace raftkv::auth {
namespace {

const std::string kFromKey(1, '\0');

authpb::Permission Perm(authpb::Permission::Type t, std::string key, std::string end = "") {
  authpb::Permission p;
  p.set_permtype(t);
  p.set_key(std::move(key));
  p.set_range_end(std::move(end));
  return p;
}

authpb::Role Role(std::vector<authpb::Permission> perms) {
  authpb::Role r;
  for (auto& p : perms) *r.add_keypermission() = p;
  return r;
}

TEST(KeyRangeSet, mergesOverlappingAndTouchingRanges) {
  KeyRangeSet s;
  s.Add("b", "d");
  s.Add("d", "f");  // touches [b, d)
  s.Add("a", "b2");
  s.Add("x", "");   // unbounded
  s.Add("q", "p");  // inverted: nothing
  s.Normalize();
  EXPECT_TRUE(s.Covers("a", "f"));
  EXPECT_FALSE(s.Covers("a", "f0"));
  EXPECT_TRUE(s.Covers("c", "e"));
  EXPECT_TRUE(s.Covers("y", ""));
  EXPECT_FALSE(s.Covers("w", ""));
  EXPECT_TRUE(s.ContainsKey("e\xff"));
  EXPECT_FALSE(s.ContainsKey("f"));
  EXPECT_FALSE(s.ContainsKey("q"));
  EXPECT_TRUE(s.ContainsKey("zzz"));
}

TEST(UserPermissions, singleKeyPrefixAndFromKeyAsEtcd) {
  authpb::Role one = Role({Perm(authpb::Permission::READ, "k")});
  authpb::Role prefix = Role({Perm(authpb::Permission::READWRITE, "app/", "app0")});
  authpb::Role from = Role({Perm(authpb::Permission::WRITE, "m", kFromKey)});
  UserPermissions p = UserPermissions::FromRoles({&one, &prefix, &from});

  EXPECT_TRUE(p.Allows(authpb::Permission::READ, "k", ""));
  EXPECT_FALSE(p.Allows(authpb::Permission::READ, "k", "l")) << "the key, not what follows";
  EXPECT_FALSE(p.Allows(authpb::Permission::WRITE, "k", ""));
  EXPECT_TRUE(p.Allows(authpb::Permission::READ, "app/x", ""));
  EXPECT_TRUE(p.Allows(authpb::Permission::READ, "app/", "app0"));  // get --prefix app/
  EXPECT_FALSE(p.Allows(authpb::Permission::READ, "app", "app0"));
  EXPECT_TRUE(p.Allows(authpb::Permission::WRITE, "app/a", "app/b"));
  EXPECT_TRUE(p.Allows(authpb::Permission::WRITE, "m", kFromKey));
  EXPECT_TRUE(p.Allows(authpb::Permission::WRITE, "zz", ""));
  EXPECT_FALSE(p.Allows(authpb::Permission::READ, "zz", ""));
  EXPECT_FALSE(p.Allows(authpb::Permission::WRITE, "l", kFromKey));
}

TEST(UserPermissions, rangesOfSeveralRolesCoverTogether) {
  authpb::Role a = Role({Perm(authpb::Permission::READ, "a", "m")});
  authpb::Role b = Role({Perm(authpb::Permission::READ, "m", "z")});
  UserPermissions p = UserPermissions::FromRoles({&a, &b});
  EXPECT_TRUE(p.Allows(authpb::Permission::READ, "a", "z"));
  EXPECT_FALSE(p.Allows(authpb::Permission::READ, "a", "z0"));
  EXPECT_FALSE(UserPermissions::FromRoles({&a}).Allows(authpb::Permission::READ, "a", "z"));
}

TEST(UserPermissions, noRolesAllowNothing) {
  UserPermissions p = UserPermissions::FromRoles({});
  EXPECT_FALSE(p.Allows(authpb::Permission::READ, "a", ""));
  EXPECT_FALSE(p.Allows(authpb::Permission::WRITE, "", kFromKey));
}

}  // namespace
}  // namespace raftkv::auth
