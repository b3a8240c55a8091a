// etcd 3.4's auth errors, with its exact texts (etcd's clients match on them: clientv3 asks
// for a new token on "invalid auth token" and "revision of auth store is old").
// api::ToGrpcStatus gives each etcd's gRPC code.
#pragma once

namespace raftkv::auth {

inline constexpr char kErrRootUserNotExist[] = "etcdserver: root user does not exist";
inline constexpr char kErrRootRoleNotExist[] = "etcdserver: root user does not have root role";
inline constexpr char kErrUserAlreadyExist[] = "etcdserver: user name already exists";
inline constexpr char kErrUserEmpty[] = "etcdserver: user name is empty";
inline constexpr char kErrUserNotFound[] = "etcdserver: user name not found";
inline constexpr char kErrRoleAlreadyExist[] = "etcdserver: role name already exists";
inline constexpr char kErrRoleNotFound[] = "etcdserver: role name not found";
inline constexpr char kErrRoleEmpty[] = "etcdserver: role name is empty";
inline constexpr char kErrAuthFailed[] =
    "etcdserver: authentication failed, invalid user ID or password";
inline constexpr char kErrPermissionDenied[] = "etcdserver: permission denied";
inline constexpr char kErrRoleNotGranted[] = "etcdserver: role is not granted to the user";
inline constexpr char kErrPermissionNotGranted[] =
    "etcdserver: permission is not granted to the role";
inline constexpr char kErrAuthNotEnabled[] = "etcdserver: authentication is not enabled";
inline constexpr char kErrInvalidAuthToken[] = "etcdserver: invalid auth token";
inline constexpr char kErrInvalidAuthMgmt[] = "etcdserver: invalid auth management";
inline constexpr char kErrAuthOldRevision[] = "etcdserver: revision of auth store is old";

}  // namespace raftkv::auth
