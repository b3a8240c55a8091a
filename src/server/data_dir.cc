#include "server/data_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace raftkv::server {
namespace {

std::string IdentityPath(const std::string& dir) {
  return dir + "/identity";
}

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) return Errno("open " + path);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::OK() : Errno("fsync " + path);
}

}  // namespace

Result<raftkvpb::Identity> ReadIdentity(const std::string& member_dir) {
  std::string path = IdentityPath(member_dir);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return Status::NotFound(path);
    return Errno("open " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  raftkvpb::Identity id;
  if (!id.ParseFromString(ss.str()) || id.member_id() == 0) {
    return Status::Corruption(path + ": not a valid member identity");
  }
  return id;
}

Status WriteIdentity(const std::string& member_dir, const raftkvpb::Identity& id) {
  std::string path = IdentityPath(member_dir);
  std::string tmp = path + ".tmp";
  std::string bytes = id.SerializeAsString();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Errno("create " + tmp);
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Errno("write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename " + tmp);
  return FsyncPath(member_dir, O_RDONLY | O_DIRECTORY);
}

Result<raftkvpb::Identity> BootstrapIdentity(const ServerConfig& config) {
  auto self = config.initial_cluster.find(config.name);
  if (self == config.initial_cluster.end()) {
    return Status::InvalidArgument("member " + config.name + " is not in --initial-cluster");
  }
  std::vector<std::string> adv = config.initial_advertise_peer_urls;
  std::vector<std::string> mine = self->second;
  std::sort(adv.begin(), adv.end());
  std::sort(mine.begin(), mine.end());
  if (adv != mine) {
    return Status::InvalidArgument("--initial-advertise-peer-urls of " + config.name +
                                   " do not match its URLs in --initial-cluster");
  }
  raftkvpb::Identity id;
  std::vector<uint64_t> ids;
  for (const auto& [name, urls] : config.initial_cluster) {
    uint64_t mid = ComputeMemberId(urls, config.initial_cluster_token);
    ids.push_back(mid);
    etcdserverpb::Member* m = id.add_initial_members();
    m->set_id(mid);
    m->set_name(name);
    for (const auto& u : urls) m->add_peerurls(u);
    // Client URLs are published through the log (every member's table must be the same).
    if (name == config.name) id.set_member_id(mid);
  }
  id.set_cluster_id(ComputeClusterId(ids, config.initial_cluster_token));
  return id;
}

}  // namespace raftkv::server
