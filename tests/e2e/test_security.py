"""Security stories through etcdctl and python-etcd3: TLS on the client and peer URLs (with
client certificates), users, roles and permissions, tokens, and what a client sees when it is
refused. Every story also runs against etcd 3.4 (tests/e2e/run --binary /usr/bin/etcd), so the
texts asserted here are etcd's."""

import os
import subprocess
import sys
import time
import unittest

import etcd3
import grpc

from cluster import Certs, Member, Security, wait_until
from e2e_base import ClusterTest, kvs_of

AUTH_FAILED = "etcdserver: authentication failed, invalid user ID or password"


def python_client(cluster, member, cert="client", **kw):
    """A python-etcd3 client for `member`, over TLS with `cert` when the cluster uses TLS."""
    sec = cluster.security
    tls = {}
    if sec is not None and sec.client_tls:
        tls = dict(ca_cert=sec.certs.ca, cert_key=sec.certs.key(cert),
                   cert_cert=sec.certs.cert(cert))
    return etcd3.client(host="127.0.0.1", port=member.client_port, timeout=5, **tls, **kw)


class AuthSetup:
    """Helpers for stories that turn auth on: root:rootpw with the root role."""

    def enable_auth(self):
        self.assertEqual(self.cluster.ctl("user", "add", "root:rootpw").strip(),
                         "User root created")
        self.assertEqual(self.cluster.ctl("user", "grant-role", "root", "root").strip(),
                         "Role root is granted to user root")
        self.assertEqual(self.cluster.ctl("auth", "enable").strip(), "Authentication Enabled")

    def as_root(self, *args, **kw):
        return self.cluster.ctl(*args, user="root:rootpw", **kw)

    def refused(self, expected, *args, **kw):
        """etcdctl fails, saying `expected` (etcdctl prints "Error: <server's text>")."""
        p = self.cluster.ctl(*args, check=False, **kw)
        self.assertNotEqual(p.returncode, 0, f"etcdctl {args} succeeded: {p.stdout}")
        self.assertIn(expected, p.stderr)
        return p


class ClientTlsTest(ClusterTest):
    """https client URL with --client-cert-auth: only clients with a certificate from the
    cluster's CA get in."""

    SIZE = 1

    def security(self):
        return Security(client_tls=True, client_cert_auth=True)

    def test_etcdctl_with_cacert_cert_key(self):
        self.assertEqual(self.cluster.ctl("put", "tls/k", "v").strip(), "OK")
        self.assertEqual(kvs_of(self.cluster.ctl("get", "tls/k", json_out=True)),
                         [("tls/k", "v")])

    def test_no_client_certificate_wrong_ca_or_plaintext_are_refused(self):
        m = self.cluster.members[0]
        # No client certificate: the TLS handshake fails; etcdctl gives up.
        p = self.cluster.ctl("get", "k", cert="", check=False, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("context deadline exceeded", p.stderr)
        # Trusting another CA: the server's certificate does not verify.
        other = Certs(os.path.join(self.cluster.root, "other"), ["stranger"])
        argv = ["etcdctl", f"--endpoints={m.client_url}", "--dial-timeout=2s",
                "--command-timeout=3s", f"--cacert={other.ca}",
                f"--cert={other.cert('stranger')}", f"--key={other.key('stranger')}", "get", "k"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, ETCDCTL_API="3"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("context deadline exceeded", p.stderr)
        # Plaintext to the TLS port.
        argv = ["etcdctl", f"--endpoints=http://127.0.0.1:{m.client_port}", "--dial-timeout=2s",
                "--command-timeout=3s", "get", "k"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, ETCDCTL_API="3"))
        self.assertNotEqual(p.returncode, 0)

    def test_python_etcd3_over_tls(self):
        client = python_client(self.cluster, self.cluster.members[0])
        try:
            client.put("py/k", "v")
            value, _ = client.get("py/k")
            self.assertEqual(value, b"v")
        finally:
            client.close()


class AuthStoryTest(AuthSetup, ClusterTest):
    """A user's whole life with auth on, over TLS (server certificate only)."""

    SIZE = 1

    def security(self):
        return Security(client_tls=True)

    def test_users_roles_permissions(self):
        ctl = self.cluster.ctl
        self.enable_auth()
        self.refused("Error: etcdserver: user name is empty", "put", "k", "v")
        self.assertEqual(self.as_root("put", "app/x", "1").strip(), "OK")
        self.refused("Error: " + AUTH_FAILED, "get", "k", user="root:wrong")
        self.refused("Error: " + AUTH_FAILED, "get", "k", user="nobody:rootpw")

        self.assertEqual(self.as_root("role", "add", "app").strip(), "Role app created")
        self.assertEqual(self.as_root("role", "grant-permission", "app", "readwrite", "app/",
                                      "--prefix=true").strip(), "Role app updated")
        self.assertEqual(self.as_root("role", "grant-permission", "app", "read", "cfg").strip(),
                         "Role app updated")
        self.assertEqual(self.as_root("role", "get", "app"),
                         "Role app\nKV Read:\n\t[app/, app0) (prefix app/)\n\tcfg\n"
                         "KV Write:\n\t[app/, app0) (prefix app/)\n")
        self.assertEqual(self.as_root("user", "add", "alice:alicepw").strip(),
                         "User alice created")
        self.assertEqual(self.as_root("user", "grant-role", "alice", "app").strip(),
                         "Role app is granted to user alice")
        self.assertEqual(self.as_root("user", "get", "alice"), "User: alice\nRoles: app\n")
        self.assertEqual(self.as_root("user", "list"), "alice\nroot\n")
        self.assertEqual(self.as_root("role", "list"), "app\n")

        alice = "alice:alicepw"
        self.assertEqual(ctl("put", "app/y", "2", user=alice).strip(), "OK")
        self.assertEqual(kvs_of(ctl("get", "app/", "--prefix", json_out=True, user=alice)),
                         [("app/x", "1"), ("app/y", "2")])
        self.refused("Error: etcdserver: permission denied", "put", "other", "v", user=alice)
        self.refused("Error: etcdserver: permission denied", "get", "other", user=alice)
        self.refused("Error: etcdserver: permission denied", "put", "cfg", "v", user=alice)
        self.refused("Error: etcdserver: permission denied", "get", "", "--from-key", user=alice)
        self.refused("Error: etcdserver: permission denied", "user", "list", user=alice)
        self.refused("Error: etcdserver: permission denied", "user", "add", "eve:x", user=alice)
        self.assertEqual(ctl("user", "get", "alice", user=alice), "User: alice\nRoles: app\n")

        # Revoked: the same user, with the same password, has lost the right.
        self.assertEqual(self.as_root("role", "revoke-permission", "app", "app/",
                                      "--prefix=true").strip(),
                         "Permission of range [app/, app0) is revoked from role app")
        self.refused("Error: etcdserver: permission denied", "put", "app/z", "3", user=alice)

        self.assertEqual(self.as_root("user", "passwd", "alice", "--interactive=false",
                                      stdin=b"newpw\n").strip(), "Password updated")
        self.refused("Error: " + AUTH_FAILED, "get", "cfg", user=alice)
        self.assertEqual(ctl("get", "cfg", user="alice:newpw").strip(), "")

        self.assertEqual(self.as_root("user", "revoke-role", "alice", "app").strip(),
                         "Role app is revoked from user alice")
        self.assertEqual(self.as_root("role", "delete", "app").strip(), "Role app deleted")
        self.assertEqual(self.as_root("user", "delete", "alice").strip(), "User alice deleted")
        self.refused("Error: etcdserver: invalid auth management", "user", "delete", "root",
                     user="root:rootpw")
        self.refused("Error: etcdserver: user name not found", "user", "get", "alice",
                     user="root:rootpw")
        self.assertEqual(self.as_root("auth", "disable").strip(), "Authentication Disabled")
        self.assertEqual(ctl("put", "k", "v").strip(), "OK")

    def test_enable_needs_root_with_root_role(self):
        self.refused("Error: etcdserver: root user does not exist", "auth", "enable")
        self.cluster.ctl("user", "add", "root:rootpw")
        # The server refuses a root without the root role (what a gRPC client sees) ...
        client = python_client(self.cluster, self.cluster.members[0])
        try:
            with self.assertRaises(grpc.RpcError) as err:
                etcd3.etcdrpc.AuthStub(client.channel).AuthEnable(
                    etcd3.etcdrpc.AuthEnableRequest(), 5)
            self.assertEqual((err.exception.code(), err.exception.details()),
                             (grpc.StatusCode.FAILED_PRECONDITION,
                              "etcdserver: root user does not have root role"))
        finally:
            client.close()
        self.refused("Error: etcdserver: role name not found", "user", "grant-role", "root",
                     "nope")
        # ... and etcdctl 3.4 answers that error by adding the role and granting it itself.
        self.assertEqual(self.cluster.ctl("auth", "enable").strip(), "Authentication Enabled")
        self.assertEqual(self.as_root("user", "get", "root"), "User: root\nRoles: root\n")


class CertCommonNameTest(AuthSetup, ClusterTest):
    """--client-cert-auth: the client certificate's CommonName is the user."""

    SIZE = 1

    def security(self):
        return Security(client_tls=True, client_cert_auth=True)

    def test_common_name_is_the_user(self):
        self.enable_auth()
        # CN=root: root without a password.
        self.assertEqual(self.cluster.ctl("put", "cn/k", "v", cert="root").strip(), "OK")
        self.assertEqual(self.cluster.ctl("user", "list", cert="root"), "root\n")
        # CN=client: no such user.
        self.refused("Error: etcdserver: permission denied", "put", "cn/k", "v", cert="client")
        # CN=alice: a user without roles.
        self.as_root("user", "add", "alice:pw")
        self.refused("Error: etcdserver: permission denied", "get", "cn/k", cert="alice")


class PeerTlsTest(ClusterTest):
    """Three members with TLS between them (--peer-client-cert-auth) and towards clients."""

    SIZE = 3

    def security(self):
        return Security(client_tls=True, peer_tls=True, client_cert_auth=True)

    def test_cluster_over_tls_replicates_and_fails_over(self):
        listed = self.cluster.ctl("member", "list", json_out=True)["members"]
        self.assertTrue(all(u.startswith("https://") for x in listed for u in x["peerURLs"]))
        self.cluster.ctl("put", "peer/k", "v1", members=[self.cluster.members[0]])
        for m in self.cluster.members:
            got = wait_until(lambda: kvs_of(self.cluster.ctl(
                "get", "peer/k", "--consistency=s", json_out=True, members=[m])), 10,
                what=f"{m.name} has the key")
            self.assertEqual(got, [("peer/k", "v1")])
        leader = self.cluster.leader()
        self.cluster.kill(leader)
        self.cluster.leader()
        self.cluster.ctl("put", "peer/k", "v2")
        self.cluster.restart(leader)
        wait_until(lambda: kvs_of(self.cluster.ctl("get", "peer/k", "--consistency=s",
                                                   json_out=True, members=[leader]))
                   == [("peer/k", "v2")], 15, what="the restarted member caught up over TLS")

    def test_learner_joins_over_tls(self):
        m = self.cluster.add_member(learner=True)
        self.cluster.ctl("put", "peer/learner", "v", members=self.cluster.members[:3])
        wait_until(lambda: kvs_of(self.cluster.ctl("get", "peer/learner", "--consistency=s",
                                                   json_out=True, members=[m]))
                   == [("peer/learner", "v")], 15, what="the learner has the key")

    def test_member_with_untrusted_certificate_cannot_join(self):
        # Added properly, then started with a certificate from another CA (trusting ours).
        rogue = Certs(os.path.join(self.cluster.root, "rogue"), ["server"])
        m = Member("rogue", self.cluster.root, self.cluster.security)
        out = self.cluster.ctl("member", "add", "rogue", f"--peer-urls={m.peer_url}",
                               json_out=True)
        names = [f"{x.get('name') or 'rogue'}={x['peerURLs'][0]}" for x in out["members"]]
        argv = self.cluster._flags(m, ",".join(names), "existing")
        for flag, value in (("--peer-cert-file", rogue.cert("server")),
                            ("--peer-key-file", rogue.key("server"))):
            argv[argv.index(flag) + 1] = value
        proc = self.cluster.spawn_raw(m, argv)
        try:
            time.sleep(6)
            listed = self.cluster.ctl("member", "list", json_out=True)["members"]
            rogue_entry = [x for x in listed if m.peer_url in x["peerURLs"]]
            self.assertEqual(len(rogue_entry), 1)
            self.assertEqual(rogue_entry[0].get("name", ""), "",
                             "the untrusted member never started (never published its name)")
            self.assertEqual(self.cluster.ctl("put", "still", "ok").strip(), "OK")
        finally:
            proc.kill()
            proc.wait()


class TokenTest(AuthSetup, ClusterTest):
    """Tokens through python-etcd3: a wrong password, an expired token, a missing
    permission, each with the exact error a client sees."""

    SIZE = 1
    EXTRA_FLAGS = ["--auth-token-ttl=1"]

    def security(self):
        return Security(client_tls=True)

    def test_python_etcd3_user_errors(self):
        self.enable_auth()
        self.as_root("user", "add", "alice:pw")
        m = self.cluster.members[0]
        with self.assertRaises(grpc.RpcError) as wrong:
            python_client(self.cluster, m, user="root", password="wrong")
        self.assertEqual(wrong.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(wrong.exception.details(), AUTH_FAILED)

        alice = python_client(self.cluster, m, user="alice", password="pw")
        try:
            with self.assertRaises(grpc.RpcError) as denied:
                alice.put("k", "v")
            self.assertEqual(denied.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertEqual(denied.exception.details(), "etcdserver: permission denied")
        finally:
            alice.close()

        root = python_client(self.cluster, m, user="root", password="rootpw")
        try:
            root.put("k", "v")
            self.assertEqual(root.get("k")[0], b"v")
            time.sleep(2.5)  # past --auth-token-ttl=1 without using the token
            with self.assertRaises(grpc.RpcError) as expired:
                root.get("k")
            self.assertEqual(expired.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
            self.assertEqual(expired.exception.details(), "etcdserver: invalid auth token")
        finally:
            root.close()


class QuotaWithAuthTest(AuthSetup, ClusterTest):
    """etcd's capped applier wraps its auth applier: once the NOSPACE alarm is raised, a user
    without permission to write is told the space is exceeded, not that permission is
    denied."""

    SIZE = 1
    EXTRA_FLAGS = [f"--quota-backend-bytes={4 << 20}"]

    def test_nospace_is_answered_before_a_missing_permission(self):
        self.enable_auth()
        self.as_root("user", "add", "alice:pw")
        self.refused("etcdserver: permission denied", "put", "k", "v", user="alice:pw")
        value = b"x" * (256 << 10)  # on stdin: too long for an argument
        refused = None
        for i in range(64):
            p = self.as_root("put", f"/big/{i}", stdin=value, check=False)
            if p.returncode != 0:
                refused = p.stderr
                break
        self.assertIsNotNone(refused, "never ran out of space")
        self.assertIn("etcdserver: mvcc: database space exceeded", refused)
        wait_until(lambda: "alarm:NOSPACE" in self.as_root("alarm", "list"), 10,
                   what="the NOSPACE alarm")
        # A small put still fits under the quota at the edge; the capped apply refuses it.
        self.refused("etcdserver: mvcc: database space exceeded", "put", "k", "v",
                     user="alice:pw")
        # Reads keep their permission checks.
        self.refused("etcdserver: permission denied", "get", "/big/0", user="alice:pw")


class HeldTokenAndLeaseTest(AuthSetup, ClusterTest):
    """A token held across permission changes, and etcd's auth rules on the Lease service,
    through python-etcd3 over TLS (the exact errors a client sees)."""

    SIZE = 1

    def security(self):
        return Security(client_tls=True)

    def grant_app(self):
        self.assertEqual(self.as_root("role", "grant-permission", "app", "readwrite", "app/",
                                      "--prefix=true").strip(), "Role app updated")

    def setup_alice(self):
        self.enable_auth()
        self.as_root("role", "add", "app")
        self.grant_app()
        self.as_root("user", "add", "alice:pw")
        self.as_root("user", "grant-role", "alice", "app")

    def assert_refused(self, code, text, call, *args, **kw):
        with self.assertRaises(grpc.RpcError) as err:
            call(*args, **kw)
        self.assertEqual((err.exception.code(), err.exception.details()), (code, text))

    def test_token_issued_before_a_permission_change_loses_the_old_rights(self):
        self.setup_alice()
        alice = python_client(self.cluster, self.cluster.members[0], user="alice", password="pw")
        try:
            alice.put("app/a", "1")  # the token works
            self.as_root("role", "revoke-permission", "app", "app/", "--prefix=true")
            # The same token, not renewed: the permission it was issued with is gone.
            self.assert_refused(grpc.StatusCode.PERMISSION_DENIED, "etcdserver: permission denied",
                                alice.put, "app/a", "2")
            self.assert_refused(grpc.StatusCode.PERMISSION_DENIED, "etcdserver: permission denied",
                                alice.get, "app/a")
            # Granted again: the same token carries the new rights.
            self.grant_app()
            alice.put("app/a", "3")
            self.assertEqual(alice.get("app/a")[0], b"3")
            # Deleted user: every token of hers is dropped (etcd's invalidateUser).
            self.as_root("user", "delete", "alice")
            self.assert_refused(grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token",
                                alice.get, "app/a")
        finally:
            alice.close()

    def test_invalid_token_is_refused(self):
        self.enable_auth()
        root = python_client(self.cluster, self.cluster.members[0], user="root",
                             password="rootpw")
        try:
            root.put("k", "v")
            forged = "forgedtoken.1"  # index 1: applied long ago, so no waiting for it
            root.metadata = (("token", forged),)
            root.call_credentials = grpc.metadata_call_credentials(
                sys.modules["etcd3.client"].EtcdTokenCallCredentials(forged))
            self.assert_refused(grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token",
                                root.put, "k", "v2")
            self.assert_refused(grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token",
                                root.get, "k")
            self.assert_refused(grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token",
                                root.lease, 30)
        finally:
            root.close()
        self.assertEqual(self.as_root("get", "k", "--print-value-only").strip(), "v")

    def test_lease_calls_are_checked_as_etcd_does(self):
        self.setup_alice()
        m = self.cluster.members[0]
        root = python_client(self.cluster, m, user="root", password="rootpw")
        alice = python_client(self.cluster, m, user="alice", password="pw")
        denied = (grpc.StatusCode.PERMISSION_DENIED, "etcdserver: permission denied")
        try:
            # root's lease holds a key alice may not write.
            theirs = root.lease(60)
            root.put("secret", "s", lease=theirs)
            # Revoking it would delete "secret": refused, and nothing is deleted.
            self.assert_refused(*denied, alice.revoke_lease, theirs.id)
            self.assertEqual(root.get("secret")[0], b"s")
            # Attaching her own key to it: the put is checked against the lease's keys too.
            self.assert_refused(*denied, alice.put, "app/x", "1", lease=theirs)
            self.assertIsNone(alice.get("app/x")[0])
            # Asking for its keys reveals their names: needs read permission on them (etcd
            # 3.4.26's fix for CVE-2023-32082; Debian's etcd 3.4.23 predates it and answers).
            if not self.etcd:
                self.assert_refused(*denied, alice.get_lease_info, theirs.id)
            # Granting, keeping alive and listing are not checked.
            mine = alice.lease(60)
            self.assertGreater(list(alice.refresh_lease(mine.id))[0].TTL, 0)
            alice.put("app/y", "1", lease=mine)
            info = alice.get_lease_info(mine.id)
            self.assertEqual(list(info.keys), [b"app/y"])
            alice.revoke_lease(mine.id)
            self.assertIsNone(alice.get("app/y")[0])
            # A put with a lease is still a put: the key needs write permission.
            other = alice.lease(60)
            self.assert_refused(*denied, alice.put, "nope", "1", lease=other)
            # root may do all of it.
            self.assertEqual(list(root.get_lease_info(theirs.id).keys), [b"secret"])
            root.revoke_lease(theirs.id)
            self.assertIsNone(root.get("secret")[0])
        finally:
            alice.close()
            root.close()
        # etcdctl as alice: the same refusal, in etcdctl's words.
        lease_id = self.as_root("lease", "grant", "60").split()[1]
        self.as_root("put", "secret2", "s", f"--lease={lease_id}")
        self.refused("etcdserver: permission denied", "lease", "revoke", lease_id,
                     user="alice:pw")
        if not self.etcd:  # as above: etcd 3.4.23 predates the check
            self.refused("etcdserver: permission denied", "lease", "timetolive", lease_id,
                         "--keys", user="alice:pw")
        self.assertIn("remaining", self.cluster.ctl("lease", "timetolive", lease_id,
                                                    user="alice:pw"))


if __name__ == "__main__":
    unittest.main()
