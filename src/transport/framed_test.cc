// The framed peer stream as a misbehaving or foreign peer sees it: raw TCP clients speaking
// (or not speaking) the frame format against a real transport, plus mixed versions (a
// member that speaks only gRPC) and the keepalive of an inbound connection. Everything
// refused closes the connection, delivers nothing, and leaves the transport serving.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <thread>

#include "raftkvpb/raft.pb.h"
#include "transport/codec.h"
#include "transport/frame.h"
#include "transport/peer_listener.h"
#include "transport/test_util.h"
#include "transport/transport.h"

namespace raftkv::transport {
namespace {

using namespace std::chrono_literals;
using testing::Addr;
using testing::Heartbeat;
using testing::InboundPollLoop;
using testing::MustStart;
using testing::RecordingHandler;
using testing::TestOptions;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kCluster = 0xC1;

// A raw TCP connection to the peer port.
class RawPeer {
 public:
  explicit RawPeer(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socket_ = std::make_unique<FrameSocket>(fd);
  }

  void Send(const std::string& bytes) { EXPECT_TRUE(socket_->WriteAll(bytes).ok()); }

  static std::string Hello(uint64_t cluster = kCluster, uint64_t from = 1, uint64_t to = 2) {
    raftkvpb::StreamHeader h;
    h.set_cluster_id(cluster);
    h.set_from(from);
    h.set_to(to);
    return Preamble() + Frame(FrameType::kHello, h.SerializeAsString());
  }

  static std::string Batch(const std::vector<raft::Message>& msgs) {
    raftkvpb::MessageBatch b;
    for (const auto& m : msgs) EncodeMessage(m, b.add_messages());
    return Frame(FrameType::kBatch, b.SerializeAsString());
  }

  // The receiver's answer to a hello: its preamble, then one frame.
  Status ReadAnswer(FrameType* type, std::string* payload) {
    std::string preamble;
    const auto deadline = Clock::now() + 5s;
    RAFTKV_RETURN_IF_ERROR(socket_->ReadExact(kPreambleBytes, &preamble, deadline));
    RAFTKV_RETURN_IF_ERROR(CheckPreamble(preamble));
    return socket_->ReadFrame(type, payload, deadline);
  }

  // Sends `hello` and reads the answer: whether the receiver accepted the stream.
  bool Accepted(const std::string& hello) {
    Send(hello);
    FrameType type;
    std::string payload;
    return ReadAnswer(&type, &payload).ok() && type == FrameType::kAccept;
  }

  // Reads whatever has come, without waiting: true if the receiver closed the connection.
  bool EndedNow() {
    char buf[4096];
    while (true) {
      ssize_t n = recv(socket_->fd(), buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) continue;
      return n == 0 || errno == ECONNRESET;
    }
  }

  // Reads whatever comes until the receiver closes the connection (true) or `within` passes.
  bool EndedWithin(std::chrono::milliseconds within) {
    const auto deadline = Clock::now() + within;
    std::string byte;
    while (socket_->ReadExact(1, &byte, deadline).ok()) {
    }
    return socket_->closed_by_peer();
  }

  // Reads frames until the receiver closes the connection (true) or `within` passes.
  // *frames: the types of the frames that arrived before the end.
  bool ClosedWithin(std::chrono::milliseconds within, std::vector<FrameType>* frames = nullptr) {
    const auto deadline = Clock::now() + within;
    while (Clock::now() < deadline) {
      FrameType type;
      std::string payload;
      Status st = socket_->ReadFrame(&type, &payload, deadline);
      if (!st.ok()) return socket_->closed_by_peer();
      if (frames) frames->push_back(type);
    }
    return false;
  }

 private:
  std::unique_ptr<FrameSocket> socket_;
};

// Every test runs twice: inbound streams read by a reader thread each, and polled
// (Options::inbound_poll) by one thread that plays the server's raft loop.
class FramedTest : public ::testing::TestWithParam<bool> {
 protected:
  bool polled() const { return GetParam(); }

  void SetUp() override {
    b_ = MustStart(TestOptions(2, kCluster), &hb_);
    poll_b_ = PollIfPolled(b_.get());
    b_->AddPeer(1, "127.0.0.1:1");  // known sender; B never needs to reach it here
  }
  void TearDown() override {
    poll_b_.reset();  // before the transport it polls
    b_.reset();
  }

  Options TestOptions(raft::NodeId self, uint64_t cluster_id) const {
    Options o = testing::TestOptions(self, cluster_id);
    o.inbound_poll = polled();
    return o;
  }
  // The polling thread for a transport started with TestOptions (none for reader threads);
  // declare it after the transport, so that it stops first.
  std::unique_ptr<InboundPollLoop> PollIfPolled(Transport* t) const {
    return polled() ? std::make_unique<InboundPollLoop>(t) : nullptr;
  }

  // A peer that completed the handshake as member `from`.
  std::unique_ptr<RawPeer> Admitted(uint64_t from = 1) {
    auto p = std::make_unique<RawPeer>(b_->listen_port());
    p->Send(RawPeer::Hello(kCluster, from));
    FrameType type;
    std::string payload;
    EXPECT_TRUE(p->ReadAnswer(&type, &payload).ok());
    EXPECT_EQ(type, FrameType::kAccept);
    raftkvpb::StreamAccept accept;
    EXPECT_TRUE(accept.ParseFromString(payload));
    EXPECT_EQ(accept.member_id(), 2u);
    return p;
  }

  // The transport still serves: a well-formed stream after the bad one is delivered.
  void ExpectStillServing(uint64_t seq) {
    auto p = Admitted();
    p->Send(RawPeer::Batch({Heartbeat(1, 2, seq)}));
    EXPECT_TRUE(hb_.WaitFor([&] {
      for (const auto& m : hb_.MessagesLocked()) {
        if (m.index == seq) return true;
      }
      return false;
    }));
  }

  // Sends a hello, expects a rejection naming `reason`, and the connection closed.
  void ExpectRejected(const std::string& hello, const std::string& reason) {
    RawPeer p(b_->listen_port());
    p.Send(hello);
    FrameType type;
    std::string payload;
    ASSERT_TRUE(p.ReadAnswer(&type, &payload).ok());
    EXPECT_EQ(type, FrameType::kReject);
    EXPECT_NE(payload.find(reason), std::string::npos) << payload;
    EXPECT_TRUE(p.ClosedWithin(5s));
  }

  RecordingHandler hb_;
  std::unique_ptr<Transport> b_;
  std::unique_ptr<InboundPollLoop> poll_b_;
};

std::string ReaderName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "polled" : "thread";
}

TEST_P(FramedTest, WellFormedStreamIsDeliveredInOrderAndCounted) {
  auto p = Admitted();
  p->Send(RawPeer::Batch({Heartbeat(1, 2, 1), Heartbeat(1, 2, 2)}) +
          RawPeer::Batch({Heartbeat(1, 2, 3)}));
  ASSERT_TRUE(hb_.WaitFor([&] { return hb_.MessagesLocked().size() == 3; }));
  std::vector<uint64_t> seqs;
  for (const auto& m : hb_.Messages()) seqs.push_back(m.index);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2, 3}));
  auto stats = b_->Stats()[1];
  EXPECT_EQ(stats.received_messages, 3u);
  EXPECT_GT(stats.received_bytes, 0u);
  EXPECT_NE(stats.last_received, Clock::time_point{});
}

TEST_P(FramedTest, HandshakeRejections) {
  ExpectRejected(RawPeer::Hello(kCluster + 1), "cluster id mismatch");
  ExpectRejected(RawPeer::Hello(kCluster, 5), "unknown sender member 5");
  ExpectRejected(RawPeer::Hello(kCluster, 0), "unknown sender member 0");
  ExpectRejected(RawPeer::Hello(kCluster, 1, 3), "stream for member 3 reached member 2");
  // A preamble of another version, and a first frame that is not a readable header.
  std::string v9 = Preamble();
  v9[4] = 9;
  ExpectRejected(v9, "version 9");
  ExpectRejected(Preamble() + Frame(FrameType::kHello, "\xff\xff\xff"), "no readable header");
  ExpectRejected(Preamble() + RawPeer::Batch({Heartbeat(1, 2, 1)}), "no readable header");
  EXPECT_EQ(hb_.MessageCount(), 0u);
  ExpectStillServing(7);
}

TEST_P(FramedTest, OversizedLengthClosesTheConnectionWithoutReadingIt) {
  auto p = Admitted();
  std::string header;
  AppendFrameHeader(&header, FrameType::kBatch, 0);
  const uint32_t huge = 0xfffffff0u;  // ~4 GiB announced, never sent
  std::memcpy(header.data(), &huge, 4);
  p->Send(header + std::string(100, 'x'));
  EXPECT_TRUE(p->ClosedWithin(5s));
  EXPECT_EQ(hb_.MessageCount(), 0u);
  ExpectStillServing(8);
}

TEST_P(FramedTest, GarbageEndsTheStream) {
  {  // a batch frame whose payload does not decode
    auto p = Admitted();
    p->Send(Frame(FrameType::kBatch, std::string("\xff\xfe\xfd garbage", 12)));
    std::vector<FrameType> frames;
    EXPECT_TRUE(p->ClosedWithin(5s, &frames));
    EXPECT_EQ(frames, (std::vector<FrameType>{FrameType::kReject}));
  }
  {  // a frame type the receiver does not take
    auto p = Admitted();
    p->Send(Frame(static_cast<FrameType>(77), "x"));
    EXPECT_TRUE(p->ClosedWithin(5s));
  }
  {  // a message that decodes but is not for this member: the whole batch is refused
    auto p = Admitted();
    p->Send(RawPeer::Batch({Heartbeat(1, 2, 1), Heartbeat(1, 3, 2)}));
    EXPECT_TRUE(p->ClosedWithin(5s));
  }
  {  // bytes that are neither framed nor HTTP/2 go to gRPC, which closes them
    RawPeer p(b_->listen_port());
    p.Send(std::string(64, 'G'));
    EXPECT_TRUE(p.ClosedWithin(10s));
  }
  EXPECT_EQ(hb_.MessageCount(), 0u);
  ExpectStillServing(9);
}

TEST_P(FramedTest, PartialMagicNeitherSpinsNorStays) {
  // Two bytes of the magic, then nothing: the acceptor must wait without spinning on the
  // readable socket, then give the connection to gRPC, which refuses it.
  RawPeer p(b_->listen_port());
  p.Send("RK");
  auto cpu = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
  };
  const double before = cpu();
  std::this_thread::sleep_for(500ms);
  EXPECT_LT(cpu() - before, 250.0) << "ms of CPU while a connection sat on a partial magic";
  EXPECT_TRUE(p.ClosedWithin(10s));
  EXPECT_EQ(hb_.MessageCount(), 0u);
  ExpectStillServing(10);
}

TEST_P(FramedTest, PingIsAnsweredAndASilentConnectionIsClosed) {
  RecordingHandler hc;
  auto options = TestOptions(3, kCluster);
  options.keepalive_interval = 100ms;
  options.keepalive_timeout = 200ms;
  auto c = MustStart(options, &hc);
  auto poll_c = PollIfPolled(c.get());
  c->AddPeer(1, "127.0.0.1:1");
  RawPeer p(c->listen_port());
  ASSERT_TRUE(p.Accepted(RawPeer::Hello(kCluster, 1, 3)));
  p.Send(Frame(FrameType::kPing, {}));
  // Then silence: closed after keepalive_interval + keepalive_timeout (300 ms) of nothing.
  const auto start = Clock::now();
  std::vector<FrameType> frames;
  EXPECT_TRUE(p.ClosedWithin(5s, &frames));
  const auto waited = Clock::now() - start;
  EXPECT_EQ(frames, (std::vector<FrameType>{FrameType::kPong}));
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 3s);
}

TEST_P(FramedTest, StopClosesInboundStreams) {
  auto p = Admitted();
  b_->Stop();
  EXPECT_TRUE(p->ClosedWithin(2s));
}

// What an unauthenticated connection can cost on the peer port (peer_listener.h): the
// limits on connections before and after the framed handshake.
class FramedLimitsTest : public FramedTest {
 protected:
  static constexpr size_t kSlots = PeerListener::kMaxUnadmitted;

  // `n` connections that send the framed magic and then nothing, as a flood would.
  std::vector<std::unique_ptr<RawPeer>> HalfOpen(size_t n) {
    std::vector<std::unique_ptr<RawPeer>> peers;
    for (size_t i = 0; i < n; i++) {
      peers.push_back(std::make_unique<RawPeer>(b_->listen_port()));
      peers.back()->Send(std::string(kFrameMagic, sizeof(kFrameMagic)));
    }
    return peers;
  }

  static size_t CountClosed(const std::vector<std::unique_ptr<RawPeer>>& peers) {
    size_t closed = 0;
    for (const auto& p : peers) closed += p->EndedNow() ? 1 : 0;
    return closed;
  }

  // Waits until exactly `want` of `peers` were closed by the server, and checks that no more
  // are closed a moment later.
  static void ExpectClosedExactly(const std::vector<std::unique_ptr<RawPeer>>& peers, size_t want) {
    const auto deadline = Clock::now() + 3s;
    while (CountClosed(peers) < want && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(CountClosed(peers), want);
  }

  // While alive, every log line also goes to a ring buffer; Lines() are those containing
  // `text`.
  class LogCapture {
   public:
    LogCapture() : previous_(spdlog::default_logger()) {
      auto sinks = previous_->sinks();
      sinks.push_back(ring_);
      auto capture = std::make_shared<spdlog::logger>("capture", sinks.begin(), sinks.end());
      capture->set_level(spdlog::level::info);
      spdlog::set_default_logger(capture);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    std::vector<std::string> Lines(const std::string& text) const {
      std::vector<std::string> out;
      for (const auto& line : ring_->last_formatted()) {
        if (line.find(text) != std::string::npos) out.push_back(line);
      }
      return out;
    }

   private:
    std::shared_ptr<spdlog::logger> previous_;
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring_ =
        std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100000);
  };

  static size_t ThreadCount() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
      n++;
    }
    return n;
  }
};

TEST_P(FramedLimitsTest, HalfOpenFloodTakesNoThreadsAndIsCapped) {
  const size_t threads_before = ThreadCount();
  // More than the slots: the oldest beyond the limit are closed at once (after a reject
  // frame), the rest wait for their handshake timeout (5 s) without a thread each.
  auto flood = HalfOpen(kSlots + 36);
  ExpectClosedExactly(flood, 36);
  EXPECT_LT(ThreadCount(), threads_before + 4) << "threads started for half-open connections";
  for (size_t i = 0; i < 36; i++) EXPECT_TRUE(flood[i]->EndedNow()) << "oldest " << i;
  EXPECT_EQ(hb_.MessageCount(), 0u);
}

TEST_P(FramedLimitsTest, MemberConnectsWhileTheFloodHoldsEverySlot) {
  auto flood = HalfOpen(kSlots);
  std::this_thread::sleep_for(100ms);  // every slot taken
  ASSERT_EQ(CountClosed(flood), 0u);
  // A real member: its hello arrives with its connection, so it is served at once (had the
  // newcomer been refused instead, it would wait for the flood's 5 s handshake timeout).
  RecordingHandler ha;
  auto a = MustStart(TestOptions(1, kCluster), &ha);
  a->AddPeer(2, Addr(b_->listen_port()));
  const auto start = Clock::now();
  for (uint64_t i = 1; i <= 20; i++) a->Send({Heartbeat(1, 2, i)});
  ASSERT_TRUE(hb_.WaitFor([&] { return hb_.MessagesLocked().size() == 20; }));
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_LE(CountClosed(flood), 2u);  // at most what the member's connections pushed out
  // A member whose hello comes a little after its connection waits in a slot: it pushes the
  // oldest flood connection out rather than being refused.
  const size_t closed_before = CountClosed(flood);
  for (auto& p : HalfOpen(closed_before)) flood.push_back(std::move(p));  // all slots again
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(CountClosed(flood), closed_before);
  RawPeer slow(b_->listen_port());
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(slow.Accepted(RawPeer::Hello()));
  EXPECT_EQ(CountClosed(flood), closed_before + 1);
}

TEST_P(FramedLimitsTest, HeldSlotIsRefusedAfterTheHandshakeTimeout) {
  RecordingHandler hc;
  auto options = TestOptions(3, kCluster);
  options.handshake_timeout = 300ms;
  auto c = MustStart(options, &hc);
  auto poll_c = PollIfPolled(c.get());
  c->AddPeer(1, "127.0.0.1:1");
  for (const std::string& sent : {std::string(kFrameMagic, sizeof(kFrameMagic)),
                                  Preamble() + RawPeer::Hello(kCluster, 1, 3).substr(8, 3)}) {
    RawPeer p(c->listen_port());
    const auto start = Clock::now();
    p.Send(sent);
    FrameType type;
    std::string payload;
    ASSERT_TRUE(p.ReadAnswer(&type, &payload).ok());
    EXPECT_EQ(type, FrameType::kReject);
    EXPECT_NE(payload.find("no hello within 300 ms"), std::string::npos) << payload;
    EXPECT_TRUE(p.ClosedWithin(2s));
    EXPECT_GE(Clock::now() - start, 250ms);
  }
  // The slot is free again: a well-formed stream is served.
  RawPeer ok(c->listen_port());
  EXPECT_TRUE(ok.Accepted(RawPeer::Hello(kCluster, 1, 3)));
}

TEST_P(FramedLimitsTest, DroppedConnectionsAreLoggedOncePerInterval) {
  std::vector<std::string> lines;
  {
    LogCapture log;
    auto flood = HalfOpen(kSlots + 100);
    ExpectClosedExactly(flood, 100);
    b_->Stop();
    lines = log.Lines("have not finished their handshake");
  }
  ASSERT_EQ(lines.size(), 1u) << "one line for 100 connections closed within 10 s";
  EXPECT_NE(lines[0].find(std::to_string(kSlots) + " peer connections"), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find("from ipv4:127.0.0.1:"), std::string::npos) << lines[0];
}

TEST_P(FramedLimitsTest, AcceptorPausesInsteadOfSpinningWhenOutOfFds) {
  LogCapture log;
  // Sockets made while fds are plenty; then the process may open only a few more, so the
  // acceptor takes a few of these connections and then fails with EMFILE while the rest
  // wait in the listen backlog (keeping the listening socket readable).
  std::vector<int> clients;
  for (int i = 0; i < 40; i++) clients.push_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  size_t open_fds = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    open_fds++;
  }
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  rlimit low = old_limit;
  low.rlim_cur = open_fds + 4;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(b_->listen_port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int fd : clients) connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  std::this_thread::sleep_for(100ms);
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(500ms);
  getrusage(RUSAGE_SELF, &after);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old_limit), 0);
  auto cpu_ms = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000.0 +
           (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1000.0;
  };
  // An acceptor polling a listening socket it cannot accept from would burn the 500 ms.
  EXPECT_LT(cpu_ms(after) - cpu_ms(before), 100.0);
  for (int fd : clients) close(fd);
  const auto lines = log.Lines("cannot accept peer connections");
  ASSERT_GE(lines.size(), 1u);
  EXPECT_LE(lines.size(), 1u) << "rate-limited";
  EXPECT_NE(lines[0].find(std::strerror(EMFILE)), std::string::npos) << lines[0];
  // With fds again, the acceptor takes connections again.
  RecordingHandler ha;
  auto a = MustStart(TestOptions(1, kCluster), &ha);
  a->AddPeer(2, Addr(b_->listen_port()));
  a->Send({Heartbeat(1, 2, 1)});
  EXPECT_TRUE(hb_.WaitFor([&] { return hb_.MessagesLocked().size() == 1; }));
}

TEST_P(FramedLimitsTest, StreamsOverTheLimitAreRefusedWithAReason) {
  const size_t limit = PeerListener::kMaxFramedStreams;
  const uint64_t first = 10;  // members first..first+limit; B is member 2
  for (uint64_t id = first; id <= first + limit; id++) b_->AddPeer(id, "127.0.0.1:1");
  std::vector<std::unique_ptr<RawPeer>> streams;
  for (uint64_t id = first; id < first + limit; id++) streams.push_back(Admitted(id));
  ExpectRejected(RawPeer::Hello(kCluster, first + limit),
                 "too many inbound framed streams (" + std::to_string(limit) + ", the limit)");
  // One stream ends: its place is free again (once its reader thread is joined).
  streams.pop_back();
  const auto deadline = Clock::now() + 3s;
  bool admitted = false;
  while (!admitted && Clock::now() < deadline) {
    RawPeer p(b_->listen_port());
    admitted = p.Accepted(RawPeer::Hello(kCluster, first + limit));
    if (!admitted) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(admitted);
}

TEST_P(FramedLimitsTest, NewerStreamOfASenderClosesTheOlder) {
  auto older = Admitted();
  auto newer = Admitted();
  EXPECT_TRUE(older->ClosedWithin(2s));
  newer->Send(RawPeer::Batch({Heartbeat(1, 2, 11)}));
  ASSERT_TRUE(hb_.WaitFor([&] { return hb_.MessagesLocked().size() == 1; }));
}

TEST_P(FramedLimitsTest, StopClosesConnectionsWaitingForTheirHandshake) {
  auto flood = HalfOpen(10);
  RawPeer silent(b_->listen_port());  // not even the magic yet
  std::this_thread::sleep_for(100ms);
  b_->Stop();
  for (const auto& p : flood) EXPECT_TRUE(p->EndedWithin(2s));
  EXPECT_TRUE(silent.EndedWithin(2s));
}

INSTANTIATE_TEST_SUITE_P(Readers, FramedTest, ::testing::Values(false, true), ReaderName);
INSTANTIATE_TEST_SUITE_P(Readers, FramedLimitsTest, ::testing::Values(false, true), ReaderName);

// Polled inbound streams between two real transports, as the server's raft loop uses them.
class PolledInboundTest : public ::testing::Test {
 protected:
  // Records which thread delivered each message.
  class ThreadRecordingHandler : public RecordingHandler {
   public:
    void OnMessage(raft::Message msg) override {
      {
        std::lock_guard lock(mu_);
        threads_.insert(std::this_thread::get_id());
      }
      RecordingHandler::OnMessage(std::move(msg));
    }
    std::set<std::thread::id> Threads() {
      std::lock_guard lock(mu_);
      return threads_;
    }

   private:
    std::mutex mu_;
    std::set<std::thread::id> threads_;
  };

  static Options Polled(raft::NodeId self) {
    Options o = testing::TestOptions(self, kCluster);
    o.inbound_poll = true;
    return o;
  }
};

TEST_F(PolledInboundTest, LargeAndSmallFramesArriveInOrderOnThePollingThread) {
  ThreadRecordingHandler ha, hb;
  auto a = MustStart(testing::TestOptions(1, kCluster), &ha);
  auto b = MustStart(Polled(2), &hb);
  InboundPollLoop poll_b(b.get());
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  // Appends of 1 MiB among heartbeats: frames far larger than one read, arriving in pieces
  // across several polls, between small ones.
  constexpr uint64_t kCount = 400;
  for (uint64_t i = 1; i <= kCount; i++) {
    raft::Message m = Heartbeat(1, 2, i);
    if (i % 40 == 0) {
      m.type = raft::MessageType::kAppend;
      m.entries.push_back(raft::Entry{1, i, raft::EntryType::kNormal, std::string(1 << 20, 'e')});
    }
    a->Send({m});
  }
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == kCount; }, 20s));
  uint64_t next = 1;
  for (const auto& m : hb.Messages()) {
    EXPECT_EQ(m.index, next++);
    if (m.type == raft::MessageType::kAppend) {
      ASSERT_EQ(m.entries.size(), 1u);
      EXPECT_EQ(m.entries[0].data.size(), 1u << 20);
    }
  }
  EXPECT_EQ(hb.Threads(), std::set<std::thread::id>{poll_b.thread_id()})
      << "every message delivered by the polling thread, none by a reader thread";
  EXPECT_EQ(ha.Unreachable(2), 0);
}

TEST_F(PolledInboundTest, NothingIsDeliveredUntilPolledAndNothingIsLost) {
  RecordingHandler ha, hb;
  auto a = MustStart(testing::TestOptions(1, kCluster), &ha);
  auto b = MustStart(Polled(2), &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  for (uint64_t i = 1; i <= 50; i++) a->Send({Heartbeat(1, 2, i)});
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(hb.MessageCount(), 0u) << "no reader thread delivers a polled stream";
  pollfd p{b->inbound_poll_fd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 1) << "the poll fd says the stream has bytes";
  InboundPollLoop poll_b(b.get());
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == 50; }));
  EXPECT_EQ(hb.Messages().back().index, 50u);
}

TEST_F(PolledInboundTest, PingsAreAnsweredSoAnIdleStreamStays) {
  RecordingHandler ha, hb;
  auto options_a = testing::TestOptions(1, kCluster);
  auto options_b = Polled(2);
  for (Options* o : {&options_a, &options_b}) {
    o->keepalive_interval = 50ms;
    o->keepalive_timeout = 100ms;
  }
  auto a = MustStart(options_a, &ha);
  auto b = MustStart(options_b, &hb);
  InboundPollLoop poll_b(b.get());
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  a->Send({Heartbeat(1, 2, 1)});
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == 1; }));
  // Twenty keepalive intervals of nothing but pings: a ping unanswered for 100 ms would close
  // A's stream (reported unreachable), and B closes a stream silent for 150 ms.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(ha.Unreachable(2), 0);
  EXPECT_TRUE(a->Stats()[2].connected);
  a->Send({Heartbeat(1, 2, 2)});
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == 2; }));
}

TEST(FrameSocketTest, DrainFramesStopsReadingAtItsBudget) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  FrameSocket writer(fds[0]), reader(fds[1]);
  const std::string big(100 << 10, 'b');
  ASSERT_TRUE(writer
                  .WriteAll(Frame(FrameType::kBatch, big) + Frame(FrameType::kPing, {}) +
                            Frame(FrameType::kBatch, big))
                  .ok());
  std::vector<FrameType> got;
  auto collect = [&](FrameType type, const std::string& payload) {
    got.push_back(type);
    EXPECT_EQ(payload.size(), type == FrameType::kPing ? 0u : big.size());
    return Status::OK();
  };
  // 16 KiB per call: the first call cannot hold a whole 100 KiB frame yet.
  ASSERT_TRUE(reader.DrainFrames(collect, 16 << 10).ok());
  EXPECT_TRUE(got.empty());
  int calls = 1;
  while (got.size() < 3 && calls < 100) {
    ASSERT_TRUE(reader.DrainFrames(collect, 16 << 10).ok());
    calls++;
  }
  EXPECT_EQ(got, (std::vector<FrameType>{FrameType::kBatch, FrameType::kPing, FrameType::kBatch}));
  EXPECT_GE(calls, 4) << "each call read about its budget, not everything";
}

// Mixed versions: a member that speaks only gRPC (framed_stream off: gRPC owns its port,
// and its sender never tries the framed stream) and a framed one exchange messages both ways.
TEST(FramedMixedTest, GrpcOnlyPeerIsReachedOverGrpc) {
  RecordingHandler ha, hb;
  auto a = MustStart(TestOptions(1), &ha);  // framed
  auto old_options = TestOptions(2);
  old_options.framed_stream = false;
  auto b = MustStart(old_options, &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  // The framed attempt is refused by B's gRPC server and the sender falls back at once:
  // nothing is lost, and every message arrives in order both ways.
  for (uint64_t i = 1; i <= 100; i++) {
    a->Send({Heartbeat(1, 2, i)});
    b->Send({Heartbeat(2, 1, i)});
  }
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == 100; }));
  ASSERT_TRUE(ha.WaitFor([&] { return ha.MessagesLocked().size() == 100; }));
  for (auto* h : {&ha, &hb}) {
    uint64_t last = 0;
    for (const auto& m : h->Messages()) {
      EXPECT_GT(m.index, last);
      last = m.index;
    }
  }
  EXPECT_TRUE(a->Stats()[2].connected);
  EXPECT_TRUE(b->Stats()[1].connected);
}

}  // namespace
}  // namespace raftkv::transport
