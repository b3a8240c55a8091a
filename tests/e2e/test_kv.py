"""Key-value stories through etcdctl against a 3-member cluster: what a user of etcd sees
when they put, read, delete, compare-and-swap, read history and compact."""

import unittest

import etcd3
import etcd3.etcdrpc as etcdrpc

from e2e_base import SharedClusterTest, kvs_of, unb64

MAX_REQUEST_BYTES = 1536 * 1024  # etcd's default --max-request-bytes


def count_only(member, key, range_end):
    """A Range with count_only set, through python-etcd3's raw KV stub."""
    client = etcd3.client(host="127.0.0.1", port=member.client_port, timeout=5)
    try:
        request = etcdrpc.RangeRequest(key=key.encode(), range_end=range_end.encode(),
                                       count_only=True)
        return client.kvstub.Range(request, timeout=5)
    finally:
        client.close()


class KvTest(SharedClusterTest):

    def test_put_get_delete(self):
        rev = self.put("kv/a", "1")
        got = self.get("kv/a")
        self.assertEqual(kvs_of(got), [("kv/a", "1")])
        kv = got["kvs"][0]
        self.assertEqual((kv["create_revision"], kv["mod_revision"], kv["version"]), (rev, rev, 1))

        # Overwriting keeps the create revision and bumps the version.
        rev2 = self.put("kv/a", "2")
        self.assertEqual(rev2, rev + 1)
        kv = self.get("kv/a")["kvs"][0]
        self.assertEqual((kv["create_revision"], kv["mod_revision"], kv["version"]),
                         (rev, rev2, 2))

        deleted = self.ctl("del", "kv/a", json_out=True)
        self.assertEqual(deleted["deleted"], 1)
        self.assertEqual(deleted["header"]["revision"], rev2 + 1)
        self.assertEqual(kvs_of(self.get("kv/a")), [])
        # Deleting nothing does not create a revision.
        again = self.ctl("del", "kv/a", json_out=True)
        self.assertEqual(again.get("deleted", 0), 0)
        self.assertEqual(again["header"]["revision"], rev2 + 1)

    def txn(self, text):
        """etcdctl txn reads compares, success ops and failure ops, each ended by a blank
        line."""
        return self.ctl("txn", json_out=True, stdin=text.encode())

    def test_txn_compare_value_takes_success_then_failure_branch(self):
        self.put("txn/v", "old")
        script = 'value("txn/v") = "old"\n\nput txn/v new\n\nget txn/v\n\n'
        first = self.txn(script)
        self.assertTrue(first.get("succeeded", False))
        self.assertEqual(kvs_of(self.get("txn/v")), [("txn/v", "new")])

        # The value changed, so the same compare now fails: the failure branch's get runs.
        second = self.txn(script)
        self.assertFalse(second.get("succeeded", False))
        ranged = second["responses"][0]["Response"]["ResponseRange"]
        self.assertEqual(unb64(ranged["kvs"][0]["value"]), "new")

    def test_txn_compare_version_create_and_mod_revision(self):
        created = self.put("txn/r", "a")
        modified = self.put("txn/r", "b")
        ok = self.txn(f'version("txn/r") = "2"\ncreate("txn/r") = "{created}"\n'
                      f'mod("txn/r") = "{modified}"\n\nput txn/r c\n\nput txn/r failed\n\n')
        self.assertTrue(ok.get("succeeded", False))
        self.assertEqual(kvs_of(self.get("txn/r")), [("txn/r", "c")])

        stale = self.txn(f'mod("txn/r") = "{modified}"\n\nput txn/r d\n\nput txn/r lost\n\n')
        self.assertFalse(stale.get("succeeded", False))
        self.assertEqual(kvs_of(self.get("txn/r")), [("txn/r", "lost")])

        # A missing key has create revision 0: the idiom for "create if absent".
        absent = self.txn('create("txn/new") = "0"\n\nput txn/new first\n\n\n')
        self.assertTrue(absent.get("succeeded", False))
        again = self.txn('create("txn/new") = "0"\n\nput txn/new second\n\n\n')
        self.assertFalse(again.get("succeeded", False))
        self.assertEqual(kvs_of(self.get("txn/new")), [("txn/new", "first")])

    def put_range_keys(self, prefix):
        for k in ["a", "b", "c", "d"]:
            self.put(f"{prefix}/{k}", f"v{k}")
        self.put(prefix + "0", "outside")  # '0' sorts after '/', outside the prefix

    def test_prefix_and_range_reads(self):
        self.put_range_keys("rng")
        self.assertEqual([k for k, _ in kvs_of(self.get("rng/", "--prefix"))],
                         ["rng/a", "rng/b", "rng/c", "rng/d"])
        # A range [key, end) excludes its end.
        self.assertEqual([k for k, _ in kvs_of(self.get("rng/b", "rng/d"))], ["rng/b", "rng/c"])
        # A reversed range (end before key) is empty, not an error.
        self.assertEqual(kvs_of(self.get("rng/d", "rng/b")), [])
        # --from-key reads to the end of the key space.
        keys = [k for k, _ in kvs_of(self.get("rng/c", "--from-key"))]
        self.assertEqual(keys[:3], ["rng/c", "rng/d", "rng0"])

    def test_limit_sort_keys_only_count_only(self):
        self.put_range_keys("opt")
        limited = self.get("opt/", "--prefix", "--limit=2")
        self.assertEqual([k for k, _ in kvs_of(limited)], ["opt/a", "opt/b"])
        self.assertTrue(limited.get("more", False))
        self.assertEqual(limited["count"], 4)

        desc = self.get("opt/", "--prefix", "--sort-by=KEY", "--order=DESCEND")
        self.assertEqual([k for k, _ in kvs_of(desc)], ["opt/d", "opt/c", "opt/b", "opt/a"])
        by_create = self.get("opt/", "--prefix", "--sort-by=CREATE", "--order=DESCEND",
                             "--limit=1")
        self.assertEqual([k for k, _ in kvs_of(by_create)], ["opt/d"])

        keys_only = self.get("opt/", "--prefix", "--keys-only")
        self.assertEqual(len(keys_only["kvs"]), 4)
        self.assertTrue(all("value" not in kv for kv in keys_only["kvs"]))

        # etcdctl 3.4 has no --count-only; the Python client sends count_only itself.
        counted = count_only(self.cluster.leader(), "opt/", "opt0")
        self.assertEqual(counted.count, 4)
        self.assertEqual(len(counted.kvs), 0)

    def test_read_at_past_revision(self):
        r1 = self.put("hist/k", "one")
        r2 = self.put("hist/k", "two")
        self.ctl("del", "hist/k")
        self.assertEqual(kvs_of(self.get("hist/k", f"--rev={r1}")), [("hist/k", "one")])
        self.assertEqual(kvs_of(self.get("hist/k", f"--rev={r2}")), [("hist/k", "two")])
        self.assertEqual(kvs_of(self.get("hist/k")), [])

    def test_future_revision_is_an_error(self):
        head = self.put("future/k", "v")
        self.assertFails("etcdserver: mvcc: required revision is a future revision",
                         "get", "future/k", f"--rev={head + 1000}")

    def test_compaction_then_old_revision_is_compacted(self):
        r1 = self.put("cmp/k", "one")
        r2 = self.put("cmp/k", "two")
        self.put("cmp/k", "three")
        self.ctl("compact", str(r2))
        self.assertFails("etcdserver: mvcc: required revision has been compacted",
                         "get", "cmp/k", f"--rev={r1}")
        # The compaction revision itself is still readable.
        self.assertEqual(kvs_of(self.get("cmp/k", f"--rev={r2}")), [("cmp/k", "two")])
        self.assertEqual(kvs_of(self.get("cmp/k")), [("cmp/k", "three")])
        # Compacting at or below the compacted revision again is refused.
        self.assertFails("etcdserver: mvcc: required revision has been compacted",
                         "compact", str(r1))

    def test_empty_key_is_refused(self):
        self.assertFails("etcdserver: key is not provided", "get", "")

    def test_oversized_value_is_refused_and_nothing_is_written(self):
        before = self.put("big/marker", "x")
        value = b"v" * (MAX_REQUEST_BYTES + 64 * 1024)
        self.assertFails("etcdserver: request is too large", "put", "big/k", stdin=value)
        self.assertEqual(kvs_of(self.get("big/k")), [])
        self.assertEqual(self.get("big/marker")["header"]["revision"], before)

    def test_write_sent_to_a_follower_is_forwarded(self):
        follower = self.cluster.followers()[0]
        out = self.ctl("put", "fwd/k", "via-follower", members=[follower], json_out=True)
        # The answer comes from the follower it was sent to.
        self.assertEqual(format(out["header"]["member_id"], "x"), follower.id)
        leader = self.cluster.leader()
        got = self.get("fwd/k", members=[leader])
        self.assertEqual(kvs_of(got), [("fwd/k", "via-follower")])
        self.assertEqual(got["kvs"][0]["mod_revision"], out["header"]["revision"])

    def test_every_member_serves_the_same_linearizable_read(self):
        rev = self.put("lin/k", "v")
        for m in self.cluster.running_members():
            got = self.get("lin/k", members=[m])
            self.assertEqual(kvs_of(got), [("lin/k", "v")], m.name)
            self.assertGreaterEqual(got["header"]["revision"], rev)


class PythonClientTest(SharedClusterTest):
    """The same basics through python-etcd3, a client people use unchanged with etcd."""

    SIZE = 1

    def client(self):
        m = self.cluster.members[0]
        c = etcd3.client(host="127.0.0.1", port=m.client_port, timeout=5)
        self.addCleanup(c.close)
        return c

    def test_put_get_delete_prefix(self):
        c = self.client()
        c.put("py/a", "1")
        c.put("py/b", "2")
        value, meta = c.get("py/a")
        self.assertEqual(value, b"1")
        self.assertEqual(meta.version, 1)
        self.assertEqual(sorted((m.key, v) for v, m in c.get_prefix("py/")),
                         [(b"py/a", b"1"), (b"py/b", b"2")])
        self.assertTrue(c.delete("py/a"))
        self.assertFalse(c.delete("py/a"))
        self.assertEqual(c.get("py/a"), (None, None))

    def test_transaction_compare_and_swap(self):
        c = self.client()
        c.put("py/cas", "old")
        swapped, _ = c.transaction(compare=[c.transactions.value("py/cas") == "old"],
                                   success=[c.transactions.put("py/cas", "new")],
                                   failure=[])
        self.assertTrue(swapped)
        lost, responses = c.transaction(compare=[c.transactions.value("py/cas") == "old"],
                                        success=[c.transactions.put("py/cas", "newer")],
                                        failure=[c.transactions.get("py/cas")])
        self.assertFalse(lost)
        self.assertEqual(responses[0][0][0], b"new")
        self.assertEqual(c.get("py/cas")[0], b"new")

    def test_status_names_a_leader(self):
        status = self.client().status()
        self.assertIsNotNone(status.leader)
        self.assertGreaterEqual(status.raft_term, 1)


if __name__ == "__main__":
    unittest.main()
