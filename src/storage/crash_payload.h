// The content crash_writer gives entry (term, index), so crash_test can check every
// recovered entry byte for byte without being told what was written.
#pragma once

#include <string>

#include "raft/types.h"

namespace raftkv::storage::crash_payload {

inline std::string Make(raft::Term term, raft::Index index, size_t pad) {
  std::string s =
      std::to_string(term) + "/" + std::to_string(index) + "/" + std::to_string(pad) + "/";
  for (size_t i = 0; i < pad; i++) s.push_back(static_cast<char>('a' + (index + i) % 26));
  return s;
}

// Whether `data` is what Make(term, index, pad) gives for some pad.
inline bool Check(raft::Term term, raft::Index index, const std::string& data) {
  std::string prefix = std::to_string(term) + "/" + std::to_string(index) + "/";
  if (data.compare(0, prefix.size(), prefix) != 0) return false;
  size_t slash = data.find('/', prefix.size());
  if (slash == std::string::npos) return false;
  size_t pad =
      std::strtoull(data.substr(prefix.size(), slash - prefix.size()).c_str(), nullptr, 10);
  return data == Make(term, index, pad);
}

}  // namespace raftkv::storage::crash_payload
