#include "tls/tls.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "tls/test_certs.h"

namespace raftkv::tls {
namespace {

using testing::TestCerts;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A gRPC server answering nothing (a generic service that is never called): enough for the
// TLS handshake, which gRPC completes before a channel becomes READY.
class TlsServer {
 public:
  explicit TlsServer(std::shared_ptr<grpc::ServerCredentials> creds) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", creds, &port_);
    b.RegisterCallbackGenericService(&generic_);
    server_ = b.BuildAndStart();
  }
  ~TlsServer() { server_->Shutdown(std::chrono::system_clock::now()); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  int port_ = 0;
  grpc::CallbackGenericService generic_;
  std::unique_ptr<grpc::Server> server_;
};

bool Connects(const std::string& address, std::shared_ptr<grpc::ChannelCredentials> creds,
              int timeout_ms = 1500) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a fresh connection per test
  auto ch = grpc::CreateCustomChannel(address, creds, args);
  return ch->WaitForConnected(std::chrono::system_clock::now() +
                              std::chrono::milliseconds(timeout_ms));
}

TlsMaterial MustLoad(const TlsConfig& c) {
  auto m = Load(c);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : TlsMaterial{};
}

TEST(Load, readsMatchingCertificateKeyAndCa) {
  TestCerts certs({"server"});
  auto m = Load(certs.Config("server", true));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->cert_chain, Slurp(certs.cert("server")));
  EXPECT_EQ(m->root_certs, Slurp(certs.ca()));
  EXPECT_TRUE(m->client_cert_auth);
}

TEST(Load, missingFileIsNamed) {
  TestCerts certs({"server"});
  TlsConfig c = certs.Config("server");
  c.key_file = certs.dir().string() + "/nope.pem";
  auto m = Load(c);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("cannot read key file " + c.key_file), std::string::npos)
      << m.status().message();
}

TEST(Load, keyOfAnotherCertificateIsRefused) {
  TestCerts certs({"a", "b"});
  TlsConfig c = certs.Config("a");
  c.key_file = certs.key("b");
  auto m = Load(c);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("does not match certificate"), std::string::npos)
      << m.status().message();
}

TEST(Load, garbageCaAndGarbageCertificateAreRefused) {
  TestCerts certs({"a"});
  std::string junk = certs.dir().string() + "/junk.pem";
  std::ofstream(junk) << "not a certificate\n";
  TlsConfig c = certs.Config("a");
  c.trusted_ca_file = junk;
  auto m = Load(c);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("no PEM certificate in " + junk), std::string::npos);
  c = certs.Config("a");
  c.cert_file = junk;
  EXPECT_FALSE(Load(c).ok());
}

TEST(Load, clientCertAuthNeedsCa) {
  TestCerts certs({"a"});
  TlsConfig c = certs.Config("a", true);
  c.trusted_ca_file.clear();
  auto m = Load(c);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("needs a trusted CA"), std::string::npos);
}

TEST(Handshake, clientTrustingTheCaConnects) {
  TestCerts certs({"server", "client"});
  TlsServer server(ServerCredentials(MustLoad(certs.Config("server"))));
  EXPECT_TRUE(Connects(server.address(), ChannelCredentials(MustLoad(certs.Config("client")))));
}

TEST(Handshake, clientTrustingAnotherCaIsRefused) {
  TestCerts certs({"server"});
  TestCerts other({"client"});
  TlsServer server(ServerCredentials(MustLoad(certs.Config("server"))));
  EXPECT_FALSE(Connects(server.address(), ChannelCredentials(MustLoad(other.Config("client")))));
  // Nor does a plaintext client get anywhere.
  EXPECT_FALSE(Connects(server.address(), grpc::InsecureChannelCredentials()));
}

TEST(Handshake, clientCertAuthRefusesMissingAndForeignClientCertificates) {
  TestCerts certs({"server", "client"});
  TestCerts other({"intruder"});
  TlsServer server(ServerCredentials(MustLoad(certs.Config("server", true))));
  EXPECT_TRUE(Connects(server.address(), ChannelCredentials(MustLoad(certs.Config("client")))));

  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = Slurp(certs.ca());
  EXPECT_FALSE(Connects(server.address(), grpc::SslCredentials(no_cert)));

  // Trusts the right CA, but its own certificate is signed by another.
  TlsConfig intruder = other.Config("intruder");
  intruder.trusted_ca_file = certs.ca();
  EXPECT_FALSE(Connects(server.address(), ChannelCredentials(MustLoad(intruder))));
}

TEST(SelfSigned, generatedOnceReusedAndUsableWithoutVerification) {
  TestCerts certs({"client"});
  std::string dir = certs.dir().string() + "/fixtures/peer";
  TlsConfig c;
  c.auto_tls = true;
  ASSERT_TRUE(EnsureSelfSigned(dir, {"127.0.0.1:2380", "localhost:2380"}, 365, &c).ok());
  EXPECT_EQ(c.cert_file, dir + "/cert.pem");
  EXPECT_TRUE(c.insecure_skip_verify);
  EXPECT_EQ(std::filesystem::status(c.key_file).permissions() & std::filesystem::perms::group_read,
            std::filesystem::perms::none);
  std::string first = Slurp(c.cert_file);

  TlsConfig again;
  again.auto_tls = true;
  ASSERT_TRUE(EnsureSelfSigned(dir, {"127.0.0.1:2380"}, 365, &again).ok());
  EXPECT_EQ(Slurp(again.cert_file), first) << "a restart reuses the certificate";

  TlsMaterial m = MustLoad(c);
  TlsServer server(ServerCredentials(m));
  EXPECT_TRUE(Connects(server.address(), ChannelCredentials(m)));
  // A client that verifies certificates does not trust a self-signed one.
  EXPECT_FALSE(Connects(server.address(), ChannelCredentials(MustLoad(certs.Config("client")))));
}

TEST(SelfSigned, givenCertificatesWin) {
  TestCerts certs({"server"});
  TlsConfig c = certs.Config("server");
  c.auto_tls = true;
  ASSERT_TRUE(EnsureSelfSigned(certs.dir().string() + "/auto", {"127.0.0.1:1"}, 1, &c).ok());
  EXPECT_EQ(c.cert_file, certs.cert("server"));
  EXPECT_FALSE(c.insecure_skip_verify);
  EXPECT_FALSE(std::filesystem::exists(certs.dir() / "auto"));
}

TEST(CipherSuites, goNamesMapToOpenSsl) {
  auto l = OpenSslCipherList(
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305");
  auto bad = OpenSslCipherList("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_BOGUS");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "unexpected TLS cipher suite \"TLS_BOGUS\"");
}

}  // namespace
}  // namespace raftkv::tls
