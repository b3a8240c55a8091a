#include "tests/chaos/history_file.h"

#include <charconv>
#include <sstream>
#include <vector>

namespace raftkv::chaos {

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<int64_t> ParseInt(const std::string& s, const char* what) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    return Status::InvalidArgument(std::string("bad ") + what + " '" + s + "'");
  }
  return v;
}

std::vector<std::string> SplitSpaces(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string token;
  while (in >> token) out.push_back(token);
  return out;
}

Result<check::OpKind> ParseKind(const std::string& s) {
  if (s == "put") return check::OpKind::kPut;
  if (s == "get") return check::OpKind::kGet;
  if (s == "cas") return check::OpKind::kCas;
  return Status::InvalidArgument("bad op kind '" + s + "' (put|get|cas)");
}

Result<check::Outcome> ParseOutcome(const std::string& s) {
  if (s == "ok") return check::Outcome::kOk;
  if (s == "fail") return check::Outcome::kFail;
  if (s == "unknown") return check::Outcome::kUnknown;
  return Status::InvalidArgument("bad outcome '" + s + "' (ok|fail|unknown)");
}

// The 11 fields after "op" (see the header), in order.
enum Field { kClient, kKind, kKey, kValue, kExpected, kCall, kReturn, kOutcome, kRead, kCasOk };
constexpr size_t kFields = 10;

Result<check::Operation> ParseOp(const std::vector<std::string>& f) {
  check::Operation op;
  auto client = ParseInt(f[kClient], "client");
  auto kind = ParseKind(f[kKind]);
  auto key = DecodeField(f[kKey]);
  auto value = DecodeField(f[kValue]);
  auto expected = DecodeField(f[kExpected]);
  auto call = ParseInt(f[kCall], "call time");
  auto outcome = ParseOutcome(f[kOutcome]);
  for (const Status* st : {&client.status(), &kind.status(), &key.status(), &value.status(),
                           &expected.status(), &call.status(), &outcome.status()}) {
    if (!st->ok()) return *st;
  }
  op.client = static_cast<int>(*client);
  op.kind = *kind;
  op.key = *key;
  op.value = *value;
  op.expected = *expected;
  op.call_time = *call;
  op.outcome = *outcome;
  if (f[kReturn] == "inf") {
    op.return_time = check::kNever;
  } else {
    auto ret = ParseInt(f[kReturn], "return time");
    if (!ret.ok()) return ret.status();
    op.return_time = *ret;
  }
  if (op.outcome == check::Outcome::kUnknown) {
    op.return_time = check::kNever;  // nothing was returned, whatever the file says
  } else if (op.return_time == check::kNever || op.return_time < op.call_time) {
    return Status::InvalidArgument("return time before call time (or inf) on a completed op");
  }
  if (op.kind == check::OpKind::kGet && op.outcome == check::Outcome::kOk && f[kRead] != "~") {
    auto read = DecodeField(f[kRead]);
    if (!read.ok()) return read.status();
    op.read_value = *read;
  }
  if (f[kCasOk] != "true" && f[kCasOk] != "false") {
    return Status::InvalidArgument("bad cas result '" + f[kCasOk] + "' (true|false)");
  }
  op.cas_succeeded =
      op.kind == check::OpKind::kCas && op.outcome == check::Outcome::kOk && f[kCasOk] == "true";
  return op;
}

}  // namespace

Result<std::string> DecodeField(const std::string& field) {
  if (field == "-") return std::string();
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '%') {
      out.push_back(field[i]);
      continue;
    }
    int hi = i + 2 < field.size() ? HexDigit(field[i + 1]) : -1;
    int lo = i + 2 < field.size() ? HexDigit(field[i + 2]) : -1;
    if (hi < 0 || lo < 0) return Status::InvalidArgument("bad %-escape in '" + field + "'");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

Result<check::History> ParseHistory(std::istream& in) {
  check::History history;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> tokens = SplitSpaces(line);
    if (tokens.size() != kFields + 1 || tokens[0] != "op") {
      return Status::InvalidArgument("line " + std::to_string(line_no) + ": expected 'op' and " +
                                     std::to_string(kFields) + " fields, got '" + line + "'");
    }
    tokens.erase(tokens.begin());
    auto op = ParseOp(tokens);
    if (!op.ok()) {
      return Status::InvalidArgument("line " + std::to_string(line_no) + ": " +
                                     op.status().message());
    }
    history.ops.push_back(std::move(*op));
  }
  if (in.bad()) return Status::IOError("read error");
  return history;
}

}  // namespace raftkv::chaos
