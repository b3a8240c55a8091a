#include "storage/fault_fs.h"

#include <algorithm>

namespace raftkv::storage {
namespace {

constexpr uint64_t kClean = UINT64_MAX;

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

}  // namespace

struct FaultFileSystem::Inode {
  std::string data;              // current content
  std::string durable;           // content as of the last successful Sync
  uint64_t dirty_from = kClean;  // lowest offset changed since the last Sync
};

class FaultFileSystem::File final : public WritableFile {
 public:
  File(FaultFileSystem* fs, std::shared_ptr<Inode> node, std::string path)
      : fs_(fs), gen_(fs->generation_), node_(std::move(node)), path_(std::move(path)) {}

  Status WriteAt(uint64_t offset, std::string_view data) override {
    RAFTKV_RETURN_IF_ERROR(CheckLive());
    return fs_->OnWrite(node_.get(), offset, data);
  }
  Status WriteAtV(uint64_t offset, std::span<const std::string_view> pieces) override {
    RAFTKV_RETURN_IF_ERROR(CheckLive());
    std::string joined;
    for (std::string_view p : pieces) joined.append(p);
    return fs_->OnWrite(node_.get(), offset, joined);
  }
  void DropCache(uint64_t offset, uint64_t len) override {
    if (CheckLive().ok()) fs_->OnDropCache(*node_, offset, len);
  }
  Status Sync() override {
    RAFTKV_RETURN_IF_ERROR(CheckLive());
    return fs_->OnSync(node_.get());
  }
  Status Truncate(uint64_t size) override {
    RAFTKV_RETURN_IF_ERROR(CheckLive());
    node_->data.resize(size, '\0');
    node_->dirty_from = std::min(node_->dirty_from, size);
    return Status::OK();
  }
  Status Allocate(uint64_t size) override {
    RAFTKV_RETURN_IF_ERROR(CheckLive());
    if (node_->data.size() >= size) return Status::OK();
    uint64_t grow = size - node_->data.size();
    if (fs_->space_limit_ != 0 && fs_->TotalBytes() + grow > fs_->space_limit_) {
      return FaultStatus(Fault::kNoSpace, "fallocate " + path_);
    }
    // Allocation extends the file with zeros; model it as durable at once (fallocate plus
    // the next fdatasync would make it so, and zeros are what recovery must expect anyway).
    bool in_sync = node_->dirty_from == kClean && node_->durable.size() == node_->data.size();
    node_->data.resize(size, '\0');
    if (in_sync)
      node_->durable = node_->data;
    else
      node_->dirty_from = std::min<uint64_t>(node_->dirty_from, size - grow);
    return Status::OK();
  }
  Status Close() override { return Status::OK(); }

 private:
  Status CheckLive() const {
    if (gen_ != fs_->generation_) return Status::IOError(path_ + ": stale handle (power lost)");
    return Status::OK();
  }
  FaultFileSystem* fs_;
  uint64_t gen_;
  std::shared_ptr<Inode> node_;
  std::string path_;
};

class FaultFileSystem::LockHandle final : public FileLock {
 public:
  LockHandle(FaultFileSystem* fs, std::string path)
      : fs_(fs), gen_(fs->generation_), path_(std::move(path)) {}
  ~LockHandle() override {
    if (gen_ == fs_->generation_) fs_->locks_.erase(path_);
  }

 private:
  FaultFileSystem* fs_;
  uint64_t gen_;
  std::string path_;
};

FaultFileSystem::FaultFileSystem(uint64_t seed) : rng_(seed) {}
FaultFileSystem::~FaultFileSystem() = default;

Status FaultFileSystem::FaultStatus(Fault f, const std::string& what) {
  if (f == Fault::kNoSpace) return Status::IOError(what + ": No space left on device");
  return Status::IOError(what + ": Input/output error");
}

uint64_t FaultFileSystem::TotalBytes() const {
  uint64_t total = 0;
  for (const auto& [name, node] : names_) total += node->data.size();
  return total;
}

Status FaultFileSystem::OnWrite(Inode* node, uint64_t offset, std::string_view data) {
  writes_++;
  size_t keep = data.size();
  Fault fault = Fault::kNone;
  if (fail_write_in_ == 0) {
    fault = write_fault_;
    keep = std::uniform_int_distribution<size_t>(0, data.size())(rng_);  // partial write
  }
  if (fail_write_in_ >= 0) fail_write_in_--;
  uint64_t end = offset + data.size();
  if (space_limit_ != 0 && end > node->data.size()) {
    uint64_t total = TotalBytes();
    uint64_t grow = end - node->data.size();
    if (total + grow > space_limit_) {
      fault = Fault::kNoSpace;
      uint64_t room = space_limit_ > total ? space_limit_ - total : 0;
      uint64_t fits = offset >= node->data.size() ? room : node->data.size() - offset + room;
      keep = std::min<uint64_t>(keep, fits);
    }
  }
  if (keep > 0) {
    if (node->data.size() < offset + keep) node->data.resize(offset + keep, '\0');
    node->data.replace(offset, keep, data.substr(0, keep));
    node->dirty_from = std::min(node->dirty_from, offset);
  }
  if (fault != Fault::kNone) return FaultStatus(fault, "write");
  return Status::OK();
}

Status FaultFileSystem::OnSync(Inode* node) {
  syncs_++;
  if (fail_sync_in_ == 0) {
    fail_sync_in_ = -1;
    return FaultStatus(sync_fault_, "fdatasync");
  }
  if (fail_sync_in_ > 0) fail_sync_in_--;
  node->durable = node->data;
  node->dirty_from = kClean;
  return Status::OK();
}

// Content is unchanged: the page cache is not modelled, only what reads and power loss see.
void FaultFileSystem::OnDropCache(const Inode& node, uint64_t offset, uint64_t len) {
  cache_dropped_bytes_ += len;
  if (node.dirty_from < offset + len) unsynced_cache_drops_++;
}

void FaultFileSystem::FailWriteAfter(int64_t n, Fault fault) {
  fail_write_in_ = n;
  write_fault_ = fault;
}

void FaultFileSystem::FailSyncAfter(int64_t n, Fault fault) {
  fail_sync_in_ = n;
  sync_fault_ = fault;
}

void FaultFileSystem::ClearFaults() {
  fail_write_in_ = fail_sync_in_ = -1;
  space_limit_ = 0;
}

void FaultFileSystem::PowerLoss(bool keep_torn_prefix) {
  generation_++;
  locks_.clear();
  names_ = durable_;
  for (auto& [name, node] : names_) {
    if (node->dirty_from == kClean) {
      node->data = node->durable;
      continue;
    }
    uint64_t from = std::min<uint64_t>(node->dirty_from, node->data.size());
    uint64_t cut = from;
    if (keep_torn_prefix)
      cut = std::uniform_int_distribution<uint64_t>(from, node->data.size())(rng_);
    std::string out = node->data.substr(0, cut);
    if (node->durable.size() > cut) out += node->durable.substr(cut);
    node->data = node->durable = out;
    node->dirty_from = kClean;
  }
}

Status FaultFileSystem::FlipBit(const std::string& path, uint64_t offset, int bit) {
  auto it = names_.find(path);
  if (it == names_.end()) return Status::NotFound(path);
  Inode& n = *it->second;
  if (offset >= n.data.size()) return Status::InvalidArgument("offset beyond end of " + path);
  n.data[offset] = static_cast<char>(n.data[offset] ^ (1 << bit));
  if (offset < n.durable.size())
    n.durable[offset] = static_cast<char>(n.durable[offset] ^ (1 << bit));
  return Status::OK();
}

Result<std::unique_ptr<WritableFile>> FaultFileSystem::OpenWritable(const std::string& path,
                                                                    bool truncate) {
  if (!dirs_.count(ParentDir(path))) return Status::IOError("open " + path + ": no such directory");
  auto& node = names_[path];
  if (!node) node = std::make_shared<Inode>();
  if (truncate && !node->data.empty()) {
    node->data.clear();
    node->dirty_from = 0;
  }
  return std::unique_ptr<WritableFile>(new File(this, node, path));
}

Result<std::string> FaultFileSystem::ReadAll(const std::string& path) {
  auto it = names_.find(path);
  if (it == names_.end()) return Status::IOError("open " + path + ": No such file or directory");
  reads_++;
  read_bytes_ += it->second->data.size();
  return it->second->data;
}

// Reads the inode's current content, as pread on an open descriptor would (a rename or
// removal of the name does not affect it); stale after a power loss, like every handle.
class FaultFileSystem::Reader final : public ReadableFile {
 public:
  Reader(FaultFileSystem* fs, std::shared_ptr<Inode> node, std::string path)
      : fs_(fs),
        gen_(fs->generation_),
        node_(std::move(node)),
        path_(std::move(path)),
        size_(node_->data.size()) {}

  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, size_t n, std::string* out) override {
    if (gen_ != fs_->generation_) return Status::IOError("read " + path_ + ": stale handle");
    const std::string& data = node_->data;
    if (offset > data.size() || n > data.size() - offset) {
      return Status::IOError("read " + path_ + ": end of file at " + std::to_string(data.size()) +
                             " before " + std::to_string(offset + n));
    }
    out->assign(data, offset, n);
    fs_->reads_++;
    fs_->read_bytes_ += n;
    return Status::OK();
  }

 private:
  FaultFileSystem* fs_;
  uint64_t gen_;
  std::shared_ptr<Inode> node_;
  std::string path_;
  uint64_t size_;
};

Result<std::unique_ptr<ReadableFile>> FaultFileSystem::OpenReadable(const std::string& path) {
  auto it = names_.find(path);
  if (it == names_.end()) return Status::IOError("open " + path + ": No such file or directory");
  return std::unique_ptr<ReadableFile>(new Reader(this, it->second, path));
}

Result<uint64_t> FaultFileSystem::FileSize(const std::string& path) {
  auto it = names_.find(path);
  if (it == names_.end()) return Status::IOError("stat " + path + ": No such file or directory");
  return static_cast<uint64_t>(it->second->data.size());
}

Status FaultFileSystem::Rename(const std::string& from, const std::string& to) {
  auto it = names_.find(from);
  if (it == names_.end()) return Status::IOError("rename " + from + ": No such file or directory");
  names_[to] = it->second;
  names_.erase(from);
  return Status::OK();
}

Status FaultFileSystem::Remove(const std::string& path) {
  if (names_.erase(path) == 0) return Status::IOError("unlink " + path + ": No such file");
  return Status::OK();
}

Status FaultFileSystem::SyncDir(const std::string& dir) {
  syncs_++;
  for (auto it = durable_.begin(); it != durable_.end();) {
    it = ParentDir(it->first) == dir ? durable_.erase(it) : std::next(it);
  }
  for (const auto& [name, node] : names_) {
    if (ParentDir(name) == dir) durable_[name] = node;
  }
  return Status::OK();
}

Result<std::vector<std::string>> FaultFileSystem::List(const std::string& dir) {
  if (!dirs_.count(dir)) return Status::IOError("opendir " + dir + ": No such file or directory");
  std::vector<std::string> out;
  for (const auto& [name, node] : names_) {
    if (ParentDir(name) == dir) out.push_back(name.substr(dir.size() + 1));
  }
  return out;
}

Status FaultFileSystem::CreateDir(const std::string& dir) {
  dirs_.insert(dir);  // directories themselves are modelled as always durable
  return Status::OK();
}

bool FaultFileSystem::Exists(const std::string& path) {
  return names_.count(path) > 0 || dirs_.count(path) > 0;
}

Result<std::unique_ptr<FileLock>> FaultFileSystem::Lock(const std::string& path) {
  if (!locks_.insert(path).second) return Status::Busy(path + " is locked (data dir in use)");
  return std::unique_ptr<FileLock>(new LockHandle(this, path));
}

}  // namespace raftkv::storage
