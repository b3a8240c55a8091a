// raftkv's C++ client over the etcd v3 gRPC API.
//
// It talks to one member at a time from a list of endpoints. When that member cannot serve
// (no leader, not leader, unreachable, timed out) it moves to the next endpoint, waiting a
// little longer after each failure (exponential backoff with jitter), until the call's
// deadline. Any member answers reads and writes (followers forward to the leader).
//
// Writes are exactly-once through a client session (Raft thesis §6.3): Connect registers
// once (raftkvpb.Session/Register), and every Put, Delete and Txn carries the metadata
// raftkv-client-id, raftkv-seq (1, 2, 3, ...; a retry reuses its number) and raftkv-acked
// (every write up to this number is settled: its answer was received or the call was
// abandoned). A retried write that was already applied is answered from the server's
// session table with the first answer instead of being applied twice.
//
// Thread safety: a Client may be shared; calls are serialized (one in flight at a time).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/retry.h"
#include "common/status.h"
#include "etcdserverpb/rpc.pb.h"

namespace grpc {
class ClientContext;
}

namespace raftkv::client {

struct ClientOptions {
  // "host:port" or "http://host:port" of the members' client URLs.
  std::vector<std::string> endpoints;
  std::chrono::milliseconds rpc_timeout{2000};    // one attempt on one member
  std::chrono::milliseconds call_timeout{15000};  // a whole call, retries included
  std::chrono::milliseconds backoff_initial{10};
  std::chrono::milliseconds backoff_max{500};
  uint64_t seed = 1;  // jitter of the backoff
  // Register a session and send writes with its metadata. Without it a write that timed
  // out is not retried (it might have been applied): the caller gets Unavailable.
  bool exactly_once = true;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
};

struct GetOptions {
  std::string range_end;      // empty: the key alone; "\0": every key >= key
  bool serializable = false;  // served from the member's own state, without ReadIndex
  int64_t limit = 0;
  int64_t revision = 0;  // 0: the newest
};

struct GetResult {
  int64_t revision = 0;  // store revision the read reflects
  std::vector<KeyValue> kvs;
  int64_t count = 0;
  bool more = false;
};

struct WriteResult {
  int64_t revision = 0;   // store revision after the write
  int64_t deleted = 0;    // Delete only
  bool succeeded = true;  // CompareAndSwap only: whether the compare held
};

struct MemberInfo {
  uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  bool is_learner = false;
};

struct MemberStatus {
  uint64_t member_id = 0;
  uint64_t leader = 0;
  uint64_t raft_term = 0;
  uint64_t raft_index = 0;
  int64_t revision = 0;
  std::string version;
};

class Client {
 public:
  // Builds channels to every endpoint and, with exactly_once, registers a session.
  static Result<std::unique_ptr<Client>> Connect(ClientOptions options);
  ~Client();

  Result<WriteResult> Put(const std::string& key, const std::string& value);
  Result<GetResult> Get(const std::string& key, const GetOptions& options = {});
  Result<WriteResult> Delete(const std::string& key, const std::string& range_end = "");
  // Sets key to new_value if its value is `expected` (nullopt: if the key does not exist).
  Result<WriteResult> CompareAndSwap(const std::string& key,
                                     const std::optional<std::string>& expected,
                                     const std::string& new_value);
  // Any transaction, exactly-once like the other writes.
  Result<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& request);

  Result<std::vector<MemberInfo>> MemberList();
  // Status of the member the client currently talks to.
  Result<MemberStatus> Status();

  uint64_t client_id() const { return client_id_; }
  // The endpoint calls go to now (it changes when a member fails).
  std::string current_endpoint() const;

  // Test hooks for exactly-once: the serialized answer of the last write, and sending that
  // write again with its original (client id, seq, acked), as a retry after a lost answer
  // would. Returns the serialized answer of the resend.
  std::string LastWriteAnswerForTest() const;
  Result<std::string> ResendLastWriteForTest();

 private:
  struct Endpoint;
  enum class Kind { kRead, kWrite };
  // One attempt on one member; fills *answer with the serialized response on success.
  using Attempt = std::function<grpc::Status(Endpoint&, grpc::ClientContext&, std::string*)>;
  struct Write {
    Attempt attempt;
    uint64_t seq = 0;
    uint64_t acked = 0;
  };

  explicit Client(ClientOptions options);
  ::raftkv::Status Register();
  // Runs the attempt against the current endpoint, moving on and backing off on failures
  // the policy retries, until success, a fatal error or the call deadline.
  ::raftkv::Status Invoke(Kind kind, const Attempt& attempt, std::string* answer,
                          Write* write = nullptr);
  Result<std::string> RunWrite(Attempt attempt);
  void NextEndpoint();

  ClientOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  size_t current_ = 0;
  Backoff backoff_;
  uint64_t client_id_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t settled_ = 0;  // every write with seq <= settled_ is answered or abandoned
  Write last_write_;
  std::string last_answer_;
  mutable std::mutex mu_;  // serializes calls
};

}  // namespace raftkv::client
