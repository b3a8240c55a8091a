// WatchResponse bytes by hand (watch_wire.h): protobuf's wire format (varints, and
// length-prefixed bytes and messages), fields in number order, proto3 defaults (0, false,
// empty) left out, present sub-messages written even when empty, as protobuf serializes them.
#include "server/daemon/watch_wire.h"

#include <cstring>
#include <string_view>

namespace raftkv::server::daemon {

using etcdserverpb::WatchResponse;

namespace {

enum WireType : uint32_t { kVarint = 0, kLengthDelimited = 2 };

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutTag(uint32_t field, WireType type, std::string* out) {
  PutVarint((field << 3) | type, out);
}

// int64, uint64, bool and enum fields alike: a varint (a negative int64 as its two's
// complement, ten bytes), absent when zero.
void PutInt(uint32_t field, uint64_t v, std::string* out) {
  if (v == 0) return;
  PutTag(field, kVarint, out);
  PutVarint(v, out);
}

void PutBytes(uint32_t field, std::string_view b, std::string* out) {
  if (b.empty()) return;
  PutTag(field, kLengthDelimited, out);
  PutVarint(b.size(), out);
  out->append(b);
}

// A present sub-message: written even when its body is empty.
void PutMessage(uint32_t field, std::string_view body, std::string* out) {
  PutTag(field, kLengthDelimited, out);
  PutVarint(body.size(), out);
  out->append(body);
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// PutInt's length for a field number below 16 (a one-byte tag).
size_t IntSize(uint64_t v) {
  return v == 0 ? 0 : 1 + VarintSize(v);
}

uint64_t U(int64_t v) {
  return static_cast<uint64_t>(v);
}

// mvccpb.KeyValue of a record: a delete event's kv carries the key and its revision only, as
// etcd's (and FillKeyValue below).
void AppendKeyValue(const kv::Record& r, std::string* out) {
  PutBytes(1, r.key, out);
  if (r.tombstone) {
    PutInt(3, U(r.rev.main), out);
    return;
  }
  PutInt(2, U(r.create_revision), out);
  PutInt(3, U(r.rev.main), out);
  PutInt(4, U(r.version), out);
  PutBytes(5, r.value, out);
  PutInt(6, U(r.lease), out);
}

// The response's fields before its events (1-7).
void AppendHead(const api::HeaderInfo& h, const watch::Response& r, std::string* out) {
  // The header (always present), its length computed first rather than built aside.
  PutTag(1, kLengthDelimited, out);
  PutVarint(
      IntSize(h.cluster_id) + IntSize(h.member_id) + IntSize(U(r.revision)) + IntSize(h.raft_term),
      out);
  PutInt(1, h.cluster_id, out);
  PutInt(2, h.member_id, out);
  PutInt(3, U(r.revision), out);
  PutInt(4, h.raft_term, out);
  PutInt(2, U(r.watch_id), out);
  PutInt(3, r.created ? 1 : 0, out);
  PutInt(4, r.canceled ? 1 : 0, out);
  PutInt(5, U(r.compact_revision), out);
  PutBytes(6, r.cancel_reason, out);
  // fragment (7) is false: fragments are cut from the message (watch_service.cc).
}

// A piece's events field, encoded by the first sender that needs it and kept in its memo.
const std::string& PieceBytes(const watch::EventPiece& piece, bool prev_kv) {
  return piece.wire[prev_kv ? 1 : 0].Get(
      [&](std::string* out) { AppendEventsField(piece.events, prev_kv, out); });
}

void FillKeyValue(const kv::Record& r, mvccpb::KeyValue* kv) {
  kv->set_key(r.key);
  kv->set_mod_revision(r.rev.main);
  if (r.tombstone) {  // a delete event's kv: the key and its revision, as etcd's
    kv->set_create_revision(0);
    kv->set_version(0);
    kv->clear_value();
    kv->set_lease(0);
    return;
  }
  kv->set_create_revision(r.create_revision);
  kv->set_version(r.version);
  kv->set_value(r.value);
  kv->set_lease(r.lease);
}

}  // namespace

void AppendEventsField(const std::vector<kv::Event>& events, bool prev_kv, std::string* out) {
  std::string event, kv;
  for (const kv::Event& e : events) {
    event.clear();
    PutInt(1, e.type == kv::Event::Type::kPut ? mvccpb::Event::PUT : mvccpb::Event::DELETE, &event);
    kv.clear();
    AppendKeyValue(*e.kv, &kv);
    PutMessage(2, kv, &event);
    if (prev_kv && e.prev) {
      kv.clear();
      AppendKeyValue(*e.prev, &kv);
      PutMessage(3, kv, &event);
    }
    PutMessage(11, event, out);
  }
}

std::string EncodeWatchResponseBytes(const api::HeaderInfo& header, const watch::Response& r) {
  std::string out;
  AppendHead(header, r, &out);
  for (size_t i = 0; i < r.events.part_count(); ++i)
    out += PieceBytes(*r.events.part(i), r.prev_kv);
  return out;
}

void EncodeWatchResponse(const api::HeaderInfo& header, const watch::Response& r,
                         grpc::ByteBuffer* out) {
  thread_local std::string head;  // kept for its capacity
  head.clear();
  AppendHead(header, r, &head);
  size_t total = head.size();
  for (size_t i = 0; i < r.events.part_count(); ++i) {
    total += PieceBytes(*r.events.part(i), r.prev_kv).size();
  }
  // One flat slice: the events' bytes are copied once more here, which costs less than
  // pointing a slice at each piece (a reference count object allocated per slice).
  grpc::Slice slice(total);
  char* p = reinterpret_cast<char*>(const_cast<uint8_t*>(slice.begin()));
  std::memcpy(p, head.data(), head.size());
  p += head.size();
  for (size_t i = 0; i < r.events.part_count(); ++i) {
    const std::string& b = PieceBytes(*r.events.part(i), r.prev_kv);
    std::memcpy(p, b.data(), b.size());
    p += b.size();
  }
  grpc::ByteBuffer bytes(&slice, 1);
  out->Swap(&bytes);
}

void FillWatchResponse(const api::HeaderInfo& header, const watch::Response& r, WatchResponse* p) {
  api::FillHeader(header, p->mutable_header());
  p->mutable_header()->set_revision(r.revision);
  p->set_watch_id(r.watch_id);
  p->set_created(r.created);
  p->set_canceled(r.canceled);
  p->set_compact_revision(r.compact_revision);
  p->set_cancel_reason(r.cancel_reason);
  p->set_fragment(false);
  auto* events = p->mutable_events();
  const int n = static_cast<int>(r.events.size());
  while (events->size() > n) events->RemoveLast();  // kept, cleared, for a later Add()
  int i = 0;
  for (const kv::Event& e : r.events) {
    mvccpb::Event* pe = i < events->size() ? events->Mutable(i) : events->Add();
    ++i;
    pe->set_type(e.type == kv::Event::Type::kPut ? mvccpb::Event::PUT : mvccpb::Event::DELETE);
    FillKeyValue(*e.kv, pe->mutable_kv());
    if (r.prev_kv && e.prev) {
      FillKeyValue(*e.prev, pe->mutable_prev_kv());
    } else {
      pe->clear_prev_kv();
    }
  }
}

}  // namespace raftkv::server::daemon
