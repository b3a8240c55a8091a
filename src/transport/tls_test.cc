// Peer TLS (etcd's --peer-* flags): members with certificates from the cluster's CA exchange
// messages and snapshots over TLS; a member whose certificate another CA signed, one without
// a certificate and one speaking plaintext never get a message through, and the receiver's
// handler never sees anything from them.
#include "tls/tls.h"

#include <gtest/gtest.h>

#include "tls/test_certs.h"
#include "transport/test_util.h"
#include "transport/transport.h"

namespace raftkv::transport {
namespace {

using namespace std::chrono_literals;
using testing::Heartbeat;
using testing::MustStart;
using testing::RecordingHandler;
using testing::TestOptions;
using tls::testing::TestCerts;

std::string Https(int port) {
  return "https://127.0.0.1:" + std::to_string(port);
}

// Options of a member whose certificate is `name` in `certs`; it trusts `ca_of`'s CA and,
// as a server, requires client certificates.
Options TlsOptions(raft::NodeId self, const TestCerts& certs, const std::string& name,
                   const TestCerts& ca_of) {
  tls::TlsConfig c = certs.Config(name, /*client_cert_auth=*/true);
  c.trusted_ca_file = ca_of.ca();
  auto m = tls::Load(c);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  Options o = TestOptions(self);
  o.server_credentials = tls::ServerCredentials(*m);
  o.peer_credentials = tls::ChannelCredentials(*m);
  return o;
}

TEST(TransportTls, membersOfTheClusterCaExchangeMessagesAndSnapshots) {
  TestCerts certs({"m1", "m2"});
  RecordingHandler h1, h2;
  auto t1 = MustStart(TlsOptions(1, certs, "m1", certs), &h1);
  auto t2 = MustStart(TlsOptions(2, certs, "m2", certs), &h2);
  t1->AddPeer(2, Https(t2->listen_port()));
  t2->AddPeer(1, Https(t1->listen_port()));
  for (int i = 1; i <= 100; i++) t1->Send({Heartbeat(1, 2, i)});
  ASSERT_TRUE(h2.WaitFor([&] { return h2.MessagesFromLocked(1) == 100; }, 10s))
      << h2.MessageCount();
  t2->Send({Heartbeat(2, 1, 7)});
  ASSERT_TRUE(h1.WaitFor([&] { return h1.MessagesFromLocked(2) == 1; }, 10s));

  raft::Message snap = testing::Msg(raft::MessageType::kSnapshot, 1, 2, 0);
  snap.snapshot.emplace();
  snap.snapshot->meta = {50, 1, {}};
  snap.snapshot->meta.conf.voters = {1, 2};
  snap.snapshot->data = std::string(3 << 20, 'x');
  t1->Send({snap});
  ASSERT_TRUE(h1.WaitFor([&] { return !h1.SnapshotResultsLocked().empty(); }, 20s));
  EXPECT_TRUE(h1.SnapshotResults()[0].second);
  EXPECT_TRUE(h2.WaitFor(
      [&] {
        for (const auto& m : h2.MessagesLocked()) {
          if (m.type == raft::MessageType::kSnapshot)
            return m.snapshot->data == snap.snapshot->data;
        }
        return false;
      },
      5s));
}

TEST(TransportTls, untrustedMemberCannotSendRaftMessages) {
  TestCerts cluster({"m1", "m2"});
  TestCerts rogue_ca({"m3"});
  RecordingHandler h1, h3;
  auto t1 = MustStart(TlsOptions(1, cluster, "m1", cluster), &h1);
  // Member 3 is known to member 1 (so only TLS can keep it out) and trusts the cluster's CA,
  // but its own certificate comes from another CA.
  auto t3 = MustStart(TlsOptions(3, rogue_ca, "m3", cluster), &h3);
  t1->AddPeer(3, Https(t3->listen_port()));
  t3->AddPeer(1, Https(t1->listen_port()));
  for (int i = 0; i < 20; i++) {
    t3->Send({Heartbeat(3, 1, i)});
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(h3.WaitFor([&] { return h3.UnreachableLocked(1) > 0; }, 5s));
  EXPECT_EQ(h1.MessageCount(), 0u);
}

TEST(TransportTls, memberWithoutCertificateOrInPlaintextIsRefused) {
  TestCerts cluster({"m1"});
  RecordingHandler h1, h2, h3;
  auto t1 = MustStart(TlsOptions(1, cluster, "m1", cluster), &h1);

  // Member 2 speaks TLS and trusts the CA but offers no client certificate.
  Options no_cert = TestOptions(2);
  grpc::SslCredentialsOptions ssl;
  auto m1 = tls::Load(cluster.Config("m1"));
  ASSERT_TRUE(m1.ok());
  ssl.pem_root_certs = m1->root_certs;
  no_cert.peer_credentials = grpc::SslCredentials(ssl);
  auto t2 = MustStart(no_cert, &h2);
  // Member 3 speaks plaintext to a TLS port.
  auto t3 = MustStart(TestOptions(3), &h3);
  t1->AddPeer(2, "127.0.0.1:1");
  t1->AddPeer(3, "127.0.0.1:1");
  t2->AddPeer(1, Https(t1->listen_port()));
  t3->AddPeer(1, "http://127.0.0.1:" + std::to_string(t1->listen_port()));
  for (int i = 0; i < 20; i++) {
    t2->Send({Heartbeat(2, 1, i)});
    t3->Send({Heartbeat(3, 1, i)});
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(h2.WaitFor([&] { return h2.UnreachableLocked(1) > 0; }, 5s));
  EXPECT_TRUE(h3.WaitFor([&] { return h3.UnreachableLocked(1) > 0; }, 5s));
  EXPECT_EQ(h1.MessageCount(), 0u);
}

}  // namespace
}  // namespace raftkv::transport
