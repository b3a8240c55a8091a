// Helpers for the transport tests: a Handler that records what it is told, and a way to
// wait for it without sleeping longer than needed.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/transport.h"

namespace raftkv::transport::testing {

class RecordingHandler : public Handler {
 public:
  void OnMessage(raft::Message msg) override {
    std::lock_guard lock(mu_);
    messages_.push_back(std::move(msg));
    cv_.notify_all();
  }
  void OnUnreachable(raft::NodeId peer) override {
    std::function<void(raft::NodeId)> hook;
    {
      std::lock_guard lock(mu_);
      unreachable_[peer]++;
      hook = on_unreachable_;
      cv_.notify_all();
    }
    if (hook) hook(peer);
  }
  void OnSnapshotSent(raft::NodeId peer, bool ok) override {
    std::lock_guard lock(mu_);
    snapshot_results_.emplace_back(peer, ok);
    cv_.notify_all();
  }

  // Runs `hook` (outside the handler's lock) on every OnUnreachable.
  void SetUnreachableHook(std::function<void(raft::NodeId)> hook) {
    std::lock_guard lock(mu_);
    on_unreachable_ = std::move(hook);
  }

  // Waits up to `timeout` for `pred` (called under the lock) to hold.
  bool WaitFor(const std::function<bool()>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, pred);
  }

  std::vector<raft::Message> Messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  size_t MessageCount() {
    std::lock_guard lock(mu_);
    return messages_.size();
  }
  size_t MessagesFrom(raft::NodeId from) {
    std::lock_guard lock(mu_);
    return MessagesFromLocked(from);
  }
  size_t MessagesFromLocked(raft::NodeId from) const {
    size_t n = 0;
    for (const auto& m : messages_) n += m.from == from ? 1 : 0;
    return n;
  }
  int Unreachable(raft::NodeId peer) {
    std::lock_guard lock(mu_);
    return UnreachableLocked(peer);
  }
  int UnreachableLocked(raft::NodeId peer) const {
    auto it = unreachable_.find(peer);
    return it == unreachable_.end() ? 0 : it->second;
  }
  std::vector<std::pair<raft::NodeId, bool>> SnapshotResults() {
    std::lock_guard lock(mu_);
    return snapshot_results_;
  }
  const std::vector<std::pair<raft::NodeId, bool>>& SnapshotResultsLocked() const {
    return snapshot_results_;
  }
  const std::vector<raft::Message>& MessagesLocked() const { return messages_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<raft::Message> messages_;
  std::map<raft::NodeId, int> unreachable_;
  std::vector<std::pair<raft::NodeId, bool>> snapshot_results_;
  std::function<void(raft::NodeId)> on_unreachable_;
};

inline Options TestOptions(raft::NodeId self, uint64_t cluster_id = 0xC1) {
  Options o;
  o.self = self;
  o.cluster_id = cluster_id;
  o.listen_address = "127.0.0.1:0";
  o.min_backoff = std::chrono::milliseconds(10);
  o.max_backoff = std::chrono::milliseconds(100);
  return o;
}

// Runs a test once per message stream kind: the framed TCP stream (the default between
// plaintext members) and gRPC's Raft/Stream (TLS peers, older members). Inside the test body
// TestOptions() is this fixture's, so every transport the test starts uses the kind.
class StreamKindTest : public ::testing::TestWithParam<bool> {
 protected:
  bool framed() const { return GetParam(); }
  Options TestOptions(raft::NodeId self, uint64_t cluster_id = 0xC1) const {
    Options o = testing::TestOptions(self, cluster_id);
    o.framed_stream = framed();
    return o;
  }
};

inline std::string StreamKindName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "framed" : "grpc";
}

// Instantiates a StreamKindTest-derived suite for both kinds.
#define RAFTKV_BOTH_STREAM_KINDS(suite)                                    \
  INSTANTIATE_TEST_SUITE_P(Streams, suite, ::testing::Values(true, false), \
                           ::raftkv::transport::testing::StreamKindName)

inline std::string Addr(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

inline std::unique_ptr<Transport> MustStart(const Options& o, Handler* h) {
  auto t = Transport::Start(o, h);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(*t) : nullptr;
}

// Plays the raft loop's part for a transport started with Options::inbound_poll: a thread
// that sleeps on inbound_poll_fd() and calls PollInbound, as the server's raft loop does.
// Destroy it before the transport.
class InboundPollLoop {
 public:
  explicit InboundPollLoop(Transport* t)
      : thread_([this, t] {
          while (!stop_.load()) {
            pollfd p{t->inbound_poll_fd(), POLLIN, 0};
            poll(&p, 1, 20);
            t->PollInbound();
          }
        }) {}
  ~InboundPollLoop() {
    stop_.store(true);
    thread_.join();
  }
  std::thread::id thread_id() const { return thread_.get_id(); }
  InboundPollLoop(const InboundPollLoop&) = delete;
  InboundPollLoop& operator=(const InboundPollLoop&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

inline raft::Message Msg(raft::MessageType type, raft::NodeId from, raft::NodeId to,
                         uint64_t index) {
  raft::Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = 1;
  m.index = index;
  return m;
}

inline raft::Message Heartbeat(raft::NodeId from, raft::NodeId to, uint64_t seq) {
  return Msg(raft::MessageType::kHeartbeat, from, to, seq);
}

}  // namespace raftkv::transport::testing
