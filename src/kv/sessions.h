// SessionTable: exactly-once semantics for client writes (Raft thesis §6.3, question C2).
//
// A client registers once (the registering log entry's index becomes its client id) and then
// numbers its requests 1, 2, 3, ... Before applying a command the state machine asks Check():
// a new sequence number is applied and its response Record()ed; a sequence number already
// applied gets the stored response back without re-executing; a sequence number whose
// response the client already acknowledged (and was discarded) is an error, as is a client
// whose session expired — the client must then register again, so a retry can never be
// applied twice.
//
// Time is the leader-assigned time carried in each log entry, never a local clock, so every
// member expires the same sessions at the same log position. The table's clock is the
// largest time seen so far (a new leader's clock may be behind the old one's).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace raftkv {
class Decoder;  // common/coding.h
}  // namespace raftkv

namespace raftkv::kv {

class SessionTable {
 public:
  // `timeout`: a session not used for longer than this (in the log's time unit) expires.
  // 0 disables expiry.
  explicit SessionTable(int64_t timeout = 0) : timeout_(timeout) {}

  // Opens a session for `client_id` (use the log index of the register entry: unique and
  // the same on every member). Registering an existing id refreshes it.
  void Register(uint64_t client_id, int64_t now);

  // What to do with request `seq` of `client_id`:
  //  - nullopt: not applied yet; apply it, then call Record();
  //  - a string: already applied; reply with this stored response;
  //  - ErrSessionExpired / ErrStaleSequence: reject.
  Result<std::optional<std::string>> Check(uint64_t client_id, uint64_t seq, int64_t now);

  // Stores the response of `seq`. `acked_through`: the client has received every response up
  // to this sequence number (it carries it in each request), so those are discarded.
  void Record(uint64_t client_id, uint64_t seq, std::string response, uint64_t acked_through,
              int64_t now);

  // Drops sessions idle for longer than the timeout at time `now`. Call once per applied
  // entry with the entry's time. Returns how many expired.
  int ExpireSessions(int64_t now);

  size_t size() const { return sessions_.size(); }
  int64_t clock() const { return clock_; }

  void EncodeTo(std::string* out) const;
  static Result<SessionTable> DecodeFrom(Decoder* in);
  bool operator==(const SessionTable&) const = default;

 private:
  struct Session {
    int64_t last_active = 0;
    uint64_t acked_through = 0;                 // responses <= this were discarded
    std::map<uint64_t, std::string> responses;  // seq -> response of applied requests
    bool operator==(const Session&) const = default;
  };

  void advanceClock(int64_t now) {
    if (now > clock_) clock_ = now;
  }

  int64_t timeout_;
  int64_t clock_ = 0;
  std::map<uint64_t, Session> sessions_;
};

}  // namespace raftkv::kv
