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

from cluster import ETCDCTL, wait_until
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
