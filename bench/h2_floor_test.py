#!/usr/bin/python3
"""raftkv-h2-floor (bench/h2_floor.cc) driven by etcd's own client, etcdctl (Debian's
etcd-client): the HTTP/2 + gRPC framing of our own must be what a Go gRPC client accepts.

    bench/h2_floor_test.py --server build/bin/raftkv-h2-floor

Each test starts the server on a free port with etcd-style flags (as compare-etcd does) and a
temp dir, and stops it with SIGTERM (it must exit 0).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class H2FloorTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("etcdctl") is None:
            self.skipTest("etcdctl (etcd-client) is not installed")
        self.dir = tempfile.mkdtemp(prefix="raftkv-h2-floor-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        port = free_port()
        self.endpoint = f"127.0.0.1:{port}"
        url = f"http://{self.endpoint}"
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.addCleanup(self.log.close)
        # etcd's flags, as compare-etcd gives them; all but --listen-client-urls are ignored.
        self.server = subprocess.Popen(
            [ARGS.server, "--name", "m1", "--data-dir", os.path.join(self.dir, "m1"),
             "--listen-client-urls", url, "--advertise-client-urls", url,
             "--listen-peer-urls", f"http://127.0.0.1:{free_port()}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self.kill)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                self.assertIsNone(self.server.poll(), "raftkv-h2-floor exited")
                self.assertLess(time.time(), deadline, "raftkv-h2-floor does not listen")
                time.sleep(0.05)

    def kill(self):
        if self.server.poll() is None:
            self.server.kill()
            self.server.wait()

    def ctl(self, *args, stdin=None):
        return subprocess.run(["etcdctl", "--endpoints", self.endpoint, "--command-timeout",
                               "10s", *args], input=stdin, capture_output=True, text=True,
                              timeout=30)

    def test_put_get_status_member_list(self):
        p = self.ctl("put", "k", "v")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "OK")
        p = self.ctl("get", "k", "-w", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        header = json.loads(p.stdout)["header"]
        self.assertEqual(header["member_id"], 2)
        self.assertGreaterEqual(header["revision"], 2)  # the put bumped it
        p = self.ctl("endpoint", "status", "-w", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        status = json.loads(p.stdout)[0]["Status"]
        self.assertEqual(status["leader"], 2)  # names itself leader, as etcd's tool needs
        p = self.ctl("member", "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"http://{self.endpoint}", p.stdout)
        p = self.ctl("compact", "1")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_request_split_over_data_frames(self):
        """A 200 KB value: the request spans many DATA frames (16 KiB at most each)."""
        p = self.ctl("put", "big", stdin="x" * 200_000)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "OK")

    def test_unknown_method_is_unimplemented(self):
        p = self.ctl("del", "k")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Unimplemented", p.stderr)
        p = self.ctl("put", "k", "v")  # the connection is still good
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_sigterm_stops_it_with_status_0(self):
        """After some connections come and go, SIGTERM stops the server with status 0."""
        for _ in range(3):
            p = self.ctl("put", "k", "v")
            self.assertEqual(p.returncode, 0, p.stderr)
        self.server.send_signal(signal.SIGTERM)
        self.assertEqual(self.server.wait(timeout=10), 0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="the raftkv-h2-floor binary")
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
