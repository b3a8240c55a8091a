// etcd's Auth service on the server: logins, users, roles and permissions. Changes are log
// entries applied by auth::Store on every member (apply.cc); reads of users and roles are
// served from the applied state after a ReadIndex round (etcd sends them through the log;
// both are linearizable). Passwords are hashed, and checked, on the auth store's bounded
// password pool, never on a gRPC, raft or apply thread; only hashes enter the log.
#include "server/auth_ops.h"

#include <spdlog/spdlog.h>

#include "api/errors.h"
#include "auth/errors.h"
#include "server/server_impl.h"

namespace raftkv::server {

namespace pb = etcdserverpb;

auth::AuthInfo CallerOf(const raftkvpb::InternalRequest& req) {
  return auth::AuthInfo{req.auth_user(), req.auth_revision()};
}

void SetCaller(const auth::AuthInfo& who, raftkvpb::InternalRequest* req) {
  req->set_auth_user(who.user);
  req->set_auth_revision(who.revision);
}

Status CheckLeaseKeys(const auth::Store& auth, const kv::Store& store, const auth::AuthInfo& who,
                      int64_t id, LeaseKeyAccess access) {
  if (!auth.enabled()) return Status::OK();
  if (access == LeaseKeyAccess::kRead && who.revision == 0) {
    return Status::InvalidArgument(auth::kErrUserEmpty);
  }
  Result<lease::Lease> l = store.LeaseLookup(id);
  if (!l.ok()) return Status::OK();  // unknown: nothing to reveal or delete
  for (const std::string& key : l->keys) {
    RAFTKV_RETURN_IF_ERROR(access == LeaseKeyAccess::kRead ? auth.CheckRange(who, key, "")
                                                           : auth.CheckPut(who, key));
  }
  return Status::OK();
}

Status CheckApplyPermission(const auth::Store& auth, const kv::Store& store,
                            const raftkvpb::InternalRequest& req) {
  using R = raftkvpb::InternalRequest;
  if (!auth.enabled()) return Status::OK();
  const auth::AuthInfo who = CallerOf(req);
  switch (req.op_case()) {
    case R::kPut:
      RAFTKV_RETURN_IF_ERROR(auth.CheckPutRequest(who, req.put()));
      // A user who could not revoke the lease (a key on it is not theirs to write) may not
      // attach more keys to it either (etcd's checkLeasePuts on Put; not on txn puts, as 3.4).
      if (req.put().lease() != 0) {
        return CheckLeaseKeys(auth, store, who, req.put().lease(), LeaseKeyAccess::kWrite);
      }
      return Status::OK();
    case R::kDeleteRange: {
      const auto& d = req.delete_range();
      return auth.CheckDeleteRange(who, d.key(), d.range_end(), d.prev_kv());
    }
    case R::kTxn: return auth.CheckTxn(who, req.txn());
    case R::kLeaseRevoke:
      // The leader's expiry (expiry_term set) is the system's, not a client's: never refused.
      if (req.lease_revoke().expiry_term() != 0) return Status::OK();
      return CheckLeaseKeys(auth, store, who, req.lease_revoke().id(), LeaseKeyAccess::kWrite);
    default: return Status::OK();
  }
}

namespace {

constexpr int kLoginAttempts = 3;

// Runs a job on the password pool; "too many requests" when its queue is full, "server
// stopped" when it stops before running the job.
// The helpers take the server's Impl as a template parameter (I): it is private to the
// facade, so only deduction may name it here, as in kv_ops.cc.
template <typename Resp, typename I>
void OnPasswordPool(I& impl, Done<Resp> done, std::function<void(Done<Resp>)> job) {
  auto shared = std::make_shared<Done<Resp>>(std::move(done));
  bool queued = impl.auth().workers().Submit([shared, job = std::move(job)](bool stopped) {
    if (stopped) return (*shared)(Status::Unavailable(api::kErrStopped));
    job(std::move(*shared));
  });
  if (!queued) (*shared)(Status::Busy(api::kErrTooManyRequests));
}

template <typename Resp, typename I>
void Propose(I& impl, const auth::AuthInfo& who, raftkvpb::AuthRequest op, Done<Resp> done) {
  raftkvpb::InternalRequest r;
  SetCaller(who, &r);
  *r.mutable_auth() = std::move(op);
  impl.Propose(std::move(r), impl.template Typed<Resp>(std::move(done)));
}

// A read of the applied auth state once this member has applied everything committed when
// the call arrived.
template <typename Resp, typename I>
void Read(I& impl, std::function<Result<Resp>(const auth::Store&)> read, Done<Resp> done) {
  if (impl.stopped()) return done(Status::Unavailable(api::kErrStopped));
  impl.LinearizableRead(
      [&impl, read = std::move(read)](kv::Store&) -> ApplyResult {
        Result<Resp> r = read(impl.auth());
        if (!r.ok()) return r.status();
        return r->SerializeAsString();
      },
      impl.template Typed<Resp>(std::move(done)));
}

// UserAdd and UserChangePassword: the password becomes a bcrypt hash here, on the pool, and
// only the hash is proposed. Callers who are not root are refused before any hashing.
template <typename Resp, typename I>
void ProposeUserPut(I& impl, const auth::AuthInfo& who, bool change, const std::string& name,
                    auth::Secret password, const authpb::UserAddOptions& options, Done<Resp> done) {
  raftkvpb::AuthRequest op;
  raftkvpb::AuthUserPut* put = change ? op.mutable_user_change_password() : op.mutable_user_add();
  put->set_name(name);
  *put->mutable_options() = options;
  if (Status s = impl.auth().CheckAdmin(who); !s.ok()) return done(s);
  if (options.no_password()) return Propose(impl, who, std::move(op), std::move(done));
  OnPasswordPool<Resp>(impl, std::move(done), [&impl, who, op, password](Done<Resp> done) mutable {
    Result<std::string> hash = auth::HashPassword(*password, impl.auth().bcrypt_cost());
    if (!hash.ok()) return done(hash.status());
    raftkvpb::AuthUserPut* put =
        op.has_user_add() ? op.mutable_user_add() : op.mutable_user_change_password();
    put->set_password_hash(*hash);
    Propose(impl, who, std::move(op), std::move(done));
  });
}

// Authenticate, as etcd does it: the password is checked against the state as of a ReadIndex
// round, then the login goes through the log, which hands out the token; if users changed
// in between (the login entry says so), it starts over.
template <typename I>
void Login(I& impl, const std::string& name, auth::Secret password,
           Done<pb::AuthenticateResponse> done, int attempts_left) {
  using Entry = Result<auth::Store::PasswordEntry>;
  auto entry = std::make_shared<Entry>(Status::OK());
  impl.LinearizableRead(
      [&impl, entry, name](kv::Store&) -> ApplyResult {
        *entry = impl.auth().LookupPassword(name);
        return std::string();
      },
      [&impl, entry, name, password, done = std::move(done), attempts_left](ApplyResult r) {
        if (!r.ok()) return done(r.status());
        if (!entry->ok()) return done(entry->status());
        OnPasswordPool<pb::AuthenticateResponse>(
            impl, done,
            [&impl, entry, name, password, attempts_left](Done<pb::AuthenticateResponse> done) {
              // An unknown user costs a hash too, so timing does not tell users apart.
              const std::string& hash = (*entry)->hash;
              bool ok =
                  auth::VerifyPassword(*password, hash.empty() ? impl.auth().dummy_hash() : hash) &&
                  !hash.empty();
              if (!ok) {
                spdlog::warn("authentication failed for user \"{}\"", name);
                return done(Status::InvalidArgument(auth::kErrAuthFailed));
              }
              raftkvpb::AuthRequest op;
              op.mutable_authenticate()->set_name(name);
              op.mutable_authenticate()->set_token_prefix(auth::TokenTable::NewPrefix());
              op.mutable_authenticate()->set_checked_revision((*entry)->revision);
              Propose<pb::AuthenticateResponse>(
                  impl, auth::AuthInfo{}, std::move(op),
                  [&impl, name, password, done, attempts_left](Result<pb::AuthenticateResponse> r) {
                    if (!r.ok() && r.status().message() == auth::kErrStaleLogin &&
                        attempts_left > 1) {
                      return Login(impl, name, password, done, attempts_left - 1);
                    }
                    if (!r.ok() && r.status().message() == auth::kErrStaleLogin) {
                      return done(Status::InvalidArgument(auth::kErrAuthOldRevision));
                    }
                    done(std::move(r));
                  });
            });
      });
}

// The AuthRequest field each etcd request travels in unchanged.
template <typename Req>
struct EntryField;
#define RAFTKV_ENTRY_FIELD(Req, field)                                              \
  template <>                                                                       \
  struct EntryField<pb::Req> {                                                      \
    static pb::Req* Of(raftkvpb::AuthRequest* op) { return op->mutable_##field(); } \
  };
RAFTKV_ENTRY_FIELD(AuthEnableRequest, enable)
RAFTKV_ENTRY_FIELD(AuthDisableRequest, disable)
RAFTKV_ENTRY_FIELD(AuthUserDeleteRequest, user_delete)
RAFTKV_ENTRY_FIELD(AuthUserGrantRoleRequest, user_grant_role)
RAFTKV_ENTRY_FIELD(AuthUserRevokeRoleRequest, user_revoke_role)
RAFTKV_ENTRY_FIELD(AuthRoleAddRequest, role_add)
RAFTKV_ENTRY_FIELD(AuthRoleDeleteRequest, role_delete)
RAFTKV_ENTRY_FIELD(AuthRoleGrantPermissionRequest, role_grant_permission)
RAFTKV_ENTRY_FIELD(AuthRoleRevokePermissionRequest, role_revoke_permission)
#undef RAFTKV_ENTRY_FIELD

template <typename I, typename Req, typename Resp>
void ProposeAsIs(I& impl, const auth::AuthInfo& who, const Req& req, Done<Resp> done) {
  raftkvpb::AuthRequest op;
  *EntryField<Req>::Of(&op) = req;
  Propose(impl, who, std::move(op), std::move(done));
}

// One overload per Auth call (EtcdServer::AuthCall dispatches on the request type); the
// requests that need nothing but a log entry take the generic one.
template <typename I, typename Req, typename Resp>
requires requires(raftkvpb::AuthRequest* op) {
  EntryField<Req>::Of(op);
}
void Call(I& impl, const auth::AuthInfo& who, const Req& req, Done<Resp> done) {
  ProposeAsIs(impl, who, req, std::move(done));
}

template <typename I>
void Call(I& impl, const auth::AuthInfo& who, const pb::AuthUserAddRequest& req,
          Done<pb::AuthUserAddResponse> done) {
  if (req.name().empty()) return done(Status::InvalidArgument(auth::kErrUserEmpty));
  ProposeUserPut(impl, who, false, req.name(), auth::MakeSecret(req.password()), req.options(),
                 std::move(done));
}

template <typename I>
void Call(I& impl, const auth::AuthInfo& who, const pb::AuthUserChangePasswordRequest& req,
          Done<pb::AuthUserChangePasswordResponse> done) {
  ProposeUserPut(impl, who, true, req.name(), auth::MakeSecret(req.password()),
                 authpb::UserAddOptions(), std::move(done));
}

template <typename I>
void Call(I& impl, const auth::AuthInfo& who, const pb::AuthRoleGrantPermissionRequest& req,
          Done<pb::AuthRoleGrantPermissionResponse> done) {
  if (!req.has_perm()) return done(Status::InvalidArgument(auth::kErrPermissionNotGiven));
  if (!authpb::Permission::Type_IsValid(req.perm().permtype())) {
    return done(Status::InvalidArgument("raftkv: unknown permission type"));
  }
  ProposeAsIs(impl, who, req, std::move(done));
}

template <typename I>
void Call(I& impl, const auth::AuthInfo& who, const pb::AuthUserGetRequest& req,
          Done<pb::AuthUserGetResponse> done) {
  Read<pb::AuthUserGetResponse>(
      impl, [who, name = req.name()](const auth::Store& a) { return a.UserGet(who, name); },
      std::move(done));
}

template <typename I>
void Call(I& impl, const auth::AuthInfo& who, const pb::AuthUserListRequest&,
          Done<pb::AuthUserListResponse> done) {
  Read<pb::AuthUserListResponse>(
      impl, [who](const auth::Store& a) { return a.UserList(who); }, std::move(done));
}

template <typename I>
void Call(I& impl, const auth::AuthInfo& who, const pb::AuthRoleGetRequest& req,
          Done<pb::AuthRoleGetResponse> done) {
  Read<pb::AuthRoleGetResponse>(
      impl, [who, role = req.role()](const auth::Store& a) { return a.RoleGet(who, role); },
      std::move(done));
}

template <typename I>
void Call(I& impl, const auth::AuthInfo& who, const pb::AuthRoleListRequest&,
          Done<pb::AuthRoleListResponse> done) {
  Read<pb::AuthRoleListResponse>(
      impl, [who](const auth::Store& a) { return a.RoleList(who); }, std::move(done));
}

}  // namespace

// --- facade ---------------------------------------------------------------------------------

void EtcdServer::ResolveCaller(const auth::Credentials& credentials, Done<auth::AuthInfo> done) {
  auth::Store& a = impl_->auth();
  Result<auth::AuthInfo> who = a.Resolve(credentials);
  if (who.ok() || !credentials.token.has_value() || !a.enabled()) return done(std::move(who));
  // etcd: a token names the entry that handed it out; a member that has not applied that
  // entry yet (the client logged in through another member) looks again once it has.
  std::optional<uint64_t> index = auth::TokenTable::IndexOf(*credentials.token);
  if (!index.has_value() || *index <= impl_->applied_index()) return done(std::move(who));
  auto result = std::make_shared<Result<auth::AuthInfo>>(who.status());
  impl_->LinearizableRead(
      [&a, credentials, result](kv::Store&) -> ApplyResult {
        *result = a.Resolve(credentials);
        return std::string();
      },
      [result, done = std::move(done)](ApplyResult r) {
        if (!r.ok()) return done(r.status());
        done(std::move(*result));
      });
}

const auth::Store& EtcdServer::auth() const {
  return impl_->auth();
}

void EtcdServer::Authenticate(const pb::AuthenticateRequest& req,
                              Done<pb::AuthenticateResponse> done) {
  if (impl_->stopped()) return done(raftkv::Status::Unavailable(api::kErrStopped));
  Login(*impl_, req.name(), auth::MakeSecret(req.password()), std::move(done), kLoginAttempts);
}

template <typename Req, typename Resp>
void EtcdServer::AuthCall(const auth::AuthInfo& who, const Req& req, Done<Resp> done) {
  if (impl_->stopped()) return done(raftkv::Status::Unavailable(api::kErrStopped));
  Call(*impl_, who, req, std::move(done));
}

#define RAFTKV_AUTH_CALL(Req, Resp)                                                            \
  template void EtcdServer::AuthCall<pb::Req, pb::Resp>(const auth::AuthInfo&, const pb::Req&, \
                                                        Done<pb::Resp>)
RAFTKV_AUTH_CALL(AuthEnableRequest, AuthEnableResponse);
RAFTKV_AUTH_CALL(AuthDisableRequest, AuthDisableResponse);
RAFTKV_AUTH_CALL(AuthUserAddRequest, AuthUserAddResponse);
RAFTKV_AUTH_CALL(AuthUserGetRequest, AuthUserGetResponse);
RAFTKV_AUTH_CALL(AuthUserListRequest, AuthUserListResponse);
RAFTKV_AUTH_CALL(AuthUserDeleteRequest, AuthUserDeleteResponse);
RAFTKV_AUTH_CALL(AuthUserChangePasswordRequest, AuthUserChangePasswordResponse);
RAFTKV_AUTH_CALL(AuthUserGrantRoleRequest, AuthUserGrantRoleResponse);
RAFTKV_AUTH_CALL(AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse);
RAFTKV_AUTH_CALL(AuthRoleAddRequest, AuthRoleAddResponse);
RAFTKV_AUTH_CALL(AuthRoleGetRequest, AuthRoleGetResponse);
RAFTKV_AUTH_CALL(AuthRoleListRequest, AuthRoleListResponse);
RAFTKV_AUTH_CALL(AuthRoleDeleteRequest, AuthRoleDeleteResponse);
RAFTKV_AUTH_CALL(AuthRoleGrantPermissionRequest, AuthRoleGrantPermissionResponse);
RAFTKV_AUTH_CALL(AuthRoleRevokePermissionRequest, AuthRoleRevokePermissionResponse);
#undef RAFTKV_AUTH_CALL

}  // namespace raftkv::server
