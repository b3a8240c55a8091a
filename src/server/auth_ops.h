// The server's side of auth (auth_ops.cc): who an entry in the log was proposed by, and the
// permission check the apply thread makes before applying it. The rules themselves are
// src/auth's; this maps the server's request types onto them.
#pragma once

#include "auth/auth_info.h"
#include "auth/store.h"
#include "common/status.h"
#include "raftkvpb/internal.pb.h"

namespace raftkv::server {

// The caller recorded in an entry (etcd's RequestHeader username / auth_revision).
auth::AuthInfo CallerOf(const raftkvpb::InternalRequest& req);
void SetCaller(const auth::AuthInfo& who, raftkvpb::InternalRequest* req);

// Whether the entry's caller may make it, against `auth` as of this point of the log (etcd's
// auth applier): writes and txns by their keys; compaction, sessions and the member table's
// own entries need nothing here (membership changes are checked at the edge, as etcd does);
// auth entries are checked by auth::Store::Apply.
Status CheckApplyPermission(const auth::Store& auth, const raftkvpb::InternalRequest& req);

}  // namespace raftkv::server
