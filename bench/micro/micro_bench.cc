// raftkv-microbench: Google Benchmark micro-benchmarks of the pieces every put passes
// through, so a change to one shows up as a number (bench/README.md). CPU only: the WAL
// benchmark writes real files in a temporary directory without syncing (the page cache takes
// the writes), so it measures encoding and the write calls, not the disk (raftkv-bench-wal
// measures the disk).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "api/convert.h"
#include "common/check.h"
#include "kv/store.h"
#include "raft/types.h"
#include "raftkvpb/internal.pb.h"
#include "raftkvpb/raft.pb.h"
#include "storage/file_system.h"
#include "storage/wal.h"
#include "transport/codec.h"

namespace raftkv {
namespace {

// A put as raftkvd logs it: the InternalRequest carrying the client's PutRequest.
std::string LoggedPut(uint64_t id, const std::string& key, size_t value_bytes) {
  raftkvpb::InternalRequest r;
  r.set_id(id);
  r.set_origin(0x1234);
  r.set_time_ms(1'700'000'000'000);
  r.mutable_put()->set_key(key);
  r.mutable_put()->set_value(std::string(value_bytes, 'v'));
  return r.SerializeAsString();
}

std::string Key(uint64_t i) {
  std::string k = std::to_string(i % 100000);
  return std::string(8 - std::min<size_t>(8, k.size()), '0') + k;
}

std::vector<raft::Entry> Entries(raft::Index first, size_t n, size_t value_bytes) {
  std::vector<raft::Entry> es;
  for (size_t i = 0; i < n; i++) {
    es.push_back(raft::Entry{7, first + i, raft::EntryType::kNormal,
                             LoggedPut(first + i, Key(first + i), value_bytes)});
  }
  return es;
}

// A scratch directory under $TMPDIR (or /tmp), removed with its files at the end.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/raftkv-microbench.XXXXXX";
    RAFTKV_CHECK(mkdtemp(tmpl.data()) != nullptr, "create a scratch directory");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One Ready's WAL write (entries + hard state), unsynced: the encoding (record headers,
// CRC32C, the gather buffer) and the pwritev into the page cache. Args: entries per batch,
// value bytes.
void BM_WalWriteBatch(benchmark::State& state) {
  const size_t n = state.range(0), value = state.range(1);
  ScratchDir dir;
  storage::WalOptions opts;
  opts.segment_bytes = 4 << 20;
  opts.preallocate = false;
  opts.drop_cache = false;
  storage::WalState recovered;
  auto wal = storage::Wal::Open(storage::PosixFileSystem(), dir.path(), opts, &recovered);
  RAFTKV_CHECK(wal.ok(), "open the WAL");
  auto batch = Entries(1, n, value);
  raft::HardState hs{7, 0x1234, 0};
  raft::Index next = 1;
  uint64_t bytes = 0;
  for (auto _ : state) {
    for (auto& e : batch) e.index = next++;
    hs.commit = next - 1;
    Status s = (*wal)->Write(&hs, batch, nullptr, /*sync=*/false);
    RAFTKV_CHECK(s.ok(), "in-memory WAL write");
    for (const auto& e : batch) bytes += e.data.size();
    if ((*wal)->segment_count() > 2) {
      state.PauseTiming();
      RAFTKV_CHECK((*wal)->RemoveSegmentsThrough(next - 1).ok(), "drop old segments");
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_WalWriteBatch)->Args({1, 256})->Args({64, 256})->Args({1024, 256})->Args({64, 4096});

// An AppendEntries message of `n` puts through the peer wire form and back: what the leader
// does per follower and the follower per message.
void BM_AppendEncodeDecode(benchmark::State& state) {
  const size_t n = state.range(0), value = state.range(1);
  raft::Message m;
  m.type = raft::MessageType::kAppend;
  m.from = 1;
  m.to = 2;
  m.term = 7;
  m.log_term = 7;
  m.index = 100;
  m.commit = 100;
  m.entries = Entries(101, n, value);
  std::string wire;
  for (auto _ : state) {
    raftkvpb::Message pb;
    transport::EncodeMessage(m, &pb);
    pb.SerializeToString(&wire);
    raftkvpb::Message back;
    RAFTKV_CHECK(back.ParseFromString(wire), "parse our own encoding");
    auto decoded = transport::DecodeMessage(back);
    RAFTKV_CHECK(decoded.ok(), "decode our own encoding");
    benchmark::DoNotOptimize(decoded->entries.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_AppendEncodeDecode)->Args({1, 256})->Args({64, 256})->Args({64, 4096});

// Applying one logged put as the apply thread does: decode the entry, convert, write the
// store, build and serialize the response.
void BM_ApplyPut(benchmark::State& state) {
  const size_t value = state.range(0);
  kv::Store store;
  std::vector<std::string> logged;
  for (uint64_t i = 0; i < 4096; i++) logged.push_back(LoggedPut(i, Key(i * 7919), value));
  size_t i = 0;
  for (auto _ : state) {
    raftkvpb::InternalRequest req;
    RAFTKV_CHECK(req.ParseFromString(logged[i++ % logged.size()]), "parse a logged put");
    auto r = store.Put(api::FromProto(req.put()));
    RAFTKV_CHECK(r.ok(), "put");
    etcdserverpb::PutResponse resp;
    api::ToProto(*r, &resp);
    std::string out = resp.SerializeAsString();
    benchmark::DoNotOptimize(out.data());
    if (store.revision() % 100000 == 0) {
      state.PauseTiming();
      RAFTKV_CHECK(store.Compact(kv::CompactionRequest{store.revision()}).ok(), "compact");
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApplyPut)->Arg(256)->Arg(4096);

// The answer's way back to the gRPC call: the applied result (serialized PutResponse) is
// parsed into the call's message and its header filled (EtcdServer::Impl::Typed).
void BM_PutResponseToCall(benchmark::State& state) {
  etcdserverpb::PutResponse applied;
  applied.mutable_header()->set_revision(123456);
  const std::string result = applied.SerializeAsString();
  for (auto _ : state) {
    etcdserverpb::PutResponse resp;
    RAFTKV_CHECK(resp.ParseFromString(result), "parse the applied result");
    api::FillHeader(api::HeaderInfo{1, 2, 7}, resp.mutable_header());
    benchmark::DoNotOptimize(resp.header().revision());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PutResponseToCall);

// A Range response of `kvs` 256-byte values the two ways an answer can leave: for gRPC, parsed,
// header filled and serialized again (what gRPC's Finish then does); for the client front,
// the header filled on the bytes (api::FillHeaderBytes, EtcdServer::Impl::Bytes).
etcdserverpb::RangeResponse AppliedRange(int kvs) {
  etcdserverpb::RangeResponse r;
  r.mutable_header()->set_revision(123456);
  for (int i = 0; i < kvs; i++) {
    auto* kv = r.add_kvs();
    kv->set_key("key" + std::to_string(i));
    kv->set_value(std::string(256, 'v'));
    kv->set_mod_revision(100 + i);
  }
  r.set_count(kvs);
  return r;
}

void BM_RangeResponseParsedAndSerialized(benchmark::State& state) {
  const std::string result = AppliedRange(static_cast<int>(state.range(0))).SerializeAsString();
  for (auto _ : state) {
    etcdserverpb::RangeResponse resp;
    RAFTKV_CHECK(resp.ParseFromString(result), "parse the applied result");
    api::FillHeader(api::HeaderInfo{1, 2, 7}, resp.mutable_header());
    benchmark::DoNotOptimize(resp.SerializeAsString());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RangeResponseParsedAndSerialized)->Arg(0)->Arg(1)->Arg(100);

void BM_RangeResponseHeaderOnBytes(benchmark::State& state) {
  const std::string result = AppliedRange(static_cast<int>(state.range(0))).SerializeAsString();
  for (auto _ : state) {
    std::string bytes = result;
    RAFTKV_CHECK(api::FillHeaderBytes(api::HeaderInfo{1, 2, 7}, &bytes).ok(), "fill");
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RangeResponseHeaderOnBytes)->Arg(0)->Arg(1)->Arg(100);

}  // namespace
}  // namespace raftkv

BENCHMARK_MAIN();
