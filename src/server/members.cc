#include "server/members.h"

namespace raftkv::server {

void MemberTable::Add(const etcdserverpb::Member& m) {
  members_[m.id()] = m;
  removed_.erase(m.id());
}

void MemberTable::Remove(uint64_t id) {
  members_.erase(id);
  removed_.insert(id);
}

bool MemberTable::Promote(uint64_t id) {
  auto it = members_.find(id);
  if (it == members_.end()) return false;
  it->second.set_islearner(false);
  return true;
}

bool MemberTable::UpdatePeerUrls(uint64_t id, const std::vector<std::string>& urls) {
  auto it = members_.find(id);
  if (it == members_.end()) return false;
  it->second.clear_peerurls();
  for (const auto& u : urls) it->second.add_peerurls(u);
  return true;
}

bool MemberTable::SetAttributes(const raftkvpb::MemberAttributes& a) {
  auto it = members_.find(a.id());
  if (it == members_.end()) return false;
  it->second.set_name(a.name());
  it->second.clear_clienturls();
  for (const auto& u : a.client_urls()) it->second.add_clienturls(u);
  return true;
}

const etcdserverpb::Member* MemberTable::Find(uint64_t id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

std::vector<etcdserverpb::Member> MemberTable::List() const {
  std::vector<etcdserverpb::Member> out;
  out.reserve(members_.size());
  for (const auto& [id, m] : members_) out.push_back(m);
  return out;
}

raftkvpb::MemberTable MemberTable::ToProto() const {
  raftkvpb::MemberTable p;
  for (const auto& [id, m] : members_) *p.add_members() = m;
  for (uint64_t id : removed_) p.add_removed(id);
  for (const auto& a : Alarms(etcdserverpb::NONE)) *p.add_alarms() = a;
  return p;
}

MemberTable MemberTable::FromProto(const raftkvpb::MemberTable& p) {
  MemberTable t;
  for (const auto& m : p.members()) t.members_[m.id()] = m;
  for (uint64_t id : p.removed()) t.removed_.insert(id);
  for (const auto& a : p.alarms()) t.alarms_.insert({a.memberid(), a.alarm()});
  return t;
}

size_t MemberTable::learners() const {
  size_t n = 0;
  for (const auto& [id, m] : members_) n += m.islearner() ? 1 : 0;
  return n;
}

bool MemberTable::ActivateAlarm(uint64_t member, etcdserverpb::AlarmType type) {
  return alarms_.insert({member, type}).second;
}

bool MemberTable::DeactivateAlarm(uint64_t member, etcdserverpb::AlarmType type) {
  return alarms_.erase({member, type}) > 0;
}

std::vector<etcdserverpb::AlarmMember> MemberTable::Alarms(etcdserverpb::AlarmType type) const {
  std::vector<etcdserverpb::AlarmMember> out;
  for (const auto& [member, t] : alarms_) {
    if (type != etcdserverpb::NONE && t != type) continue;
    etcdserverpb::AlarmMember a;
    a.set_memberid(member);
    a.set_alarm(static_cast<etcdserverpb::AlarmType>(t));
    out.push_back(a);
  }
  return out;
}

std::string UrlToAddress(const std::string& url) {
  std::string s = url;
  auto scheme = s.find("://");
  if (scheme != std::string::npos) s = s.substr(scheme + 3);
  auto slash = s.find('/');
  if (slash != std::string::npos) s = s.substr(0, slash);
  return s;
}

}  // namespace raftkv::server
