#!/usr/bin/python3
"""Smoke test of raftkv-bench against a real single-member server (raftkvd or etcd).

    bench/smoke_test.py --bench build/bin/raftkv-bench --server build/bin/raftkvd
    bench/smoke_test.py --bench build/bin/raftkv-bench --server /usr/bin/etcd

Starts the server with etcd's flags on free loopback ports in a temporary data dir, then
checks that `raftkv-bench put --total 200` completes 200 requests without errors, that the
keys really landed (etcdctl sees one revision per put, on the expected keys), and that bad flags exit 2.
"""

import argparse
import base64
import json
import os
import shutil
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


class BenchSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="raftkv-bench-smoke-")
        client, peer = free_port(), free_port()
        cls.endpoint = f"127.0.0.1:{client}"
        cls.log = open(os.path.join(cls.dir, "server.log"), "w")
        cls.server = subprocess.Popen(
            [ARGS.server, "--name", "s1", "--data-dir", os.path.join(cls.dir, "data"),
             "--listen-client-urls", f"http://{cls.endpoint}",
             "--advertise-client-urls", f"http://{cls.endpoint}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"s1=http://127.0.0.1:{peer}"],
            stdout=cls.log, stderr=subprocess.STDOUT)

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        try:
            cls.server.wait(10)
        except subprocess.TimeoutExpired:
            cls.server.kill()
            cls.server.wait()
        cls.log.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def bench(self, *args):
        return subprocess.run([ARGS.bench, *args], capture_output=True, text=True, timeout=60)

    def wait_ready(self):
        """Waits until the server has elected itself (a linearizable read succeeds)."""
        deadline = time.time() + 20
        while True:
            self.assertIsNone(self.server.poll(), "server exited")
            p = self.bench("range", "--total", "1", "--endpoints", self.endpoint, "--quiet",
                           "--timeout", "2")
            if p.returncode == 0:
                return
            self.assertLess(time.time(), deadline, p.stderr)
            time.sleep(0.3)

    def bench_json(self, *args):
        p = self.bench(*args, "--endpoints", self.endpoint, "--json", "--quiet")
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        return json.loads(p.stdout)

    def etcdctl_get(self, *args):
        p = subprocess.run(["etcdctl", "--endpoints", self.endpoint, "get", *args, "-w", "json"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_put_200(self):
        self.wait_ready()
        before = int(self.etcdctl_get("none")["header"]["revision"])
        r = self.bench_json("put", "--total", "200", "--clients", "4", "--conns", "2",
                            "--key-space-size", "50", "--target-leader")
        self.assertEqual(r["requests"], 200)
        self.assertEqual(r["ok"], 200)
        self.assertEqual(r["failed"], 0)
        self.assertEqual(r["errors"], {})
        self.assertEqual(r["endpoints"], [self.endpoint])
        lat = r["latency_ms"]
        self.assertGreater(lat["p50"], 0)
        self.assertLessEqual(lat["p50"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["max"])
        self.assertGreater(r["rps"], 0)
        # Every put landed (one revision each), on 8-byte decimal keys below 50.
        got = self.etcdctl_get("0", "--prefix", "--keys-only")
        self.assertEqual(int(got["header"]["revision"]) - before, 200)
        keys = [base64.b64decode(kv["key"]).decode() for kv in got["kvs"]]
        self.assertGreater(len(keys), 30)
        for key in keys:
            self.assertRegex(key, r"^[0-9]{8}$")
            self.assertLess(int(key), 50)
        # Ranges over the same keys read them back.
        r = self.bench_json("range", "--total", "20", "--key-space-size", "50",
                            "--consistency", "s")
        self.assertEqual(r["ok"], 20)

    def test_rate_limit_holds(self):
        self.wait_ready()
        r = self.bench_json("range", "--total", "50", "--clients", "4", "--rate", "100",
                            "--consistency", "s")
        self.assertEqual(r["ok"], 50)
        # 50 requests at 100/s: the last one starts 0.49 s after the first, at the earliest.
        self.assertGreaterEqual(r["elapsed_s"], 0.48)
        self.assertLessEqual(r["rps"], 102)

    def test_bad_flag_exits_2(self):
        p = self.bench("put", "--clients", "zero", "--endpoints", self.endpoint)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--clients: not a non-negative integer", p.stderr)

    def test_unreachable_endpoint_is_an_error(self):
        p = self.bench("put", "--total", "5", "--endpoints", f"127.0.0.1:{free_port()}",
                       "--timeout", "1", "--quiet")
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot connect", p.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--server", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
