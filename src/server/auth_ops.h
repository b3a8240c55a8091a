// The server's side of auth (auth_ops.cc): who an entry in the log was proposed by, and the
// permission check the apply thread makes before applying it. The rules themselves are
// src/auth's; this maps the server's request types onto them.
#pragma once

#include "auth/auth_info.h"
#include "auth/store.h"
#include "common/status.h"
#include "kv/store.h"
#include "raftkvpb/internal.pb.h"

namespace raftkv::server {

// The caller recorded in an entry (etcd's RequestHeader username / auth_revision).
auth::AuthInfo CallerOf(const raftkvpb::InternalRequest& req);
void SetCaller(const auth::AuthInfo& who, raftkvpb::InternalRequest* req);

// Whether the entry's caller may make it, against `auth` and `store` as of this point of the
// log (etcd's auth applier): writes and txns by their keys; a put naming a lease also needs
// write permission on every key already attached to that lease, and a client's lease revoke
// on every key it would delete (etcd's checkLeasePuts); a leader's expiry revoke, lease
// grants, compaction, sessions and the member table's own entries need nothing here
// (membership changes are checked at the edge, as etcd does); auth entries are checked by
// auth::Store::Apply.
Status CheckApplyPermission(const auth::Store& auth, const kv::Store& store,
                            const raftkvpb::InternalRequest& req);

// Whether `who` may read (LeaseTimeToLive with keys) or write (revoke, attach) every key
// attached to lease `id` in `store`; an unknown lease has no keys. Reading also needs a user
// at all ("user name is empty"), as etcd's checkLeaseTimeToLive.
enum class LeaseKeyAccess { kRead, kWrite };
Status CheckLeaseKeys(const auth::Store& auth, const kv::Store& store, const auth::AuthInfo& who,
                      int64_t id, LeaseKeyAccess access);

}  // namespace raftkv::server
