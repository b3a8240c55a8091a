// Direct send on the framed stream (peer_sender.h): messages written from the thread calling
// Send while the stream is idle, queued otherwise. Per-peer order and the byte stream must
// survive every mix of direct, queued and half-written frames, pings, failures, address
// changes and Stop; the caller must never wait for the network.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "raftkvpb/raft.pb.h"
#include "transport/codec.h"
#include "transport/frame.h"
#include "transport/tcp_proxy.h"
#include "transport/test_util.h"
#include "transport/transport.h"

namespace raftkv::transport {
namespace {

using namespace std::chrono_literals;
using testing::Addr;
using testing::Heartbeat;
using testing::MustStart;
using testing::RecordingHandler;
using testing::TestOptions;
using Clock = std::chrono::steady_clock;

// An append from 1 to 2 at `index` with one entry of `size` bytes that names its index.
raft::Message Append(uint64_t index, size_t size) {
  raft::Message m = testing::Msg(raft::MessageType::kAppend, 1, 2, index);
  std::string data = std::to_string(index) + ":";
  data.resize(std::max(size, data.size()), 'x');
  m.entries.push_back({.term = 1, .index = index, .data = std::move(data)});
  return m;
}

// Checks that `h` got exactly the appends 1..n, in order, each with its own entry.
void ExpectAppendsInOrder(RecordingHandler* h, uint64_t n) {
  auto msgs = h->Messages();
  ASSERT_EQ(msgs.size(), n);
  for (uint64_t i = 0; i < n; i++) {
    ASSERT_EQ(msgs[i].index, i + 1) << "message " << i << " out of order";
    ASSERT_EQ(msgs[i].entries.size(), 1u);
    ASSERT_EQ(msgs[i].entries[0].data.rfind(std::to_string(i + 1) + ":", 0), 0u);
  }
}

// Waits until `pred(stats of peer 2 at t)` holds, or 10 s.
template <typename P>
bool WaitStats(Transport* t, P pred) {
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    if (pred(t->Stats()[2])) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// A handler whose OnMessage (the framed reader thread) waits while the gate is closed, so the
// receiver stops reading its socket and the sender's socket buffer fills up.
class GatedHandler : public RecordingHandler {
 public:
  void OnMessage(raft::Message msg) override {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return open_; });
    }
    RecordingHandler::OnMessage(std::move(msg));
  }
  void Set(bool open) {
    std::lock_guard lock(mu_);
    open_ = open;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
};

// Opens the gate when the test ends, however it ends, before the transports stop.
struct GateOpener {
  GatedHandler* h;
  ~GateOpener() { h->Set(true); }
};

std::pair<std::unique_ptr<Transport>, std::unique_ptr<Transport>> Pair(const Options& oa,
                                                                       Handler* ha, Handler* hb) {
  auto a = MustStart(oa, ha);
  auto b = MustStart(TestOptions(2), hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  return {std::move(a), std::move(b)};
}

// Sends appends one Send call at a time, each after the previous one arrived: the stream is
// idle every time.
void SendOneByOne(Transport* a, RecordingHandler* hb, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i <= to; i++) {
    a->Send({Append(i, 100)});
    ASSERT_TRUE(hb->WaitFor([&] { return hb->MessagesLocked().size() == i; })) << i;
  }
}

// Sends appends n+1, n+2, ... one by one until one went directly; returns the last index.
// Until then the stream thread may still hold the stream when the next one comes (on a busy
// machine the receiver it wakes can preempt it right after its write); once a send went
// directly the stream thread has nothing to do, so the following ones go directly too.
uint64_t SendUntilDirect(Transport* a, RecordingHandler* hb, uint64_t n) {
  const uint64_t before = a->Stats()[2].direct_messages;
  for (int i = 0; i < 100 && a->Stats()[2].direct_messages == before; i++) {
    n++;
    SendOneByOne(a, hb, n, n);
  }
  EXPECT_GT(a->Stats()[2].direct_messages, before);
  return n;
}

// Opens the stream (the first message is queued: no stream yet) and sends until one went
// directly. Returns the last index.
uint64_t OpenUntilDirect(Transport* a, RecordingHandler* hb) {
  return SendUntilDirect(a, hb, 0);
}

TEST(DirectSendTest, IdleStreamSendsFromTheCallerAndOffSwitchQueues) {
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct_send on" : "direct_send off");
    RecordingHandler ha, hb;
    auto oa = TestOptions(1);
    oa.direct_send = direct;
    auto [a, b] = Pair(oa, &ha, &hb);
    uint64_t n = 0;
    if (direct) {
      n = OpenUntilDirect(a.get(), &hb);
    } else {
      SendOneByOne(a.get(), &hb, 1, 2);
      n = 2;
    }
    const uint64_t before = a->Stats()[2].direct_messages;
    SendOneByOne(a.get(), &hb, n + 1, n + 50);
    n += 50;
    ExpectAppendsInOrder(&hb, n);
    // The stream thread counts a message after its write returns, maybe after it arrived.
    ASSERT_TRUE(WaitStats(a.get(), [&](const PeerStats& s) { return s.sent_messages == n; }));
    auto stats = a->Stats()[2];
    EXPECT_EQ(stats.direct_messages - before, direct ? 50u : 0u);
    EXPECT_EQ(stats.direct_messages > 0, direct);
    EXPECT_EQ(stats.direct_unfinished_writes, 0u);
    EXPECT_EQ(stats.dropped_messages, 0u);
  }
}

TEST(DirectSendTest, GrpcStreamNeverSendsDirect) {
  RecordingHandler ha, hb;
  auto oa = TestOptions(1);
  oa.framed_stream = false;
  auto [a, b] = Pair(oa, &ha, &hb);
  SendOneByOne(a.get(), &hb, 1, 20);
  ExpectAppendsInOrder(&hb, 20);
  EXPECT_TRUE(WaitStats(a.get(), [](const PeerStats& s) { return s.sent_messages == 20; }));
  EXPECT_EQ(a->Stats()[2].direct_messages, 0u);
}

// A send too large to go directly is queued; the small ones right after it must wait behind it
// (the stream thread is still waking up when they come) rather than go directly first.
TEST(DirectSendTest, LargeSendIsQueuedAndLaterSendsWaitBehindIt) {
  RecordingHandler ha, hb;
  auto [a, b] = Pair(TestOptions(1), &ha, &hb);
  uint64_t n = OpenUntilDirect(a.get(), &hb);
  const uint64_t first = n;
  for (int k = 0; k < 30; k++) {
    a->Send({Append(++n, 300 << 10)});  // over the direct limit
    a->Send({Append(++n, 100)});
    a->Send({Append(++n, 100)});
    ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == n; }, 10s));
  }
  ExpectAppendsInOrder(&hb, n);
  EXPECT_TRUE(WaitStats(a.get(), [&](const PeerStats& s) { return s.sent_messages == n; }));
  EXPECT_LE(a->Stats()[2].direct_messages, 2 * (n - first) / 3);
}

// The receiver stops reading: direct writes fill the socket until one goes out only in part;
// the stream thread finishes it while later messages queue behind it; once the receiver
// reads again the queue drains and the idle stream sends directly again. Every message
// arrives, once, in the order sent.
TEST(DirectSendTest, DirectQueuedAndUnfinishedWritesKeepOrderWithASlowReceiver) {
  constexpr size_t kSize = 64 << 10;
  RecordingHandler ha;
  GatedHandler hb;
  auto [a, b] = Pair(TestOptions(1), &ha, &hb);
  GateOpener opener{&hb};
  uint64_t n = OpenUntilDirect(a.get(), &hb);
  hb.Set(false);
  // Direct writes until the socket takes one only in part (a few MiB of buffers).
  while (a->Stats()[2].direct_unfinished_writes == 0 && n < 2000) a->Send({Append(++n, kSize)});
  ASSERT_GT(a->Stats()[2].direct_unfinished_writes, 0u) << "socket never filled";
  const uint64_t stuck_at = n;
  const uint64_t direct_when_stuck = a->Stats()[2].direct_messages;
  // Behind the unfinished frame: these queue (in Send calls of 1 to 3 messages), at least
  // until the stream thread has finished that frame (the kernel may still take more).
  for (int k = 0; k < 60; k++) {
    std::vector<raft::Message> msgs;
    for (int j = 0; j <= k % 3; j++) msgs.push_back(Append(++n, k % 2 ? kSize : 200));
    a->Send(std::move(msgs));
  }
  hb.Set(true);
  // While the queue drains: between two batches the stream is free for a moment, but a send
  // must not go directly past what is still queued.
  for (int k = 0; k < 300; k++) {
    a->Send({Append(++n, k % 7 == 0 ? kSize : 300)});
    if (k % 10 == 0) std::this_thread::sleep_for(100us);
  }
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == n; }, 20s))
      << hb.MessageCount() << " of " << n;
  // Idle again: direct once more.
  n = SendUntilDirect(a.get(), &hb, n);
  const uint64_t direct_before = a->Stats()[2].direct_messages;
  SendOneByOne(a.get(), &hb, n + 1, n + 20);
  n += 20;
  ExpectAppendsInOrder(&hb, n);
  ASSERT_TRUE(WaitStats(a.get(), [&](const PeerStats& s) { return s.sent_messages == n; }));
  auto stats = a->Stats()[2];
  EXPECT_EQ(stats.direct_messages, direct_before + 20);
  // Some of those sent after the socket filled up went through the queue.
  EXPECT_LT(stats.direct_messages - direct_when_stuck, n - stuck_at);
  EXPECT_EQ(stats.dropped_messages, 0u);
  EXPECT_EQ(b->Stats()[1].received_messages, n);
  EXPECT_EQ(ha.Unreachable(2), 0);
}

// Keepalive pings (written by the stream thread every 2 ms) while the caller writes frames
// directly: a ping inside a frame would corrupt the stream (the receiver closes it, the
// sender reports the peer unreachable and messages are lost).
TEST(DirectSendTest, PingsNeverLandInsideADirectFrame) {
  RecordingHandler ha, hb;
  auto oa = TestOptions(1);
  oa.keepalive_interval = 2ms;
  oa.keepalive_timeout = 3s;
  auto [a, b] = Pair(oa, &ha, &hb);
  SendOneByOne(a.get(), &hb, 1, 1);
  constexpr uint64_t kMessages = 3000;
  for (uint64_t i = 2; i <= kMessages; i++) {
    a->Send({Append(i, 1 + (i * 7919) % 3000)});
    if (i % 16 == 0) std::this_thread::sleep_for(200us);
  }
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == kMessages; }, 20s))
      << hb.MessageCount();
  ExpectAppendsInOrder(&hb, kMessages);
  EXPECT_EQ(ha.Unreachable(2), 0);
  EXPECT_GT(a->Stats()[2].direct_messages, 0u);
}

// A raw framed receiver for member 2 that the test controls: accepts, completes the
// handshake, reads or refuses to read, and resets connections.
class FakePeer {
 public:
  FakePeer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, 8), 0);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~FakePeer() { close(listen_fd_); }
  int port() const { return port_; }

  // Accepts the next connection (within 5 s) and answers its hello as member 2.
  bool AcceptStream() {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return false;
    conn_ = std::make_unique<FrameSocket>(fd);
    const auto deadline = Clock::now() + 5s;
    std::string preamble, payload;
    FrameType type;
    if (!conn_->ReadExact(kPreambleBytes, &preamble, deadline).ok() ||
        !conn_->ReadFrame(&type, &payload, deadline).ok() || type != FrameType::kHello) {
      return false;
    }
    raftkvpb::StreamAccept accept;
    accept.set_member_id(2);
    return conn_->WriteAll(Preamble() + Frame(FrameType::kAccept, accept.SerializeAsString())).ok();
  }

  // Reads batches until a message with `index` arrived; *out: every message read.
  bool ReadUntil(uint64_t index, std::vector<raft::Message>* out) {
    while (out->empty() || out->back().index != index) {
      if (!ReadBatch(out)) return false;
    }
    return true;
  }

  // Reads the next batch frame (skipping pings) and decodes its messages.
  bool ReadBatch(std::vector<raft::Message>* out) {
    const auto deadline = Clock::now() + 5s;
    while (true) {
      FrameType type;
      std::string payload;
      if (!conn_->ReadFrame(&type, &payload, deadline).ok()) return false;
      if (type == FrameType::kPing) continue;
      raftkvpb::MessageBatch batch;
      if (type != FrameType::kBatch || !batch.ParseFromString(payload)) return false;
      for (const auto& pm : batch.messages()) {
        auto m = DecodeMessage(pm);
        if (!m.ok()) return false;
        out->push_back(std::move(*m));
      }
      return true;
    }
  }

  // Closes the connection with a reset (SO_LINGER 0): the sender's next write fails.
  void Reset() {
    linger l{1, 0};
    setsockopt(conn_->fd(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    conn_.reset();
  }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::unique_ptr<FrameSocket> conn_;
};

// The peer resets the connection (1) while the stream thread finishes a direct write the
// socket took only in part, and (2) while the stream is idle, so that the caller's direct
// write itself fails. Both times the sender reports the peer unreachable, counts what was
// lost as dropped, and reconnects on the next message.
TEST(DirectSendTest, PeerClosingMidWriteIsReportedAndReconnected) {
  RecordingHandler ha;
  std::mutex report_mu;
  std::vector<std::thread::id> reporters;
  ha.SetUnreachableHook([&](raft::NodeId) {
    std::lock_guard lock(report_mu);
    reporters.push_back(std::this_thread::get_id());
  });
  FakePeer peer;
  auto a = MustStart(TestOptions(1), &ha);
  a->AddPeer(2, Addr(peer.port()));
  a->Send({Heartbeat(1, 2, 1)});
  ASSERT_TRUE(peer.AcceptStream());
  std::vector<raft::Message> got;
  ASSERT_TRUE(peer.ReadUntil(1, &got));
  // Until the stream thread is idle (see OpenUntilDirect).
  for (uint64_t i = 2; a->Stats()[2].direct_messages == 0 && i < 100; i++) {
    a->Send({Heartbeat(1, 2, i)});
    ASSERT_TRUE(peer.ReadUntil(i, &got));
  }

  // (1) The peer reads nothing: direct writes until one is unfinished, then a reset.
  uint64_t n = 1;
  while (a->Stats()[2].direct_unfinished_writes == 0 && n < 2000) a->Send({Append(++n, 64 << 10)});
  ASSERT_GT(a->Stats()[2].direct_unfinished_writes, 0u)
      << a->Stats()[2].direct_messages << " direct, " << a->Stats()[2].sent_messages << " sent, "
      << a->Stats()[2].dropped_messages << " dropped";
  a->Send({Append(++n, 100)});  // queued behind the unfinished frame
  peer.Reset();
  ASSERT_TRUE(ha.WaitFor([&] { return ha.UnreachableLocked(2) >= 1; }));
  EXPECT_GT(a->Stats()[2].dropped_messages, 0u);
  // The stream thread reconnects at once for the queued append, which arrives first.
  got.clear();
  a->Send({Heartbeat(1, 2, 100000)});
  ASSERT_TRUE(peer.AcceptStream());
  ASSERT_TRUE(peer.ReadUntil(100000, &got));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, raft::MessageType::kAppend);
  EXPECT_EQ(got[0].index, n);
  ASSERT_TRUE(WaitStats(a.get(), [](const PeerStats& s) { return s.connected; }));

  // (2) Reset while idle: the next direct write fails on this thread; the stream thread
  // reports it (never the caller), and a later message reconnects.
  peer.Reset();
  const int reported = ha.Unreachable(2);
  const uint64_t dropped = a->Stats()[2].dropped_messages;
  const uint64_t direct = a->Stats()[2].direct_messages;
  a->Send({Heartbeat(1, 2, 200000)});
  ASSERT_TRUE(ha.WaitFor([&] { return ha.UnreachableLocked(2) > reported; }));
  EXPECT_EQ(a->Stats()[2].dropped_messages, dropped + 1);
  EXPECT_EQ(a->Stats()[2].direct_messages, direct);  // it never went out
  got.clear();
  a->Send({Heartbeat(1, 2, 300000)});
  ASSERT_TRUE(peer.AcceptStream());
  ASSERT_TRUE(peer.ReadUntil(300000, &got));
  EXPECT_EQ(got.size(), 1u);  // the failed one is not resent
  std::lock_guard lock(report_mu);
  for (auto id : reporters) EXPECT_NE(id, std::this_thread::get_id());
  ha.SetUnreachableHook(nullptr);
}

// Stop while the stream thread is stuck finishing a direct write (the network is frozen) and
// a caller keeps sending: Stop returns at once (it does not wait out the write timeout), no
// Send call ever waits for the network, and no callback follows Stop.
TEST(DirectSendTest, StopDuringAnUnfinishedDirectWrite) {
  RecordingHandler ha, hb;
  auto oa = TestOptions(1);
  oa.max_queued_messages_per_peer = 64;  // the frozen peer's queue stays small
  auto a = MustStart(oa, &ha);
  auto b = MustStart(TestOptions(2), &hb);
  testing::FreezableProxy proxy(b->listen_port());
  a->AddPeer(2, Addr(proxy.port()));
  b->AddPeer(1, Addr(a->listen_port()));
  const uint64_t opened = OpenUntilDirect(a.get(), &hb);
  proxy.Freeze(true);

  std::atomic<bool> done{false};
  std::atomic<int64_t> slowest_send_us{0};
  std::thread sender([&] {
    for (uint64_t i = opened + 1; !done; i++) {
      const auto t0 = Clock::now();
      a->Send({Append(i, 32 << 10)});
      const int64_t us =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
      if (us > slowest_send_us) slowest_send_us = us;
    }
  });
  const bool unfinished = WaitStats(a.get(), [](const PeerStats& s) {
    return s.direct_unfinished_writes > 0 && s.dropped_messages > 0;  // stuck, queue full
  });
  const auto t0 = Clock::now();
  a->Stop();
  const auto stop_took = Clock::now() - t0;
  std::this_thread::sleep_for(50ms);  // the sender keeps calling Send after Stop
  done = true;
  sender.join();
  ASSERT_TRUE(unfinished) << "the direct write never got stuck";
  // The write timeout is keepalive interval + timeout (10 s): Stop must not wait for it,
  // and neither may Send.
  EXPECT_LT(stop_took, 3s);
  EXPECT_LT(slowest_send_us.load(), 1'000'000);
  EXPECT_FALSE(a->Stats()[2].connected);
  proxy.Freeze(false);
}

// The peer's address changes back and forth while one thread sends as fast as it can: every
// receiver (both are member 2) gets a strictly increasing subsequence (no message twice, none
// reordered, no corrupted frame), both get traffic, and every message ends up counted as sent
// or dropped.
TEST(DirectSendTest, AddressChangesDuringDirectWritesKeepOrderAndAccounting) {
  RecordingHandler ha, h2a, h2b;
  auto a = MustStart(TestOptions(1), &ha);
  auto b1 = MustStart(TestOptions(2), &h2a);
  auto b2 = MustStart(TestOptions(2), &h2b);
  b1->AddPeer(1, Addr(a->listen_port()));
  b2->AddPeer(1, Addr(a->listen_port()));
  a->AddPeer(2, Addr(b1->listen_port()));
  std::atomic<bool> done{false};
  std::atomic<uint64_t> sent{0};
  std::thread sender([&] {
    for (uint64_t i = 1; !done; i++) {
      a->Send({Append(i, i % 5 == 0 ? 20000 : 50)});
      sent = i;
      // Pauses let the queue drain, so that many sends find the stream idle (direct).
      if (i % 4 == 0) std::this_thread::sleep_for(100us);
    }
  });
  for (int k = 0; k < 20; k++) {
    std::this_thread::sleep_for(15ms);
    a->AddPeer(2, Addr((k % 2 ? b1 : b2)->listen_port()));
  }
  done = true;
  sender.join();
  const uint64_t total = sent;
  // Once the queue drains, each message was either written or dropped.
  EXPECT_TRUE(WaitStats(
      a.get(), [&](const PeerStats& s) { return s.sent_messages + s.dropped_messages == total; }))
      << a->Stats()[2].sent_messages << " sent + " << a->Stats()[2].dropped_messages
      << " dropped of " << total;
  a->Stop();
  for (RecordingHandler* h : {&h2a, &h2b}) {
    auto msgs = h->Messages();
    EXPECT_GT(msgs.size(), 0u);
    for (size_t i = 1; i < msgs.size(); i++) {
      ASSERT_LT(msgs[i - 1].index, msgs[i].index) << "at " << i;
    }
    for (const auto& m : msgs) {
      ASSERT_EQ(m.entries.size(), 1u);
      ASSERT_EQ(m.entries[0].data.rfind(std::to_string(m.index) + ":", 0), 0u);
    }
  }
  EXPECT_GT(a->Stats()[2].direct_messages, 0u);
}

}  // namespace
}  // namespace raftkv::transport
