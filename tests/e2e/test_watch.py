"""Watch stories with etcd's own clients: etcdctl watch (prefix, --rev, --prev-kv,
interactive with progress), python-etcd3 (watch, watch_prefix, watch_once, callbacks and
cancel, a compacted start revision) and the Node.js etcd3 package's watch(). Every member
serves watches: the stories watch through followers, and one through a learner (raftkvd
only: etcd 3.4 refuses streams on learners)."""

import json
import os
import queue
import subprocess
import threading
import time
import unittest

import etcd3
import etcd3.exceptions
import grpc
from etcd3 import etcdrpc

from cluster import ELECTION_MS, ETCDCTL, wait_until
from e2e_base import ClusterTest, SharedClusterTest, unb64

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


class LineReader:
    """Collects a process's stdout lines on a thread, so a test can wait for some."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.lines.put(line.decode("utf-8", "replace").rstrip("\n"))

    def take(self, n, timeout=10):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"got {len(out)} of {n} lines: {out}")
            try:
                out.append(self.lines.get(timeout=left))
            except queue.Empty:
                pass
        return out


class WatchTest(SharedClusterTest):

    def etcdctl_watch(self, *args, member=None, stdin=False):
        """Starts `etcdctl watch` against one member; stopped at the end of the test."""
        m = member or self.cluster.followers()[0]
        argv = [ETCDCTL, f"--endpoints={m.client_url}", "watch"] + [str(a) for a in args]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                             env=dict(os.environ, ETCDCTL_API="3"))
        self.addCleanup(lambda: (p.kill(), p.wait()))
        return p, LineReader(p)

    def client(self, member=None):
        m = member or self.cluster.followers()[0]
        c = etcd3.client(host="127.0.0.1", port=m.client_port, timeout=10)
        self.addCleanup(c.close)
        return c

    # ---- etcdctl ------------------------------------------------------------------------

    def test_etcdctl_watch_prefix_from_a_revision_prints_each_event(self):
        rev = self.put("wp/a", "0") + 1
        _, out = self.etcdctl_watch("wp/", "--prefix", f"--rev={rev}")
        self.put("wp/a", "1")
        self.put("other", "x")
        self.ctl("del", "wp/a")
        self.put("wp/b", "2")
        # etcdctl prints a delete's (empty) value as an empty line.
        self.assertEqual(out.take(9), ["PUT", "wp/a", "1", "DELETE", "wp/a", "", "PUT", "wp/b",
                                       "2"])

    def test_etcdctl_watch_prev_kv_json(self):
        first = self.put("wv/k", "old")
        _, out = self.etcdctl_watch("wv/k", f"--rev={first + 1}", "--prev-kv", "-w", "json")
        self.put("wv/k", "new")
        self.ctl("del", "wv/k")
        responses = []
        while sum(len(r.get("Events") or []) for r in responses) < 2:
            responses.append(json.loads(out.take(1)[0]))
        events = [e for r in responses for e in r["Events"]]
        put, delete = events
        self.assertNotIn("type", put)  # PUT is the zero value, left out of the JSON
        self.assertEqual(unb64(put["kv"]["value"]), "new")
        self.assertEqual(unb64(put["prev_kv"]["value"]), "old")
        self.assertEqual(put["kv"]["version"], 2)
        self.assertEqual(delete["type"], 1)
        self.assertEqual(unb64(delete["prev_kv"]["value"]), "new")
        self.assertEqual(delete["kv"]["mod_revision"], first + 2)
        self.assertNotIn("value", delete["kv"])
        self.assertEqual(responses[-1]["Header"]["revision"], first + 2)

    def test_etcdctl_interactive_watch_and_progress(self):
        rev = self.put("wi/k", "0") + 1
        p, out = self.etcdctl_watch("-i", stdin=True)
        p.stdin.write(f"watch wi/k --rev {rev}\n".encode())
        p.stdin.flush()
        self.put("wi/k", "1")
        self.assertEqual(out.take(3), ["PUT", "wi/k", "1"])
        p.stdin.write(b"progress\n")
        p.stdin.flush()
        line = out.take(1)[0]
        self.assertTrue(line.startswith("progress notify: "), line)
        self.assertGreaterEqual(int(line.split(": ")[1]), rev)

    def test_etcdctl_watch_from_a_compacted_revision_is_cancelled(self):
        first = self.put("wc/k", "1")
        last = self.put("wc/k", "2")
        self.ctl("compact", str(last))
        p, _ = self.etcdctl_watch("wc/k", f"--rev={first}")
        _, err = p.communicate(timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("watch was canceled (etcdserver: mvcc: required revision has been "
                      "compacted)", err.decode())

    # ---- python-etcd3 -------------------------------------------------------------------

    def test_python_watch_iterator_from_revision_then_live(self):
        c = self.client()
        rev = c.put("py/w", "a").header.revision
        events, cancel = c.watch("py/w", start_revision=rev, prev_kv=True)
        c.put("py/w", "b")
        c.delete("py/w")
        got = []
        for ev in events:
            got.append((type(ev).__name__, ev.key.decode(), ev.value.decode(),
                        ev.mod_revision, ev.prev_value.decode() if ev.prev_value else None))
            if len(got) == 3:
                cancel()
        self.assertEqual(got, [("PutEvent", "py/w", "a", rev, None),
                               ("PutEvent", "py/w", "b", rev + 1, "a"),
                               ("DeleteEvent", "py/w", "", rev + 2, "b")])

    def test_python_watch_prefix_and_watch_once(self):
        c = self.client()
        events, cancel = c.watch_prefix("pyp/")
        c.put("pyp/1", "one")
        c.put("elsewhere", "no")
        c.put("pyp/2", "two")
        got = []
        for ev in events:
            got.append((ev.key.decode(), ev.value.decode()))
            if len(got) == 2:
                cancel()
        self.assertEqual(got, [("pyp/1", "one"), ("pyp/2", "two")])

        threading.Timer(0.3, lambda: self.client(self.cluster.leader()).put("pyo", "x")).start()
        ev = c.watch_once("pyo", timeout=10)
        self.assertEqual((ev.key, ev.value), (b"pyo", b"x"))
        with self.assertRaises(etcd3.exceptions.WatchTimedOut):
            c.watch_once("pyo-never", timeout=0.5)

    def test_python_callback_cancel_stops_events(self):
        c = self.client()
        got = []
        watch_id = c.add_watch_callback("pyc", lambda resp: got.extend(resp.events))
        c.put("pyc", "1")
        wait_until(lambda: len(got) == 1, 10, what="the first event")
        c.cancel_watch(watch_id)
        # A second watcher on the same stream sees the next write, the cancelled one not.
        later = []
        c.add_watch_callback("pyc", lambda resp: later.extend(resp.events))
        c.put("pyc", "2")
        wait_until(lambda: len(later) == 1, 10, what="the event after cancel")
        time.sleep(0.2)
        self.assertEqual([e.value for e in got], [b"1"])

    def test_python_compacted_start_revision_raises(self):
        c = self.client()
        first = c.put("pyk", "1").header.revision
        last = c.put("pyk", "2").header.revision
        c.compact(last)
        errors = []
        try:
            c.add_watch_callback("pyk", errors.append, start_revision=first)
        except etcd3.exceptions.RevisionCompactedError as e:
            errors.append(e)
        wait_until(lambda: errors, 10, what="the compaction error")
        self.assertIsInstance(errors[0], etcd3.exceptions.RevisionCompactedError)
        self.assertEqual(errors[0].compacted_revision, last)

    # ---- Node.js etcd3 ------------------------------------------------------------------

    def test_node_etcd3_watch(self):
        endpoints = ",".join(m.client_url for m in self.cluster.followers())
        p = subprocess.run(["node", "watch_story.js", endpoints, "nd/"], cwd=NODE_DIR,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json.loads(p.stdout)
        rev = out["startRev"]
        self.assertEqual(out["keyEvents"], [
            {"type": "put", "value": "1", "prev": None, "mod": rev + 1},
            {"type": "put", "value": "2", "prev": "1", "mod": rev + 2},
            {"type": "delete", "prev": "2", "mod": rev + 4}])
        self.assertEqual(out["prefixEvents"], [
            {"type": "Put", "key": "nd/old", "mod": rev},
            {"type": "Put", "key": "nd/a", "mod": rev + 1},
            {"type": "Put", "key": "nd/a", "mod": rev + 2},
            {"type": "Put", "key": "nd/b", "mod": rev + 3},
            {"type": "Delete", "key": "nd/a", "mod": rev + 4},
            {"type": "Put", "key": "nd/a", "mod": rev + 5}])
        self.assertEqual(out["deletes"], ["nd/a"])
        self.assertEqual(out["lastRevision"], rev + 6)


class ProgressNotifyTest(ClusterTest):
    """A quiet watcher that asked for progress notifications gets empty responses at the
    current revision every --experimental-watch-progress-notify-interval (etcd's hidden
    flag; 10 minutes by default)."""

    SIZE = 1
    EXTRA_FLAGS = ("--experimental-watch-progress-notify-interval", "200ms")

    def test_quiet_watcher_gets_progress_notifications(self):
        m = self.cluster.members[0]
        c = etcd3.client(host="127.0.0.1", port=m.client_port, timeout=10)
        self.addCleanup(c.close)
        rev = c.put("pn/other", "x").header.revision
        got = []
        watch_id = c.add_watch_callback("pn/quiet", got.append, progress_notify=True)
        self.addCleanup(c.cancel_watch, watch_id)
        wait_until(lambda: len(got) >= 2, 10, what="two progress notifications")
        self.assertEqual([(len(r.events), r.header.revision) for r in got[:2]],
                         [(0, rev), (0, rev)])
        rev2 = c.put("pn/other", "y").header.revision
        wait_until(lambda: any(r.header.revision == rev2 for r in got), 10,
                   what="a notification at the new revision")
        self.assertTrue(all(not r.events for r in got))


class RequireLeaderTest(ClusterTest):
    """Streams that ask for a leader (gRPC metadata hasleader, clientv3.WithRequireLeader:
    etcdctl's watch, the Go client's keep-alives) are cancelled with "etcdserver: no leader"
    by a member that lost its leader, after 3 election timeouts, and new ones are refused at
    once (etcd 3.4's monitorLeader and stream interceptor)."""

    def start(self, m, *args):
        argv = [ETCDCTL, f"--endpoints={m.client_url}"] + list(args)
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, env=dict(os.environ, ETCDCTL_API="3"))
        self.addCleanup(lambda: (p.kill(), p.wait()))
        return p

    def keep_alive_stream(self, client, lease, requests):
        """A LeaseKeepAlive stream with hasleader (as clientv3's lessor opens it), fed from
        `requests` (a queue; None ends it); yields the answers or raises the stream's error."""
        def feed():
            while (item := requests.get()) is not None:
                yield etcdrpc.LeaseKeepAliveRequest(ID=item)
        stub = etcdrpc.LeaseStub(client.channel)
        return stub.LeaseKeepAlive(feed(), metadata=[("hasleader", "true")])

    def test_streams_are_cancelled_when_the_member_loses_its_leader(self):
        m = self.cluster.followers()[0]
        watch = self.start(m, "watch", "nl/k")
        watch_out = LineReader(watch)
        c = etcd3.client(host="127.0.0.1", port=m.client_port, timeout=10)
        self.addCleanup(c.close)
        lease = c.lease(60).id
        requests = queue.Queue()
        self.addCleanup(requests.put, None)
        answers = self.keep_alive_stream(c, lease, requests)
        requests.put(lease)
        self.assertEqual(next(answers).TTL, 60)
        self.cluster.ctl("put", "nl/k", "1", members=[m])
        self.assertEqual(watch_out.take(3), ["PUT", "nl/k", "1"])

        for other in self.cluster.members:
            if other is not m:
                self.cluster.kill(other)
        lost = time.monotonic()
        _, werr = watch.communicate(timeout=15)
        waited = time.monotonic() - lost
        self.assertNotEqual(watch.returncode, 0)
        self.assertIn("etcdserver: no leader", werr.decode())
        # Not at the first missed heartbeat: only after 3 election timeouts without a leader.
        self.assertGreater(waited, 3 * ELECTION_MS / 1000)
        # The keep-alive stream ended the same way (etcdctl's lessor would quietly reopen it).
        with self.assertRaises(grpc.RpcError) as ended:
            next(answers)
        self.assertEqual(ended.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(ended.exception.details(), "etcdserver: no leader")

        # New streams that ask for a leader are refused at once.
        again = self.start(m, "watch", "nl/k")
        _, err = again.communicate(timeout=15)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("etcdserver: no leader", err.decode())
        refused = self.keep_alive_stream(c, lease, queue.Queue())
        with self.assertRaises(grpc.RpcError) as ended:
            next(refused)
        self.assertEqual(ended.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(ended.exception.details(), "etcdserver: no leader")

    def test_unary_calls_that_ask_for_a_leader_are_refused_without_one(self):
        """etcd's unary interceptor: a call with hasleader (clientv3.WithRequireLeader) on a
        member without a leader gets Unavailable "etcdserver: no leader" at once; the same
        serializable read without it is served from the member's store."""
        m = self.cluster.followers()[0]
        self.cluster.ctl("put", "ul/k", "v1", members=[m])
        c = etcd3.client(host="127.0.0.1", port=m.client_port, timeout=10)
        self.addCleanup(c.close)
        kv = etcdrpc.KVStub(c.channel)
        lease = etcdrpc.LeaseStub(c.channel)
        maintenance = etcdrpc.MaintenanceStub(c.channel)
        hasleader = [("hasleader", "true")]
        get = etcdrpc.RangeRequest(key=b"ul/k", serializable=True)
        # With a leader, the metadata changes nothing (once this follower applied the put).
        wait_until(lambda: [x.value for x in kv.Range(get, metadata=hasleader, timeout=10).kvs]
                   == [b"v1"], timeout=10, what="the put applied on the follower")

        for other in self.cluster.members:
            if other is not m:
                self.cluster.kill(other)

        def refused():
            try:
                kv.Range(get, metadata=hasleader, timeout=10)
                return False
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE, e.details())
                self.assertEqual(e.details(), "etcdserver: no leader")
                return True
        # Refused once the member has noticed (an election timeout without heartbeats).
        wait_until(refused, timeout=10, what="Range with hasleader refused")
        # Without the metadata, the serializable read is still served.
        self.assertEqual(kv.Range(get, timeout=10).kvs[0].value, b"v1")
        # Every unary call does the same, writes, leases and Status included.
        calls = [
            lambda md: kv.Put(etcdrpc.PutRequest(key=b"ul/k", value=b"v2"), metadata=md,
                              timeout=10),
            lambda md: lease.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=60), metadata=md,
                                        timeout=10),
            lambda md: maintenance.Status(etcdrpc.StatusRequest(), metadata=md, timeout=10),
        ]
        for call in calls:
            with self.assertRaises(grpc.RpcError) as ended:
                call(hasleader)
            self.assertEqual(ended.exception.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertEqual(ended.exception.details(), "etcdserver: no leader")
        self.assertEqual(maintenance.Status(etcdrpc.StatusRequest(), timeout=10).leader, 0)


class LearnerWatchTest(ClusterTest):
    """A learner serves watches from its own store (raftkvd; etcd 3.4 refuses every stream
    on a learner with "rpc not supported for learner")."""

    SIZE = 1

    def test_watch_through_a_learner(self):
        learner = self.cluster.add_member(learner=True)
        c = etcd3.client(host="127.0.0.1", port=learner.client_port, timeout=10)
        self.addCleanup(c.close)
        leader = etcd3.client(host="127.0.0.1", port=self.cluster.members[0].client_port)
        self.addCleanup(leader.close)
        rev = leader.put("ln", "1").header.revision
        if self.etcd:
            # etcd refuses the stream ("rpc not supported for learner"); python-etcd3 then
            # retries the stream until its timeout.
            with self.assertRaises((etcd3.exceptions.WatchTimedOut, Exception)):
                c.watch_once("ln", timeout=3, start_revision=rev)
            return
        ev = c.watch_once("ln", timeout=10, start_revision=rev)
        self.assertEqual((ev.key, ev.value, ev.mod_revision), (b"ln", b"1", rev))


if __name__ == "__main__":
    unittest.main()
