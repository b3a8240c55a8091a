// libFuzzer entry point for one target (RAFTKV_FUZZ_TARGET, set per binary by CMake):
// `make fuzz` builds these with clang, -fsanitize=fuzzer,address,undefined.
#include <cstring>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const raftkv::fuzz::Target* target = [] {
    for (const auto& t : raftkv::fuzz::Targets()) {
      if (std::strcmp(t.name, RAFTKV_FUZZ_TARGET) == 0) return &t;
    }
    return static_cast<const raftkv::fuzz::Target*>(nullptr);
  }();
  target->run(data, size);
  return 0;
}
