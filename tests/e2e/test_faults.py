"""Failure stories with real processes: the leader dies while clients write, the whole
cluster restarts, a WAL rots on disk, a second process opens a member's data dir."""

import glob
import os
import signal
import subprocess
import threading
import time
import unittest

from cluster import Member, wait_until
from e2e_base import ClusterTest, kvs_of


class Writer(threading.Thread):
    """Puts w/<n> = <n> in a loop through every endpoint; records which writes were
    acknowledged and when."""

    def __init__(self, cluster, name):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.name = name
        self.acked = []  # (key, value, time acknowledged)
        self.failed = 0
        self.stop = threading.Event()

    def run(self):
        n = 0
        while not self.stop.is_set():
            key, value = f"w/{self.name}/{n:05d}", str(n)
            p = self.cluster.ctl("put", key, value, members=self.cluster.members,
                                 check=False, command_timeout="2s")
            if p.returncode == 0:
                self.acked.append((key, value, time.monotonic()))
            else:
                self.failed += 1
            n += 1


class LeaderFailureTest(ClusterTest):

    def test_kill_leader_while_clients_write(self):
        writers = [Writer(self.cluster, f"c{i}") for i in range(2)]
        for w in writers:
            w.start()
        wait_until(lambda: all(len(w.acked) >= 5 for w in writers), 20, what="first writes")

        old = self.cluster.leader()
        self.cluster.kill(old, signal.SIGKILL)
        killed_at = time.monotonic()
        new = self.cluster.leader()
        self.assertIsNot(new, old)
        # Writes resume under the new leader.
        wait_until(lambda: all(sum(1 for a in w.acked if a[2] > killed_at) >= 5
                               for w in writers), 20, what="writes after the leader died")
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(timeout=30)

        # The old leader comes back as a follower and catches up; every acknowledged write
        # is on every member.
        self.cluster.restart(old)
        acked = [(k, v) for w in writers for k, v, _ in w.acked]
        for m in self.cluster.members:
            got = dict(kvs_of(self.cluster.ctl("get", "w/", "--prefix", json_out=True,
                                               members=[m])))
            missing = [(k, v) for k, v in acked if got.get(k) != v]
            self.assertEqual(missing, [], f"acknowledged writes missing on {m.name}")

    def test_restart_whole_cluster_keeps_data(self):
        for i in range(20):
            self.cluster.ctl("put", f"keep/{i:02d}", f"v{i}")
        self.cluster.ctl("del", "keep/07")
        before = self.cluster.ctl("get", "keep/", "--prefix", json_out=True)
        for m in self.cluster.members:
            self.cluster.kill(m, signal.SIGTERM)
        for m in self.cluster.members:
            self.cluster.restart(m, wait=False)
        self.cluster.wait_healthy()
        after = self.cluster.ctl("get", "keep/", "--prefix", json_out=True)
        self.assertEqual(kvs_of(after), kvs_of(before))
        self.assertEqual(len(kvs_of(after)), 19)
        self.assertEqual(after["header"]["revision"], before["header"]["revision"])
        # Still a working cluster: a write after the restart gets the next revision.
        rev = self.cluster.ctl("put", "keep/new", "v", json_out=True)["header"]["revision"]
        self.assertEqual(rev, before["header"]["revision"] + 1)


def wal_files(data_dir, etcd):
    pattern = "**/*.wal" if etcd else "**/wal-*.log"
    return sorted(glob.glob(os.path.join(data_dir, pattern), recursive=True))


class DataDirTest(ClusterTest):
    """A single member and its data directory."""

    SIZE = 1

    def test_corrupt_wal_refuses_to_start(self):
        m = self.cluster.members[0]
        for i in range(20):
            self.cluster.ctl("put", f"c/{i}", "v" * 100)
        self.cluster.kill(m, signal.SIGTERM)
        files = wal_files(m.data_dir, self.etcd)
        self.assertTrue(files, f"no WAL file under {m.data_dir}")
        # Flip 4 bytes inside the first record (past the segment header), which valid
        # records follow: real rot, not a torn tail.
        offset = 200 if self.etcd else 32 + 12 + 2
        with open(files[0], "r+b") as f:
            f.seek(offset)
            data = f.read(4)
            f.seek(offset)
            f.write(bytes(b ^ 0xFF for b in data))
        with open(m.log_path, "rb") as f:
            log_start = len(f.read())

        self.cluster.restart(m, wait=False)
        try:
            code = m.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("the member started on a corrupt WAL")
        self.assertNotEqual(code, 0)
        with open(m.log_path, "rb") as f:
            message = f.read()[log_start:].decode("utf-8", "replace")
        self.assertIn("wal", message.lower())
        if not self.etcd:
            # raftkvd names the file and the offset of the bad record.
            self.assertIn(os.path.basename(files[0]), message)
            self.assertIn("offset", message)

    def test_second_process_on_same_data_dir_is_refused(self):
        m = self.cluster.members[0]
        self.cluster.ctl("put", "lock/k", "v")
        intruder = Member("intruder", self.cluster.root)
        argv = self.cluster._flags(intruder, f"intruder={intruder.peer_url}", "new")
        argv[argv.index("--data-dir") + 1] = m.data_dir
        proc = self.cluster.spawn_raw(intruder, argv)
        try:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            if self.etcd:
                # etcd blocks on the lock of its database: it never serves.
                p = self.cluster.ctl("endpoint", "health", members=[intruder], check=False)
                self.assertNotEqual(p.returncode, 0, "the second process serves")
            else:
                # raftkvd refuses at once, saying the data dir is locked.
                self.assertIsNotNone(code, "the second raftkvd is still running")
                self.assertNotEqual(code, 0)
                self.assertIn("lock", intruder.log_tail(20).lower())
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        # The first process keeps serving, its data intact.
        got = self.cluster.ctl("get", "lock/k", json_out=True, members=[m])
        self.assertEqual(kvs_of(got), [("lock/k", "v")])
        self.cluster.ctl("put", "lock/k2", "v", members=[m])


if __name__ == "__main__":
    unittest.main()
