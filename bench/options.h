// Command line of raftkv-bench: one subcommand (put, range, txn-put, mixed, watch, lease, wal) and
// its flags, parsed into plain structs. Parsing never exits or prints: bad input comes back as an
// InvalidArgument Status naming the flag, and main prints it with the usage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/wal_bench.h"

namespace raftkv::bench {

// kLease: every client holds one lease (granted before the run) and keeps it alive over its
// own LeaseKeepAlive stream, one keep-alive in flight at a time: keep-alives per second.
enum class Workload { kPut, kRange, kTxnPut, kMixed, kWatch, kLease, kWal };

const char* WorkloadName(Workload w);

// Flags of the KV workloads. Names and meanings follow etcd's `benchmark` tool where it has
// the same flag: a client is one request in flight at a time (a closed loop), clients share
// `conns` gRPC connections round-robin.
struct KvOptions {
  std::vector<std::string> endpoints = {"127.0.0.1:2379"};  // host:port (http:// stripped)
  int clients = 1;
  int conns = 1;
  int threads = 1;        // client threads, each with its own completion queue
  uint64_t total = 0;     // requests to complete; 0 = run for `duration_s`
  double duration_s = 0;  // seconds; 0 = run until `total` requests
  int key_size = 8;       // bytes; keys are zero-padded decimal numbers
  uint64_t key_space_size = 100000;
  int val_size = 8;            // bytes
  bool serializable = false;   // --consistency s (range, mixed)
  double read_ratio = 0.9;     // --read-ratio (mixed): share of requests that are ranges
  bool target_leader = false;  // ask every endpoint for Maintenance.Status, use the leader only
  double rate = 0;             // requests/s over all clients; 0 = unlimited
  double timeout_s = 10;       // deadline of each request
  bool json = false;
  bool quiet = false;  // no progress output
  uint64_t seed = 1;
  // watch: watchers on one key, spread over `streams` Watch streams; the writer puts `rate`
  // times a second (0: back to back).
  int watchers = 1000;
  int streams = 10;
  // TLS (etcd benchmark's --cacert/--cert/--key): with a CA, every connection is TLS, the
  // server's certificate checked against it, and cert/key offered as client certificate.
  std::string cacert, cert, key;
};

struct Command {
  Workload workload = Workload::kPut;
  KvOptions kv;
  storage::WalBenchOptions wal;
};

// Parses argv[1..argc) (argv[0] is the program). Defaults: --total 10000 when neither
// --total nor --duration is given.
Result<Command> ParseCommand(int argc, const char* const* argv);

std::string Usage();

}  // namespace raftkv::bench
