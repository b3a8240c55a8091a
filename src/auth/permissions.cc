#include "auth/permissions.h"

#include <algorithm>

#include "common/check.h"

namespace raftkv::auth {
namespace {

// Ends compare with "" (unbounded) above every key.
bool EndLess(std::string_view a, std::string_view b) {
  if (a.empty()) return false;
  if (b.empty()) return true;
  return a < b;
}

// The smallest key after `key`: a range of one key is [key, key + "\0").
std::string Successor(std::string_view key) {
  std::string s(key);
  s.push_back('\0');
  return s;
}

}  // namespace

void KeyRangeSet::Add(std::string begin, std::string end) {
  if (!end.empty() && end <= begin) return;  // empty range: grants nothing
  ranges_.push_back({std::move(begin), std::move(end)});
  normalized_ = false;
}

void KeyRangeSet::Normalize() {
  std::sort(ranges_.begin(), ranges_.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  std::vector<Range> merged;
  for (Range& r : ranges_) {
    // Overlapping or touching (end == next begin): one range.
    if (!merged.empty() && !EndLess(merged.back().end, r.begin)) {
      if (EndLess(merged.back().end, r.end)) merged.back().end = std::move(r.end);
      continue;
    }
    merged.push_back(std::move(r));
  }
  ranges_ = std::move(merged);
  normalized_ = true;
}

const KeyRangeSet::Range* KeyRangeSet::Find(std::string_view key) const {
  RAFTKV_CHECK(normalized_, "KeyRangeSet queried before Normalize()");
  // The last range beginning at or before `key`.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), key,
                             [](std::string_view k, const Range& r) { return k < r.begin; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return EndLess(key, it->end) ? &*it : nullptr;
}

bool KeyRangeSet::ContainsKey(std::string_view key) const {
  return Find(key) != nullptr;
}

bool KeyRangeSet::Covers(std::string_view begin, std::string_view end) const {
  const Range* r = Find(begin);
  if (r == nullptr) return false;
  if (!end.empty() && end <= begin) return true;  // no key beyond `begin` is asked for
  // Ranges are merged, so a covered range lies inside the one holding its first key.
  return !EndLess(r->end, end);
}

UserPermissions UserPermissions::FromRoles(const std::vector<const authpb::Role*>& roles) {
  UserPermissions p;
  for (const authpb::Role* role : roles) {
    for (const authpb::Permission& perm : role->keypermission()) {
      std::string begin = perm.key();
      std::string end;
      if (perm.range_end().empty()) {
        end = Successor(begin);
      } else if (perm.range_end() != std::string(1, '\0')) {
        end = perm.range_end();
      }  // "\0": unbounded
      if (perm.permtype() != authpb::Permission::WRITE) p.read.Add(begin, end);
      if (perm.permtype() != authpb::Permission::READ) p.write.Add(begin, end);
    }
  }
  p.read.Normalize();
  p.write.Normalize();
  return p;
}

bool UserPermissions::Allows(authpb::Permission::Type type, std::string_view key,
                             std::string_view range_end) const {
  const KeyRangeSet& set = type == authpb::Permission::READ ? read : write;
  if (range_end.empty()) return set.ContainsKey(key);
  if (range_end == std::string_view("\0", 1)) return set.Covers(key, "");
  return set.Covers(key, range_end);
}

}  // namespace raftkv::auth
