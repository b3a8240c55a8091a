#!/usr/bin/python3
"""Smoke test of compare-etcd's TLS and A/B modes (and of the two null servers, raftkv-grpc-floor
and raftkv-h2-floor, under --ab), so that they cannot rot unnoticed.

    bench/compare_smoke_test.py --build build [--etcd /usr/bin/etcd]

Runs `compare-etcd --tls` for half a second per system on single-member clusters (plain and
TLS, client certificates required) with raftkv-bench as the load generator, and checks in
its JSON that raftkvd answered puts with and without TLS, that the TLS run really went over
TLS (the members were started with https URLs and --client-cert-auth), and that the report
has the TLS table. etcd is driven too when its binary exists; otherwise its columns must say
"not run" (make test does not need etcd).
"""

import argparse
import glob
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = None
HERE = os.path.dirname(os.path.abspath(__file__))


def load_compare_etcd():
    """compare-etcd as a module (its file name has no .py)."""
    loader = importlib.machinery.SourceFileLoader("compare_etcd",
                                                  os.path.join(HERE, "compare-etcd"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("compare_etcd",
                                                                             loader))
    loader.exec_module(module)
    return module


class CompareTlsSmokeTest(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="raftkv-compare-smoke-")
        self.addCleanup(shutil.rmtree, self.out, True)

    def compare(self, *extra):
        cmd = [os.path.join(HERE, "compare-etcd"), "--build", ARGS.build, "--etcd", ARGS.etcd,
               "--generator", "raftkv-bench", "--members", "1", "--rounds", "1",
               "--duration", "0.5", "--only", "put c=1", "--out", self.out, *extra]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
        reports = glob.glob(os.path.join(self.out, "*-compare.json"))
        self.assertEqual(len(reports), 1, p.stdout + p.stderr)
        with open(reports[0]) as f:
            data = json.load(f)
        with open(reports[0][:-5] + ".md") as f:
            return p, data, f.read()

    def test_tls_both_runs_plain_and_tls(self):
        p, data, report = self.compare("--tls")
        runs = {r["system"]: r for r in data["runs"]}
        # "put c=1" is a whole workload name: only that one ran (not c=16, c=1024).
        self.assertEqual({r["workload"] for r in data["runs"]}, {"put c=1"})
        self.assertEqual(set(runs), {"etcd", "raftkvd", "etcd-tls", "raftkvd-tls"})
        etcd_here = os.access(ARGS.etcd, os.X_OK)
        for system in ("etcd", "etcd-tls", "raftkvd", "raftkvd-tls"):
            res = runs[system].get("result")
            if system.startswith("etcd") and not etcd_here:
                self.assertIsNone(res)
                self.assertIn("not run", runs[system]["error"])
                continue
            self.assertIsNotNone(res, f"{system}: {runs[system].get('error')}\n{p.stdout}")
            self.assertGreater(res["ok"], 5, system)
            self.assertEqual(res["failed"], 0, system)
            self.assertGreater(runs[system]["server_cpu_s"], 0, system)
        self.assertEqual(p.returncode, 0 if etcd_here else 1, p.stdout + p.stderr)
        # The TLS table, with raftkvd's TLS/plain ratio computed from both runs.
        self.assertIn("## The cost of TLS", report)
        row = next(line for line in report.splitlines()
                   if line.startswith("| put c=1 |") and line.count("|") == 9)
        float(row.split("|")[-3])  # raftkvd TLS/plain: a number, not "—"
        self.assertIn("--client-cert-auth", dict(data["meta"]["facts"])["TLS"])

    def compare_ab(self, a, b):
        """compare-etcd --ab a=<bin/a> --ab b=<bin/b> (a and b as (name, binary) pairs): both
        must answer every put. Returns the runs by system name and the report."""
        bins = os.path.join(ARGS.build, "bin")
        p, data, report = self.compare("--ab", f"{a[0]}=" + os.path.join(bins, a[1]),
                                       "--ab", f"{b[0]}=" + os.path.join(bins, b[1]))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        runs = {r["system"]: r for r in data["runs"]}
        self.assertEqual(set(runs), {a[0], b[0]})
        for system, run in runs.items():
            res = run.get("result")
            self.assertIsNotNone(res, f"{system}: {run.get('error')}\n{p.stdout}")
            self.assertGreater(res["ok"], 5, system)
            self.assertEqual(res["failed"], 0, system)
        return runs, report

    def test_ab_against_the_grpc_floor_server(self):
        """--ab with raftkv-grpc-floor (the null gRPC server, issue 13's floor) and raftkvd:
        both answer every put, and every run reports the generator's CPU and the machine's
        TCP segments per request."""
        runs, report = self.compare_ab(("floor", "raftkv-grpc-floor"), ("raftkvd", "raftkvd"))
        for system, run in runs.items():
            self.assertGreater(run["segments"], run["result"]["ok"], system)  # request + answer
        self.assertIn("| bench CPU µs/req | TCP segments/req |", report)

    def test_ab_h2_floor_against_the_grpc_floor(self):
        """--ab with the two null servers, raftkv-grpc-floor (gRPC C++) and raftkv-h2-floor
        (libnghttp2): raftkv-bench's gRPC C++ client gets every put answered by both."""
        runs, report = self.compare_ab(("grpc", "raftkv-grpc-floor"), ("h2", "raftkv-h2-floor"))
        for system, run in runs.items():
            self.assertGreater(run["server_cpu_s"], 0, system)
        self.assertIn("| grpc µs/req | h2 µs/req | ratio |", report)

    def test_tls_members_refuse_a_client_without_certificate(self):
        """The TLS cluster is really TLS with client certificates: started by compare-etcd's
        Cluster, a put without a certificate fails and one with it succeeds."""
        ce = load_compare_etcd()
        bench = os.path.join(ARGS.build, "bin", "raftkv-bench")
        system = ce.System("raftkvd-tls", "raftkvd", os.path.join(ARGS.build, "bin", "raftkvd"),
                           {}, True)
        certs = ce.make_certs(os.path.join(self.out, "certs"))
        c = ce.Cluster(system, self.out, 1, certs)
        c.start()
        try:
            self.assertEqual(ce.wait_ready(c, bench, 30), "")
            res, err = ce.run_raftkv_bench(bench, c, ["put", "--total", "20"], 30)
            self.assertEqual((res or {}).get("ok"), 20, err)
            no_cert = subprocess.run(
                [bench, "put", "--total", "1", "--endpoints", c.endpoints[0],
                 "--cacert", os.path.join(certs, "ca.pem"), "--quiet", "--json", "--timeout",
                 "1"],
                capture_output=True, text=True, timeout=30)
            # The member refuses the handshake: raftkv-bench cannot connect at all (exit 1).
            self.assertEqual(no_cert.returncode, 1, no_cert.stdout + no_cert.stderr)
            self.assertIn("cannot connect", no_cert.stderr)
        finally:
            c.stop()


class ParseEtcdBenchmarkTest(unittest.TestCase):
    def test_times_in_exponent_form(self):
        """With --precise, etcd's tool prints times under 0.1 ms as Go's %v does ("6.2e-05"),
        which the null servers reach at one client: still parsed, not dropped."""
        ce = load_compare_etcd()
        res = ce.parse_etcd_benchmark(
            "Summary:\n  Total:\t0.313228956 secs.\n  Slowest:\t0.00466982 secs.\n"
            "  Fastest:\t3.1807e-05 secs.\n  Average:\t7.74888497500001e-05 secs.\n"
            "  Requests/sec:\t12770.211448778062\n\nLatency distribution:\n"
            "  10% in 3.9458e-05 secs.\n  50% in 6.2493e-05 secs.\n  90% in 0.00012108 secs.\n"
            "  99% in 0.000247647 secs.\n  99.9% in 0.002540469 secs.\n")
        lat = res["latency_ms"]
        self.assertAlmostEqual(lat["p50"], 0.062493)
        self.assertAlmostEqual(lat["p99"], 0.247647)
        self.assertAlmostEqual(lat["mean"], 0.0774888497500001)
        self.assertAlmostEqual(res["rps"], 12770.211448778062)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="build dir with bin/raftkvd, bin/raftkv-bench")
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
