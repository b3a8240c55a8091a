"""The live cluster page (/ui) and its JSON (/debug/raft) against a running 3-member raftkvd
cluster: the leader is shown, terms match `etcdctl endpoint status`, the leader's
followers are listed, and a killed member turns down within seconds. Screenshots go to the
artifacts folder."""

import json
import threading
import time
import unittest
import urllib.request

from chromium import Browser
from cluster import Cluster, wait_until
from ui_env import artifact, binary

MEMBER_KEYS = {"id", "name", "peer_urls", "client_urls", "up", "error", "answer_ms", "role", "term",
               "vote", "leader", "last_index", "commit_index", "applied_index", "snapshot_index",
               "first_index", "is_learner", "wal_fsync", "followers", "events", "samples", "time_ms"}
FOLLOWER_KEYS = {"id", "state", "match", "next", "inflight", "inflight_bytes", "inflight_capacity",
                 "recent_active", "is_learner", "last_contact_ms", "pending_snapshot"}


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


class LivePageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, binary=binary("raftkvd"), token="ui").start()
        cls.browser = Browser()

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.cluster.close()

    def load(self):
        """Some writes and reads, so that the timeline has something to draw."""
        def work():
            import etcd3  # python3-etcd3, one connection: a few hundred requests per second
            m = self.cluster.running_members()[0]
            client = etcd3.client(host="127.0.0.1", port=m.client_port, timeout=5)
            deadline = time.monotonic() + 4
            i = 0
            while time.monotonic() < deadline and not self.stop_load:
                try:
                    client.put(f"k{i % 10}", f"v{i}")
                    client.get(f"k{i % 10}")
                except Exception:  # the test may be failing and closing the cluster
                    return
                i += 1
        self.stop_load = False
        t = threading.Thread(target=work)
        t.start()
        self.addCleanup(self.stop_worker, t)
        return t

    def stop_worker(self, t):
        self.stop_load = True
        t.join()

    def test_page_shows_the_cluster_and_a_killed_member_turns_down(self):
        c = self.cluster
        worker = self.load()
        # The JSON: every member, as any member sees it, with the leader's view of followers,
        # and the same leader and terms as etcd's own client reports. (On a loaded machine an
        # election may happen meanwhile: compare snapshots taken together, until they agree.)
        def json_agrees():
            view = get_json(c.members[1].metrics_url + "/debug/raft")
            leader = c.leader()
            statuses = {m.name: c.status(m) for m in c.running_members()}
            by_name = {m["name"]: m for m in view["members"]}
            ok = (by_name[leader.name]["role"] == "leader"
                  and view["leader"] == by_name[leader.name]["id"]
                  and all(int(by_name[n]["term"]) == st["raftTerm"] for n, st in statuses.items()))
            return (view, leader) if ok else None
        view, leader = wait_until(json_agrees, 20, interval=0.2, what="/debug/raft agreeing with etcdctl")
        self.assertEqual(len(view["members"]), 3)
        for m in view["members"]:
            self.assertTrue(MEMBER_KEYS <= set(m), MEMBER_KEYS - set(m))
            self.assertTrue(m["up"], m)
        followers = next(m for m in view["members"] if m["name"] == leader.name)["followers"]
        self.assertEqual(len(followers), 2)
        for f in followers:
            self.assertTrue(FOLLOWER_KEYS <= set(f))
            self.assertIn(f["state"], ("probe", "replicate", "snapshot"))

        page = self.browser.open(c.members[0].metrics_url + "/ui", 1440, 900)
        page.wait_for("document.querySelectorAll('.member[data-up=\"true\"]').length === 3")

        def page_agrees():
            leader = c.leader()
            term = c.status(leader)["raftTerm"]
            shown = page.eval("document.getElementById('leader').textContent")
            terms = page.eval("[...document.querySelectorAll('.member')].map(e => Number(e.dataset.term))")
            top = page.eval("document.getElementById('term').textContent")
            return shown == leader.name and terms == [term] * 3 and top == str(term)
        wait_until(page_agrees, 20, interval=0.3, what="the page showing etcdctl's leader and term")
        self.assertEqual(page.eval("document.querySelectorAll('#replication tbody tr').length"), 2)
        worker.join()
        time.sleep(1.5)  # one more poll with the load's last seconds in the timeline
        self.assertGreater(page.eval("document.querySelectorAll('#timeline path').length"), 0)
        self.assertGreater(page.eval("document.querySelectorAll('#events li').length"), 0)
        self.assertEqual(page.errors(), [])
        page.screenshot(artifact("live-3-members.png"))

        # Kill a follower (not the member serving the page): down within seconds.
        leader = c.leader()
        victim = next(m for m in c.members[1:] if m is not leader)
        t0 = time.monotonic()
        c.kill(victim)
        page.wait_for(f"document.querySelector('.member[data-name=\"{victim.name}\"]').dataset.up === 'false'",
                      timeout=5)
        took = time.monotonic() - t0
        print(f"\n  killed {victim.name}: shown down after {took:.1f} s")
        self.assertEqual(page.eval("document.querySelectorAll('.member[data-up=\"true\"]').length"), 2)
        view = get_json(c.members[0].metrics_url + "/debug/raft")
        dead = next(m for m in view["members"] if m["name"] == victim.name)
        self.assertFalse(dead["up"])
        self.assertTrue(dead["error"])
        time.sleep(1.2)
        page.screenshot(artifact("live-member-down.png"))
        self.assertEqual(page.errors(), [])

    def test_member_view_alone(self):
        m = self.cluster.running_members()[0]
        me = get_json(m.metrics_url + "/debug/raft?member=self")
        self.assertTrue(MEMBER_KEYS <= set(me))
        self.assertEqual(me["name"], m.name)
        self.assertTrue(me["up"])


if __name__ == "__main__":
    unittest.main()
