// raftkvd: one member of a raftkv cluster, started with etcd's flags (see
// src/server/daemon/README.md). Everything but this line lives in src/server/daemon.
#include "server/daemon/daemon.h"

int main(int argc, char** argv) {
  return raftkv::server::daemon::RunDaemon(argc, argv);
}
