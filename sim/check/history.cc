#include "sim/check/history.h"

namespace raftkv::check {

namespace {

std::string Quote(const std::string& s) {
  return "'" + s + "'";
}

std::string TimeString(int64_t t) {
  return t == kNever ? "inf" : std::to_string(t);
}

}  // namespace

std::string Describe(const Operation& op) {
  std::string s = "c" + std::to_string(op.client) + " ";
  switch (op.kind) {
    case OpKind::kPut: s += "put(" + op.key + ", " + Quote(op.value) + ")"; break;
    case OpKind::kGet: s += "get(" + op.key + ")"; break;
    case OpKind::kCas:
      s += "cas(" + op.key + ", " + Quote(op.expected) + "->" + Quote(op.value) + ")";
      break;
  }
  s += " = ";
  switch (op.outcome) {
    case Outcome::kOk:
      s += "ok";
      if (op.kind == OpKind::kGet) {
        s += " " + (op.read_value ? Quote(*op.read_value) : std::string("absent"));
      } else if (op.kind == OpKind::kCas) {
        s += op.cas_succeeded ? " true" : " false";
      }
      break;
    case Outcome::kFail: s += "fail"; break;
    case Outcome::kUnknown: s += "unknown"; break;
  }
  s += " [" + TimeString(op.call_time) + ", " + TimeString(op.return_time) + "]";
  return s;
}

}  // namespace raftkv::check
