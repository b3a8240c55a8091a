// Real processes: a writer (crash_writer.cc) appends and fsyncs; it is killed with SIGKILL
// at random (seeded) moments, many times; after each kill the directory is reopened and
// every acknowledged entry must be there with its exact content, in a consistent log.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "storage/crash_payload.h"
#include "storage/disk_storage.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;

std::string WriterPath() {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "storage_crash_writer").string();
}

// Runs the writer for about `ms` milliseconds, SIGKILLs it, returns the lines it printed.
std::vector<std::string> RunAndKill(const std::string& dir, uint64_t seed, int ms) {
  int out[2];
  EXPECT_EQ(::pipe(out), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    std::string s = std::to_string(seed);
    std::string w = WriterPath();
    ::execl(w.c_str(), w.c_str(), dir.c_str(), s.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(out[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  ::kill(pid, SIGKILL);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof(buf))) > 0) text.append(buf, n);
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "writer exited by itself (status " << status << ")";
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

TEST(CrashTest, sigkillWriter_manyTimes_everyAcknowledgedEntrySurvives) {
  std::string dir =
      (fs::temp_directory_path() / ("raftkv-crash-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  std::mt19937_64 rng(20261124);
  std::map<raft::Index, raft::Term> acked;  // what the writer acknowledged, latest wins
  size_t total_acks = 0;
  for (int round = 0; round < 30; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto lines = RunAndKill(dir, rng(), 30 + static_cast<int>(rng() % 250));
    for (const std::string& l : lines) {
      unsigned long long first, last, term;
      ASSERT_EQ(std::sscanf(l.c_str(), "ack %llu %llu %llu", &first, &last, &term), 3) << l;
      acked.erase(acked.lower_bound(first), acked.end());
      for (auto i = first; i <= last; i++) acked[i] = term;
      total_acks++;
    }
    DiskStorageOptions opts;
    opts.wal.segment_bytes = 256 << 10;  // as the writer's
    auto opened = DiskStorage::Open(dir, opts);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    DiskStorage& s = **opened;
    raft::Index lo = s.FirstIndex(), hi = s.LastIndex();
    // Every acknowledged entry is there, except that the one batch in flight when the
    // writer died (durable but not yet acknowledged) may have replaced a short suffix
    // (at most 2 entries back, see crash_writer.cc) with entries of a newer term.
    raft::Index max_acked = acked.empty() ? 0 : acked.rbegin()->first;
    for (auto [i, t] : acked) {
      if (i < lo) continue;  // compacted into a snapshot
      auto got = s.TermAt(i);
      if (got.ok() && *got == t) continue;
      ASSERT_GE(i + 2, max_acked) << "acknowledged entry " << i << " lost or changed";
      for (raft::Index j = i; j <= hi; j++) {
        ASSERT_GT(s.TermAt(j).value(), t) << "entry " << j << " replaced without a newer term";
      }
      break;
    }
    auto ents = s.Entries(lo, hi + 1, raft::kNoLimit);
    ASSERT_TRUE(ents.ok());
    raft::Term prev = s.TermAt(lo - 1).value();
    for (const raft::Entry& e : *ents) {
      ASSERT_TRUE(crash_payload::Check(e.term, e.index, e.data)) << "entry " << e.index;
      ASSERT_GE(e.term, prev) << "terms go down at " << e.index;
      prev = e.term;
    }
    // The recovered log is the truth from now on (unacknowledged entries may have survived).
    acked.clear();
    for (const raft::Entry& e : *ents) acked[e.index] = e.term;
  }
  std::printf("%zu acknowledged batches over 30 kills; log now [%llu, %llu]\n", total_acks,
              static_cast<unsigned long long>(acked.empty() ? 0 : acked.begin()->first),
              static_cast<unsigned long long>(acked.empty() ? 0 : acked.rbegin()->first));
  EXPECT_GT(total_acks, 30u) << "the writer hardly ever got to acknowledge anything";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace raftkv::storage
