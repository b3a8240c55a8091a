// etcdserverpb.WatchResponse on the wire, built from the hub's responses (watch::Response).
//
// The Watch service writes raw bytes (gRPC's raw callback method) instead of a message per
// response: each shared piece of events (a revision's, watch::EventPiece) is encoded once as
// the response's repeated `events` field (11), without or with previous versions, and kept in
// the piece's memo; a watcher's response is its header, watch id and flags followed by those
// bytes. So a revision sent to N watchers is encoded once, not N times. The bytes equal what
// protobuf serializes for the message FillWatchResponse builds (fields in number order, proto3
// defaults left out); watch_wire_test checks both on every field.
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <string>
#include <vector>

#include "api/convert.h"
#include "etcdserverpb/rpc.pb.h"
#include "kv/events.h"
#include "watch/hub.h"

namespace raftkv::server::daemon {

// Every field of the response as etcd 3.4 sends it (rpc.proto: header, watch_id, created,
// canceled, compact_revision, cancel_reason, fragment, events), overwriting what `p` held for
// an earlier response in place (its events, key-values and strings are reused). A field added
// to the message must be set here and in EncodeWatchResponse.
void FillWatchResponse(const api::HeaderInfo& header, const watch::Response& r,
                       etcdserverpb::WatchResponse* p);

// The serialized bytes of FillWatchResponse's message (never fragmented: the service fragments
// through the message), with each piece's events taken from, or encoded once into, its memo;
// they replace what `out` held (grpc::ByteBuffer has no move: assigning one copies it).
void EncodeWatchResponse(const api::HeaderInfo& header, const watch::Response& r,
                         grpc::ByteBuffer* out);
// The same bytes as a string (tests).
std::string EncodeWatchResponseBytes(const api::HeaderInfo& header, const watch::Response& r);

// Appends `events` as the repeated events field (11) of a WatchResponse, each event's previous
// version included when `prev_kv` (and the event has one).
void AppendEventsField(const std::vector<kv::Event>& events, bool prev_kv, std::string* out);

}  // namespace raftkv::server::daemon
