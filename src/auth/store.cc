#include "auth/store.h"

#include <algorithm>
#include <mutex>

#include "auth/errors.h"
#include "common/check.h"

namespace raftkv::auth {
namespace {

using Lock = std::unique_lock<std::shared_mutex>;
using SharedLock = std::shared_lock<std::shared_mutex>;

template <typename Resp>
std::string Empty() {
  return Resp().SerializeAsString();
}

bool HasRootRole(const authpb::User& u) {
  return std::binary_search(u.roles().begin(), u.roles().end(), std::string(kRootRole));
}

bool ValidPermType(int t) {
  return authpb::Permission::Type_IsValid(t);
}

}  // namespace

Store::Store(StoreOptions options)
    : options_(std::move(options)),
      tokens_(options_.token_ttl, options_.max_tokens, options_.now),
      workers_(options_.password_threads, options_.max_queued_password_jobs) {}

const std::string& Store::dummy_hash() {
  // Verified against when a login names an unknown user, so that such a login takes as long
  // as a wrong password does.
  std::call_once(dummy_once_, [this] {
    auto dummy = HashPassword(TokenTable::NewPrefix(), options_.bcrypt_cost);
    RAFTKV_CHECK(dummy.ok(), "bcrypt works (libxcrypt)");
    dummy_hash_ = *dummy;
  });
  return dummy_hash_;
}

Store::~Store() {
  workers_.Stop();
}

// --- replicated state --------------------------------------------------------------------

Result<std::string> Store::Apply(const raftkvpb::AuthRequest& req, const AuthInfo& who,
                                 uint64_t index) {
  Lock l(mu_);
  // etcd checks root before applying every auth change (authApplierV3.Apply); a login needs
  // no rights.
  if (req.op_case() != raftkvpb::AuthRequest::kAuthenticate) {
    RAFTKV_RETURN_IF_ERROR(checkAdminLocked(who));
  }
  return applyLocked(req, index);
}

Store::Response Store::applyLocked(const raftkvpb::AuthRequest& req, uint64_t index) {
  using R = raftkvpb::AuthRequest;
  switch (req.op_case()) {
    case R::kEnable: return enable();
    case R::kDisable: return disable();
    case R::kAuthenticate: return authenticate(req.authenticate(), index);
    case R::kUserAdd: return userAdd(req.user_add());
    case R::kUserDelete: return userDelete(req.user_delete().name());
    case R::kUserChangePassword: return userChangePassword(req.user_change_password());
    case R::kUserGrantRole:
      return userGrantRole(req.user_grant_role().user(), req.user_grant_role().role());
    case R::kUserRevokeRole:
      return userRevokeRole(req.user_revoke_role().name(), req.user_revoke_role().role());
    case R::kRoleAdd: return roleAdd(req.role_add().name());
    case R::kRoleDelete: return roleDelete(req.role_delete().role());
    case R::kRoleGrantPermission:
      return roleGrantPermission(req.role_grant_permission().name(),
                                 req.role_grant_permission().perm());
    case R::kRoleRevokePermission: {
      const auto& r = req.role_revoke_permission();
      return roleRevokePermission(r.role(), r.key(), r.range_end());
    }
    case R::OP_NOT_SET: break;
  }
  return Status::InvalidArgument("raftkv: unknown auth request in the log");
}

Store::Response Store::enable() {
  if (enabled_) return Empty<etcdserverpb::AuthEnableResponse>();  // etcd: ignored
  auto root = users_.find(kRootUser);
  if (root == users_.end()) return Status::FailedPrecondition(kErrRootUserNotExist);
  if (!HasRootRole(root->second)) return Status::FailedPrecondition(kErrRootRoleNotExist);
  enabled_ = true;
  return Empty<etcdserverpb::AuthEnableResponse>();
}

Store::Response Store::disable() {
  if (enabled_) {
    enabled_ = false;
    revision_++;
    tokens_.Clear();  // etcd: every token is invalidated
  }
  return Empty<etcdserverpb::AuthDisableResponse>();
}

Store::Response Store::authenticate(const raftkvpb::AuthLogin& login, uint64_t index) {
  if (!enabled_) return Status::FailedPrecondition(kErrAuthNotEnabled);
  auto u = users_.find(login.name());
  if (u == users_.end() || u->second.options().no_password()) {
    return Status::InvalidArgument(kErrAuthFailed);
  }
  // The password was checked against the state at checked_revision; any change since (the
  // password itself, or the user deleted and added again) voids that check.
  if (login.checked_revision() != revision_) return Status::Aborted(kErrStaleLogin);
  etcdserverpb::AuthenticateResponse resp;
  resp.set_token(TokenTable::Token(login.token_prefix(), index));
  tokens_.Assign(resp.token(), login.name());
  return resp.SerializeAsString();
}

Store::Response Store::userAdd(const raftkvpb::AuthUserPut& put) {
  if (put.name().empty()) return Status::InvalidArgument(kErrUserEmpty);
  if (users_.count(put.name()) > 0) return Status::FailedPrecondition(kErrUserAlreadyExist);
  authpb::User u;
  u.set_name(put.name());
  u.set_password(put.password_hash());
  *u.mutable_options() = put.options();
  users_.emplace(put.name(), std::move(u));
  changed();
  return Empty<etcdserverpb::AuthUserAddResponse>();
}

Store::Response Store::userDelete(const std::string& name) {
  if (enabled_ && name == kRootUser) return Status::InvalidArgument(kErrInvalidAuthMgmt);
  if (users_.erase(name) == 0) return Status::FailedPrecondition(kErrUserNotFound);
  changed();
  tokens_.InvalidateUser(name);
  return Empty<etcdserverpb::AuthUserDeleteResponse>();
}

Store::Response Store::userChangePassword(const raftkvpb::AuthUserPut& put) {
  auto u = users_.find(put.name());
  if (u == users_.end()) return Status::FailedPrecondition(kErrUserNotFound);
  u->second.set_password(put.password_hash());
  changed();
  tokens_.InvalidateUser(put.name());
  return Empty<etcdserverpb::AuthUserChangePasswordResponse>();
}

Store::Response Store::userGrantRole(const std::string& user, const std::string& role) {
  auto u = users_.find(user);
  if (u == users_.end()) return Status::FailedPrecondition(kErrUserNotFound);
  // etcd: the root role need not exist as a role to be granted.
  if (role != kRootRole && roles_.count(role) == 0) {
    return Status::FailedPrecondition(kErrRoleNotFound);
  }
  auto* roles = u->second.mutable_roles();
  auto pos = std::lower_bound(roles->begin(), roles->end(), role);
  if (pos != roles->end() && *pos == role) return Empty<etcdserverpb::AuthUserGrantRoleResponse>();
  roles->Add(std::string(role));
  std::sort(roles->begin(), roles->end());
  changed();
  return Empty<etcdserverpb::AuthUserGrantRoleResponse>();
}

Store::Response Store::userRevokeRole(const std::string& user, const std::string& role) {
  if (enabled_ && user == kRootUser && role == kRootRole) {
    return Status::InvalidArgument(kErrInvalidAuthMgmt);
  }
  auto u = users_.find(user);
  if (u == users_.end()) return Status::FailedPrecondition(kErrUserNotFound);
  auto* roles = u->second.mutable_roles();
  auto pos = std::find(roles->begin(), roles->end(), role);
  if (pos == roles->end()) return Status::FailedPrecondition(kErrRoleNotGranted);
  roles->erase(pos);
  changed();
  return Empty<etcdserverpb::AuthUserRevokeRoleResponse>();
}

Store::Response Store::roleAdd(const std::string& name) {
  if (name.empty()) return Status::InvalidArgument(kErrRoleEmpty);
  if (roles_.count(name) > 0) return Status::FailedPrecondition(kErrRoleAlreadyExist);
  authpb::Role r;
  r.set_name(name);
  roles_.emplace(name, std::move(r));
  changed();
  return Empty<etcdserverpb::AuthRoleAddResponse>();
}

Store::Response Store::roleDelete(const std::string& name) {
  if (enabled_ && name == kRootRole) return Status::InvalidArgument(kErrInvalidAuthMgmt);
  if (roles_.erase(name) == 0) return Status::FailedPrecondition(kErrRoleNotFound);
  for (auto& [_, u] : users_) {
    auto* roles = u.mutable_roles();
    roles->erase(std::remove(roles->begin(), roles->end(), name), roles->end());
  }
  changed();
  return Empty<etcdserverpb::AuthRoleDeleteResponse>();
}

Store::Response Store::roleGrantPermission(const std::string& role,
                                           const authpb::Permission& perm) {
  auto r = roles_.find(role);
  if (r == roles_.end()) return Status::FailedPrecondition(kErrRoleNotFound);
  if (!ValidPermType(perm.permtype())) {
    return Status::InvalidArgument("raftkv: unknown permission type");
  }
  auto* perms = r->second.mutable_keypermission();
  // One permission per (key, range_end): granting again changes its type (etcd).
  for (auto& p : *perms) {
    if (p.key() == perm.key() && p.range_end() == perm.range_end()) {
      p.set_permtype(perm.permtype());
      changed();
      return Empty<etcdserverpb::AuthRoleGrantPermissionResponse>();
    }
  }
  *perms->Add() = perm;
  std::stable_sort(
      perms->begin(), perms->end(),
      [](const authpb::Permission& a, const authpb::Permission& b) { return a.key() < b.key(); });
  changed();
  return Empty<etcdserverpb::AuthRoleGrantPermissionResponse>();
}

Store::Response Store::roleRevokePermission(const std::string& role, const std::string& key,
                                            const std::string& range_end) {
  auto r = roles_.find(role);
  if (r == roles_.end()) return Status::FailedPrecondition(kErrRoleNotFound);
  auto* perms = r->second.mutable_keypermission();
  auto pos = std::find_if(perms->begin(), perms->end(), [&](const authpb::Permission& p) {
    return p.key() == key && p.range_end() == range_end;
  });
  if (pos == perms->end()) return Status::FailedPrecondition(kErrPermissionNotGranted);
  perms->erase(pos);
  changed();
  return Empty<etcdserverpb::AuthRoleRevokePermissionResponse>();
}

void Store::changed() {
  revision_++;
  permissions_.clear();
  for (const auto& [name, u] : users_) {
    std::vector<const authpb::Role*> roles;
    for (const std::string& r : u.roles()) {
      auto it = roles_.find(r);
      if (it != roles_.end()) roles.push_back(&it->second);
    }
    permissions_.emplace(name, UserPermissions::FromRoles(roles));
  }
}

std::string Store::Encode() const {
  SharedLock l(mu_);
  raftkvpb::AuthState s;
  s.set_enabled(enabled_.load());
  s.set_revision(revision_);
  for (const auto& [_, u] : users_) *s.add_users() = u;
  for (const auto& [_, r] : roles_) *s.add_roles() = r;
  return s.SerializeAsString();
}

Status Store::Restore(std::string_view image) {
  raftkvpb::AuthState s;
  if (!s.ParseFromArray(image.data(), static_cast<int>(image.size()))) {
    return Status::Corruption("auth state in the snapshot does not decode");
  }
  for (const auto& r : s.roles()) {
    for (const auto& p : r.keypermission()) {
      if (!ValidPermType(p.permtype())) {
        return Status::Corruption("auth state in the snapshot: bad permission type");
      }
    }
  }
  Lock l(mu_);
  std::map<std::string, authpb::User> users;
  for (const auto& u : s.users()) users.emplace(u.name(), u);
  // Tokens stay valid only for users that still exist with the same password.
  for (const auto& [name, old] : users_) {
    auto now = users.find(name);
    if (now == users.end() || now->second.password() != old.password()) {
      tokens_.InvalidateUser(name);
    }
  }
  users_ = std::move(users);
  roles_.clear();
  for (const auto& r : s.roles()) roles_.emplace(r.name(), r);
  enabled_ = s.enabled();
  if (!s.enabled()) tokens_.Clear();
  changed();
  revision_ = s.revision();  // after changed(), which counts one more
  return Status::OK();
}

// --- reads -------------------------------------------------------------------------------

Result<etcdserverpb::AuthUserGetResponse> Store::UserGet(const AuthInfo& who,
                                                         const std::string& name) const {
  SharedLock l(mu_);
  // etcd: root, or the user asking about itself.
  Status admin = checkAdminLocked(who);
  if (!admin.ok() && name != who.user) return admin;
  auto u = users_.find(name);
  if (u == users_.end()) return Status::FailedPrecondition(kErrUserNotFound);
  etcdserverpb::AuthUserGetResponse resp;
  for (const auto& r : u->second.roles()) resp.add_roles(r);
  return resp;
}

Result<etcdserverpb::AuthUserListResponse> Store::UserList(const AuthInfo& who) const {
  SharedLock l(mu_);
  RAFTKV_RETURN_IF_ERROR(checkAdminLocked(who));
  etcdserverpb::AuthUserListResponse resp;
  for (const auto& [name, _] : users_) resp.add_users(name);
  return resp;
}

Result<etcdserverpb::AuthRoleGetResponse> Store::RoleGet(const AuthInfo& who,
                                                         const std::string& role) const {
  SharedLock l(mu_);
  // etcd: root, or a holder of the role.
  Status admin = checkAdminLocked(who);
  if (!admin.ok() && !hasRole(who.user, role)) return admin;
  auto r = roles_.find(role);
  if (r == roles_.end()) return Status::FailedPrecondition(kErrRoleNotFound);
  etcdserverpb::AuthRoleGetResponse resp;
  for (const auto& p : r->second.keypermission()) *resp.add_perm() = p;
  return resp;
}

Result<etcdserverpb::AuthRoleListResponse> Store::RoleList(const AuthInfo& who) const {
  SharedLock l(mu_);
  RAFTKV_RETURN_IF_ERROR(checkAdminLocked(who));
  etcdserverpb::AuthRoleListResponse resp;
  for (const auto& [name, _] : roles_) resp.add_roles(name);
  return resp;
}

bool Store::hasRole(const std::string& user, const std::string& role) const {
  auto u = users_.find(user);
  if (u == users_.end()) return false;
  return std::find(u->second.roles().begin(), u->second.roles().end(), role) !=
         u->second.roles().end();
}

// --- checks ------------------------------------------------------------------------------

bool Store::enabled() const {
  return enabled_.load();
}

uint64_t Store::revision() const {
  SharedLock l(mu_);
  return revision_;
}

// etcd's isOpPermitted: nobody may do anything without credentials, nor with credentials
// resolved before the last auth change; root may do everything; others what their roles'
// permissions cover.
Status Store::checkOpLocked(const AuthInfo& who, authpb::Permission::Type type,
                            std::string_view key, std::string_view range_end) const {
  if (!enabled_) return Status::OK();
  if (who.revision == 0) return Status::InvalidArgument(kErrUserEmpty);
  if (who.revision < revision_) return Status::InvalidArgument(kErrAuthOldRevision);
  auto u = users_.find(who.user);
  if (u == users_.end()) return Status::FailedPrecondition(kErrPermissionDenied);
  if (HasRootRole(u->second)) return Status::OK();
  auto p = permissions_.find(who.user);
  if (p != permissions_.end() && p->second.Allows(type, key, range_end)) return Status::OK();
  return Status::FailedPrecondition(kErrPermissionDenied);
}

Status Store::CheckRange(const AuthInfo& who, std::string_view key,
                         std::string_view range_end) const {
  if (!enabled_.load()) return Status::OK();
  SharedLock l(mu_);
  return checkOpLocked(who, authpb::Permission::READ, key, range_end);
}

Status Store::CheckPut(const AuthInfo& who, std::string_view key) const {
  if (!enabled_.load()) return Status::OK();
  SharedLock l(mu_);
  return checkOpLocked(who, authpb::Permission::WRITE, key, "");
}

Status Store::CheckPutRequest(const AuthInfo& who, const etcdserverpb::PutRequest& put) const {
  if (!enabled_.load()) return Status::OK();
  SharedLock l(mu_);
  RAFTKV_RETURN_IF_ERROR(checkOpLocked(who, authpb::Permission::WRITE, put.key(), ""));
  if (put.prev_kv()) return checkOpLocked(who, authpb::Permission::READ, put.key(), "");
  return Status::OK();
}

Status Store::CheckDeleteRange(const AuthInfo& who, std::string_view key,
                               std::string_view range_end, bool prev_kv) const {
  if (!enabled_.load()) return Status::OK();
  SharedLock l(mu_);
  RAFTKV_RETURN_IF_ERROR(checkOpLocked(who, authpb::Permission::WRITE, key, range_end));
  if (prev_kv) return checkOpLocked(who, authpb::Permission::READ, key, range_end);
  return Status::OK();
}

Status Store::checkRequestOpsLocked(
    const AuthInfo& who,
    const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) const {
  using Op = etcdserverpb::RequestOp;
  for (const auto& op : ops) {
    switch (op.request_case()) {
      case Op::kRequestRange:
        RAFTKV_RETURN_IF_ERROR(checkOpLocked(who, authpb::Permission::READ,
                                             op.request_range().key(),
                                             op.request_range().range_end()));
        break;
      case Op::kRequestPut:
        RAFTKV_RETURN_IF_ERROR(
            checkOpLocked(who, authpb::Permission::WRITE, op.request_put().key(), ""));
        if (op.request_put().prev_kv()) {
          RAFTKV_RETURN_IF_ERROR(
              checkOpLocked(who, authpb::Permission::READ, op.request_put().key(), ""));
        }
        break;
      case Op::kRequestDeleteRange: {
        const auto& d = op.request_delete_range();
        RAFTKV_RETURN_IF_ERROR(
            checkOpLocked(who, authpb::Permission::WRITE, d.key(), d.range_end()));
        if (d.prev_kv()) {
          RAFTKV_RETURN_IF_ERROR(
              checkOpLocked(who, authpb::Permission::READ, d.key(), d.range_end()));
        }
        break;
      }
      // etcd 3.4 skips nested txns here (fixed in 3.5): they are checked like the outer one.
      case Op::kRequestTxn: RAFTKV_RETURN_IF_ERROR(checkTxnLocked(who, op.request_txn())); break;
      case Op::REQUEST_NOT_SET: break;
    }
  }
  return Status::OK();
}

Status Store::checkTxnLocked(const AuthInfo& who, const etcdserverpb::TxnRequest& txn) const {
  for (const auto& c : txn.compare()) {
    RAFTKV_RETURN_IF_ERROR(checkOpLocked(who, authpb::Permission::READ, c.key(), c.range_end()));
  }
  RAFTKV_RETURN_IF_ERROR(checkRequestOpsLocked(who, txn.success()));
  return checkRequestOpsLocked(who, txn.failure());
}

Status Store::CheckTxn(const AuthInfo& who, const etcdserverpb::TxnRequest& txn) const {
  if (!enabled_.load()) return Status::OK();
  SharedLock l(mu_);
  return checkTxnLocked(who, txn);
}

// etcd's IsAdminPermitted (no revision check: it reads the current roles).
Status Store::checkAdminLocked(const AuthInfo& who) const {
  if (!enabled_) return Status::OK();
  if (who.user.empty()) return Status::InvalidArgument(kErrUserEmpty);
  auto u = users_.find(who.user);
  if (u == users_.end()) return Status::FailedPrecondition(kErrUserNotFound);
  if (!HasRootRole(u->second)) return Status::FailedPrecondition(kErrPermissionDenied);
  return Status::OK();
}

Status Store::CheckAdmin(const AuthInfo& who) const {
  if (!enabled_.load()) return Status::OK();
  SharedLock l(mu_);
  return checkAdminLocked(who);
}

Status Store::CheckUnchanged(const AuthInfo& who) const {
  if (who.revision == 0) return Status::OK();
  SharedLock l(mu_);
  if (who.revision != 0 && who.revision != revision_) {
    return Status::InvalidArgument(kErrAuthOldRevision);
  }
  return Status::OK();
}

// --- credentials -------------------------------------------------------------------------

Result<AuthInfo> Store::Resolve(const Credentials& c) const {
  if (c.token.has_value()) {
    std::optional<std::string> user = tokens_.Lookup(*c.token);
    if (!user.has_value()) return Status::InvalidArgument(kErrInvalidAuthToken);
    return AuthInfo{std::move(*user), revision()};
  }
  if (!c.common_name.empty()) return AuthInfo{c.common_name, revision()};
  return AuthInfo{};
}

Result<Store::PasswordEntry> Store::LookupPassword(const std::string& name) const {
  SharedLock l(mu_);
  if (!enabled_) return Status::FailedPrecondition(kErrAuthNotEnabled);
  PasswordEntry e;
  e.revision = revision_;
  auto u = users_.find(name);
  if (u != users_.end() && !u->second.options().no_password()) e.hash = u->second.password();
  return e;
}

}  // namespace raftkv::auth
