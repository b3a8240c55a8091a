#!/usr/bin/python3
"""Unit tests of the harness's own logic (no cluster): history encoding, the lost-write
check, the hand-coded protobuf of the Cluster calls."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chaoslib import checks, etcdapi, watchers  # noqa: E402
from chaoslib.workload import Op  # noqa: E402


def op(client, kind, key, value="", call=0, ret=0, outcome="ok", read=None, cas_ok=False,
       expected=""):
    o = Op(client, kind, key, value, expected)
    o.call, o.ret, o.outcome, o.read, o.cas_ok = call, ret, outcome, read, cas_ok
    return o


class HistoryFormatTest(unittest.TestCase):
    def test_encode_field_escapes_spaces_dashes_and_tildes(self):
        self.assertEqual(checks.encode_field(""), "-")
        self.assertEqual(checks.encode_field("c1v2"), "c1v2")
        self.assertEqual(checks.encode_field("a b-~"), "a%20b%2D%7E")

    def test_format_op_unknown_has_no_return_time(self):
        line = checks.format_op(op(3, "put", "k1", "v", 10, 20, "unknown"))
        self.assertEqual(line, "op 3 put k1 v - 10 inf unknown ~ false")

    def test_format_op_get_absent_and_cas(self):
        self.assertEqual(checks.format_op(op(1, "get", "k", call=1, ret=2)),
                         "op 1 get k - - 1 2 ok ~ false")
        self.assertEqual(checks.format_op(op(1, "cas", "k", "n", 1, 2, cas_ok=True,
                                             expected="o")),
                         "op 1 cas k n o 1 2 ok ~ true")


class FakeRecorder:
    """What a watchers.Recorder holds after a run: its start and the events it got."""

    def __init__(self, index, start_rev, events):
        self.index, self.start_rev, self.problems = index, start_rev, []
        # (rev, key, value, version, prev value, member)
        self.events = [(r, k, v, ver, prev, "m1") for r, k, v, ver, prev in events]


class WatchCheckTest(unittest.TestCase):
    OPS = [op(1, "put", "k0", "a"), op(1, "put", "k0", "b"), op(2, "put", "k1", "x"),
           op(2, "cas", "k1", "y", outcome="unknown")]
    GOOD = [(2, "k0", "a", 1, None), (3, "k0", "b", 2, "a"), (4, "k1", "x", 1, None),
            (5, "k1", "y", 2, "x")]

    def check(self, *recorders, final=5):
        return watchers.check(list(recorders), self.OPS, final, None)

    def test_every_revision_once_in_order_passes(self):
        self.assertEqual(self.check(FakeRecorder(0, 2, self.GOOD), FakeRecorder(1, 2, self.GOOD)),
                         [])

    def test_revisions_after_the_final_one_are_outside_the_window(self):
        # A lease revoke after the final read (chaos seed 2 of chaos_raftkvd_kill_pause).
        later = self.GOOD + [(6, "lease-held-1", None, 0, "v")]
        self.assertEqual(self.check(FakeRecorder(0, 2, later)), [])
        # ...while a revision of the window seen twice is still reported.
        dup = self.GOOD + [self.GOOD[3], (6, "lease-held-1", None, 0, "v")]
        self.assertTrue(self.check(FakeRecorder(0, 2, dup)))

    def test_a_missed_revision_is_reported(self):
        problems = self.check(FakeRecorder(0, 2, self.GOOD[:1] + self.GOOD[2:]))
        self.assertTrue(any("missing [3]" in p for p in problems), problems)

    def test_a_duplicate_or_reordered_revision_is_reported(self):
        dup = self.GOOD[:2] + [self.GOOD[1]] + self.GOOD[2:]
        self.assertTrue(self.check(FakeRecorder(0, 2, dup)))
        swapped = [self.GOOD[1], self.GOOD[0]] + self.GOOD[2:]
        self.assertTrue(self.check(FakeRecorder(0, 2, swapped)))

    def test_watchers_that_disagree_or_invent_values_are_reported(self):
        other = list(self.GOOD)
        other[1] = (3, "k0", "zzz", 2, "a")
        problems = self.check(FakeRecorder(0, 2, self.GOOD), FakeRecorder(1, 2, other))
        self.assertTrue(any("revision 3" in p for p in problems), problems)
        self.assertTrue(any("never written" in p for p in self.check(FakeRecorder(0, 2, other))))

    def test_a_wrong_prev_kv_or_an_unseen_acknowledged_write_is_reported(self):
        bad_prev = list(self.GOOD)
        bad_prev[3] = (5, "k1", "y", 2, "a")
        self.assertTrue(any("prev_kv" in p for p in self.check(FakeRecorder(0, 2, bad_prev))))
        ops = self.OPS + [op(3, "put", "k2", "lost")]
        problems = watchers.check([FakeRecorder(0, 2, self.GOOD)], ops, 5, None)
        self.assertTrue(any("k2=lost never seen" in p for p in problems), problems)


class LostWritesTest(unittest.TestCase):
    def test_final_value_of_the_last_acknowledged_write_is_fine(self):
        ops = [op(1, "put", "k", "a", 0, 10), op(2, "put", "k", "b", 20, 30)]
        self.assertEqual(checks.lost_writes(ops, {"k": "b"}), [])

    def test_older_value_surviving_a_later_acknowledged_write_is_a_loss(self):
        ops = [op(1, "put", "k", "a", 0, 10), op(2, "put", "k", "b", 20, 30)]
        problems = checks.lost_writes(ops, {"k": "a"})
        self.assertEqual(len(problems), 1)
        self.assertIn("'b'", problems[0])

    def test_concurrent_writes_may_end_either_way(self):
        ops = [op(1, "put", "k", "a", 0, 30), op(2, "put", "k", "b", 10, 20)]
        self.assertEqual(checks.lost_writes(ops, {"k": "a"}), [])
        self.assertEqual(checks.lost_writes(ops, {"k": "b"}), [])

    def test_unknown_write_may_land_last(self):
        ops = [op(1, "put", "k", "a", 0, 0, "unknown"), op(2, "put", "k", "b", 20, 30)]
        self.assertEqual(checks.lost_writes(ops, {"k": "a"}), [])

    def test_absent_key_after_an_acknowledged_write_is_a_loss(self):
        self.assertEqual(len(checks.lost_writes([op(1, "put", "k", "a", 0, 10)],
                                                {"k": None})), 1)

    def test_value_nobody_wrote_and_failed_cas_values_are_reported(self):
        ops = [op(1, "cas", "k", "x", 0, 10, cas_ok=False, expected="q")]
        self.assertEqual(len(checks.lost_writes(ops, {"k": "x"})), 1)
        self.assertEqual(len(checks.lost_writes([], {"k": "zz"})), 1)


class ProtoCodingTest(unittest.TestCase):
    def test_member_add_request_bytes(self):
        req = etcdapi._field_bytes(1, b"http://a:2380") + etcdapi._field_varint(2, 1)
        self.assertEqual(req, b"\x0a\x0dhttp://a:2380\x10\x01")

    def test_varint_and_decode_roundtrip(self):
        member = (etcdapi._field_varint(1, 2**63 + 5) + etcdapi._field_bytes(2, b"m1")
                  + etcdapi._field_bytes(3, b"http://p") + etcdapi._field_varint(5, 1))
        resp = etcdapi._field_bytes(1, b"") + etcdapi._field_bytes(2, member)
        m = etcdapi._decode_member(etcdapi.decode_fields(resp)[2][0])
        self.assertEqual(m, {"id": 2**63 + 5, "name": "m1", "peer_urls": ["http://p"],
                             "client_urls": [], "is_learner": True})


if __name__ == "__main__":
    unittest.main()
