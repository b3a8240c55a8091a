"""Locks with leases, as etcd's users take them: `etcdctl lock NAME` (a concurrency session:
a lease kept alive, a key under NAME/ attached to it, released on exit) and python-etcd3's
lock(). These stories need no Watch: the lock is never contended while someone waits on it
(a waiting locker watches the previous holder's key, which needs the Watch service).
Each story is also green against etcd 3.4."""

import signal
import subprocess
import time

import etcd3

from cluster import ETCDCTL, wait_until
from e2e_base import SharedClusterTest


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
