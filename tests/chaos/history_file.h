// The chaos harness's history file (tests/chaos/README.md, "History format"): one operation
// per line, written by tests/chaos/run, read here for the linearizability checker.
//
//   op <client> <put|get|cas> <key> <value> <expected> <call> <return|inf> <ok|fail|unknown>
//      <read> <true|false>
//
// Fields are separated by single spaces and percent-encoded (%XX) so that they never contain
// a space. "-" is the empty string and "~" (read only) means "key absent"; a literal '-' or
// '~' inside a field is always encoded. Times are integers (the harness writes monotonic
// nanoseconds). Blank lines and lines starting with '#' are ignored.
#pragma once

#include <istream>
#include <string>

#include "common/status.h"
#include "sim/check/history.h"

namespace raftkv::chaos {

// Parses one history file. A malformed line is an error naming its line number; nothing is
// silently skipped.
Result<check::History> ParseHistory(std::istream& in);

// Decodes one percent-encoded field ("-" -> empty).
Result<std::string> DecodeField(const std::string& field);

}  // namespace raftkv::chaos
