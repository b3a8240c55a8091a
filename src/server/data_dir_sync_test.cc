// The data dir's layout is durable before a member reports itself started (issue 11): every
// directory and every renamed file that a first start creates has its name synced into its
// parent directory. Without that, a power loss right after bootstrap can leave a member
// unable to restart (its member/ or member/raft/ entry lost while the WAL was "synced").
//
// This binary interposes mkdir, rename and fsync (its own definitions take precedence over
// libc's for the code linked into it) and records, while a test asks, which names were
// created and which directories were synced afterwards. It is a separate test binary so the
// interposition touches nothing else.
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "server/test_util.h"
#include "storage/file_system.h"

namespace {

struct SyscallLog {
  std::mutex mu;
  bool recording = false;
  // "create <path>" (a new name) and "sync <dir>" (fsync of a directory), in order.
  std::vector<std::string> events;

  void Add(std::string e) {
    std::lock_guard<std::mutex> l(mu);
    if (recording) events.push_back(std::move(e));
  }
};

SyscallLog& Log() {
  static SyscallLog* log = new SyscallLog();
  return *log;
}

std::string Absolute(const char* path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

template <typename Fn>
Fn Real(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int mkdir(const char* path, mode_t mode) {
  static auto real = Real<int (*)(const char*, mode_t)>("mkdir");
  int rc = real(path, mode);
  if (rc == 0) Log().Add("create " + Absolute(path));
  return rc;
}

extern "C" int rename(const char* from, const char* to) {
  static auto real = Real<int (*)(const char*, const char*)>("rename");
  int rc = real(from, to);
  if (rc == 0) Log().Add("create " + Absolute(to));
  return rc;
}

extern "C" int fsync(int fd) {
  static auto real = Real<int (*)(int)>("fsync");
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    char buf[PATH_MAX];
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n > 0) Log().Add("sync " + std::string(buf, static_cast<size_t>(n)));
  }
  return real(fd);
}

namespace raftkv::server {
namespace {

class Recording {
 public:
  Recording() {
    std::lock_guard<std::mutex> l(Log().mu);
    Log().events.clear();
    Log().recording = true;
  }
  ~Recording() { Stop(); }
  std::vector<std::string> Stop() {
    std::lock_guard<std::mutex> l(Log().mu);
    Log().recording = false;
    return Log().events;
  }
};

// The names created under `root` whose parent directory was not synced after creation.
std::vector<std::string> Unsynced(const std::vector<std::string>& events, const std::string& root) {
  std::vector<std::string> missing;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].rfind("create ", 0) != 0) continue;
    std::string path = events[i].substr(7);
    if (path.rfind(root, 0) != 0) continue;
    std::string parent = std::filesystem::path(path).parent_path().string();
    bool synced = false;
    for (size_t j = i + 1; j < events.size() && !synced; ++j)
      synced = events[j] == "sync " + parent;
    if (!synced) missing.push_back(path);
  }
  return missing;
}

std::string Canonical(const std::string& p) {
  return std::filesystem::canonical(p).string();
}

TEST(DataDirSync, CreateDir_syncsEveryNewDirectoryIntoItsParent) {
  testing::TempDir tmp;
  std::string root = Canonical(tmp.path());
  Recording rec;
  ASSERT_TRUE(storage::PosixFileSystem()->CreateDir(root + "/a/b/c").ok());
  auto events = rec.Stop();
  EXPECT_EQ(Unsynced(events, root), std::vector<std::string>{});
  int created = 0;
  for (const auto& e : events) created += e.rfind("create ", 0) == 0;
  EXPECT_EQ(created, 3);  // a, a/b, a/b/c: the checker saw them (it can fail)
}

TEST(DataDirSync, Unsynced_findsADirectoryWhoseParentWasNeverSynced) {
  // The check itself: a bare mkdir is reported.
  testing::TempDir tmp;
  std::string root = Canonical(tmp.path());
  Recording rec;
  ASSERT_EQ(::mkdir((root + "/bare").c_str(), 0755), 0);
  EXPECT_EQ(Unsynced(rec.Stop(), root), std::vector<std::string>{root + "/bare"});
}

TEST(DataDirSync, FirstStart_layoutIsDurableBeforeStartReturns) {
  testing::TempDir tmp;
  std::string root = Canonical(tmp.path());
  testing::Cluster c(1);
  ServerConfig cfg = c.Config("n1");
  cfg.data_dir = root + "/nested/data";  // parents that do not exist yet
  Recording rec;
  ASSERT_TRUE(c.StartWith(cfg).ok());
  auto events = rec.Stop();
  EXPECT_EQ(Unsynced(events, root), std::vector<std::string>{});
  // The layout the check covered: the directories and the identity.
  auto created = [&](const std::string& p) {
    for (const auto& e : events) {
      if (e == "create " + p) return true;
    }
    return false;
  };
  EXPECT_TRUE(created(root + "/nested"));
  EXPECT_TRUE(created(cfg.data_dir + "/member"));
  EXPECT_TRUE(created(cfg.data_dir + "/member/raft"));
  EXPECT_TRUE(created(cfg.data_dir + "/member/identity"));
  c.Stop("n1");
}

}  // namespace
}  // namespace raftkv::server
