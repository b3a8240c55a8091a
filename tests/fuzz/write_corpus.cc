// Writes each fuzz target's built-in seeds into DIR/<target>/seed-<n>: how the committed
// corpus (tests/fuzz/corpus) was made. `raftkv-fuzz-corpus tests/fuzz/corpus`.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/fuzz/fuzz_targets.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  for (const auto& t : raftkv::fuzz::Targets()) {
    std::filesystem::path dir = std::filesystem::path(argv[1]) / t.name;
    std::filesystem::create_directories(dir);
    int n = 0;
    for (const auto& s : t.seeds()) {
      std::ofstream(dir / ("seed-" + std::to_string(n++)), std::ios::binary) << s;
    }
    std::printf("%s: %d seeds\n", t.name, n);
  }
  return 0;
}
