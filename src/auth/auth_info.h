// Who makes a call, as the auth layer sees it. Small on purpose: the server's facade and the
// gRPC services pass it around without knowing the auth store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace raftkv::auth {

// A caller resolved from its credentials (etcd's AuthInfo): the user name and the auth
// revision at which the credentials were checked. revision 0 means no credentials were given
// (etcd: "user name is empty" once auth is enabled). A request checked later against a newer
// auth revision is refused ("revision of auth store is old"): a token issued or checked before
// a user, role or permission change carries no rights from before it.
struct AuthInfo {
  std::string user;
  uint64_t revision = 0;
};

// What a client presented: a simple token (gRPC metadata "token", as etcd's clients send it)
// and/or, under --client-cert-auth, the CommonName of its verified TLS certificate.
struct Credentials {
  std::optional<std::string> token;
  std::string common_name;
};

}  // namespace raftkv::auth
