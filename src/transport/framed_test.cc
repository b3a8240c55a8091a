// The framed peer stream as a misbehaving or foreign peer sees it: raw TCP clients speaking
// (or not speaking) the frame format against a real transport, plus mixed versions (a
// member that speaks only gRPC) and the keepalive of an inbound connection. Everything
// refused closes the connection, delivers nothing, and leaves the transport serving.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <thread>

#include "raftkvpb/raft.pb.h"
#include "transport/codec.h"
#include "transport/frame.h"
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

class FramedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    b_ = MustStart(TestOptions(2, kCluster), &hb_);
    b_->AddPeer(1, "127.0.0.1:1");  // known sender; B never needs to reach it here
  }

  // A peer that completed the handshake as member 1.
  std::unique_ptr<RawPeer> Admitted() {
    auto p = std::make_unique<RawPeer>(b_->listen_port());
    p->Send(RawPeer::Hello());
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
};

TEST_F(FramedTest, WellFormedStreamIsDeliveredInOrderAndCounted) {
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

TEST_F(FramedTest, HandshakeRejections) {
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

TEST_F(FramedTest, OversizedLengthClosesTheConnectionWithoutReadingIt) {
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

TEST_F(FramedTest, GarbageEndsTheStream) {
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

TEST_F(FramedTest, PartialMagicNeitherSpinsNorStays) {
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

TEST_F(FramedTest, PingIsAnsweredAndASilentConnectionIsClosed) {
  RecordingHandler hc;
  auto options = TestOptions(3, kCluster);
  options.keepalive_interval = 100ms;
  options.keepalive_timeout = 200ms;
  auto c = MustStart(options, &hc);
  c->AddPeer(1, "127.0.0.1:1");
  RawPeer p(c->listen_port());
  p.Send(RawPeer::Hello(kCluster, 1, 3));
  FrameType type;
  std::string payload;
  ASSERT_TRUE(p.ReadAnswer(&type, &payload).ok());
  ASSERT_EQ(type, FrameType::kAccept);
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

TEST_F(FramedTest, StopClosesInboundStreams) {
  auto p = Admitted();
  b_->Stop();
  EXPECT_TRUE(p->ClosedWithin(2s));
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
