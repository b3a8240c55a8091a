"""The live page (/ui) against 5- and 7-member raftkvd clusters, on laptop screens: every
member is drawn with its role and term, exactly one leader, a replication row for every
follower, and nothing overlaps or is clipped (member cards, panels, table cells, texts).
Screenshots (whole page) go to the artifacts folder: live-5-members.png,
live-7-members.png, live-7-members-1280.png."""

import time
import unittest

from chromium import BrowserTestCase
from cluster import Cluster, wait_until
from ui_env import artifact, binary

# Runs in the page: every layout defect found, as text ([] when the page is clean).
LAYOUT_PROBLEMS = r"""(() => {
  const out = [], box = (e) => e.getBoundingClientRect();
  const name = (e) => e.dataset.name || e.id || e.className || e.tagName;
  const meets = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 &&
                          a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const inside = (a, b) => a.left >= b.left - 0.5 && a.right <= b.right + 0.5 &&
                           a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
  const doc = document.documentElement;
  if (doc.scrollWidth > innerWidth + 1) out.push(`page scrolls sideways: ${doc.scrollWidth} > ${innerWidth}`);
  // Member cards: none meets another; everything in a card stays in it and is not cut off.
  const cards = [...document.querySelectorAll('.member')];
  for (let i = 0; i < cards.length; i++) {
    for (let j = i + 1; j < cards.length; j++) {
      if (meets(box(cards[i]), box(cards[j]))) out.push(`cards ${name(cards[i])} and ${name(cards[j])} overlap`);
    }
    for (const e of cards[i].querySelectorAll('*')) {
      if (!inside(box(e), box(cards[i]))) out.push(`${name(cards[i])}: ${e.tagName}.${e.className} '${e.textContent.trim().slice(0, 30)}' sticks out of the card`);
      if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) out.push(`${name(cards[i])}: ${e.tagName}.${e.className} '${e.textContent.trim().slice(0, 30)}' is clipped (${e.scrollWidth} > ${e.clientWidth})`);
    }
    // Two cells of the same row of the key/value grid must not touch.
    const cells = [...cards[i].querySelectorAll('.kv > *')];
    for (let a = 0; a < cells.length; a++) for (let b = a + 1; b < cells.length; b++) {
      if (meets(box(cells[a]), box(cells[b]))) out.push(`${name(cards[i])}: '${cells[a].textContent}' and '${cells[b].textContent}' overlap`);
    }
  }
  // Texts that must stay on one line: the key/value pairs, a card's head and URLs, the
  // summary, the replication table's cells.
  const lines = (e) => {
    const r = document.createRange();
    r.selectNodeContents(e);
    return new Set([...r.getClientRects()].filter((b) => b.width > 0).map((b) => Math.round(b.top))).size;
  };
  for (const e of document.querySelectorAll('.member .kv > *, .member .head > *, .member .url, #summary, #replication th, #replication td')) {
    if (lines(e) > 1) out.push(`'${e.textContent.trim().slice(0, 40)}' (${e.closest('[data-name]') ? e.closest('[data-name]').dataset.name : e.tagName}) wraps onto ${lines(e)} lines`);
  }
  // Panels: the members, replication, events and timeline do not meet each other.
  const panels = [document.getElementById('members'), ...document.querySelectorAll('.panel')];
  for (let i = 0; i < panels.length; i++) for (let j = i + 1; j < panels.length; j++) {
    if (meets(box(panels[i]), box(panels[j]))) out.push(`panels ${name(panels[i])} and ${name(panels[j])} overlap`);
  }
  // The replication table fits its panel; no cell's text is cut.
  const table = document.getElementById('replication'), panel = document.getElementById('replication-panel');
  if (!inside(box(table), box(panel))) out.push('the replication table sticks out of its panel');
  for (const td of table.querySelectorAll('th, td')) {
    if (td.scrollWidth > td.clientWidth + 1) out.push(`replication cell '${td.textContent.trim()}' is clipped`);
  }
  const rows = [...table.querySelectorAll('tbody tr')];
  for (let i = 0; i + 1 < rows.length; i++) {
    if (box(rows[i]).bottom > box(rows[i + 1]).top + 0.5) out.push(`replication rows ${i} and ${i + 1} overlap`);
  }
  if (rows.length && box(rows[rows.length - 1]).bottom > box(panel).bottom + 0.5) out.push('the last replication row is below its panel');
  return out;
})()"""


def agreed_leader(cluster):
    """(leader member, term) if every member's `etcdctl endpoint status` names the same
    leader and term (one etcdctl call for all), else None."""
    by_url = {m.client_url: m for m in cluster.members}
    statuses = cluster.ctl("endpoint", "status", json_out=True, timeout=10)
    statuses = statuses if isinstance(statuses, list) else [statuses]
    if len(statuses) != len(cluster.members):
        return None
    leaders = {s["Status"]["leader"] for s in statuses}
    terms = {s["Status"]["raftTerm"] for s in statuses}
    if len(leaders) != 1 or len(terms) != 1 or 0 in leaders:
        return None
    lid = leaders.pop()
    leader = next((by_url[s["Endpoint"]] for s in statuses
                   if s["Status"]["header"]["member_id"] == lid), None)
    return (leader, terms.pop()) if leader else None


class LivePageSizesTest(BrowserTestCase):

    def write_some(self, cluster, n=30):
        """A few writes and reads, so that indices and the timeline are not empty."""
        import etcd3  # python3-etcd3
        m = cluster.running_members()[0]
        client = etcd3.client(host="127.0.0.1", port=m.client_port, timeout=5)
        for i in range(n):
            client.put(f"k{i % 7}", f"v{i}")
            client.get(f"k{i % 7}")
        client.close()

    def check_cluster(self, size, widths):
        t0 = time.monotonic()
        c = Cluster(size, binary=binary("raftkvd"), token=f"ui{size}").start()
        self.addCleanup(c.close)
        started = time.monotonic() - t0
        self.write_some(c)
        # Serve the page from a follower: its view of the cluster is gathered from its peers.
        leader, _ = wait_until(lambda: agreed_leader(c), 20, interval=0.2, what="an agreed leader")
        follower = next(m for m in c.members if m is not leader)
        for width, height in widths:
            page = self.browser.open(follower.metrics_url + "/ui", width, height)
            page.wait_for(f"document.querySelectorAll('.member[data-up=\"true\"]').length === {size}", timeout=20)

            seen = {}

            def drawn():
                """The page's members, once it shows one leader that etcdctl agrees with."""
                view = agreed_leader(c)
                seen["etcdctl"] = view and (view[0].name, view[1])
                if view is None:
                    return None
                leader, term = view
                cards = page.eval("""[...document.querySelectorAll('.member')].map(e => ({
                    name: e.dataset.name, role: e.dataset.role, term: Number(e.dataset.term),
                    roleText: e.querySelector('.role').textContent,
                    termText: (e.querySelector('.v-term') || {}).textContent}))""")
                seen["page"] = cards
                leaders = [m for m in cards if m["role"] == "leader"]
                ok = (len(leaders) == 1 and leaders[0]["name"] == leader.name
                      and all(m["term"] == term for m in cards)
                      and page.eval("document.querySelectorAll('#replication tbody tr').length") == size - 1)
                return (cards, leader, term) if ok else None
            try:
                cards, leader, term = wait_until(drawn, 30, interval=0.3,
                                                 what=f"the {size}-member page showing etcdctl's leader and term")
            except TimeoutError as e:
                raise AssertionError(f"{e}; last seen: {seen}") from e
            self.assertEqual([m["name"] for m in cards], [m.name for m in c.members])  # m1, m2, ...
            for m in cards:
                self.assertIn(m["role"], ("leader", "follower"), m)
                self.assertEqual(m["roleText"], m["role"], m)  # the role is written, not only coloured
                self.assertEqual(m["termText"], str(term), m)
            self.assertEqual(page.eval("document.getElementById('leader').textContent"), leader.name)
            rows = page.eval("[...document.querySelectorAll('#replication tbody tr')].map(r => r.dataset.follower)")
            self.assertEqual(sorted(rows), sorted(m.name for m in c.members if m is not leader))
            states = page.eval("[...document.querySelectorAll('#replication tbody .state')].map(e => e.textContent)")
            self.assertEqual(len(states), size - 1)
            for s in states:
                self.assertIn(s, ("probe", "replicate", "snapshot"))
            # Cards fill rows of equal length (7 on a screen for 5 a row: 4 + 3).
            tops = page.eval("[...document.querySelectorAll('.member')].map(e => Math.round(e.getBoundingClientRect().top))")
            per_row = [tops.count(t) for t in sorted(set(tops))]
            self.assertLessEqual(max(per_row) - min(per_row), 1, per_row)
            time.sleep(1.2)  # one more poll: the timeline and events filled in
            suffix = "" if width == 1440 else f"-{width}"
            page.screenshot(artifact(f"live-{size}-members{suffix}.png"), full_page=True)
            problems = page.eval(LAYOUT_PROBLEMS)
            self.assertEqual(problems, [], f"{size} members at {width}x{height}:\n" + "\n".join(problems))
            self.assertEqual(page.errors(), [])
        print(f"\n  {size} members: started in {started:.1f} s, checked in {time.monotonic() - t0:.1f} s")

    def test_5_members(self):
        self.check_cluster(5, [(1440, 900)])

    def test_7_members(self):
        self.check_cluster(7, [(1440, 900), (1280, 800)])


if __name__ == "__main__":
    unittest.main()
