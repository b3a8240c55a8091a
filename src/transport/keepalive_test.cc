// Keepalive: an idle stream survives (the receiver allows our pings), and a peer behind a
// silent network (a frozen proxy: no data, no RST) is noticed and reconnected once the
// network works again.
#include <gtest/gtest.h>

#include <thread>

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

class KeepaliveTest : public testing::StreamKindTest {
 protected:
  Options FastKeepalive(raft::NodeId self) const {
    Options o = TestOptions(self);
    o.keepalive_interval = 100ms;
    o.keepalive_timeout = 200ms;
    return o;
  }
};
RAFTKV_BOTH_STREAM_KINDS(KeepaliveTest);

bool SendUntilReceived(Transport* t, RecordingHandler* h, uint64_t seq) {
  for (int i = 0; i < 250; i++) {
    t->Send({Heartbeat(1, 2, seq)});
    if (h->WaitFor(
            [&] {
              for (const auto& m : h->MessagesLocked()) {
                if (m.index == seq) return true;
              }
              return false;
            },
            20ms)) {
      return true;
    }
  }
  return false;
}

TEST_P(KeepaliveTest, IdleStreamSurvivesFrequentPings) {
  RecordingHandler ha, hb;
  auto a = MustStart(FastKeepalive(1), &ha);
  auto b = MustStart(FastKeepalive(2), &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  ASSERT_TRUE(SendUntilReceived(a.get(), &hb, 1));
  std::this_thread::sleep_for(1500ms);  // idle: pings (gRPC's about every 1 s, ours every 200 ms)
  ASSERT_TRUE(SendUntilReceived(a.get(), &hb, 2));
  EXPECT_EQ(ha.Unreachable(2), 0);  // the stream was never torn down
  EXPECT_TRUE(a->Stats()[2].connected);
}

TEST_P(KeepaliveTest, SilentNetworkIsNoticedAndHealed) {
  RecordingHandler ha, hb;
  auto a = MustStart(FastKeepalive(1), &ha);
  auto b = MustStart(FastKeepalive(2), &hb);
  testing::FreezableProxy proxy(b->listen_port());
  a->AddPeer(2, Addr(proxy.port()));
  b->AddPeer(1, Addr(a->listen_port()));
  ASSERT_TRUE(SendUntilReceived(a.get(), &hb, 1));

  proxy.Freeze(true);
  // Heartbeats keep going out; the pings go unanswered and the connection is dropped.
  bool noticed = false;
  for (int i = 0; i < 150 && !noticed; i++) {
    a->Send({Heartbeat(1, 2, 100 + i)});
    noticed = ha.WaitFor([&] { return ha.UnreachableLocked(2) > 0; }, 20ms);
  }
  ASSERT_TRUE(noticed) << "a frozen network was never reported";
  EXPECT_FALSE(a->Stats()[2].connected);

  proxy.Freeze(false);
  EXPECT_TRUE(SendUntilReceived(a.get(), &hb, 1000));
  EXPECT_TRUE(a->Stats()[2].connected);
}

}  // namespace
}  // namespace raftkv::transport
