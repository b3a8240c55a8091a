"""Cluster administration stories through etcdctl: member list/add/remove/promote, endpoint
status and health, moving the leader, and saving a snapshot."""

import os
import re
import unittest
import urllib.request

from cluster import wait_until
from e2e_base import ClusterTest, SharedClusterTest, kvs_of


class ClusterInfoTest(SharedClusterTest):
    """Read-mostly admin commands on one 3-member cluster."""

    def test_member_list_shows_every_member_with_its_urls(self):
        out = self.ctl("member", "list", json_out=True)
        listed = {x["name"]: x for x in out["members"]}
        self.assertEqual(sorted(listed), [m.name for m in self.cluster.members])
        for m in self.cluster.members:
            self.assertEqual(listed[m.name]["peerURLs"], [m.peer_url])
            self.assertEqual(listed[m.name]["clientURLs"], [m.client_url])
            self.assertFalse(listed[m.name].get("isLearner", False))
        self.assertEqual(len({x["ID"] for x in out["members"]}), 3)

    def test_endpoint_status_agrees_on_leader_term_and_index(self):
        self.ctl("put", "status/k", "v")
        statuses = self.ctl("endpoint", "status", json_out=True)
        self.assertEqual(len(statuses), 3)
        leaders = {s["Status"]["leader"] for s in statuses}
        self.assertEqual(len(leaders), 1)
        member_ids = {s["Status"]["header"]["member_id"] for s in statuses}
        self.assertIn(leaders.pop(), member_ids)
        for s in statuses:
            st = s["Status"]
            self.assertGreaterEqual(st["raftTerm"], 1)
            self.assertGreater(st["raftIndex"], 0)
            self.assertGreaterEqual(st["header"]["revision"], 2)
            self.assertEqual(st["header"]["cluster_id"],
                             statuses[0]["Status"]["header"]["cluster_id"])
        self.assertEqual(len({s["Status"]["raftTerm"] for s in statuses}), 1)

    def test_endpoint_health_of_every_member(self):
        health = self.ctl("endpoint", "health", json_out=True)
        self.assertEqual(sorted(h["endpoint"] for h in health),
                         sorted(m.client_url for m in self.cluster.members))
        self.assertTrue(all(h["health"] for h in health))

    def test_leader_metrics_count_what_it_sent_each_follower(self):
        for i in range(20):
            self.ctl("put", f"sent/{i}", "v")
        leader = self.cluster.leader()
        text = urllib.request.urlopen(leader.metrics_url + "/metrics", timeout=5).read().decode()

        def per_peer(name):
            return {to: float(v) for to, v in
                    re.findall(r'^' + name + r'\{To="([0-9a-f]+)"\} (\S+)$', text, re.M)}
        sent_bytes = per_peer("etcd_network_peer_sent_bytes_total")
        self.assertEqual(len(sent_bytes), 2, text)  # both followers, etcd's name
        self.assertTrue(all(v > 0 for v in sent_bytes.values()), sent_bytes)
        if not self.etcd:
            # raftkvd's own: messages sent to each follower, and how many of them the raft
            # thread wrote itself on an idle framed stream (direct send).
            sent = per_peer("raftkv_peer_sent_messages_total")
            direct = per_peer("raftkv_peer_direct_messages_total")
            self.assertEqual(set(sent), set(sent_bytes))
            self.assertEqual(set(per_peer("raftkv_peer_dropped_messages_total")), set(sent))
            for to in sent:
                self.assertGreater(direct[to], 0, text)
                self.assertLessEqual(direct[to], sent[to])

    def test_remove_unknown_member_is_member_not_found(self):
        self.assertFails("etcdserver: member not found", "member", "remove", "1234abcd")

    def test_snapshot_save_writes_a_file(self):
        self.ctl("put", "snap/k", "v")
        path = os.path.join(self.cluster.root, "backup.db")
        out = self.ctl("snapshot", "save", path, members=[self.cluster.leader()])
        self.assertIn("Snapshot saved at", out)
        self.assertGreater(os.path.getsize(path), 0)

    def test_move_leader_to_a_follower(self):
        old = self.cluster.leader()
        term = self.cluster.status(old)["raftTerm"]
        target = self.cluster.followers()[0]
        self.ctl("move-leader", target.id, members=[old])
        new = self.cluster.leader()
        self.assertIs(new, target)
        self.assertGreater(self.cluster.status(new)["raftTerm"], term)
        # The cluster keeps serving writes under the new leader.
        self.ctl("put", "moved/k", "v")
        self.assertEqual(kvs_of(self.ctl("get", "moved/k", json_out=True, members=[old])),
                         [("moved/k", "v")])

    def test_move_leader_sent_to_a_follower_is_refused(self):
        follower = self.cluster.followers()[0]
        other = [m for m in self.cluster.followers() if m is not follower][0]
        p = self.ctl("move-leader", other.id, members=[follower], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no leader endpoint given", p.stderr)


class MembershipChangeTest(ClusterTest):
    """Growing and shrinking a live cluster."""

    def member_list(self, members=None):
        return {x.get("name") or "(unstarted)": x
                for x in self.cluster.ctl("member", "list", json_out=True,
                                          members=members)["members"]}

    def member_entry(self, m):
        """`m`'s entry in `member list`, found by id: its name shows only once the new member
        has published it through the log, which may come after it is healthy."""
        return next(x for x in self.cluster.ctl("member", "list", json_out=True)["members"]
                    if format(x["ID"], "x") == m.id)

    def test_add_a_voter_then_remove_it(self):
        self.cluster.ctl("put", "before-add", "v")
        m4 = self.cluster.add_member()
        self.assertEqual(len(self.member_list()), 4)
        # The new member caught up with what was written before it joined...
        got = self.cluster.ctl("get", "before-add", json_out=True, members=[m4])
        self.assertEqual(kvs_of(got), [("before-add", "v")])
        # ...and serves writes like any member.
        self.cluster.ctl("put", "via-new", "v", members=[m4])

        remaining = self.cluster.members[:3]
        self.cluster.ctl("member", "remove", m4.id, members=remaining)
        # Asked of the remaining members only: member list is answered from the local table
        # (as in etcd 3.4), and m4 may not have applied its own removal yet.
        self.assertEqual(sorted(self.member_list(members=remaining)), ["m1", "m2", "m3"])
        # A removed member learns it was removed and stops.
        wait_until(lambda: not m4.running(), 15, what="removed member to exit")
        self.cluster.ctl("put", "after-remove", "v")

    def test_add_a_learner_then_promote_it(self):
        self.cluster.ctl("put", "before-learner", "v")
        learner = self.cluster.add_member(learner=True)
        self.assertTrue(self.member_entry(learner).get("isLearner", False))
        # A learner serves serializable reads of the replicated data...
        got = wait_until(lambda: kvs_of(self.cluster.ctl(
            "get", "before-learner", "--consistency=s", json_out=True, members=[learner])),
            10, what="learner to catch up")
        self.assertEqual(got, [("before-learner", "v")])
        # ...but not linearizable ones (it takes no part in quorum).
        p = self.cluster.ctl("get", "before-learner", members=[learner], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("etcdserver: rpc not supported for learner", p.stderr)

        # Promotion is refused until the learner is in sync; it is by now or shortly.
        wait_until(lambda: self.cluster.ctl("member", "promote", learner.id,
                                            members=self.cluster.members[:3]),
                   15, interval=0.2, what="promote to succeed")
        self.assertFalse(self.member_entry(learner).get("isLearner", False))
        got = self.cluster.ctl("get", "before-learner", json_out=True, members=[learner])
        self.assertEqual(kvs_of(got), [("before-learner", "v")])

    def active_peers(self, m):
        """Remote ids in `m`'s etcd_network_active_peers gauge (both servers export it)."""
        text = urllib.request.urlopen(m.metrics_url + "/metrics", timeout=5).read().decode()
        return set(re.findall(r'^etcd_network_active_peers\{[^}]*Remote="([0-9a-f]+)"[^}]*\} 1',
                              text, re.M))

    def test_remove_that_would_lose_the_active_quorum_is_refused(self):
        # --strict-reconfig-check (on by default, as in etcd): with one member down, removing
        # one of the two still running would leave a single active voter of two.
        self.cluster.learn_ids()
        down = self.cluster.followers()[0]
        self.cluster.kill(down)
        leader = self.cluster.leader()
        other = next(m for m in self.cluster.running_members() if m is not leader)
        wait_until(lambda: down.id not in self.active_peers(leader), 15,
                   what="the leader to see the member down")
        p = self.cluster.ctl("member", "remove", other.id, members=[leader], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("etcdserver: unhealthy cluster", p.stderr)
        self.assertEqual(len(self.member_list()), 3)
        # Removing the member that is down costs no active voter: allowed.
        self.cluster.ctl("member", "remove", down.id, members=[leader])
        self.assertEqual(sorted(self.member_list()), sorted([leader.name, other.name]))
        self.cluster.ctl("put", "after-remove", "v", members=[leader])

    def test_promote_a_voter_is_refused(self):
        voter = self.cluster.members[0]
        p = self.cluster.ctl("member", "promote", voter.id, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("etcdserver: can only promote a learner member", p.stderr)


if __name__ == "__main__":
    unittest.main()
