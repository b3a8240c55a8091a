#include "tests/fuzz/fuzz_targets.h"

#include <google/protobuf/stubs/logging.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "api/convert.h"
#include "api/errors.h"
#include "auth/store.h"
#include "kv/store.h"
#include "raft/conf_change.h"
#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "server/auth_ops.h"
#include "server/snapshot_data.h"
#include "transport/codec.h"
#include "transport/frame.h"

namespace raftkv::fuzz {
namespace {

// A broken invariant found by a target: print and abort, so both drivers report it.
[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz target invariant broken: %s\n", what.c_str());
  std::abort();
}

class FixedRandom : public raft::RandomSource {
 public:
  uint64_t Uniform(uint64_t n) override { return (state_ = state_ * 6364136223846793005u + 1) % n; }

 private:
  uint64_t state_ = 42;
};

// A follower (member 1 of {1, 2, 3}) handling its Readys as the server does: persist, apply
// configuration changes, advance. A storage error here means the core handed out something
// no runtime could persist: a bug.
class Follower {
 public:
  Follower() {
    raft::Config c;
    c.id = 1;
    c.storage = &storage_;
    c.random = &random_;
    auto n = raft::RawNode::Create(c, {1, 2, 3});
    if (!n.ok()) Fail("RawNode::Create: " + n.status().ToString());
    node_ = std::move(*n);
    Drain();
  }

  void Step(const raft::Message& m) {
    (void)node_->Step(m);  // refusals are fine; crashes are not
    Drain();
  }

 private:
  void Drain() {
    while (node_->HasReady()) {
      raft::Ready rd = node_->GetReady();
      if (rd.snapshot) Check(storage_.ApplySnapshot(*rd.snapshot), "ApplySnapshot");
      if (!rd.entries.empty()) Check(storage_.Append(rd.entries), "Append");
      if (rd.hard_state) storage_.SetHardState(*rd.hard_state);
      for (const raft::Entry& e : rd.committed_entries) {
        if (e.type != raft::EntryType::kConfChange) continue;
        auto cc = raft::DecodeConfChange(e.data);
        if (cc.ok()) node_->ApplyConfChange(*cc);
      }
      node_->Advance();
    }
  }
  static void Check(const Status& s, const char* what) {
    if (!s.ok()) Fail(std::string(what) + " of a Ready: " + s.ToString());
  }

  raft::MemoryStorage storage_;
  FixedRandom random_;
  std::unique_ptr<raft::RawNode> node_;
};

// What PeerService accepts from the stream of member `from` to member 1.
bool Acceptable(const raft::Message& m, raft::NodeId from) {
  return transport::IsNetworkMessage(m.type) && m.from == from && m.to == 1;
}

// --- client requests -------------------------------------------------------------------------

enum RequestKind : uint8_t {
  kRange,
  kPut,
  kDeleteRange,
  kTxn,
  kCompaction,
  kGrantPermission,
  kLeaseGrant,
  kLeaseRevoke,
  kRequestKinds
};

// An auth store for a fuzz run: no password threads.
auth::StoreOptions Quiet() {
  auth::StoreOptions o;
  o.password_threads = 0;
  o.bcrypt_cost = auth::kMinBcryptCost;
  return o;
}

// An MVCC store with a little history, and an auth store where user "u" has a few
// permissions, so checks and reads have something to decide on.
struct Stores {
  kv::Store kv;
  auth::Store auth{Quiet()};
  auth::AuthInfo root, user;

  Stores() {
    for (const char* k : {"a", "ab", "b", "c/1", "c/2"}) {
      kv::PutRequest p;
      p.key = k;
      p.value = "v";
      (void)kv.Put(p);
      (void)kv.Put(p);
    }
    Apply([](raftkvpb::AuthRequest* r) { r->mutable_user_add()->set_name("root"); });
    Apply([](raftkvpb::AuthRequest* r) {
      r->mutable_user_grant_role()->set_user("root");
      r->mutable_user_grant_role()->set_role("root");
    });
    Apply([](raftkvpb::AuthRequest* r) { r->mutable_user_add()->set_name("u"); });
    Apply([](raftkvpb::AuthRequest* r) { r->mutable_role_add()->set_name("r"); });
    Apply([](raftkvpb::AuthRequest* r) {
      r->mutable_role_grant_permission()->set_name("r");
      r->mutable_role_grant_permission()->mutable_perm()->set_key("c/");
      r->mutable_role_grant_permission()->mutable_perm()->set_range_end("c0");
      r->mutable_role_grant_permission()->mutable_perm()->set_permtype(
          authpb::Permission::READWRITE);
    });
    Apply([](raftkvpb::AuthRequest* r) {
      r->mutable_user_grant_role()->set_user("u");
      r->mutable_user_grant_role()->set_role("r");
    });
    Apply([](raftkvpb::AuthRequest* r) { r->mutable_enable(); });
    root = {"root", auth.revision()};
    user = {"u", auth.revision()};
    // Lease 7 holds "a" (not the user's to write) and "c/1" (the user's).
    (void)kv.LeaseGrant(7, 60);
    for (const char* k : {"a", "c/1"}) {
      kv::PutRequest p;
      p.key = k;
      p.value = "leased";
      p.lease = 7;
      (void)kv.Put(p);
    }
  }

  template <typename F>
  void Apply(F fill) {
    raftkvpb::AuthRequest r;
    fill(&r);
    auto res = auth.Apply(r, root, ++index);
    if (!res.ok()) Fail("fuzz setup: " + res.status().ToString());
  }
  uint64_t index = 1;
};

template <typename Req>
bool Parse(const uint8_t* data, size_t size, Req* req) {
  return req->ParseFromArray(data, static_cast<int>(size));
}

// The edge checks of kv_service.cc, then the auth check and the store, as apply does.
void RunRequest(Stores& s, RequestKind kind, const uint8_t* data, size_t size) {
  namespace pb = etcdserverpb;
  switch (kind) {
    case kRange: {
      pb::RangeRequest r;
      if (!Parse(data, size, &r) || !api::CheckRangeRequest(r).ok()) return;
      (void)s.auth.CheckRange(s.user, r.key(), r.range_end());
      (void)s.kv.Range(api::FromProto(r));
      return;
    }
    case kPut: {
      pb::PutRequest r;
      if (!Parse(data, size, &r) || !api::CheckPutRequest(r).ok()) return;
      if (!api::CheckRequestSize(r.ByteSizeLong(), api::kDefaultMaxRequestBytes).ok()) return;
      raftkvpb::InternalRequest entry;
      server::SetCaller(s.user, &entry);
      *entry.mutable_put() = r;
      (void)server::CheckApplyPermission(s.auth, s.kv, entry);  // the key, and its lease's keys
      (void)s.kv.Put(api::FromProto(r));
      return;
    }
    case kLeaseGrant: {
      pb::LeaseGrantRequest r;
      if (!Parse(data, size, &r)) return;
      (void)s.kv.LeaseGrant(r.id(), r.ttl());
      return;
    }
    case kLeaseRevoke: {
      // As the apply thread takes a client's revoke: checked against every attached key.
      pb::LeaseRevokeRequest r;
      if (!Parse(data, size, &r)) return;
      raftkvpb::InternalRequest entry;
      server::SetCaller(s.user, &entry);
      entry.mutable_lease_revoke()->set_id(r.id());
      Status allowed = server::CheckApplyPermission(s.auth, s.kv, entry);
      if (allowed.ok() && r.id() == 7) Fail("revoke of a lease holding another's key allowed");
      if (allowed.ok()) (void)s.kv.LeaseRevoke(r.id());
      (void)server::CheckLeaseKeys(s.auth, s.kv, s.user, r.id(), server::LeaseKeyAccess::kRead);
      return;
    }
    case kDeleteRange: {
      pb::DeleteRangeRequest r;
      if (!Parse(data, size, &r) || !api::CheckDeleteRangeRequest(r).ok()) return;
      (void)s.auth.CheckDeleteRange(s.user, r.key(), r.range_end(), r.prev_kv());
      (void)s.kv.DeleteRange(api::FromProto(r));
      return;
    }
    case kTxn: {
      pb::TxnRequest r;
      if (!Parse(data, size, &r) || !api::CheckTxnRequest(r, api::kDefaultMaxTxnOps).ok()) return;
      (void)s.auth.CheckTxn(s.user, r);
      (void)s.kv.Txn(api::FromProto(r));
      return;
    }
    case kCompaction: {
      pb::CompactionRequest r;
      if (!Parse(data, size, &r)) return;
      (void)s.kv.Compact(api::FromProto(r));
      return;
    }
    case kGrantPermission: {
      // What root may grant: any key range, any type the edge lets through; then a check on
      // the range the grant named.
      pb::AuthRoleGrantPermissionRequest r;
      if (!Parse(data, size, &r) || !r.has_perm()) return;
      if (!authpb::Permission::Type_IsValid(r.perm().permtype())) return;
      raftkvpb::AuthRequest op;
      *op.mutable_role_grant_permission() = r;
      (void)s.auth.Apply(op, s.root, ++s.index);
      auth::AuthInfo user{"u", s.auth.revision()};
      (void)s.auth.CheckRange(user, r.perm().key(), r.perm().range_end());
      std::string image = s.auth.Encode();
      auth::Store copy(Quiet());
      if (!copy.Restore(image).ok() || copy.Encode() != image) {
        Fail("auth state does not survive Encode/Restore");
      }
      return;
    }
    case kRequestKinds: break;
  }
}

// --- seeds -----------------------------------------------------------------------------------

std::vector<std::string> PeerBatchSeeds() {
  std::vector<std::string> seeds;
  raftkvpb::MessageBatch b;
  b.mutable_header()->set_cluster_id(7);
  b.mutable_header()->set_from(2);
  b.mutable_header()->set_to(1);
  raft::Message m;
  m.type = raft::MessageType::kAppend;
  m.from = 2;
  m.to = 1;
  m.term = 2;
  m.index = 3;
  m.log_term = 1;
  m.commit = 3;
  m.entries.push_back({.term = 2, .index = 4, .data = "put"});
  transport::EncodeMessage(m, b.add_messages());
  m = raft::Message{.type = raft::MessageType::kHeartbeat, .from = 2, .to = 1, .term = 2};
  m.commit = 4;
  transport::EncodeMessage(m, b.add_messages());
  seeds.push_back(b.SerializeAsString());
  b.clear_messages();
  m = raft::Message{.type = raft::MessageType::kVote, .from = 3, .to = 1, .term = 5};
  m.index = 9;
  m.log_term = 4;
  transport::EncodeMessage(m, b.add_messages());
  seeds.push_back(b.SerializeAsString());
  return seeds;
}

// A whole framed connection: preamble, hello, the peer_batch seeds as batch frames, a ping.
std::vector<std::string> FramedStreamSeeds() {
  raftkvpb::StreamHeader h;
  h.set_cluster_id(7);
  h.set_from(2);
  h.set_to(1);
  std::string conn =
      transport::Preamble() + transport::Frame(transport::FrameType::kHello, h.SerializeAsString());
  for (const std::string& batch : PeerBatchSeeds()) {
    conn += transport::Frame(transport::FrameType::kBatch, batch);
  }
  conn += transport::Frame(transport::FrameType::kPing, {});
  return {conn};
}

std::vector<std::string> SnapshotChunkSeeds() {
  raftkvpb::SnapshotChunk c;
  c.mutable_header()->set_cluster_id(7);
  c.mutable_header()->set_from(2);
  c.mutable_header()->set_to(1);
  raft::Message m{.type = raft::MessageType::kSnapshot, .from = 2, .to = 1, .term = 3};
  m.snapshot.emplace();
  m.snapshot->meta.index = 100;
  m.snapshot->meta.term = 3;
  m.snapshot->meta.conf.voters = {1, 2, 3};
  m.snapshot->meta.conf.learners = {4};
  transport::EncodeMessage(m, c.mutable_message());
  c.set_total_size(1024);
  c.set_data(std::string(64, 's'));
  return {c.SerializeAsString()};
}

std::vector<std::string> ClientRequestSeeds() {
  namespace pb = etcdserverpb;
  auto with_kind = [](RequestKind k, const google::protobuf::Message& m) {
    return std::string(1, static_cast<char>(k)) + m.SerializeAsString();
  };
  std::vector<std::string> seeds;
  pb::RangeRequest range;
  range.set_key("a");
  range.set_range_end("c");
  range.set_limit(2);
  range.set_sort_order(pb::RangeRequest::DESCEND);
  seeds.push_back(with_kind(kRange, range));
  pb::PutRequest put;
  put.set_key("c/3");
  put.set_value("v");
  put.set_prev_kv(true);
  seeds.push_back(with_kind(kPut, put));
  pb::DeleteRangeRequest del;
  del.set_key("c/");
  del.set_range_end("c0");
  seeds.push_back(with_kind(kDeleteRange, del));
  pb::TxnRequest txn;
  auto* cmp = txn.add_compare();
  cmp->set_key("a");
  cmp->set_target(pb::Compare::VERSION);
  cmp->set_version(2);
  *txn.add_success()->mutable_request_put() = put;
  *txn.add_failure()->mutable_request_range() = range;
  *txn.add_failure()->mutable_request_txn()->add_success()->mutable_request_delete_range() = del;
  seeds.push_back(with_kind(kTxn, txn));
  pb::CompactionRequest compact;
  compact.set_revision(3);
  seeds.push_back(with_kind(kCompaction, compact));
  pb::AuthRoleGrantPermissionRequest grant;
  grant.set_name("r");
  grant.mutable_perm()->set_key("b");
  grant.mutable_perm()->set_range_end(std::string(1, '\0'));
  grant.mutable_perm()->set_permtype(authpb::Permission::READ);
  seeds.push_back(with_kind(kGrantPermission, grant));
  pb::LeaseGrantRequest lease;
  lease.set_id(9);
  lease.set_ttl(30);
  seeds.push_back(with_kind(kLeaseGrant, lease));
  pb::LeaseRevokeRequest revoke;
  revoke.set_id(7);
  seeds.push_back(with_kind(kLeaseRevoke, revoke));
  put.set_lease(7);
  seeds.push_back(with_kind(kPut, put));
  return seeds;
}

std::vector<std::string> SnapshotImageSeeds() {
  kv::Store store;
  for (int i = 0; i < 20; i++) {
    kv::PutRequest p;
    p.key = "k" + std::to_string(i % 7);
    p.value = std::string(i, 'x');
    (void)store.Put(p);
  }
  kv::DeleteRangeRequest d;
  d.key = "k3";
  (void)store.DeleteRange(d);
  (void)store.LeaseGrant(5, 60);  // the lease table travels in the image too
  kv::PutRequest leased;
  leased.key = "held";
  leased.value = "v";
  leased.lease = 5;
  (void)store.Put(leased);
  raftkvpb::MemberTable members;
  auto* m = members.add_members();
  m->set_id(1);
  m->set_name("m1");
  m->add_peerurls("https://127.0.0.1:2380");
  raftkvpb::SnapshotExtras extras;
  auth::Store auth(Quiet());
  raftkvpb::AuthRequest add;
  add.mutable_user_add()->set_name("root");
  (void)auth.Apply(add, {}, 1);
  extras.set_auth(auth.Encode());
  // The first byte is the chunk size the target feeds the loader with.
  std::string image = std::string(1, '\x1f') + server::EncodeSnapshotHeader(members, extras);
  auto view = store.Snapshot();
  (void)view->WriteTo(
      [&](std::string_view chunk) {
        image.append(chunk);
        return Status::OK();
      },
      4);
  return {image};
}

}  // namespace

void PeerBatch(const uint8_t* data, size_t size) {
  raftkvpb::MessageBatch batch;
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return;
  // PeerService validates the whole batch before delivering any of it.
  std::vector<raft::Message> msgs;
  for (const auto& pm : batch.messages()) {
    auto m = transport::DecodeMessage(pm);
    if (!m.ok() || !Acceptable(*m, batch.header().from()) ||
        m->type == raft::MessageType::kSnapshot) {
      return;
    }
    raftkvpb::Message again;
    transport::EncodeMessage(*m, &again);
    auto twice = transport::DecodeMessage(again);
    if (!twice.ok()) Fail("a decoded message does not decode again: " + twice.status().ToString());
    msgs.push_back(std::move(*m));
  }
  if (msgs.empty()) return;
  Follower f;
  for (const auto& m : msgs) f.Step(m);
}

void FramedStream(const uint8_t* data, size_t size) {
  // The bytes go through a socket pair, as the receiver reads them: in whatever pieces
  // recv() returns. Larger inputs would not fit the socket buffer before anyone reads.
  if (size > (64 << 10)) return;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) Fail("socketpair");
  if (size > 0 && write(fds[1], data, size) != static_cast<ssize_t>(size)) Fail("write");
  close(fds[1]);
  transport::FrameSocket sock(fds[0]);
  std::string preamble;
  if (!sock.ReadExact(transport::kPreambleBytes, &preamble).ok()) return;
  if (!transport::CheckPreamble(preamble).ok()) return;
  transport::FrameType type;
  std::string payload;
  raftkvpb::StreamHeader header;
  if (!sock.ReadFrame(&type, &payload).ok() || type != transport::FrameType::kHello ||
      !header.ParseFromString(payload)) {
    return;
  }
  while (sock.ReadFrame(&type, &payload).ok()) {
    if (payload.size() > transport::kMaxFramePayload) Fail("a frame above the limit was read");
    if (type == transport::FrameType::kPing) continue;
    if (type != transport::FrameType::kBatch) return;
    PeerBatch(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  }
}

void SnapshotChunk(const uint8_t* data, size_t size) {
  raftkvpb::SnapshotChunk chunk;
  if (!chunk.ParseFromArray(data, static_cast<int>(size))) return;
  auto m = transport::DecodeMessage(chunk.message());
  if (!m.ok() || m->type != raft::MessageType::kSnapshot || !Acceptable(*m, 2)) return;
  if (!m->snapshot.has_value()) return;
  // A complete snapshot message as the receiver hands it over: inline image = the data.
  m->snapshot->data = chunk.data();
  Follower f;
  f.Step(*m);
}

void ClientRequest(const uint8_t* data, size_t size) {
  if (size == 0) return;
  Stores s;
  RunRequest(s, static_cast<RequestKind>(data[0] % kRequestKinds), data + 1, size - 1);
}

void SnapshotImage(const uint8_t* data, size_t size) {
  // The first byte sets the chunk size (1..256): the loader must not depend on boundaries.
  if (size == 0) return;
  size_t chunk = size_t{data[0]} + 1;
  server::SnapshotDataLoader loader(128);
  bool failed = false;
  for (size_t off = 1; off < size && !failed; off += chunk) {
    size_t n = std::min(chunk, size - off);
    failed = !loader.Add(std::string_view(reinterpret_cast<const char*>(data) + off, n)).ok();
  }
  if (failed) return;
  server::SnapshotParts parts;
  std::unique_ptr<kv::Store> store;
  if (!loader.Finish(&parts, &store).ok()) return;
  auth::Store a(Quiet());
  (void)a.Restore(parts.extras.auth());
  kv::RangeRequest all;
  all.key = std::string(1, '\0');
  all.range_end = std::string(1, '\0');
  (void)store->Range(all);
}

const std::vector<Target>& Targets() {
  // Protobuf logs every string field with invalid UTF-8 it is asked to parse; mutated inputs
  // are full of them, and the parse failing is what is tested.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  static const std::vector<Target> targets = {
      {"peer_batch", PeerBatch, PeerBatchSeeds},
      {"framed_stream", FramedStream, FramedStreamSeeds},
      {"snapshot_chunk", SnapshotChunk, SnapshotChunkSeeds},
      {"client_request", ClientRequest, ClientRequestSeeds},
      {"snapshot_image", SnapshotImage, SnapshotImageSeeds},
  };
  return targets;
}

}  // namespace raftkv::fuzz
