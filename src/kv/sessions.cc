#include "kv/sessions.h"

#include "kv/codec.h"
#include "kv/errors.h"

namespace raftkv::kv {

void SessionTable::Register(uint64_t client_id, int64_t now) {
  advanceClock(now);
  sessions_[client_id].last_active = clock_;
}

Result<std::optional<std::string>> SessionTable::Check(uint64_t client_id, uint64_t seq,
                                                       int64_t now) {
  advanceClock(now);
  auto it = sessions_.find(client_id);
  if (it == sessions_.end()) return ErrSessionExpired();
  Session& s = it->second;
  s.last_active = clock_;
  auto r = s.responses.find(seq);
  if (r != s.responses.end()) return std::optional<std::string>(r->second);
  // The response was discarded on the client's acknowledgement: it cannot be a new request,
  // and re-executing it would break exactly-once.
  if (seq <= s.acked_through) return ErrStaleSequence();
  return std::optional<std::string>();
}

void SessionTable::Record(uint64_t client_id, uint64_t seq, std::string response,
                          uint64_t acked_through, int64_t now) {
  advanceClock(now);
  auto it = sessions_.find(client_id);
  if (it == sessions_.end()) return;  // expired meanwhile: Check() already said so
  Session& s = it->second;
  s.last_active = clock_;
  if (acked_through > s.acked_through) {
    s.acked_through = acked_through;
    s.responses.erase(s.responses.begin(), s.responses.upper_bound(acked_through));
  }
  if (seq > s.acked_through) s.responses[seq] = std::move(response);
}

int SessionTable::ExpireSessions(int64_t now) {
  advanceClock(now);
  if (timeout_ <= 0) return 0;
  int n = 0;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (clock_ - it->second.last_active > timeout_) {
      it = sessions_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

void SessionTable::EncodeTo(std::string* out) const {
  PutI64(out, timeout_);
  PutI64(out, clock_);
  PutU64(out, sessions_.size());
  for (const auto& [id, s] : sessions_) {
    PutU64(out, id);
    PutI64(out, s.last_active);
    PutU64(out, s.acked_through);
    PutU64(out, s.responses.size());
    for (const auto& [seq, resp] : s.responses) {
      PutU64(out, seq);
      PutBytes(out, resp);
    }
  }
}

Result<SessionTable> SessionTable::DecodeFrom(Decoder* in) {
  SessionTable t;
  uint64_t n;
  if (!in->GetI64(&t.timeout_) || !in->GetI64(&t.clock_) || !in->GetU64(&n)) {
    return ErrBadSnapshot("truncated session table");
  }
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id, nresp;
    Session s;
    if (!in->GetU64(&id) || !in->GetI64(&s.last_active) || !in->GetU64(&s.acked_through) ||
        !in->GetU64(&nresp)) {
      return ErrBadSnapshot("truncated session");
    }
    for (uint64_t j = 0; j < nresp; ++j) {
      uint64_t seq;
      std::string resp;
      if (!in->GetU64(&seq) || !in->GetBytes(&resp)) return ErrBadSnapshot("truncated response");
      s.responses.emplace(seq, std::move(resp));
    }
    t.sessions_.emplace(id, std::move(s));
  }
  return t;
}

}  // namespace raftkv::kv
