// The fuzz targets in `make test`: each runs the committed corpus (tests/fuzz/corpus/<target>)
// and its built-in seeds, then seeded random mutations of them for a few seconds
// (RAFTKV_FUZZ_SECONDS, default 3; RAFTKV_FUZZ_SEED picks the mutation sequence, default 1:
// a failure replays). A crash, an abort or a sanitizer report fails the test; the input that
// caused it is written to the current directory first (crash-<target>-<n>).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/fuzz/fuzz_targets.h"

namespace raftkv::fuzz {
namespace {

std::vector<std::string> Corpus(const std::string& target) {
  std::vector<std::string> inputs;
  std::filesystem::path dir = std::filesystem::path(RAFTKV_FUZZ_CORPUS) / target;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    inputs.push_back(ss.str());
  }
  return inputs;
}

// Byte-level mutations, as a fuzzer makes them: flips, new bytes, interesting values,
// insertions, deletions, duplications, splices with another input, truncation.
std::string Mutate(std::string s, const std::vector<std::string>& pool, std::mt19937_64& rnd) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rnd() % n); };
  int rounds = 1 + static_cast<int>(rnd() % 4);
  for (int r = 0; r < rounds; r++) {
    switch (rnd() % 8) {
      case 0:
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << (rnd() % 8));
        break;
      case 1:
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(rnd());
        break;
      case 2: {
        static const char kInteresting[] = {
            0, 1, 0x7f, static_cast<char>(0x80), static_cast<char>(0xff), 0x10, 0x3f};
        if (!s.empty()) s[pick(s.size())] = kInteresting[pick(sizeof(kInteresting))];
        break;
      }
      case 3: s.insert(pick(s.size() + 1), 1 + pick(8), static_cast<char>(rnd())); break;
      case 4:
        if (!s.empty()) {
          size_t at = pick(s.size());
          s.erase(at, 1 + pick(std::min<size_t>(16, s.size() - at)));
        }
        break;
      case 5:
        if (!s.empty()) {
          size_t at = pick(s.size());
          s.insert(pick(s.size() + 1), s.substr(at, 1 + pick(32)));
        }
        break;
      case 6: {
        const std::string& other = pool[pick(pool.size())];
        if (!other.empty()) s = s.substr(0, pick(s.size() + 1)) + other.substr(pick(other.size()));
        break;
      }
      case 7: s.resize(pick(s.size() + 1)); break;
    }
  }
  return s;
}

class FuzzTest : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzTest, corpusThenMutationsNeverCrash) {
  const Target& t = GetParam();
  std::vector<std::string> pool = Corpus(t.name);
  size_t committed = pool.size();
  for (auto& s : t.seeds()) pool.push_back(s);
  ASSERT_GT(committed, 0u) << "no committed corpus for " << t.name;
  const char* seconds_env = std::getenv("RAFTKV_FUZZ_SECONDS");
  const char* seed_env = std::getenv("RAFTKV_FUZZ_SEED");
  double seconds = seconds_env ? std::atof(seconds_env) : 3.0;
  std::mt19937_64 rnd(seed_env ? std::strtoull(seed_env, nullptr, 10) : 1);
  auto run = [&](const std::string& in, uint64_t n) {
    // Written before the run, removed after: a crash leaves the input behind.
    std::string keep = std::string("crash-") + t.name + "-" + std::to_string(n);
    std::ofstream(keep, std::ios::binary) << in;
    t.run(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    std::filesystem::remove(keep);
  };
  uint64_t n = 0;
  for (const auto& in : pool) run(in, n++);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string in = Mutate(pool[rnd() % pool.size()], pool, rnd);
    run(in, n++);
    // Inputs that got somewhere (longer ones, sometimes) join the pool, bounded.
    if (pool.size() < 512 && rnd() % 16 == 0) pool.push_back(std::move(in));
  }
  std::printf("%s: %llu inputs (%zu from the corpus)\n", t.name, static_cast<unsigned long long>(n),
              committed);
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzTest, ::testing::ValuesIn(Targets()),
                         [](const ::testing::TestParamInfo<Target>& i) { return i.param.name; });

}  // namespace
}  // namespace raftkv::fuzz
