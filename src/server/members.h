// MemberTable: the cluster's members as applied from the log (names, URLs, learner flag) and
// their alarms (etcd's alarm store: NOSPACE raised by a member), owned by the apply thread
// and saved in every raft snapshot. The consensus core keeps the voting configuration
// (ConfState); this table keeps what etcd's MemberList and AlarmList report.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "etcdserverpb/rpc.pb.h"
#include "raftkvpb/internal.pb.h"

namespace raftkv::server {

class MemberTable {
 public:
  // Adds or replaces a member (a learner promoted to voter keeps its URLs).
  void Add(const etcdserverpb::Member& m);
  void Remove(uint64_t id);
  bool Promote(uint64_t id);
  bool UpdatePeerUrls(uint64_t id, const std::vector<std::string>& urls);
  bool SetAttributes(const raftkvpb::MemberAttributes& a);

  const etcdserverpb::Member* Find(uint64_t id) const;
  bool IsRemoved(uint64_t id) const { return removed_.count(id) > 0; }
  // Every member, ordered by id.
  std::vector<etcdserverpb::Member> List() const;
  size_t size() const { return members_.size(); }
  size_t learners() const;

  // Alarms: (member, type) pairs, as etcd's alarm store. Activate/Deactivate return whether
  // the pair was added/removed.
  bool ActivateAlarm(uint64_t member, etcdserverpb::AlarmType type);
  bool DeactivateAlarm(uint64_t member, etcdserverpb::AlarmType type);
  // Every alarm of `type` (NONE: every alarm), ordered by member.
  std::vector<etcdserverpb::AlarmMember> Alarms(etcdserverpb::AlarmType type) const;
  bool HasAlarm(etcdserverpb::AlarmType type) const { return !Alarms(type).empty(); }

  raftkvpb::MemberTable ToProto() const;
  static MemberTable FromProto(const raftkvpb::MemberTable& p);

 private:
  std::map<uint64_t, etcdserverpb::Member> members_;
  std::set<uint64_t> removed_;
  std::set<std::pair<uint64_t, int>> alarms_;  // (member, AlarmType)
};

// "http://host:port[/...]" -> "host:port" (what gRPC dials); empty if it has no host.
std::string UrlToAddress(const std::string& url);

}  // namespace raftkv::server
