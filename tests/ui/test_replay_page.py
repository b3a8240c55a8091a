"""The simulator's HTML replay in headless Chromium: it loads without errors, shows the
nodes, messages and logs, plays and steps, scales to a 2,000-operation 5-node seed, and a
run with a violation jumps to it with the property highlighted; the scenario tests' index
page lists every study-notes question with a replay (L5's loads and shows its restart).
Screenshots go to the artifacts folder (RAFTKV_UI_ARTIFACTS)."""

import html
import os
import re
import shutil
import subprocess
import time
import unittest

from chromium import BrowserTestCase
from ui_env import artifact, binary


def write_replay(sim, path, *args):
    """Runs one seed with --html; returns its output."""
    p = subprocess.run([sim, "--html", path] + list(args), capture_output=True, text=True,
                       timeout=300)
    if "replay written to" not in p.stdout:
        raise AssertionError(f"{sim} {args}: no replay written:\n{p.stdout}\n{p.stderr}")
    return p.stdout


class ReplayPageTest(BrowserTestCase):

    def load(self, path, width=1440, height=900):
        page = self.browser.open("file://" + path, width, height)
        t0 = time.monotonic()
        state = page.wait_for("window.replay && window.replay.state()", timeout=60)
        return page, state, time.monotonic() - t0

    def test_small_seed_shows_nodes_messages_logs_and_plays(self):
        path = artifact("replay-seed7.html")
        write_replay(binary("raftkv-sim"), path, "--seed", "7", "--nodes", "3", "--ops", "120",
                     "--faults", "crash,partition,drop")
        page, state, _ = self.load(path)
        self.assertEqual(page.errors(), [])
        self.assertEqual(len(state["nodes"]), 3)
        self.assertGreater(state["messages"], 100)
        self.assertGreater(state["end"], 0)
        # A third of the way in, a leader is shown, in the ring and in the table.
        mid = state["end"] / 1e6 / 3
        page.eval(f"window.replay.seek({mid})")
        s = page.eval("window.replay.state()")
        leaders = [n for n in s["nodes"] if n["role"] == "leader"]
        self.assertEqual(len(leaders), 1, s)
        row = page.eval(f"document.querySelector('#nodes tr[data-node=\"{leaders[0]['id']}\"] .role').textContent")
        self.assertEqual(row, "leader")
        self.assertEqual(page.eval("document.querySelectorAll('#ring g.node').length"), 3)
        self.assertGreater(page.eval("document.querySelectorAll('#logsvg rect').length"), 3)
        # Step: the next event is later; play: time advances.
        t = page.eval("window.replay.state().time")
        page.eval("document.getElementById('step').click()")
        self.assertGreater(page.eval("window.replay.state().time"), t)
        t = page.eval("window.replay.state().time")
        page.eval("document.getElementById('play').click()")
        time.sleep(0.6)
        page.eval("document.getElementById('play').click()")
        self.assertGreater(page.eval("window.replay.state().time"), t)
        # Messages are drawn while in flight: find a moment with some.
        page.eval(f"""(() => {{ for (let t = {mid}; t < {mid} + 0.2; t += 0.0003) {{ window.replay.seek(t);
                       if (/ [1-9]\\d* in flight/.test(document.getElementById('clock').textContent)) return t; }} }})()""")
        self.assertRegex(page.eval("document.getElementById('clock').textContent"), r" [1-9]\d* in flight")
        page.screenshot(artifact("replay-seed7.png"))
        self.assertEqual(page.errors(), [])

    def test_2000_operation_5_node_seed_loads_and_seeks_quickly(self):
        path = artifact("replay-5nodes-2000ops.html")
        out = write_replay(binary("raftkv-sim"), path, "--seed", "11", "--nodes", "5", "--ops",
                           "2000")
        size = os.path.getsize(path)
        page, state, load_s = self.load(path)
        self.assertEqual(page.errors(), [])
        self.assertGreaterEqual(len(state["nodes"]), 5)
        self.assertGreater(state["end"], 10e6)
        # Seeking anywhere (keyframes + replay of at most a few thousand changes) and playing
        # forward (a frame: ~16 ms of real time at 10 ms/s of virtual time) are fast, timed
        # inside the page.
        seek_ms = page.eval("""(() => { const end = window.replay.state().end / 1e6, t0 = performance.now();
            for (const f of [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4]) window.replay.seek(f * end);
            return (performance.now() - t0) / 8; })()""")
        frame_ms = page.eval("""(() => { let t = 30, t0 = performance.now();
            for (let i = 0; i < 200; i++) { t += 0.00016; window.replay.seek(t); }
            return (performance.now() - t0) / 200; })()""")
        page.call("Performance.enable")
        metrics = {m["name"]: m["value"] for m in page.call("Performance.getMetrics")["metrics"]}
        heap_mb = metrics.get("JSHeapUsedSize", 0) / 2**20
        print(f"\n  2000-op 5-node replay: {size / 2**20:.1f} MiB file, loaded in {load_s:.2f} s, "
              f"seek {seek_ms:.1f} ms, frame {frame_ms:.1f} ms, JS heap {heap_mb:.0f} MiB; "
              f"{out.splitlines()[0]}")
        # The times above are printed, not asserted (a loaded machine stretches them; the
        # player's speed is a benchmark's business). What bounds them is structural: a
        # keyframe every 2,048 records, so a seek replays at most that many.
        self.assertGreaterEqual(state["keyframes"], state["records"] // 2048)
        self.assertLess(size, 16 * 2**20)
        self.assertLess(heap_mb, 400)
        page.eval("window.replay.seek(20.5)")
        page.screenshot(artifact("replay-5nodes-2000ops.png"))

    def test_violation_is_one_click_away_with_the_property_highlighted(self):
        # Planted bug 4 applies entries before they are committed: every seed violates.
        sim = binary("raftkv-sim-bug4", test_bin=True)
        if not os.path.exists(sim):
            self.skipTest("planted-bug simulator not built (sanitizer build)")
        path = artifact("replay-planted-bug4.html")
        write_replay(sim, path, "--seed", "1", "--nodes", "3", "--ops", "100")
        page, state, _ = self.load(path)
        self.assertEqual(page.errors(), [])
        self.assertFalse(page.eval("document.getElementById('toviol').hidden"))
        self.assertEqual(page.eval("document.querySelectorAll('.prop.bad').length"), 0)
        page.eval("document.getElementById('toviol').click()")
        s = page.eval("window.replay.state()")
        self.assertTrue(s["violations"], s)
        prop = s["violations"][0].split(":")[0]
        bad = page.eval("[...document.querySelectorAll('.prop.bad')].map(e => e.dataset.prop)")
        self.assertIn(prop, bad)
        self.assertFalse(page.eval("document.getElementById('violation').hidden"))
        self.assertIn(prop, page.eval("document.getElementById('outcome').textContent"))
        page.screenshot(artifact("replay-planted-bug4.png"))

    def test_scenario_index_lists_every_question_with_a_replay(self):
        """`make scenarios-html`'s scenario run: every question of the study notes has at least
        one replay on the index page, each linked file exists, and L5's (the storage layout,
        told in a cluster with the disk model) loads and shows its snapshots and restart."""
        out = artifact("scenarios")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        t0 = time.monotonic()
        p = subprocess.run([binary("scenario_tests", test_bin=True), "--gtest_brief=1"],
                           env=dict(os.environ, RAFTKV_SCENARIO_HTML=out),
                           capture_output=True, text=True, timeout=900)
        self.assertEqual(p.returncode, 0, p.stdout[-4000:] + p.stderr[-2000:])
        print(f"\n  scenario_tests with replays: {time.monotonic() - t0:.1f} s")
        with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
            index = f.read()
        rows = re.findall(r"<tr><td class=id>([^<]+)</td>(.*?)</tr>", index, re.S)
        ids = [html.unescape(i) for i, _ in rows]
        expected = ([f"E{i}" for i in range(1, 13)] + [f"R{i}" for i in range(1, 5)]
                    + [f"S{i}" for i in range(1, 4)] + ["M1"] + [f"L{i}" for i in range(1, 7)]
                    + [f"C{i}" for i in range(1, 4)])
        self.assertLessEqual(set(expected), set(ids))
        links = {}
        for qid, body in rows:
            files = [html.unescape(h) for h in re.findall(r'<a href="([^"]+)"', body)]
            self.assertTrue(files, f"{qid} has no replay on the index page")
            self.assertNotIn("no replay in this run", body, qid)
            for name in files:
                self.assertTrue(os.path.isfile(os.path.join(out, name)), f"{qid}: {name} missing")
            links[html.unescape(qid)] = files
        l5 = [n for n in links["L5"] if n.startswith("Storage.L5_in_a_cluster")]
        self.assertEqual(len(l5), 1, links["L5"])
        page, state, _ = self.load(os.path.join(out, l5[0]))
        self.assertEqual(page.errors(), [])
        self.assertEqual(len(state["nodes"]), 3)
        self.assertIn("L5", page.eval("document.body.textContent"))  # the question heads it
        # At the end: every node has compacted its log (hatched cells), and the story's
        # measured notes are in the event list; click the restart's to jump there.
        page.eval("window.replay.seek(window.replay.state().end / 1e6)")
        s = page.eval("window.replay.state()")
        self.assertTrue(all(n["role"] != "down" for n in s["nodes"]), s)
        self.assertGreater(page.eval("document.querySelectorAll('#logsvg [fill^=\"url(\"]').length"), 0,
                           "compacted (hatched) log cells are drawn")
        notes = page.eval("[...document.querySelectorAll('#events li')].map(e => e.textContent)")
        self.assertTrue(any("SNAPSHOT at" in n for n in notes), notes)
        self.assertTrue(any("L5: 32 writes arrived together" in n for n in notes), notes)
        restart = [n for n in notes if "L5: restart read" in n]
        self.assertEqual(len(restart), 1, notes)
        page.eval("[...document.querySelectorAll('#events li')].find(e => e.textContent.includes('L5: restart read')).click()")
        s = page.eval("window.replay.state()")
        self.assertLess(s["time"], state["end"])
        page.screenshot(artifact("replay-L5.png"))
        self.assertEqual(page.errors(), [])


if __name__ == "__main__":
    unittest.main()
