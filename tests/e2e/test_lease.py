"""Leases as etcd users drive them: etcdctl lease grant/put --lease/keep-alive/timetolive/
revoke/list and python-etcd3's lease(), against a 3-member cluster; keep-alives through a
follower and across a leader crash; expiry once abandoned; the space quota's NOSPACE alarm;
auto compaction; etcd's one-learner rule; the header revisions inside a write txn. Each story
was first run against etcd 3.4 (`tests/e2e/run --binary /usr/bin/etcd test_lease`)."""

import signal
import subprocess
import time

import etcd3
from etcd3 import etcdrpc

from cluster import ETCDCTL, free_port, wait_until
from e2e_base import ClusterTest, SharedClusterTest, kvs_of


def grant(test, ttl, **kw):
    """`lease grant TTL` -> (id hex, granted ttl)."""
    out = test.ctl("lease", "grant", str(ttl), **kw).split()
    # "lease 694d7a83d2f1c504 granted with TTL(5s)"
    return out[1], int(out[-1][len("TTL("):-len("s)")])


def keep_alive_process(cluster, lease, members):
    """A long-running `etcdctl lease keep-alive LEASE` (a client holding the lease)."""
    argv = [ETCDCTL, f"--endpoints={cluster.endpoints(members)}", "lease", "keep-alive", lease]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})


class LeaseTest(SharedClusterTest):

    def test_grant_attach_timetolive_revoke(self):
        lease, ttl = grant(self, 60)
        self.assertEqual(ttl, 60)
        self.ctl("put", "--lease=" + lease, "/lease/a", "1")
        self.ctl("put", "--lease=" + lease, "/lease/b", "2")
        before = self.get("/lease/a")["header"]["revision"]
        out = self.ctl("lease", "timetolive", "--keys", lease)
        self.assertIn(f"lease {lease} granted with TTL(60s)", out)
        self.assertIn("attached keys([/lease/a /lease/b])", out.replace(", ", " "))
        self.assertIn(lease, self.ctl("lease", "list"))
        self.assertIn(f"lease {lease} revoked", self.ctl("lease", "revoke", lease))
        self.assertEqual(kvs_of(self.get("/lease/", "--prefix")), [])
        # Both keys went in one revision.
        self.assertEqual(self.get("/lease/a")["header"]["revision"], before + 1)
        self.assertIn("already expired", self.ctl("lease", "timetolive", lease))
        self.assertNotIn(lease, self.ctl("lease", "list"))

    def test_unknown_lease_is_not_found(self):
        self.assertFails("etcdserver: requested lease not found",
                         "put", "--lease=1234abcd", "/unknown/k", "v")
        self.assertFails("etcdserver: requested lease not found", "lease", "revoke", "1234abcd")
        p = self.ctl("lease", "keep-alive", "--once", "1234abcd", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("already expired", self.ctl("lease", "timetolive", "1234abcd"))
        self.assertEqual(kvs_of(self.get("/unknown/k")), [])

    def test_minimum_ttl_and_client_chosen_id(self):
        # The harness runs a 20 ms heartbeat and a 200 ms election timeout: etcd's minimum TTL
        # is ceil(15 x 20 ms) = 1 s.
        c = etcd3.client(port=self.cluster.members[0].client_port)
        stub = etcdrpc.LeaseStub(c.channel)
        r = stub.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=0, ID=0x7e57))
        self.assertEqual((r.ID, r.TTL), (0x7e57, 1))
        with self.assertRaises(Exception) as e:
            stub.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=5, ID=0x7e57))
        self.assertIn("etcdserver: lease already exists", str(e.exception))
        with self.assertRaises(Exception) as e:
            stub.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=9000000001))
        self.assertIn("etcdserver: too large lease TTL", str(e.exception))
        stub.LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=0x7e57))
        c.close()

    def test_reput_without_lease_detaches_and_ignore_lease_keeps(self):
        lease, _ = grant(self, 60)
        self.ctl("put", "--lease=" + lease, "/detach/a", "1")
        self.ctl("put", "--lease=" + lease, "/detach/b", "1")
        self.ctl("put", "/detach/a", "2")  # re-put without a lease: detached
        self.ctl("put", "--ignore-lease", "/detach/b", "2")  # keeps the lease
        b = self.get("/detach/b")["kvs"][0]
        self.assertEqual(format(b["lease"], "016x"), lease)
        self.ctl("lease", "revoke", lease)
        self.assertEqual(kvs_of(self.get("/detach/", "--prefix")), [("/detach/a", "2")])

    def test_python_etcd3_lease(self):
        c = etcd3.client(port=self.cluster.followers()[0].client_port)
        lease = c.lease(30)
        c.put("/py/lease", "v", lease=lease)
        self.assertEqual(lease.granted_ttl, 30)
        self.assertEqual(lease.keys, [b"/py/lease"])
        refreshed = lease.refresh()
        self.assertEqual(refreshed[0].TTL, 30)
        self.assertGreater(lease.remaining_ttl, 25)
        lease.revoke()
        self.assertEqual(c.get("/py/lease")[0], None)
        c.close()

    def test_txn_nested_headers_are_etcds(self):
        c = etcd3.client(port=self.cluster.members[0].client_port)
        kv = etcdrpc.KVStub(c.channel)
        kv.Put(etcdrpc.PutRequest(key=b"/hdr/a", value=b"1"))
        r0 = kv.Put(etcdrpc.PutRequest(key=b"/hdr/b", value=b"2")).header.revision
        inner = etcdrpc.TxnRequest(success=[etcdrpc.RequestOp(
            request_range=etcdrpc.RangeRequest(key=b"/hdr/a"))])
        r = kv.Txn(etcdrpc.TxnRequest(success=[
            etcdrpc.RequestOp(request_range=etcdrpc.RangeRequest(key=b"/hdr/a")),
            etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"/hdr/c", value=b"3")),
            etcdrpc.RequestOp(request_delete_range=etcdrpc.DeleteRangeRequest(key=b"/hdr/zz")),
            etcdrpc.RequestOp(request_txn=inner)]))
        self.assertEqual(r.header.revision, r0 + 1)
        self.assertEqual(r.responses[0].response_range.header.revision, r0)  # read before
        self.assertEqual(r.responses[1].response_put.header.revision, r0 + 1)
        self.assertEqual(r.responses[2].response_delete_range.header.revision, r0 + 1)
        nested = r.responses[3].response_txn
        self.assertEqual(nested.header.revision, 0)  # etcd leaves a nested txn's header empty
        self.assertEqual(nested.responses[0].response_range.header.revision, r0 + 1)
        c.close()


class LeaseKeepAliveTest(ClusterTest):

    def test_keep_alive_through_follower_then_expiry(self):
        follower = self.cluster.followers()[0]
        out = self.cluster.ctl("lease", "grant", "1", members=[follower]).split()
        lease = out[1]
        self.cluster.ctl("put", "--lease=" + lease, "/held", "v", members=[follower])
        holder = keep_alive_process(self.cluster, lease, [follower])
        try:
            time.sleep(3.5)  # several TTLs
            got = self.cluster.ctl("get", "/held", json_out=True)
            self.assertEqual(len(got.get("kvs", [])), 1, "a kept-alive lease expired")
        finally:
            holder.kill()
            holder.wait()
        abandoned = time.monotonic()
        wait_until(lambda: not self.cluster.ctl("get", "/held", json_out=True).get("kvs"), 10,
                   what="the abandoned lease to expire")
        self.assertGreaterEqual(time.monotonic() - abandoned, 0.5)

    def test_lease_survives_leader_crash(self):
        lease = self.cluster.ctl("lease", "grant", "2").split()[1]
        self.cluster.ctl("put", "--lease=" + lease, "/survivor", "v")
        holder = keep_alive_process(self.cluster, lease, self.cluster.members)
        try:
            for _ in range(2):
                leader = self.cluster.leader()
                self.cluster.kill(leader)
                time.sleep(1.5)
                self.cluster.restart(leader)
            time.sleep(1)
            got = self.cluster.ctl("get", "/survivor", json_out=True)
            self.assertEqual(len(got.get("kvs", [])), 1, "a kept-alive lease expired")
        finally:
            holder.kill()
            holder.wait()


class QuotaTest(ClusterTest):
    SIZE = 1

    def test_nospace_alarm_then_disarm(self):
        # Restart the member with a 4 MiB quota.
        m = self.cluster.members[0]
        self.cluster.kill(m, signal.SIGTERM)
        m.argv = m.argv + ["--quota-backend-bytes", str(4 << 20)]
        self.cluster.restart(m)
        value = b"x" * (256 << 10)  # on stdin: too long for an argument
        refused = None
        for i in range(64):
            p = self.cluster.ctl("put", f"/big/{i}", stdin=value, check=False)
            if p.returncode != 0:
                refused = p.stderr
                break
        self.assertIsNotNone(refused, "never ran out of space")
        self.assertIn("etcdserver: mvcc: database space exceeded", refused)
        self.assertIn("alarm:NOSPACE", self.cluster.ctl("alarm", "list"))
        p = self.cluster.ctl("put", "/small", "1", check=False)
        self.assertIn("database space exceeded", p.stderr)
        self.assertTrue(self.cluster.ctl("get", "/big/0", json_out=True)["kvs"])  # reads work
        rev = self.cluster.ctl("del", "--prefix", "/big/", json_out=True)["header"]["revision"]
        self.cluster.ctl("compact", str(rev), "--physical")
        self.cluster.ctl("defrag")
        self.cluster.ctl("alarm", "disarm")
        self.assertNotIn("NOSPACE", self.cluster.ctl("alarm", "list"))
        self.cluster.ctl("put", "/small", "1")


class AutoCompactionTest(ClusterTest):
    SIZE = 1

    def test_periodic_compacts_history_older_than_retention(self):
        m = self.cluster.members[0]
        self.cluster.kill(m, signal.SIGTERM)
        m.argv = m.argv + ["--auto-compaction-mode", "periodic",
                           "--auto-compaction-retention", "2s"]
        self.cluster.restart(m)
        first = self.cluster.ctl("put", "/ac", "1", json_out=True)["header"]["revision"]
        self.cluster.ctl("put", "/ac", "2")

        def compacted():
            p = self.cluster.ctl("get", "/ac", f"--rev={first}", check=False)
            return p.returncode != 0 and "required revision has been compacted" in p.stderr
        wait_until(compacted, 15, interval=0.3, what="auto compaction")


class LearnerLimitTest(ClusterTest):

    def test_second_learner_refused(self):
        def add(name):
            p = self.cluster.ctl("member", "add", name, f"--peer-urls=http://127.0.0.1:{free_port()}",
                                 "--learner", check=False)
            if p.returncode != 0 and "unhealthy cluster" in p.stderr:
                return None  # etcd's 5 s connection rule right after start: retry
            return p
        first = wait_until(lambda: add("l1"), 15, interval=0.3, what="first learner")
        self.assertEqual(first.returncode, 0, first.stderr)
        second = wait_until(lambda: add("l2"), 15, interval=0.3, what="second learner")
        self.assertNotEqual(second.returncode, 0)
        self.assertIn("etcdserver: too many learner members in cluster", second.stderr)
