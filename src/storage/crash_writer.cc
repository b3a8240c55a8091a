// storage_crash_writer <dir> <seed>: a test-only process for crash_test.cc. It opens the
// data directory, then appends batches forever (sometimes replacing a short suffix with a
// newer term, sometimes snapshotting and compacting), and after each Save returns prints
//   ack <first> <last> <term>
// with one write(2), so a line the parent reads was acknowledged as durable. The parent
// kills it with SIGKILL at a random moment.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "storage/crash_payload.h"
#include "storage/disk_storage.h"

using namespace raftkv;           // NOLINT
using namespace raftkv::storage;  // NOLINT

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <dir> <seed>\n", argv[0]);
    return 2;
  }
  DiskStorageOptions opts;
  opts.wal.segment_bytes = 256 << 10;
  auto opened = DiskStorage::Open(argv[1], opts);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  DiskStorage& s = **opened;
  std::mt19937_64 rng(std::strtoull(argv[2], nullptr, 10));
  raft::Term term = std::max<raft::Term>(s.hard_state().term, 1);
  for (;;) {
    raft::Index last = s.LastIndex();
    raft::Index floor = std::max(s.FirstIndex() - 1, s.GetSnapshot()->meta.index);
    raft::Index first = last + 1;
    if (last > floor + 3 && rng() % 10 == 0) {  // a follower's conflicting suffix
      first = last - rng() % 3;
      term++;
    }
    std::vector<raft::Entry> ents;
    size_t n = 1 + rng() % 20;
    for (raft::Index i = first; i < first + n; i++) {
      ents.push_back(raft::Entry{term, i, raft::EntryType::kNormal,
                                 crash_payload::Make(term, i, rng() % 3000)});
    }
    raft::HardState hs{term, 1, first - 1};
    Status st = s.Save(&hs, ents, nullptr);
    if (!st.ok()) {
      std::fprintf(stderr, "save: %s\n", st.ToString().c_str());
      return 1;
    }
    char line[96];
    int len = std::snprintf(
        line, sizeof(line), "ack %llu %llu %llu\n", static_cast<unsigned long long>(first),
        static_cast<unsigned long long>(ents.back().index), static_cast<unsigned long long>(term));
    if (::write(1, line, len) != len) return 1;
    if (rng() % 25 == 0 && s.LastIndex() > floor + 10) {
      raft::Index at = s.LastIndex() - 5;
      raft::Snapshot snap;
      snap.meta.index = at;
      snap.meta.term = s.TermAt(at).value();
      snap.data = "snapshot";
      st = s.SaveSnapshot(snap);
      if (st.ok()) st = s.Compact(at);
      if (!st.ok()) {
        std::fprintf(stderr, "snapshot: %s\n", st.ToString().c_str());
        return 1;
      }
    }
  }
}
