// How the front reaches the process's gRPC server: on a Linux abstract unix socket (no file,
// no port; the name is the process's own). gRPC serves it as "unix-abstract:<name>".
#pragma once

#include <string>

#include "common/status.h"

namespace raftkv::front {

// A name no other process uses: "<prefix>-<pid>-<random>".
std::string UniqueAbstractName(const std::string& prefix);

// A connected stream socket to "unix-abstract:<name>", or why not.
Result<int> ConnectAbstract(const std::string& name);

}  // namespace raftkv::front
