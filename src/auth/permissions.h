// A user's key permissions, merged from all of its roles (etcd's unifiedRangePermissions):
// one set of key ranges it may read and one it may write. A request on [key, range_end) is
// allowed when the ranges together cover it, wherever one role's range ends and the next
// begins.
//
// Key ranges follow etcd's conventions: range_end "" is the single key `key`; range_end "\0"
// is every key from `key` on; otherwise [key, range_end).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "authpb/auth.pb.h"

namespace raftkv::auth {

class KeyRangeSet {
 public:
  // Adds [begin, end); end empty = no upper bound. Call Normalize() before any query.
  void Add(std::string begin, std::string end);
  // Sorts and merges overlapping or touching ranges, so that a covered range lies within one.
  void Normalize();
  // Whether the key `key` is in the set.
  bool ContainsKey(std::string_view key) const;
  // Whether every key of [begin, end) is in the set (end empty = no upper bound). An empty
  // or inverted range is judged by its first key, so it never grants more than that key.
  bool Covers(std::string_view begin, std::string_view end) const;
  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    std::string begin;
    std::string end;  // "" = unbounded
  };
  // The range containing `key`, or nullptr.
  const Range* Find(std::string_view key) const;

  std::vector<Range> ranges_;
  bool normalized_ = true;
};

struct UserPermissions {
  KeyRangeSet read;
  KeyRangeSet write;

  // Merges the permissions of `roles`.
  static UserPermissions FromRoles(const std::vector<const authpb::Role*>& roles);
  // etcd's check for a request range (range_end as in a RangeRequest: "" = one key, "\0" = to
  // the end of the key space).
  bool Allows(authpb::Permission::Type type, std::string_view key,
              std::string_view range_end) const;
};

}  // namespace raftkv::auth
