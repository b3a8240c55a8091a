// TLS and auth on a one-member raftkvd started in-process, driven with etcd's generated stubs
// the way etcd's clients drive it: https client URLs with and without client certificates,
// the Auth service, tokens, permissions, certificate CommonNames as users, a flood of bad
// logins, and auth state across restarts and snapshots. Certificates come from
// scripts/gen-certs.sh (the openssl CLI) into a temp dir.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "auth/errors.h"
#include "server/daemon/daemon.h"
#include "server/daemon/test_util.h"
#include "tls/test_certs.h"
#include "tls/tls.h"

namespace raftkv::server::daemon {
namespace {

using namespace raftkv::server::daemon::testing;
using tls::testing::TestCerts;
namespace pb = etcdserverpb;

std::string Https(int port) {
  return "https://127.0.0.1:" + std::to_string(port);
}

// Resident set size of this process in KiB (/proc/self/status).
long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A daemon whose client URL speaks TLS; tests choose client-cert-auth and auth options.
class SecurityTest : public ::testing::Test {
 protected:
  void Start(bool client_cert_auth, int token_ttl_s = 300, uint64_t snapshot_count = 100000,
             int bcrypt_cost = 4) {
    config_ = OneMemberConfig("s1", (dir_.path() / "s1").string(), ports_);
    config_.listen_client_urls = {Https(ports_.client)};
    config_.advertise_client_urls = config_.listen_client_urls;
    config_.listen_metrics_urls = {Https(ports_.metrics)};
    config_.client_tls = certs_.Config("server", client_cert_auth);
    config_.auth_token_ttl_s = token_ttl_s;
    config_.bcrypt_cost = bcrypt_cost;
    config_.snapshot_count = snapshot_count;
    config_.snapshot_catchup_entries = 1;
    Restart();
  }

  void Restart() {
    daemon_.reset();
    Result<std::unique_ptr<Daemon>> d = Daemon::Start(config_);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(d).value();
    Connect("root");
    // Up once a (linearizable) read answers: a leader and an applied entry of its term.
    ASSERT_TRUE(WaitFor([&] {
      grpc::ClientContext ctx;
      pb::StatusRequest req;
      pb::StatusResponse resp;
      return maint_->Status(&ctx, req, &resp).ok() && resp.leader() != 0;
    }));
  }

  // Stubs over a TLS channel offering `cert`'s client certificate.
  void Connect(const std::string& cert) {
    auto m = tls::Load(certs_.Config(cert));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    channel_ = grpc::CreateChannel(ports_.endpoint(), tls::ChannelCredentials(*m));
    kv_ = pb::KV::NewStub(channel_);
    auth_ = pb::Auth::NewStub(channel_);
    maint_ = pb::Maintenance::NewStub(channel_);
  }

  // A context carrying `token` as etcd's clients send it.
  static void WithToken(grpc::ClientContext* ctx, const std::string& token) {
    if (!token.empty()) ctx->AddMetadata("token", token);
  }

  grpc::Status Put(const std::string& token, const std::string& key, const std::string& value) {
    grpc::ClientContext ctx;
    WithToken(&ctx, token);
    pb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    pb::PutResponse resp;
    return kv_->Put(&ctx, req, &resp);
  }

  grpc::Status Get(const std::string& token, const std::string& key, bool serializable = false,
                   const std::string& range_end = "") {
    grpc::ClientContext ctx;
    WithToken(&ctx, token);
    pb::RangeRequest req;
    req.set_key(key);
    req.set_range_end(range_end);
    req.set_serializable(serializable);
    pb::RangeResponse resp;
    return kv_->Range(&ctx, req, &resp);
  }

  Result<std::string> Login(const std::string& user, const std::string& password) {
    grpc::ClientContext ctx;
    pb::AuthenticateRequest req;
    req.set_name(user);
    req.set_password(password);
    pb::AuthenticateResponse resp;
    grpc::Status s = auth_->Authenticate(&ctx, req, &resp);
    if (!s.ok()) return Status::InvalidArgument(s.error_message());
    return resp.token();
  }

  // Calls one Auth method as `token`; the gRPC status.
  template <typename Req, typename Resp>
  grpc::Status AuthCall(grpc::Status (pb::Auth::Stub::*method)(grpc::ClientContext*, const Req&,
                                                               Resp*),
                        const std::string& token, const Req& req, Resp* resp = nullptr) {
    grpc::ClientContext ctx;
    WithToken(&ctx, token);
    Resp local;
    return (auth_.get()->*method)(&ctx, req, resp ? resp : &local);
  }

  grpc::Status UserAdd(const std::string& token, const std::string& name, const std::string& pw) {
    pb::AuthUserAddRequest r;
    r.set_name(name);
    r.set_password(pw);
    return AuthCall(&pb::Auth::Stub::UserAdd, token, r);
  }
  grpc::Status GrantRole(const std::string& token, const std::string& user,
                         const std::string& role) {
    pb::AuthUserGrantRoleRequest r;
    r.set_user(user);
    r.set_role(role);
    return AuthCall(&pb::Auth::Stub::UserGrantRole, token, r);
  }
  grpc::Status RoleAdd(const std::string& token, const std::string& role) {
    pb::AuthRoleAddRequest r;
    r.set_name(role);
    return AuthCall(&pb::Auth::Stub::RoleAdd, token, r);
  }
  grpc::Status Permit(const std::string& token, const std::string& role, authpb::Permission::Type t,
                      const std::string& key, const std::string& end) {
    pb::AuthRoleGrantPermissionRequest r;
    r.set_name(role);
    r.mutable_perm()->set_permtype(t);
    r.mutable_perm()->set_key(key);
    r.mutable_perm()->set_range_end(end);
    return AuthCall(&pb::Auth::Stub::RoleGrantPermission, token, r);
  }

  // root with the root role, auth on; returns root's token.
  std::string EnableAuth() {
    EXPECT_TRUE(UserAdd("", "root", "rootpw").ok());
    EXPECT_TRUE(GrantRole("", "root", "root").ok());
    pb::AuthEnableRequest en;
    grpc::Status s = AuthCall(&pb::Auth::Stub::AuthEnable, "", en);
    EXPECT_TRUE(s.ok()) << s.error_message();
    auto token = Login("root", "rootpw");
    EXPECT_TRUE(token.ok()) << token.status().message();
    return token.ok() ? *token : "";
  }

  TestCerts certs_{{"server", "root", "alice"}};
  TempDir dir_;
  Ports ports_;
  ServerConfig config_;
  std::unique_ptr<Daemon> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::KV::Stub> kv_;
  std::unique_ptr<pb::Auth::Stub> auth_;
  std::unique_ptr<pb::Maintenance::Stub> maint_;
};

TEST_F(SecurityTest, tlsClientPortRefusesClientsWithoutTrustedCertificates) {
  Start(/*client_cert_auth=*/true);
  EXPECT_TRUE(Put("", "k", "v").ok());

  TestCerts other({"stranger"});
  auto stranger = tls::Load(other.Config("stranger"));
  ASSERT_TRUE(stranger.ok());
  // Trusts another CA: the server's certificate does not verify.
  auto wrong_ca =
      pb::KV::NewStub(grpc::CreateChannel(ports_.endpoint(), tls::ChannelCredentials(*stranger)));
  // Trusts the right CA but has no client certificate, or one from another CA.
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = tls::Load(certs_.Config("root"))->root_certs;
  auto anonymous =
      pb::KV::NewStub(grpc::CreateChannel(ports_.endpoint(), grpc::SslCredentials(no_cert)));
  tls::TlsConfig foreign = other.Config("stranger");
  foreign.trusted_ca_file = certs_.ca();
  auto foreign_cert = pb::KV::NewStub(
      grpc::CreateChannel(ports_.endpoint(), tls::ChannelCredentials(*tls::Load(foreign))));
  auto plaintext =
      pb::KV::NewStub(grpc::CreateChannel(ports_.endpoint(), grpc::InsecureChannelCredentials()));
  for (auto* stub : {wrong_ca.get(), anonymous.get(), foreign_cert.get(), plaintext.get()}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    pb::RangeRequest req;
    req.set_key("k");
    pb::RangeResponse resp;
    grpc::Status s = stub->Range(&ctx, req, &resp);
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
        << s.error_code() << " " << s.error_message();
  }
}

TEST_F(SecurityTest, metricsOverHttpsWithClientCertificates) {
  Start(/*client_cert_auth=*/true);
  httplib::SSLClient with_cert("127.0.0.1", ports_.metrics, certs_.cert("root"),
                               certs_.key("root"));
  with_cert.set_ca_cert_path(certs_.ca().c_str());
  with_cert.enable_server_certificate_verification(true);
  auto res = with_cert.Get("/health");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "{\"health\":\"true\"}");
  res = with_cert.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("etcd_server_has_leader 1"), std::string::npos);

  httplib::SSLClient without("127.0.0.1", ports_.metrics);
  without.set_ca_cert_path(certs_.ca().c_str());
  without.enable_server_certificate_verification(true);
  EXPECT_FALSE(without.Get("/health")) << "a client certificate is required";
  httplib::Client plain("127.0.0.1", ports_.metrics);
  auto p = plain.Get("/health");
  EXPECT_TRUE(!p || p->status != 200);
}

TEST_F(SecurityTest, authEnableLoginAndPermissionsWithEtcdErrors) {
  Start(/*client_cert_auth=*/false);
  pb::AuthEnableRequest en;
  grpc::Status s = AuthCall(&pb::Auth::Stub::AuthEnable, "", en);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "etcdserver: root user does not exist");
  EXPECT_EQ(Login("root", "x").status().message(), "etcdserver: authentication is not enabled");

  std::string root = EnableAuth();
  s = Put("", "k", "v");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "etcdserver: user name is empty");
  EXPECT_EQ(Login("root", "wrong").status().message(),
            "etcdserver: authentication failed, invalid user ID or password");
  EXPECT_EQ(Login("nobody", "rootpw").status().message(),
            "etcdserver: authentication failed, invalid user ID or password");
  s = Put("bogus.12", "k", "v");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message(), "etcdserver: invalid auth token");
  ASSERT_TRUE(Put(root, "app/1", "v").ok());

  // alice may read and write app/ only.
  ASSERT_TRUE(UserAdd(root, "alice", "alicepw").ok());
  ASSERT_TRUE(RoleAdd(root, "app").ok());
  ASSERT_TRUE(Permit(root, "app", authpb::Permission::READWRITE, "app/", "app0").ok());
  ASSERT_TRUE(GrantRole(root, "alice", "app").ok());
  auto alice = Login("alice", "alicepw");
  ASSERT_TRUE(alice.ok());
  EXPECT_TRUE(Put(*alice, "app/2", "v").ok());
  EXPECT_TRUE(Get(*alice, "app/", false, "app0").ok());
  EXPECT_TRUE(Get(*alice, "app/1", true).ok());
  s = Put(*alice, "other", "v");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(), "etcdserver: permission denied");
  EXPECT_EQ(Get(*alice, "other").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Get(*alice, "other", true).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(UserAdd(*alice, "mallory", "x").error_message(), "etcdserver: permission denied");
  pb::AuthUserListRequest list;
  EXPECT_EQ(AuthCall(&pb::Auth::Stub::UserList, *alice, list).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  pb::AuthUserListResponse users;
  ASSERT_TRUE(AuthCall(&pb::Auth::Stub::UserList, root, list, &users).ok());
  EXPECT_EQ(users.users_size(), 2);
  // Defragment, Hash, Snapshot are root's.
  grpc::ClientContext hctx;
  WithToken(&hctx, *alice);
  pb::HashKVRequest hreq;
  pb::HashKVResponse hresp;
  EXPECT_EQ(maint_->HashKV(&hctx, hreq, &hresp).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // The permission goes: alice's old token carries none of it.
  pb::AuthRoleRevokePermissionRequest revoke;
  revoke.set_role("app");
  revoke.set_key("app/");
  revoke.set_range_end("app0");
  ASSERT_TRUE(AuthCall(&pb::Auth::Stub::RoleRevokePermission, root, revoke).ok());
  EXPECT_EQ(Put(*alice, "app/3", "v").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Get(*alice, "app/1", true).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // A new password ends every session of the user.
  pb::AuthUserChangePasswordRequest change;
  change.set_name("alice");
  change.set_password("new");
  ASSERT_TRUE(AuthCall(&pb::Auth::Stub::UserChangePassword, root, change).ok());
  EXPECT_EQ(Put(*alice, "app/4", "v").error_message(), "etcdserver: invalid auth token");
  EXPECT_FALSE(Login("alice", "alicepw").ok());
  EXPECT_TRUE(Login("alice", "new").ok());

  pb::AuthDisableRequest off;
  EXPECT_EQ(AuthCall(&pb::Auth::Stub::AuthDisable, "", off).error_message(),
            "etcdserver: user name is empty");
  ASSERT_TRUE(AuthCall(&pb::Auth::Stub::AuthDisable, root, off).ok());
  EXPECT_TRUE(Put("", "k", "v").ok());
}

TEST_F(SecurityTest, clientCertificateCommonNameIsTheUser) {
  Start(/*client_cert_auth=*/true);
  std::string root = EnableAuth();
  ASSERT_TRUE(UserAdd(root, "alice", "pw").ok());
  // No token: the certificate (CN=root) speaks for root.
  EXPECT_TRUE(Put("", "k", "v").ok());
  pb::AuthUserListRequest list;
  EXPECT_TRUE(AuthCall(&pb::Auth::Stub::UserList, "", list).ok());
  // CN=alice has no roles: denied, with no token needed to say who she is.
  Connect("alice");
  EXPECT_EQ(Put("", "k", "v").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // A token wins over the certificate (etcd).
  EXPECT_TRUE(Put(root, "k", "v").ok());
}

TEST_F(SecurityTest, unusedTokenExpiresAfterTtl) {
  Start(/*client_cert_auth=*/false, /*token_ttl_s=*/1);
  std::string root = EnableAuth();
  ASSERT_TRUE(Put(root, "k", "v").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  grpc::Status s = Put(root, "k", "v");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message(), "etcdserver: invalid auth token");
}

TEST_F(SecurityTest, floodOfFailedLoginsIsBoundedAndLosesNothing) {
  // bcrypt cost 8 (~15 ms a check here): 600 logins in flight at once are far more than the
  // two password threads and their queue of 64 take.
  Start(/*client_cert_auth=*/false, 300, 100000, /*bcrypt_cost=*/8);
  std::string root = EnableAuth();
  ASSERT_TRUE(Put(root, "before", "1").ok());
  long rss_before = RssKiB();
  constexpr int kLogins = 600;
  struct Call {
    grpc::ClientContext ctx;
    pb::AuthenticateRequest req;
    pb::AuthenticateResponse resp;
  };
  std::vector<std::unique_ptr<Call>> calls;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, failed = 0, busy = 0;
  std::vector<std::string> other;
  for (int i = 0; i < kLogins; i++) {
    auto c = std::make_unique<Call>();
    c->req.set_name(i % 2 ? "root" : "nobody");
    c->req.set_password("guess" + std::to_string(i));
    auth_->async()->Authenticate(&c->ctx, &c->req, &c->resp, [&](grpc::Status s) {
      std::lock_guard<std::mutex> l(mu);
      if (s.error_message() == auth::kErrAuthFailed) {
        failed++;
      } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                 s.error_message() == "etcdserver: too many requests") {
        busy++;
      } else {
        other.push_back(std::to_string(s.error_code()) + " " + s.error_message());
      }
      done++;
      cv.notify_all();
    });
    calls.push_back(std::move(c));
  }
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(60), [&] { return done == kLogins; }))
        << done << " of " << kLogins << " answered";
  }
  long rss_after = RssKiB();
  // Every login is answered: refused as wrong, or at once as too many; none gets in.
  EXPECT_EQ(failed + busy, kLogins) << (other.empty() ? "" : other[0]);
  EXPECT_GT(failed, 0);
  EXPECT_GT(busy, 0) << "the pool's queue never filled: the bound was not exercised";
  EXPECT_LT(rss_after - rss_before, 64 * 1024) << "KiB grown";
  std::printf("%d bad logins at once: %d refused as wrong, %d as too many; RSS %+ld KiB\n", kLogins,
              failed, busy, rss_after - rss_before);
  // Nothing lost, and the right password still works.
  auto again = Login("root", "rootpw");
  ASSERT_TRUE(again.ok()) << again.status().message();
  grpc::ClientContext ctx;
  WithToken(&ctx, *again);
  pb::RangeRequest req;
  req.set_key("before");
  pb::RangeResponse resp;
  ASSERT_TRUE(kv_->Range(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.kvs_size(), 1);
}

TEST_F(SecurityTest, authStateSurvivesSnapshotsAndRestarts) {
  Start(/*client_cert_auth=*/false, 300, /*snapshot_count=*/5);
  std::string root = EnableAuth();
  // The index of root's login: a restart re-applies the log after the newest snapshot, and
  // re-applying a login entry re-issues its token (etcd's simple tokens alike), so the
  // snapshot must cover it for "tokens do not survive a restart" to hold.
  uint64_t login_index = 0;
  {
    grpc::ClientContext ctx;
    pb::StatusResponse st;
    ASSERT_TRUE(maint_->Status(&ctx, pb::StatusRequest(), &st).ok());
    login_index = st.raftindex();
  }
  ASSERT_TRUE(UserAdd(root, "alice", "pw").ok());
  ASSERT_TRUE(RoleAdd(root, "r").ok());
  ASSERT_TRUE(Permit(root, "r", authpb::Permission::READ, "a", "b").ok());
  ASSERT_TRUE(GrantRole(root, "alice", "r").ok());
  // Enough entries for snapshots (every 5) and compaction of the log (catch-up 1): after the
  // restart the auth state can only come from the snapshot image.
  for (int i = 0; i < 20; i++) ASSERT_TRUE(Put(root, "k" + std::to_string(i), "v").ok());
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& e : std::filesystem::directory_iterator(config_.data_dir + "/member/raft")) {
      // snap-<term>-<index>.snap, both 16 hex digits.
      const std::string name = e.path().filename().string();
      if (e.path().extension() == ".snap" && name.size() == 43 &&
          std::stoull(name.substr(22, 16), nullptr, 16) >= login_index) {
        return true;
      }
    }
    return false;
  }));
  Restart();
  EXPECT_EQ(Put("", "x", "v").error_message(), "etcdserver: user name is empty")
      << "auth is still on";
  EXPECT_EQ(Put(root, "x", "v").error_message(), "etcdserver: invalid auth token")
      << "tokens do not survive a restart (as etcd's)";
  auto alice = Login("alice", "pw");
  ASSERT_TRUE(alice.ok()) << alice.status().message();
  EXPECT_TRUE(Get(*alice, "a", false, "b").ok());
  EXPECT_EQ(Get(*alice, "b").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  pb::AuthRoleGetRequest rg;
  rg.set_role("r");
  pb::AuthRoleGetResponse role;
  ASSERT_TRUE(AuthCall(&pb::Auth::Stub::RoleGet, *alice, rg, &role).ok());
  ASSERT_EQ(role.perm_size(), 1);
  EXPECT_EQ(role.perm(0).key(), "a");
}

}  // namespace
}  // namespace raftkv::server::daemon
