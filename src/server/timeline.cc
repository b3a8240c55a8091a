#include "server/timeline.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

namespace raftkv::server {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hex(uint64_t id) {
  return fmt::format("{:x}", id);
}

}  // namespace

Timeline::Timeline(size_t max_events, int seconds) : max_events_(max_events), seconds_(seconds) {}

double Timeline::BucketBound(int i) {
  return 50e-6 * std::pow(2.0, i / 4.0);
}

double Timeline::Quantile(const std::array<uint32_t, kBuckets>& counts, double q) {
  uint64_t total = 0;
  for (uint32_t c : counts) total += c;
  if (total == 0) return 0;
  const double want = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts[i];
    if (static_cast<double>(seen) >= want) return BucketBound(i);
  }
  return BucketBound(kBuckets - 1);
}

void Timeline::addEvent(const std::string& kind, uint64_t term, const std::string& text) {
  raftkvpb::TimelineEvent e;
  e.set_time_ms(NowMs());
  e.set_kind(kind);
  e.set_term(term);
  e.set_text(text);
  events_.push_back(std::move(e));
  while (events_.size() > max_events_) events_.pop_front();
}

void Timeline::Event(const std::string& kind, uint64_t term, const std::string& text) {
  std::lock_guard<std::mutex> l(mu_);
  addEvent(kind, term, text);
}

// Thesis §9.6: a pre-candidate asks whether it could win before raising its term; only a
// candidate raises it (§5.2) and votes for itself.
void Timeline::ObserveSoftState(const raft::SoftState& ss, uint64_t term) {
  std::lock_guard<std::mutex> l(mu_);
  if (ss.role != soft_.role) {
    switch (ss.role) {
      case raft::Role::kPreCandidate:
        addEvent("pre-vote", term,
                 fmt::format("election timeout: pre-vote round for term {}", term + 1));
        break;
      case raft::Role::kCandidate:
        addEvent("vote", term, fmt::format("vote round for term {} (votes for itself)", term));
        break;
      case raft::Role::kLeader:
        addEvent("role", term, fmt::format("became leader of term {}", term));
        break;
      case raft::Role::kFollower:
        addEvent("role", term, fmt::format("became follower (term {})", term));
        break;
    }
  }
  if (ss.lead != soft_.lead) {
    addEvent("leader", term,
             ss.lead == raft::kNoNode ? "lost the leader " + Hex(soft_.lead)
                                      : fmt::format("leader is {} (term {})", Hex(ss.lead), term));
  }
  soft_ = ss;
}

void Timeline::ObserveHardState(const raft::HardState& hs) {
  std::lock_guard<std::mutex> l(mu_);
  if (hs.vote == raft::kNoNode || (hs.vote == vote_ && hs.term == vote_term_)) return;
  vote_ = hs.vote;
  vote_term_ = hs.term;
  addEvent("voted", hs.term, fmt::format("voted for {} in term {}", Hex(hs.vote), hs.term));
}

void Timeline::ObserveVoteResponse(const raft::Message& m) {
  const bool pre = m.type == raft::MessageType::kPreVoteResponse;
  if (!pre && m.type != raft::MessageType::kVoteResponse) return;
  std::lock_guard<std::mutex> l(mu_);
  addEvent(m.reject ? "vote-rejected" : "vote-granted", m.term,
           fmt::format("{} {} by {} (term {})", pre ? "pre-vote" : "vote",
                       m.reject ? "rejected" : "granted", Hex(m.from), m.term));
}

namespace {

int BucketOf(double seconds) {
  int i = 0;
  while (i < Timeline::kBuckets - 1 && seconds > Timeline::BucketBound(i)) ++i;
  return i;
}

}  // namespace

void Timeline::AddCommitLatencies(const std::vector<double>& seconds) {
  if (seconds.empty()) return;
  std::lock_guard<std::mutex> l(mu_);
  for (double s : seconds) latency_[BucketOf(s)]++;
  latency_count_ += static_cast<uint32_t>(seconds.size());
}

void Timeline::AddFsync(double seconds) {
  std::lock_guard<std::mutex> l(mu_);
  fsync_[BucketOf(seconds)]++;
  fsync_count_++;
  fsync_sum_ += seconds;
}

void Timeline::Tick(uint64_t term, uint64_t leader, uint64_t commit_index) {
  const int64_t now_s = NowMs() / 1000;
  std::lock_guard<std::mutex> l(mu_);
  if (current_second_ == 0) {
    current_second_ = now_s;
    proposals_mark_ = proposals_.load(std::memory_order_relaxed);
    reads_mark_ = reads_.load(std::memory_order_relaxed);
  }
  if (now_s <= current_second_) return;
  const uint64_t proposals = proposals_.load(std::memory_order_relaxed);
  const uint64_t reads = reads_.load(std::memory_order_relaxed);
  raftkvpb::TimelineSample s;
  s.set_time_s(current_second_);
  // A loop that stalled for several seconds spreads nothing: the counts land on one second.
  s.set_proposals(static_cast<uint32_t>(proposals - proposals_mark_));
  s.set_reads(static_cast<uint32_t>(reads - reads_mark_));
  s.set_commit_p99_ms(Quantile(latency_, 0.99) * 1000);
  s.set_commits(latency_count_);
  s.set_term(term);
  s.set_leader(leader == raft::kNoNode ? "" : Hex(leader));
  s.set_commit_index(commit_index);
  samples_.push_back(std::move(s));
  while (samples_.size() > static_cast<size_t>(seconds_)) samples_.pop_front();
  current_second_ = now_s;
  proposals_mark_ = proposals;
  reads_mark_ = reads;
  latency_.fill(0);
  latency_count_ = 0;
}

void Timeline::Fill(raftkvpb::MemberDebug* out) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& e : events_) *out->add_events() = e;
  for (const auto& s : samples_) *out->add_samples() = s;
  raftkvpb::LatencySummary* f = out->mutable_wal_fsync();
  f->set_count(fsync_count_);
  f->set_mean_ms(fsync_count_ ? fsync_sum_ * 1000 / static_cast<double>(fsync_count_) : 0);
  f->set_p50_ms(Quantile(fsync_, 0.5) * 1000);
  f->set_p99_ms(Quantile(fsync_, 0.99) * 1000);
}

}  // namespace raftkv::server
