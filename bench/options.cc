#include "bench/options.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <sstream>

namespace raftkv::bench {
namespace {

Status Bad(const std::string& flag, const std::string& why) {
  return Status::InvalidArgument(flag + ": " + why);
}

Result<uint64_t> ParseUint(const std::string& flag, const std::string& s, uint64_t lo,
                           uint64_t hi) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return Bad(flag, "not a non-negative integer: '" + s + "'");
  }
  if (v < lo || v > hi) {
    return Bad(flag, std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "]");
  }
  return v;
}

Result<double> ParseDouble(const std::string& flag, const std::string& s, double lo, double hi) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    return Bad(flag, "not a number: '" + s + "'");
  }
  if (v < lo || v > hi) return Bad(flag, s + " is out of range");
  return v;
}

Result<std::vector<std::string>> SplitList(const std::string& flag, const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty()) return Bad(flag, "empty item in '" + s + "'");
    out.push_back(item);
  }
  if (out.empty()) return Bad(flag, "empty list");
  return out;
}

Result<std::vector<size_t>> ParseSizeList(const std::string& flag, const std::string& s) {
  auto items = SplitList(flag, s);
  if (!items.ok()) return items.status();
  std::vector<size_t> out;
  for (const auto& item : *items) {
    auto v = ParseUint(flag, item, 1, uint64_t{1} << 30);
    if (!v.ok()) return v.status();
    out.push_back(*v);
  }
  return out;
}

std::string StripScheme(std::string e) {
  for (const char* scheme : {"http://", "https://"}) {
    if (e.rfind(scheme, 0) == 0) e = e.substr(std::string(scheme).size());
  }
  return e;
}

// Integer flag helper: assigns the parsed value to `out` or returns the error.
template <typename T>
Status SetUint(const std::string& flag, const std::string& s, uint64_t lo, uint64_t hi, T* out) {
  auto v = ParseUint(flag, s, lo, hi);
  if (!v.ok()) return v.status();
  *out = static_cast<T>(*v);
  return Status::OK();
}

Status SetDouble(const std::string& flag, const std::string& s, double lo, double hi, double* out) {
  auto v = ParseDouble(flag, s, lo, hi);
  if (!v.ok()) return v.status();
  *out = *v;
  return Status::OK();
}

using Setter = std::function<Status(const std::string&)>;

std::map<std::string, Setter> KvValueFlags(KvOptions* o) {
  return {
      {"--endpoints",
       [o](const std::string& s) {
         auto list = SplitList("--endpoints", s);
         if (!list.ok()) return list.status();
         o->endpoints.clear();
         for (auto& e : *list) o->endpoints.push_back(StripScheme(e));
         return Status::OK();
       }},
      {"--clients", [o](auto& s) { return SetUint("--clients", s, 1, 100000, &o->clients); }},
      {"--conns", [o](auto& s) { return SetUint("--conns", s, 1, 10000, &o->conns); }},
      {"--threads", [o](auto& s) { return SetUint("--threads", s, 1, 256, &o->threads); }},
      {"--total", [o](auto& s) { return SetUint("--total", s, 1, UINT64_MAX, &o->total); }},
      {"--duration",
       [o](auto& s) { return SetDouble("--duration", s, 0.001, 1e6, &o->duration_s); }},
      {"--key-size", [o](auto& s) { return SetUint("--key-size", s, 1, 1 << 20, &o->key_size); }},
      {"--key-space-size",
       [o](auto& s) {
         return SetUint("--key-space-size", s, 1, uint64_t{1} << 62, &o->key_space_size);
       }},
      {"--val-size", [o](auto& s) { return SetUint("--val-size", s, 0, 1 << 24, &o->val_size); }},
      {"--consistency",
       [o](const std::string& s) {
         if (s != "l" && s != "s") return Bad("--consistency", "must be l or s, not '" + s + "'");
         o->serializable = s == "s";
         return Status::OK();
       }},
      {"--read-ratio", [o](auto& s) { return SetDouble("--read-ratio", s, 0, 1, &o->read_ratio); }},
      {"--rate", [o](auto& s) { return SetDouble("--rate", s, 0, 1e9, &o->rate); }},
      {"--timeout", [o](auto& s) { return SetDouble("--timeout", s, 0.001, 3600, &o->timeout_s); }},
      {"--seed", [o](auto& s) { return SetUint("--seed", s, 0, UINT64_MAX, &o->seed); }},
      {"--watchers", [o](auto& s) { return SetUint("--watchers", s, 1, 1000000, &o->watchers); }},
      {"--streams", [o](auto& s) { return SetUint("--streams", s, 1, 100000, &o->streams); }},
      {"--cacert",
       [o](const std::string& s) {
         o->cacert = s;
         return Status::OK();
       }},
      {"--cert",
       [o](const std::string& s) {
         o->cert = s;
         return Status::OK();
       }},
      {"--key",
       [o](const std::string& s) {
         o->key = s;
         return Status::OK();
       }},
  };
}

std::map<std::string, Setter> WalValueFlags(storage::WalBenchOptions* o) {
  return {
      {"--dir",
       [o](const std::string& s) {
         o->dir = s;
         return Status::OK();
       }},
      {"--seconds",
       [o](auto& s) { return SetDouble("--seconds", s, 0.01, 3600, &o->seconds_per_case); }},
      {"--recovery-mib",
       [o](const std::string& s) {
         auto v = ParseUint("--recovery-mib", s, 0, 1 << 20);
         if (!v.ok()) return v.status();
         o->recovery_bytes = *v << 20;
         return Status::OK();
       }},
      {"--sizes",
       [o](const std::string& s) {
         auto v = ParseSizeList("--sizes", s);
         if (!v.ok()) return v.status();
         o->entry_sizes = *v;
         return Status::OK();
       }},
      {"--batches",
       [o](const std::string& s) {
         auto v = ParseSizeList("--batches", s);
         if (!v.ok()) return v.status();
         o->batch_sizes = *v;
         return Status::OK();
       }},
  };
}

std::map<std::string, std::function<void()>> WalSwitches(storage::WalBenchOptions* o) {
  return {
      {"--no-prealloc", [o] { o->preallocate = false; }},
      {"--recovery-only", [o] { o->entry_sizes.clear(); }},
      {"--quick",
       [o] {
         o->seconds_per_case = 0.3;
         o->batch_sizes = {1, 64, 1024};
         o->recovery_bytes = 64 << 20;
       }},
  };
}

// Cross-flag rules, checked once every flag is read.
Status Validate(Workload w, const std::vector<std::string>& seen, KvOptions* o) {
  auto given = [&](const char* f) {
    for (const auto& s : seen) {
      if (s == f) return true;
    }
    return false;
  };
  if (o->total != 0 && o->duration_s != 0) {
    return Status::InvalidArgument("--total and --duration: give one, not both");
  }
  if (o->total == 0 && o->duration_s == 0) o->total = 10000;
  if ((given("--cert") || given("--key")) && (o->cert.empty() || o->key.empty())) {
    return Bad("--cert", "--cert and --key go together");
  }
  if (!o->cert.empty() && o->cacert.empty()) return Bad("--cert", "needs --cacert (TLS)");
  if (given("--consistency") && w != Workload::kRange && w != Workload::kMixed) {
    return Bad("--consistency", "applies to range and mixed only");
  }
  if (given("--read-ratio") && w != Workload::kMixed) {
    return Bad("--read-ratio", "applies to mixed only");
  }
  for (const char* f : {"--watchers", "--streams"}) {
    if (given(f) && w != Workload::kWatch) return Bad(f, "applies to watch only");
  }
  if (w == Workload::kWatch) {
    if (o->streams > o->watchers) {
      return Bad("--streams", "more streams than watchers (" + std::to_string(o->watchers) + ")");
    }
    if (o->conns > o->streams) {
      return Bad("--conns", "more connections than streams (" + std::to_string(o->streams) + ")");
    }
    return Status::OK();
  }
  if (o->conns > o->clients) {
    return Bad("--conns", "more connections than clients (" + std::to_string(o->clients) + ")");
  }
  if (o->threads > o->clients) {
    return Bad("--threads", "more threads than clients (" + std::to_string(o->clients) + ")");
  }
  // Keys are the decimal numbers 0..key_space_size-1, zero-padded to key_size bytes.
  size_t digits = std::to_string(o->key_space_size - 1).size();
  if (digits > static_cast<size_t>(o->key_size)) {
    return Bad("--key-size", std::to_string(o->key_size) + " bytes cannot hold " +
                                 std::to_string(o->key_space_size) + " distinct keys");
  }
  return Status::OK();
}

Result<Workload> ParseWorkload(const std::string& name) {
  if (name == "put") return Workload::kPut;
  if (name == "range") return Workload::kRange;
  if (name == "txn-put") return Workload::kTxnPut;
  if (name == "mixed") return Workload::kMixed;
  if (name == "watch") return Workload::kWatch;
  if (name == "lease") return Workload::kLease;
  if (name == "wal") return Workload::kWal;
  return Status::InvalidArgument("unknown subcommand '" + name + "'");
}

}  // namespace

const char* WorkloadName(Workload w) {
  switch (w) {
    case Workload::kPut: return "put";
    case Workload::kRange: return "range";
    case Workload::kTxnPut: return "txn-put";
    case Workload::kMixed: return "mixed";
    case Workload::kWatch: return "watch";
    case Workload::kLease: return "lease";
    case Workload::kWal: return "wal";
  }
  return "?";
}

Result<Command> ParseCommand(int argc, const char* const* argv) {
  if (argc < 2) return Status::InvalidArgument("missing subcommand");
  Command cmd;
  auto workload = ParseWorkload(argv[1]);
  if (!workload.ok()) return workload.status();
  cmd.workload = *workload;
  const bool wal = cmd.workload == Workload::kWal;
  auto value_flags = wal ? WalValueFlags(&cmd.wal) : KvValueFlags(&cmd.kv);
  auto switches = wal ? WalSwitches(&cmd.wal)
                      : std::map<std::string, std::function<void()>>{
                            {"--target-leader", [&cmd] { cmd.kv.target_leader = true; }},
                            {"--json", [&cmd] { cmd.kv.json = true; }},
                            {"--quiet", [&cmd] { cmd.kv.quiet = true; }},
                        };
  std::vector<std::string> seen;
  for (int i = 2; i < argc; i++) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    seen.push_back(arg);
    if (auto sw = switches.find(arg); sw != switches.end()) {
      if (has_value) return Bad(arg, "takes no value");
      sw->second();
      continue;
    }
    auto setter = value_flags.find(arg);
    if (setter == value_flags.end()) {
      return Status::InvalidArgument(std::string("unknown flag '") + arg + "' for " + argv[1]);
    }
    if (!has_value) {
      if (i + 1 >= argc) return Bad(arg, "missing value");
      value = argv[++i];
    }
    RAFTKV_RETURN_IF_ERROR(setter->second(value));
  }
  if (!wal) RAFTKV_RETURN_IF_ERROR(Validate(cmd.workload, seen, &cmd.kv));
  return cmd;
}

std::string Usage() {
  return R"(usage: raftkv-bench <put|range|txn-put|mixed|watch|lease> [flags]
       raftkv-bench wal [--dir PATH] [--seconds S] [--recovery-mib N] [--sizes N,..]
                        [--batches N,..] [--no-prealloc] [--recovery-only] [--quick]
KV workloads (etcd v3 gRPC API; flags as in etcd's benchmark tool):
  --endpoints h:p,..   servers (default 127.0.0.1:2379); clients spread over them
  --target-leader      send only to the leader (found with Maintenance.Status)
  --clients N          requests in flight, each a closed loop (default 1)
  --conns N            gRPC connections shared by the clients (default 1)
  --threads N          client threads (default 1)
  --total N | --duration S   stop after N requests (default 10000) or S seconds
  --key-size N --key-space-size N --val-size N   (defaults 8, 100000, 8)
  --consistency l|s    range/mixed reads: linearizable (default) or serializable
  --read-ratio F       mixed: share of reads (default 0.9)
  lease: each client keeps its own lease (granted first, TTL 60 s) alive over its own
         LeaseKeepAlive stream; a request is one keep-alive (keep-alives/s)
  --rate R             at most R requests/s over all clients (default unlimited)
  --timeout S          deadline per request (default 10)
  --seed N --json --quiet
  --cacert F [--cert F --key F]   TLS: trust CA file F (and offer a client certificate)
watch (etcd benchmark's watch-latency): --watchers N (1000) on one key of --key-size bytes,
  over --streams N (10) Watch streams and --conns connections spread on the endpoints; one
  writer puts --rate times a second (to the leader with --target-leader) for --duration S or
  --total N puts; reports events delivered per second and put-to-event latency
)";
}

}  // namespace raftkv::bench
