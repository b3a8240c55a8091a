// auth::Store: etcd's authentication and role-based permissions (its auth store), as a piece
// of the replicated state machine plus the checks every request goes through.
//
//  - Replicated state: whether auth is enabled, the users (name, bcrypt hash, roles), the
//    roles (key permissions) and the auth revision, which every change of users, roles or
//    permissions raises. It changes only through Apply(), called in log order on every
//    member, and travels in snapshots (Encode/Restore).
//  - Soft state: simple tokens (tokens.h), handed out by applied Authenticate entries, and
//    per-user merged permissions (permissions.h), rebuilt on every change.
//  - Checks (any thread): CheckRange/CheckPut/CheckDeleteRange/CheckTxn/CheckAdmin implement
//    etcd's rules; they all pass while auth is disabled. A caller is an AuthInfo resolved from
//    its token or certificate (Resolve); a request made with an AuthInfo from before the
//    latest auth change is refused with "revision of auth store is old", so no request runs
//    with rights its user no longer has.
//
// Thread safety: every method may be called from any thread; Apply and Restore take the
// store exclusively, the checks share it.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "auth/auth_info.h"
#include "auth/password.h"
#include "auth/permissions.h"
#include "auth/tokens.h"
#include "authpb/auth.pb.h"
#include "common/status.h"
#include "etcdserverpb/rpc.pb.h"
#include "raftkvpb/auth.pb.h"

namespace raftkv::auth {

inline constexpr char kRootUser[] = "root";
inline constexpr char kRootRole[] = "root";
// Returned by Apply for an Authenticate whose password check predates the entry's auth
// revision (the user or the password may have changed meanwhile): the proposer checks again.
inline constexpr char kErrStaleLogin[] = "raftkv: auth changed during authentication; retry";
// etcd 3.5's text for a grant without a permission.
inline constexpr char kErrPermissionNotGiven[] = "etcdserver: permission not given";

struct StoreOptions {
  std::chrono::seconds token_ttl{300};  // --auth-token-ttl
  size_t max_tokens = 100000;
  int bcrypt_cost = kDefaultBcryptCost;  // --bcrypt-cost
  // Password hashing: threads and jobs allowed to wait (beyond them: "too many requests").
  int password_threads = 2;
  size_t max_queued_password_jobs = 64;
  TokenTable::NowFn now = TokenTable::Clock::now;
};

class Store {
 public:
  explicit Store(StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- the replicated state machine ---------------------------------------------------------
  // Applies one auth entry proposed on behalf of `who`, at log index `index`: the serialized
  // etcd response (AuthEnableResponse, AuthenticateResponse{token}, ...) or etcd's error.
  // Every change but Authenticate needs `who` to be root while auth is enabled.
  Result<std::string> Apply(const raftkvpb::AuthRequest& req, const AuthInfo& who, uint64_t index);
  // The replicated state as a snapshot section, and back. Restore("") is the empty state
  // (a snapshot from before auth existed). Tokens of users that are gone or whose password
  // changed are dropped.
  std::string Encode() const;
  Status Restore(std::string_view image);

  // --- reads (etcd's rules: the lists need root; a user may read itself, a role holder
  // its role) --------------------------------------------------------------------------------
  Result<etcdserverpb::AuthUserGetResponse> UserGet(const AuthInfo& who,
                                                    const std::string& name) const;
  Result<etcdserverpb::AuthUserListResponse> UserList(const AuthInfo& who) const;
  Result<etcdserverpb::AuthRoleGetResponse> RoleGet(const AuthInfo& who,
                                                    const std::string& role) const;
  Result<etcdserverpb::AuthRoleListResponse> RoleList(const AuthInfo& who) const;

  // --- checks: OK while auth is disabled ------------------------------------------------------
  bool enabled() const;
  uint64_t revision() const;
  // Read [key, range_end) (RangeRequest conventions; also Watch).
  Status CheckRange(const AuthInfo& who, std::string_view key, std::string_view range_end) const;
  // Write `key` (Put; also every key attached to a lease being revoked or reused).
  Status CheckPut(const AuthInfo& who, std::string_view key) const;
  // Delete [key, range_end); with prev_kv also read it.
  Status CheckDeleteRange(const AuthInfo& who, std::string_view key, std::string_view range_end,
                          bool prev_kv) const;
  Status CheckPutRequest(const AuthInfo& who, const etcdserverpb::PutRequest& put) const;
  // Every compare (read), and every op of both branches, nested txns included.
  Status CheckTxn(const AuthInfo& who, const etcdserverpb::TxnRequest& txn) const;
  // Root only (auth and membership changes, Defragment, Snapshot, Hash, HashKV).
  Status CheckAdmin(const AuthInfo& who) const;
  // After a read served outside the log order (serializable): whether the auth state is
  // still the one `who` was resolved at (etcd's doSerialize check).
  Status CheckUnchanged(const AuthInfo& who) const;

  // --- credentials ----------------------------------------------------------------------------
  // The caller behind `c`: its token's user (kErrInvalidAuthToken if the token is unknown or
  // expired), else the certificate's CommonName, else nobody (revision 0). Any token is
  // refused while auth is disabled (there are none), as etcd does.
  Result<AuthInfo> Resolve(const Credentials& c) const;
  // What Authenticate checks a password against: the user's hash and the auth revision now.
  // kErrAuthNotEnabled while disabled; an unknown user or one without password gets an empty
  // hash (the caller still spends a hash on it, so that timing does not tell).
  struct PasswordEntry {
    std::string hash;
    uint64_t revision = 0;
  };
  Result<PasswordEntry> LookupPassword(const std::string& name) const;

  TokenTable& tokens() { return tokens_; }
  PasswordWorkers& workers() { return workers_; }
  int bcrypt_cost() const { return options_.bcrypt_cost; }
  // A fixed bcrypt hash at this store's cost, to verify against when the user is unknown
  // (made at the first call: a password pool thread).
  const std::string& dummy_hash();

 private:
  using Response = Result<std::string>;
  Response applyLocked(const raftkvpb::AuthRequest& req, uint64_t index);
  Response enable();
  Response disable();
  Response authenticate(const raftkvpb::AuthLogin& login, uint64_t index);
  Response userAdd(const raftkvpb::AuthUserPut& put);
  Response userDelete(const std::string& name);
  Response userChangePassword(const raftkvpb::AuthUserPut& put);
  Response userGrantRole(const std::string& user, const std::string& role);
  Response userRevokeRole(const std::string& user, const std::string& role);
  Response roleAdd(const std::string& name);
  Response roleDelete(const std::string& name);
  Response roleGrantPermission(const std::string& role, const authpb::Permission& perm);
  Response roleRevokePermission(const std::string& role, const std::string& key,
                                const std::string& range_end);
  // A change of users, roles or permissions: a new revision and fresh merged permissions.
  void changed();
  Status checkAdminLocked(const AuthInfo& who) const;
  Status checkOpLocked(const AuthInfo& who, authpb::Permission::Type type, std::string_view key,
                       std::string_view range_end) const;
  Status checkRequestOpsLocked(
      const AuthInfo& who,
      const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) const;
  Status checkTxnLocked(const AuthInfo& who, const etcdserverpb::TxnRequest& txn) const;
  bool hasRole(const std::string& user, const std::string& role) const;

  const StoreOptions options_;
  mutable std::shared_mutex mu_;
  // Written under mu_; also read without it by the checks' fast path (auth disabled: no
  // lock taken, so a cluster without auth pays one atomic load per request).
  std::atomic<bool> enabled_{false};
  uint64_t revision_ = 0;                               // guarded by mu_
  std::map<std::string, authpb::User> users_;           // guarded by mu_
  std::map<std::string, authpb::Role> roles_;           // guarded by mu_
  std::map<std::string, UserPermissions> permissions_;  // guarded by mu_; by user
  mutable TokenTable tokens_;  // thread-safe; a lookup restarts the token's clock
  PasswordWorkers workers_;
  std::once_flag dummy_once_;
  std::string dummy_hash_;
};

}  // namespace raftkv::auth
