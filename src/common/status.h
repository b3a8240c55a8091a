// Status and Result<T>: errors as values across layer boundaries (LevelDB style).
// A Status is either OK or carries a code and a human-readable message.
// Result<T> holds either a T or a non-OK Status. Neither throws.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace raftkv {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kInvalidArgument,
    kCorruption,   // data on disk or on the wire failed validation
    kIOError,      // the operating system reported an error (EIO, ENOSPC, ...)
    kCompacted,    // requested log entries were discarded by compaction
    kUnavailable,  // requested entries are not (yet) available
    kNotLeader,    // the request needs a leader and this node is not one
    kBusy,         // temporarily refused (flow control, transfer in progress)
    kAborted,
    kFailedPrecondition,
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Compacted(std::string msg) { return Status(Code::kCompacted, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status NotLeader(std::string msg) { return Status(Code::kNotLeader, std::move(msg)); }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status Aborted(std::string msg) { return Status(Code::kAborted, std::move(msg)); }
  static Status FailedPrecondition(std::string msg) {
    return Status(Code::kFailedPrecondition, std::move(msg));
  }

  // A code carried as a number (an error stored in the session table, or answered by the
  // leader to a forwarded call) with its message; a number no code has becomes kUnavailable.
  static Status FromWire(uint32_t code, std::string msg) {
    if (code == 0 || code > static_cast<uint32_t>(Code::kFailedPrecondition)) {
      return Status(Code::kUnavailable, std::move(msg));
    }
    return Status(static_cast<Code>(code), std::move(msg));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool Is(Code c) const { return code_ == c; }

  // "OK" or "<CodeName>: <message>".
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

const char* CodeName(Status::Code code);

inline std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

inline const char* CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "OK";
    case Status::Code::kNotFound: return "NotFound";
    case Status::Code::kInvalidArgument: return "InvalidArgument";
    case Status::Code::kCorruption: return "Corruption";
    case Status::Code::kIOError: return "IOError";
    case Status::Code::kCompacted: return "Compacted";
    case Status::Code::kUnavailable: return "Unavailable";
    case Status::Code::kNotLeader: return "NotLeader";
    case Status::Code::kBusy: return "Busy";
    case Status::Code::kAborted: return "Aborted";
    case Status::Code::kFailedPrecondition: return "FailedPrecondition";
  }
  return "Unknown";
}

// Either a value or an error. Construct from a T (success) or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok() && "Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace raftkv

// Returns early from the enclosing function if `expr` yields a non-OK Status.
#define RAFTKV_RETURN_IF_ERROR(expr) \
  do {                               \
    ::raftkv::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)
