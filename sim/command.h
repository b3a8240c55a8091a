// Client commands as carried in log entries, and the key-value state machine that applies
// them with client sessions (exactly-once, C2).
//
// Entry payload format (all integers little-endian fixed width):
//   u8 kind | u64 client | u64 seq | u32 len + key | u32 len + value | u32 len + expected
// An empty payload is a new leader's no-op (§8) and is not a command.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "raft/types.h"
#include "sim/check/history.h"

namespace raftkv::sim {

struct Command {
  check::OpKind kind = check::OpKind::kPut;  // kPut or kCas (reads do not go through the log)
  uint64_t client = 0;
  uint64_t seq = 0;  // per-client sequence number; a retry reuses it
  std::string key;
  std::string value;     // put/cas: the new value
  std::string expected;  // cas: the value expected now

  bool operator==(const Command&) const = default;
};

std::string EncodeCommand(const Command& cmd);
Result<Command> DecodeCommand(const std::string& data);

// What applying a command produced (stored per session to answer retries).
struct ApplyResult {
  bool cas_succeeded = false;
  bool duplicate = false;  // answered from the session table, not applied again
  bool stale = false;      // an older seq than the session's last: ignored, no answer
};

class KvStateMachine {
 public:
  // Applies one command. A command whose (client, seq) the session table has seen already
  // is not applied again: the stored result is returned (C2).
  ApplyResult Apply(const Command& cmd);
  std::optional<std::string> Get(const std::string& key) const;
  const std::map<std::string, std::string>& data() const { return data_; }
  void Clear();
  // The whole state (data and session table) as one snapshot image, and back. Restore
  // replaces the state; a malformed image is kCorruption and leaves the state cleared.
  std::string Serialize() const;
  Status Restore(const std::string& image);

 private:
  struct Session {
    uint64_t last_seq = 0;
    bool last_cas_succeeded = false;
  };
  std::map<std::string, std::string> data_;
  std::unordered_map<uint64_t, Session> sessions_;
};

}  // namespace raftkv::sim
