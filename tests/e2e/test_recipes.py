"""The coordination recipes as etcd's users run them, against a 3-member cluster: locks and
leader elections built on leases and watches.

- `etcdctl lock NAME` (a concurrency session: a lease kept alive, a key under NAME/ attached to
  it, released on exit), uncontended and contended: a second locker waits on the previous
  holder's key and gets the lock when the first exits or dies.
- `etcdctl elect NAME PROPOSAL` with a second candidate waiting, and `etcdctl elect -l NAME`
  observing the leader change.
- python-etcd3's lock(): refused and blocking while held, acquired once released, freed by a
  holder's expired lease.
- the Node.js etcd3 package's lock() and election() (`node/recipes_story.js`).

Each story is also green against etcd 3.4 (`tests/e2e/run --binary /usr/bin/etcd test_recipes`)."""

import json
import os
import signal
import subprocess
import time

import etcd3

from cluster import ETCDCTL, wait_until
from e2e_base import SharedClusterTest, b64
from test_watch import NODE_DIR, LineReader


def etcdctl_process(cluster, *args):
    """A long-running etcdctl (lock, elect) with its stdout lines collected on a thread."""
    argv = [ETCDCTL, f"--endpoints={cluster.endpoints()}"] + list(args)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
    return p, LineReader(p)


def stop(p, sig=signal.SIGINT):
    """Stops an etcdctl the way a user does (Ctrl-C: it unlocks / resigns), or kills it."""
    if p.poll() is None:
        p.send_signal(sig)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def nothing_for(reader, seconds):
    """The lines a process printed within `seconds` (a waiting locker prints none)."""
    time.sleep(seconds)
    got = []
    while not reader.lines.empty():
        got.append(reader.lines.get())
    return got


class LockTest(SharedClusterTest):

    def _lock_holder(self, name):
        argv = [ETCDCTL, f"--endpoints={self.cluster.endpoints()}", "lock", name]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
        line = p.stdout.readline().decode().strip()  # the lock key, once held
        return p, line

    def test_etcdctl_lock_holds_a_leased_key_and_releases_it_on_exit(self):
        p, key = self._lock_holder("/locks/etcdctl")
        try:
            self.assertTrue(key.startswith("/locks/etcdctl/"), key)
            got = self.get(key)["kvs"]
            self.assertEqual(len(got), 1)
            lease = format(got[0]["lease"], "016x")  # as etcdctl prints it
            self.assertNotEqual(got[0]["lease"], 0)
            self.assertIn(f"lease {lease} granted", self.ctl("lease", "timetolive", lease))
        finally:
            p.send_signal(signal.SIGINT)  # etcdctl unlocks: deletes its key
            p.wait(timeout=10)
        wait_until(lambda: not self.get(key).get("kvs"), 5, what="the lock key to go")
        # etcd 3.4's etcdctl leaves the session's lease to expire (TTL 10 s by default).
        self.assertNotIn(key, self.ctl("lease", "timetolive", "--keys", lease))

    def test_etcdctl_lock_of_a_killed_holder_frees_after_the_session_ttl(self):
        p, key = self._lock_holder("/locks/killed")
        lease = format(self.get(key)["kvs"][0]["lease"], "x")
        ttl = int(self.ctl("lease", "timetolive", lease).split("TTL(")[1].split("s)")[0])
        p.kill()  # no release: only the lease's expiry frees the lock
        p.wait()
        killed = time.monotonic()
        wait_until(lambda: not self.get(key).get("kvs"), ttl + 10, interval=0.2,
                   what="the dead holder's lock key to expire")
        self.assertGreater(time.monotonic() - killed, 1.0)  # not at once: the TTL ran out
        q, key2 = self._lock_holder("/locks/killed")  # the lock is free again
        q.send_signal(signal.SIGINT)
        q.wait(timeout=10)
        self.assertNotEqual(key, key2)

    def test_python_etcd3_lock(self):
        c = etcd3.client(port=self.cluster.members[0].client_port)
        lock = c.lock("py-lock", ttl=2)
        self.assertTrue(lock.acquire(timeout=5))
        self.assertTrue(lock.is_acquired())
        other = c.lock("py-lock", ttl=2)
        self.assertFalse(other.acquire(timeout=0))  # held: refused without waiting
        lock.release()
        self.assertFalse(lock.is_acquired())
        self.assertTrue(other.acquire(timeout=0))
        # A holder that stops refreshing loses the lock after its TTL.
        time.sleep(3.5)
        self.assertFalse(other.is_acquired())
        self.assertTrue(lock.acquire(timeout=0))
        lock.release()
        c.close()


class ContendedLockTest(SharedClusterTest):
    """A second locker waits while the lock is held and gets it when the holder lets go."""

    def test_etcdctl_second_locker_waits_until_the_first_exits(self):
        first, first_out = etcdctl_process(self.cluster, "lock", "/cl/etcdctl")
        self.addCleanup(stop, first, signal.SIGKILL)
        key1 = first_out.take(1)[0]
        self.assertTrue(key1.startswith("/cl/etcdctl/"), key1)
        second, second_out = etcdctl_process(self.cluster, "lock", "/cl/etcdctl")
        self.addCleanup(stop, second, signal.SIGKILL)
        # The waiter's key exists (it queued behind the holder) but it does not hold the lock.
        wait_until(lambda: len(self.get("/cl/etcdctl/", "--prefix").get("kvs", [])) == 2, 10,
                   what="the second locker's key")
        self.assertEqual(nothing_for(second_out, 1.0), [])
        self.assertIsNone(second.poll())
        stop(first)  # Ctrl-C: etcdctl deletes its key, which wakes the waiter
        key2 = second_out.take(1, timeout=10)[0]
        self.assertTrue(key2.startswith("/cl/etcdctl/"), key2)
        self.assertNotEqual(key1, key2)
        self.assertEqual([kv["key"] for kv in self.get("/cl/etcdctl/", "--prefix")["kvs"]],
                         [b64(key2)])
        stop(second)

    def test_etcdctl_waiter_gets_the_lock_of_a_killed_holder_after_its_ttl(self):
        first, first_out = etcdctl_process(self.cluster, "lock", "--ttl=2", "/cl/killed")
        self.addCleanup(stop, first, signal.SIGKILL)
        key1 = first_out.take(1)[0]
        second, second_out = etcdctl_process(self.cluster, "lock", "/cl/killed")
        self.addCleanup(stop, second, signal.SIGKILL)
        wait_until(lambda: len(self.get("/cl/killed/", "--prefix").get("kvs", [])) == 2, 10,
                   what="the second locker's key")
        stop(first, signal.SIGKILL)  # no unlock: the session's lease must run out
        killed = time.monotonic()
        key2 = second_out.take(1, timeout=15)[0]
        self.assertGreater(time.monotonic() - killed, 1.0)  # only once the TTL ran out
        self.assertNotEqual(key1, key2)
        self.assertFalse(self.get(key1).get("kvs"))
        stop(second)

    # Debian 12's python3-etcd3 (0.12) cannot *wait* for a lock: acquire(timeout > 0) on a
    # held lock calls its tenacity wait callback with the old two-argument signature, which
    # tenacity 8 no longer uses (TypeError, against etcd as against raftkvd). So the waiter
    # polls with acquire(timeout=0), which is one txn per attempt.
    def poll_acquire(self, lock, seconds):
        """Tries acquire(timeout=0) every 50 ms for `seconds`; the time it succeeded, or None."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if lock.acquire(timeout=0):
                return time.monotonic()
            time.sleep(0.05)
        return None

    def test_python_etcd3_lock_contended_from_two_members(self):
        holder_client = etcd3.client(port=self.cluster.leader().client_port)
        waiter_client = etcd3.client(port=self.cluster.followers()[0].client_port)
        self.addCleanup(holder_client.close)
        self.addCleanup(waiter_client.close)
        held = holder_client.lock("py-contended", ttl=10)
        self.assertTrue(held.acquire(timeout=0))
        waiter = waiter_client.lock("py-contended", ttl=10)
        self.assertIsNone(self.poll_acquire(waiter, 1.0))  # refused all the while it is held
        self.assertFalse(waiter.is_acquired())
        held.release()
        self.assertIsNotNone(self.poll_acquire(waiter, 5))
        self.assertTrue(waiter.is_acquired())
        self.assertFalse(held.acquire(timeout=0))
        waiter.release()

    def test_python_etcd3_holder_whose_lease_expires_frees_the_lock(self):
        holder_client = etcd3.client(port=self.cluster.followers()[0].client_port)
        waiter_client = etcd3.client(port=self.cluster.followers()[1].client_port)
        self.addCleanup(holder_client.close)
        self.addCleanup(waiter_client.close)
        held = holder_client.lock("py-expiring", ttl=2)  # never refreshed: the lease runs out
        self.assertTrue(held.acquire(timeout=0))
        acquired = time.monotonic()
        waiter = waiter_client.lock("py-expiring", ttl=10)
        got = self.poll_acquire(waiter, 15)
        self.assertIsNotNone(got, "the expired holder's lock was never freed")
        self.assertGreater(got - acquired, 1.5)  # not before the holder's TTL ran out
        self.assertFalse(held.is_acquired())
        waiter.release()


class ElectionTest(SharedClusterTest):
    """`etcdctl elect`: the first candidate leads, the second waits; an observer (-l) sees the
    leadership pass when the leader exits."""

    def test_etcdctl_elect_second_candidate_waits_and_observer_sees_the_change(self):
        observer, observed = etcdctl_process(self.cluster, "elect", "-l", "/el/ctl")
        self.addCleanup(stop, observer, signal.SIGKILL)
        first, first_out = etcdctl_process(self.cluster, "elect", "/el/ctl", "alpha")
        self.addCleanup(stop, first, signal.SIGKILL)
        key1, value1 = first_out.take(2)  # elected: prints its key and proposal
        self.assertTrue(key1.startswith("/el/ctl/"), key1)
        self.assertEqual(value1, "alpha")
        self.assertEqual(observed.take(2), [key1, "alpha"])

        second, second_out = etcdctl_process(self.cluster, "elect", "/el/ctl", "beta")
        self.addCleanup(stop, second, signal.SIGKILL)
        wait_until(lambda: len(self.get("/el/ctl/", "--prefix").get("kvs", [])) == 2, 10,
                   what="the second candidate's key")
        self.assertEqual(nothing_for(second_out, 1.0), [])  # not elected while alpha leads
        self.assertEqual(nothing_for(observed, 0), [])

        stop(first)  # Ctrl-C: the leader resigns
        key2, value2 = second_out.take(2, timeout=10)
        self.assertTrue(key2.startswith("/el/ctl/"), key2)
        self.assertNotEqual(key1, key2)
        self.assertEqual(value2, "beta")
        self.assertEqual(observed.take(2, timeout=10), [key2, "beta"])
        stop(second)
        stop(observer)


class NodeRecipesTest(SharedClusterTest):
    """The Node.js etcd3 package's lock() and election() (node/recipes_story.js)."""

    def test_node_etcd3_lock_and_election(self):
        endpoints = ",".join(m.client_url for m in self.cluster.members)
        p = subprocess.run(["node", "recipes_story.js", endpoints, "nr"], cwd=NODE_DIR,
                           capture_output=True, timeout=90)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json.loads(p.stdout)
        self.assertEqual(out["lock"], {"first": "acquired", "whileHeld": "EtcdLockFailedError",
                                       "afterRelease": "acquired", "doResult": "done"})
        e = out["election"]
        self.assertEqual(e["initialLeader"], "a")
        self.assertEqual(e["waitingBeforeResign"], ["b", "c"])  # not elected while a leads
        self.assertEqual(e["electedOrder"], ["a", "b", "c"])
        self.assertEqual(e["observed"], ["a", "b", "c"])
        self.assertEqual(e["leaderAfterResign"], "b")
        self.assertEqual(e["leaderAfterRevoke"], "c")
        # b's keep-alive answers TTL 0: its campaign reports the loss; nobody else errs.
        self.assertEqual(list(e["errors"]), ["b"])
        self.assertTrue(e["errors"]["b"].startswith("EtcdLeaseInvalidError: "), e["errors"])
