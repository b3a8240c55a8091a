#include "sim/replay/replay_html.h"

#include <cinttypes>
#include <cstdio>
#include <fstream>

#include "sim/replay/encoding.h"

namespace raftkv::sim {

using replay::Base64;
using replay::HtmlText;
using replay::JsonString;
using replay::PutVarint;

namespace {

// Change records: varint(dt) varint(kind) then per kind (recorder.h):
//   node: slot mask values-of-set-bits | log: slot keep count terms... | note: node text
//   link: from-slot to-slot up | violation: text
std::string EncodeRecords(const ReplayData& d) {
  std::string out;
  int64_t prev = 0;
  for (const ReplayData::Record& r : d.records) {
    PutVarint(&out, static_cast<uint64_t>(r.at - prev));
    prev = r.at;
    PutVarint(&out, r.kind);
    switch (r.kind) {
      case ReplayData::Record::kNode:
        PutVarint(&out, r.a);
        PutVarint(&out, r.mask);
        for (uint64_t v : r.values) PutVarint(&out, v);
        break;
      case ReplayData::Record::kLog:
        PutVarint(&out, r.a);
        PutVarint(&out, r.b);
        PutVarint(&out, r.values.size());
        for (uint64_t v : r.values) PutVarint(&out, v);
        break;
      case ReplayData::Record::kNote:
        PutVarint(&out, r.a);
        PutVarint(&out, r.b);
        break;
      case ReplayData::Record::kLink:
        PutVarint(&out, r.a);
        PutVarint(&out, r.b);
        PutVarint(&out, r.c);
        break;
      case ReplayData::Record::kViolation: PutVarint(&out, r.b); break;
    }
  }
  return out;
}

// Messages in send order: varint(dt) from to type term index log_term commit entries flags
// varint(arrive - sent); flags = fate | reject<<3 | duplicate<<4 | delayed<<5.
std::string EncodeMessages(const ReplayData& d) {
  std::string out;
  int64_t prev = 0;
  for (const ReplayData::Msg& m : d.msgs) {
    PutVarint(&out, static_cast<uint64_t>(m.sent - prev));
    prev = m.sent;
    for (uint64_t v : {m.from, m.to, uint64_t{m.type}, m.term, m.index, m.log_term, m.commit,
                       uint64_t{m.entries}}) {
      PutVarint(&out, v);
    }
    PutVarint(&out, uint64_t{m.fate} | uint64_t{m.reject} << 3 | uint64_t{m.duplicate} << 4 |
                        uint64_t{m.delayed} << 5);
    PutVarint(&out, static_cast<uint64_t>(m.arrive - m.sent));
  }
  return out;
}

std::string Num(int64_t v) {
  return std::to_string(v);
}

// The client history: [client, kind, key, value, expected, call, return (-1: never),
// outcome, read (-1: absent, -2: none), cas succeeded] with strings as ids.
std::string EncodeOps(const ReplayData& d) {
  auto id = [&](const std::string& s) { return Num(d.string_ids.at(s)); };
  std::string out = "[";
  bool first = true;
  for (const check::Operation& op : d.history.ops) {
    if (!first) out += ",";
    first = false;
    std::string read = "-2";
    if (op.kind == check::OpKind::kGet && op.outcome == check::Outcome::kOk) {
      read = op.read_value ? id(*op.read_value) : "-1";
    }
    out += "[" + Num(op.client) + "," + Num(static_cast<int>(op.kind)) + "," + id(op.key) + "," +
           id(op.value) + "," + id(op.expected) + "," + Num(op.call_time) + "," +
           Num(op.return_time == check::kNever ? -1 : op.return_time) + "," +
           Num(static_cast<int>(op.outcome)) + "," + read + "," + (op.cas_succeeded ? "1" : "0") +
           "]";
  }
  return out + "]";
}

std::string EncodeJson(const ReplayData& d, const ReplayPage& page) {
  std::string ops = EncodeOps(d);
  std::string entries = "[";
  for (const auto& [key, label] : d.entry_labels) {
    if (entries.size() > 1) entries += ",";
    entries += Num(key.first) + "," + Num(key.second) + "," + Num(label);
  }
  entries += "]";
  std::string nodes = "[";
  for (uint64_t id : d.nodes) nodes += (nodes.size() > 1 ? "," : "") + Num(id);
  nodes += "]";
  std::string strings = "[";
  for (size_t i = 0; i < d.strings.size(); ++i) {
    strings += (i ? "," : "") + JsonString(d.strings[i]);
  }
  strings += "]";
  char hash[32];
  std::snprintf(hash, sizeof hash, "%016" PRIx64, d.trace_hash);
  return "{\"version\":1,\"title\":" + JsonString(page.title) +
         ",\"question\":" + JsonString(page.question) + ",\"watch\":" + JsonString(page.watch) +
         ",\"command\":" + JsonString(page.command) + ",\"outcome\":" + JsonString(page.outcome) +
         ",\"hash\":\"" + hash + "\",\"end\":" + Num(d.end) + ",\"nodes\":" + nodes +
         ",\"strings\":" + strings + ",\"entries\":" + entries + ",\"ops\":" + ops +
         ",\"records\":\"" + Base64(EncodeRecords(d)) + "\",\"messages\":\"" +
         Base64(EncodeMessages(d)) + "\"}";
}

// Replaces the one `{{name}}` in `page` by `with`.
void Fill(std::string* page, const std::string& name, std::string_view with) {
  const std::string mark = "{{" + name + "}}";
  size_t at = page->find(mark);
  if (at != std::string::npos) page->replace(at, mark.size(), with);
}

}  // namespace

std::string ReplayHtml(const ReplayData& data, const ReplayPage& page) {
  std::string html(ReplayAsset("player.html"));
  // The data goes in last, so that a {{...}} inside it is never taken for a mark.
  Fill(&html, "title", HtmlText(page.title));
  Fill(&html, "style", ReplayAsset("player.css"));
  Fill(&html, "script", ReplayAsset("player.js"));
  Fill(&html, "data", EncodeJson(data, page));
  return html;
}

Status WriteReplayHtml(const std::string& path, const ReplayData& data, const ReplayPage& page) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IOError("cannot write " + path);
  out << ReplayHtml(data, page);
  out.close();
  if (!out) return Status::IOError("cannot write " + path);
  return Status::OK();
}

}  // namespace raftkv::sim
