// EtcdServer: one raftkv member. It owns the raft loop (the consensus core driven by a real
// clock, its WAL and snapshots on disk, the peer transport) and the apply loop (the MVCC
// store and the client-session table), and offers the etcd v3 operations as asynchronous
// calls. The gRPC services (services/*.cc) are thin adapters over this class.
//
// Data flow of a write (docs/architecture.md): Put() queues a proposal tagged with a request
// id -> the raft loop drains the queue into the core -> Ready: the leader's WAL write runs
// while AppendEntries go out -> commit -> the apply loop applies the entry to the store
// (deduplicated by the session table) -> the callback of the member that proposed it runs.
// A follower's proposals are forwarded to the leader by the core; the answer comes from the
// member the client called, once it has applied the entry itself.
//
// Reads: Range (and a Txn with no writes) are linearizable by default: ReadIndex, batched,
// then served locally once applied >= read index (thesis §6.4). serializable=true is served
// at once from the local store.
//
// Every call completes exactly once, on a server thread, with either a response (its header
// filled: cluster_id, member_id, revision, raft_term) or a Status carrying etcd's error text
// (api/errors.h, kv/errors.h; api::ToGrpcStatus maps it to etcd's gRPC code). Callbacks must
// not block. A request that cannot complete within the request timeout fails with
// "etcdserver: request timed out"; after Stop() every pending call fails with
// "etcdserver: server stopped".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "auth/auth_info.h"
#include "common/status.h"
#include "etcdserverpb/rpc.pb.h"
#include "raftkvpb/debug.pb.h"
#include "server/config.h"
#include "server/stats.h"

namespace raftkv::auth {
class Store;
}

namespace raftkv::watch {
class Hub;
}

namespace raftkv::server {

template <typename T>
using Done = std::function<void(Result<T>)>;

// The exactly-once identity of a write (raftkvpb/session.proto); client_id 0 means none.
struct SessionRef {
  uint64_t client_id = 0;
  uint64_t seq = 0;
  uint64_t acked_through = 0;
};

// Streams a consistent image of the store (Maintenance.Snapshot), produced from a pinned
// revision while writes continue.
class SnapshotReader {
 public:
  virtual ~SnapshotReader() = default;
  // Total size in bytes (known up front).
  virtual uint64_t size() const = 0;
  // Appends the next chunk (at most max_bytes) to *out. Returns false at the end.
  virtual Result<bool> Next(size_t max_bytes, std::string* out) = 0;
};

class EtcdServer {
 public:
  // Opens (or creates) the data dir, recovers the WAL and the newest snapshot, starts the
  // peer transport and the raft and apply loops. A new member of a new cluster bootstraps
  // from config.initial_cluster; a restart ignores it (as etcd does); a member started with
  // initial_cluster_state_new = false asks the existing members for its id and the member
  // list. Fails with a clear message on a corrupt or locked data dir or bad configuration.
  static Result<std::unique_ptr<EtcdServer>> Start(const ServerConfig& config);
  // Stops as Stop().
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // Graceful shutdown: a leader first hands leadership to the most up-to-date voter (waits
  // at most an election timeout), then every pending call fails with "server stopped", the
  // loops stop and the WAL is closed. Idempotent.
  void Stop();

  // True once the server stopped, by Stop() or by itself (it applied its own removal from the
  // cluster, or hit a fatal storage error); StopReason() then says why ("" after Stop()).
  // raftkvd polls it to exit when its member is removed, as etcd does.
  bool Stopped() const;
  std::string StopReason() const;

  uint64_t member_id() const;
  uint64_t cluster_id() const;
  // The peer port actually bound (tests start with port 0).
  int peer_port() const;

  // --- KV -------------------------------------------------------------------------------
  // `who` is the caller as ResolveCaller found it: while auth is enabled, reads are checked
  // when served and writes when applied (etcd's "permission denied", "user name is empty",
  // "revision of auth store is old"). The overloads without it call with no credentials.
  void Range(const etcdserverpb::RangeRequest& req, const auth::AuthInfo& who,
             Done<etcdserverpb::RangeResponse> done);
  void Put(const etcdserverpb::PutRequest& req, const SessionRef& session,
           const auth::AuthInfo& who, Done<etcdserverpb::PutResponse> done);
  void DeleteRange(const etcdserverpb::DeleteRangeRequest& req, const SessionRef& session,
                   const auth::AuthInfo& who, Done<etcdserverpb::DeleteRangeResponse> done);
  void Txn(const etcdserverpb::TxnRequest& req, const SessionRef& session,
           const auth::AuthInfo& who, Done<etcdserverpb::TxnResponse> done);
  void Compact(const etcdserverpb::CompactionRequest& req, const auth::AuthInfo& who,
               Done<etcdserverpb::CompactionResponse> done);
  // The same four calls for the client front (src/front): the response comes back serialized,
  // header included, so it is never parsed and serialized again on its way out.
  void RangeBytes(const etcdserverpb::RangeRequest& req, const auth::AuthInfo& who,
                  Done<std::string> done);
  void PutBytes(const etcdserverpb::PutRequest& req, const SessionRef& session,
                const auth::AuthInfo& who, Done<std::string> done);
  void DeleteRangeBytes(const etcdserverpb::DeleteRangeRequest& req, const SessionRef& session,
                        const auth::AuthInfo& who, Done<std::string> done);
  void TxnBytes(const etcdserverpb::TxnRequest& req, const SessionRef& session,
                const auth::AuthInfo& who, Done<std::string> done);
  void Range(const etcdserverpb::RangeRequest& req, Done<etcdserverpb::RangeResponse> done) {
    Range(req, auth::AuthInfo{}, std::move(done));
  }
  void Put(const etcdserverpb::PutRequest& req, const SessionRef& session,
           Done<etcdserverpb::PutResponse> done) {
    Put(req, session, auth::AuthInfo{}, std::move(done));
  }
  void DeleteRange(const etcdserverpb::DeleteRangeRequest& req, const SessionRef& session,
                   Done<etcdserverpb::DeleteRangeResponse> done) {
    DeleteRange(req, session, auth::AuthInfo{}, std::move(done));
  }
  void Txn(const etcdserverpb::TxnRequest& req, const SessionRef& session,
           Done<etcdserverpb::TxnResponse> done) {
    Txn(req, session, auth::AuthInfo{}, std::move(done));
  }
  void Compact(const etcdserverpb::CompactionRequest& req,
               Done<etcdserverpb::CompactionResponse> done) {
    Compact(req, auth::AuthInfo{}, std::move(done));
  }

  // --- Lease (lease_ops.cc) ----------------------------------------------------------------
  // Grant and revoke go through the log. A grant without an id gets one chosen here; its TTL
  // is raised to etcd's minimum ((3 x election ticks / 2) heartbeats, in whole seconds).
  // `who` as for KV: a revoke is checked when applied (write permission on every key attached
  // to the lease, as etcd's auth applier); a grant is not checked (nor is it in etcd).
  void LeaseGrant(const etcdserverpb::LeaseGrantRequest& req, const auth::AuthInfo& who,
                  Done<etcdserverpb::LeaseGrantResponse> done);
  void LeaseRevoke(const etcdserverpb::LeaseRevokeRequest& req, const auth::AuthInfo& who,
                   Done<etcdserverpb::LeaseRevokeResponse> done);
  void LeaseGrant(const etcdserverpb::LeaseGrantRequest& req,
                  Done<etcdserverpb::LeaseGrantResponse> done) {
    LeaseGrant(req, auth::AuthInfo{}, std::move(done));
  }
  void LeaseRevoke(const etcdserverpb::LeaseRevokeRequest& req,
                   Done<etcdserverpb::LeaseRevokeResponse> done) {
    LeaseRevoke(req, auth::AuthInfo{}, std::move(done));
  }
  // One keep-alive: the lease's TTL, 0 if the lease is unknown or expired. Answered by the
  // leader's lessor (forwarded by any other member), once the leader confirmed its leadership.
  // Not permission-checked (etcd checks no keep-alive).
  void LeaseKeepAlive(int64_t id, Done<int64_t> done);
  // Remaining TTL (whole seconds), granted TTL and optionally the keys, from the leader.
  // NotFound "requested lease not found" for an unknown lease (etcd's service turns it into
  // TTL -1). With keys and auth enabled (etcd 3.4.26's rule): the caller needs a user ("user
  // name is empty") and read permission on every key attached to the lease, and the auth
  // state must not change meanwhile ("revision of auth store is old").
  void LeaseTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& req, const auth::AuthInfo& who,
                       Done<etcdserverpb::LeaseTimeToLiveResponse> done);
  void LeaseTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& req,
                       Done<etcdserverpb::LeaseTimeToLiveResponse> done) {
    LeaseTimeToLive(req, auth::AuthInfo{}, std::move(done));
  }
  // Every lease this member's table holds.
  void LeaseLeases(Done<etcdserverpb::LeaseLeasesResponse> done);
  // This member's header now: cluster, member, raft term and store revision (etcd fills a
  // keep-alive's header before it renews).
  void FillHeader(etcdserverpb::ResponseHeader* header) const;

  // --- Sessions (raftkvpb.Session) ----------------------------------------------------------
  // Registers a client session through the log; the result is its client id.
  void RegisterSession(Done<uint64_t> done);
  int64_t session_timeout_ms() const;

  // --- Cluster --------------------------------------------------------------------------
  void MemberAdd(const etcdserverpb::MemberAddRequest& req,
                 Done<etcdserverpb::MemberAddResponse> done);
  void MemberRemove(const etcdserverpb::MemberRemoveRequest& req,
                    Done<etcdserverpb::MemberRemoveResponse> done);
  void MemberUpdate(const etcdserverpb::MemberUpdateRequest& req,
                    Done<etcdserverpb::MemberUpdateResponse> done);
  void MemberList(const etcdserverpb::MemberListRequest& req,
                  Done<etcdserverpb::MemberListResponse> done);
  void MemberPromote(const etcdserverpb::MemberPromoteRequest& req,
                     Done<etcdserverpb::MemberPromoteResponse> done);

  // --- Maintenance ------------------------------------------------------------------------
  void Status(const etcdserverpb::StatusRequest& req, Done<etcdserverpb::StatusResponse> done);
  void Alarm(const etcdserverpb::AlarmRequest& req, Done<etcdserverpb::AlarmResponse> done);
  void Defragment(const etcdserverpb::DefragmentRequest& req,
                  Done<etcdserverpb::DefragmentResponse> done);
  void Hash(const etcdserverpb::HashRequest& req, Done<etcdserverpb::HashResponse> done);
  void HashKV(const etcdserverpb::HashKVRequest& req, Done<etcdserverpb::HashKVResponse> done);
  void MoveLeader(const etcdserverpb::MoveLeaderRequest& req,
                  Done<etcdserverpb::MoveLeaderResponse> done);
  // A consistent image of the store for `etcdctl snapshot save` (ends with a SHA-256 of the
  // preceding bytes, as etcd's does).
  Result<std::unique_ptr<SnapshotReader>> OpenSnapshot();

  // --- Auth (auth_ops.cc; the state and the rules: src/auth/) ----------------------------
  // The caller behind a client's credentials: its token's user (a token from an entry this
  // member has not applied yet is looked up once it has, as etcd waits), else the
  // certificate's CommonName, else nobody. "etcdserver: invalid auth token" if the token is
  // unknown or expired.
  void ResolveCaller(const auth::Credentials& credentials, Done<auth::AuthInfo> done);
  // The permission checks, for the services that check at their edge (Watch: CheckRange on
  // each watch; Lease: CheckPut on the keys of a lease; Cluster and Maintenance: CheckAdmin).
  const auth::Store& auth() const;
  // etcd's Auth service. Authenticate checks the password (bcrypt, on a bounded pool: "too
  // many requests" when it is full) and hands out a simple token through the log. Req is
  // every other etcdserverpb.Auth*Request, Resp its response: changes go through the log
  // (passwords hashed first, by this member), gets and lists read the applied state after a
  // ReadIndex round.
  void Authenticate(const etcdserverpb::AuthenticateRequest& req,
                    Done<etcdserverpb::AuthenticateResponse> done);
  template <typename Req, typename Resp>
  void AuthCall(const auth::AuthInfo& who, const Req& req, Done<Resp> done);

  // --- Health and metrics -----------------------------------------------------------------
  // OK if this member has a leader and a linearizable read round succeeds in time (what
  // etcd's /health checks); otherwise an error saying why.
  void CheckHealth(Done<bool> done);
  ServerStats GetStats() const;

  // --- Watch ------------------------------------------------------------------------------
  // This member's watch hub (src/watch/hub.h): every member serves watches, fed by its apply
  // thread. Streams opened on it must be closed before the server is destroyed.
  watch::Hub& WatchHub();
  uint64_t term() const;
  // --- /debug/raft (the /ui page) ------------------------------------------------------
  // This member's raft state, the followers it leads and its timeline (debug.proto).
  raftkvpb::MemberDebug DebugStatus();
  // Every member of the member list: this one's DebugStatus and the others', asked over
  // their peer URLs in parallel, each within `peer_timeout` (a member that does not answer
  // in time is listed with up = false and why).
  raftkvpb::ClusterDebug ClusterDebug(std::chrono::milliseconds peer_timeout);

 private:
  class Impl;
  explicit EtcdServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace raftkv::server
