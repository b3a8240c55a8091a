// KeyIndex: the history of one key as revisions, grouped into generations.
//
// A generation is the life of a key from the put that creates it to the delete that ends it:
// its revisions are the puts in order, and a closed generation's last revision is the
// tombstone. Only the last generation may be open (key currently live). The values live in
// the revision-ordered store (store.h); the index only says which revision to look up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace raftkv::kv {

// A store revision: `main` is bumped once per write transaction, `sub` orders the changes
// made inside one transaction.
struct Revision {
  int64_t main = 0;
  int64_t sub = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  auto operator<=>(const Revision&) const = default;
};

class KeyIndex {
 public:
  struct Generation {
    std::vector<Revision> revs;  // puts in order, then the tombstone if `closed`
    bool closed = false;
  };

  // Records a put at `rev`; opens a new generation if the key is not live.
  void Put(Revision rev);
  // Records a delete at `rev`. The key must be live.
  void Tombstone(Revision rev);

  // The revision of the version visible at store revision `at` (the latest change with
  // main <= at), or nullopt if the key did not exist or was deleted at `at`.
  std::optional<Revision> Get(int64_t at) const;

  // Drops history not needed for reads at revisions >= `at`: every revision older than the
  // latest change with main <= at, and that change too if it is a tombstone. Appends the
  // dropped revisions to `dropped`. Returns true if the index became empty.
  bool Compact(int64_t at, std::vector<Revision>* dropped);

  // Revisions needed for reads at revisions in [compacted, at]: the latest change with
  // main <= compacted unless it is a tombstone, and every later change with main <= at.
  // `compacted` may be below the physical compaction point (then nothing extra exists).
  void VisibleRevisions(int64_t compacted, int64_t at, std::vector<Revision>* out) const;

  bool live() const { return !generations_.empty() && !generations_.back().closed; }
  bool empty() const { return generations_.empty(); }
  const std::vector<Generation>& generations() const { return generations_; }

 private:
  std::vector<Generation> generations_;
};

}  // namespace raftkv::kv
