"""Shared pieces of the end-to-end tests: test-case base classes that own a cluster and keep
its logs (printing their tails) when a test fails, and small decoders for etcdctl's JSON."""

import base64
import sys
import unittest

from cluster import Cluster, binary_path, is_etcd


def b64(s):
    return base64.b64encode(s.encode()).decode()


def unb64(s):
    return base64.b64decode(s).decode()


def kvs_of(get_json):
    """[(key, value)] of an etcdctl `get -w json` answer (keys and values are base64)."""
    return [(unb64(kv["key"]), unb64(kv.get("value", ""))) for kv in get_json.get("kvs", [])]


def report_failure(cluster, test_name):
    """Keeps the cluster's dir and prints every member's log tail to stderr."""
    root = cluster.close(keep_logs=True)
    lines = [f"\n--- {test_name} failed; logs kept in {root}"]
    for m in cluster.members:
        lines.append(f"--- {m.name} ({m.log_path}), last lines:\n{m.log_tail()}")
    sys.stderr.write("\n".join(lines) + "\n")


class _FailureTracking(unittest.TestCase):
    """Knows after run() whether this test failed (errors or failures added)."""

    def run(self, result=None):
        result = result or self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        self._failed = len(result.failures) + len(result.errors) > before
        self._after_run()
        return result

    def _after_run(self):
        pass


class ClusterTest(_FailureTracking):
    """Each test gets a fresh cluster of SIZE members in self.cluster, started with
    security() (cluster.Security: TLS settings, or None) and EXTRA_FLAGS."""

    SIZE = 3
    EXTRA_FLAGS = ()  # flags every member is started with, on top of the harness's

    def security(self):
        return None

    def setUp(self):
        self.binary = binary_path()
        self.etcd = is_etcd(self.binary)
        self.cluster = Cluster(self.SIZE, self.binary, security=self.security(),
                               extra_flags=self.EXTRA_FLAGS)
        try:
            self.cluster.start()
        except BaseException:
            report_failure(self.cluster, self.id() + " (cluster start)")
            self.cluster = None
            raise

    def _after_run(self):
        if self.cluster is None:
            return
        if self._failed:
            report_failure(self.cluster, self.id())
        else:
            self.cluster.close()


class SharedClusterTest(_FailureTracking):
    """One cluster for the whole class (for tests that only read and write keys); each test
    uses its own key prefix. Logs are kept if any test of the class failed."""

    SIZE = 3
    cluster = None

    @classmethod
    def setUpClass(cls):
        cls.binary = binary_path()
        cls.etcd = is_etcd(cls.binary)
        cls.any_failed = False
        cls.cluster = Cluster(cls.SIZE, cls.binary)
        try:
            cls.cluster.start()
        except BaseException:
            report_failure(cls.cluster, cls.__name__ + " (cluster start)")
            cls.cluster = None
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.cluster is None:
            return
        if cls.any_failed:
            report_failure(cls.cluster, cls.__name__)
        else:
            cls.cluster.close()

    def _after_run(self):
        if self._failed:
            type(self).any_failed = True

    def ctl(self, *args, **kw):
        return self.cluster.ctl(*args, **kw)

    def get(self, *args, **kw):
        return self.ctl("get", *args, json_out=True, **kw)

    def put(self, key, value, **kw):
        """Puts and returns the revision the write created."""
        return self.ctl("put", key, value, json_out=True, **kw)["header"]["revision"]

    def assertFails(self, expected_text, *args, **kw):
        """etcdctl exits non-zero and its stderr contains expected_text."""
        p = self.ctl(*args, check=False, **kw)
        self.assertNotEqual(p.returncode, 0, f"etcdctl {args} succeeded: {p.stdout}")
        self.assertIn(expected_text, p.stderr)
        return p
