// The member's identity in its data dir: <data-dir>/member/identity holds a serialized
// raftkvpb.Identity (member id, cluster id, the members known at the first start). It is
// written once, atomically (temporary file, fsync, rename, fsync of the directory), before
// the WAL is created; its presence is what makes a start a restart.
#pragma once

#include <string>

#include "common/status.h"
#include "raftkvpb/internal.pb.h"
#include "server/config.h"

namespace raftkv::server {

// kNotFound if the member has never started here.
Result<raftkvpb::Identity> ReadIdentity(const std::string& member_dir);
Status WriteIdentity(const std::string& member_dir, const raftkvpb::Identity& id);
// The identity of a member of a new cluster, from --initial-cluster and the token.
Result<raftkvpb::Identity> BootstrapIdentity(const ServerConfig& config);

}  // namespace raftkv::server
