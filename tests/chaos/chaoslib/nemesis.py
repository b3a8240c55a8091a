"""The nemesis: a thread that injects faults on a schedule drawn from a seeded generator.

Every 0.5-2.5 s it either heals one active fault (more likely the more are active) or
injects a new one, at most two at a time. Kinds (--faults picks a subset; "all" = every one):
  kill-one, kill-leader, kill-all   SIGKILL, later restart with the same data dir
  pause-one, pause-leader           SIGSTOP, later SIGCONT
  partition-leader                  the leader cut off from every other member
  partition-halves                  a random minority cut off from the majority
  member                            one membership step: add a learner, else promote it,
                                    else remove a random voter (possibly the leader); taken
                                    preferably while another fault is active
Timing is real time, so runs with the same seed make the same choices but not the same
interleavings.
"""

import collections
import random
import threading
import time
import traceback

ALL_KINDS = ("kill-one", "kill-leader", "kill-all", "pause-one", "pause-leader",
             "partition-leader", "partition-halves", "member")


class Nemesis(threading.Thread):
    def __init__(self, cluster, seed, kinds, log):
        super().__init__(name="nemesis", daemon=True)
        self.cluster, self.rng, self.kinds, self.log = cluster, random.Random(seed), kinds, log
        self.stop = threading.Event()
        self.active = []  # (kind, heal function)
        self.counts = collections.Counter()  # faults injected, by kind
        self.errors = collections.Counter()  # membership steps refused (e.g. learner behind)
        self.lock = threading.Lock()

    def run(self):
        while not self.stop.wait(0.5 + self.rng.random() * 2.0):
            try:
                self.step()
            except Exception:
                self.log(f"nemesis error: {traceback.format_exc()}")

    def step(self):
        with self.lock:
            if self.stop.is_set():
                return
            self._restart_exited()
            if self.active and self.rng.random() < 0.3 + 0.3 * len(self.active):
                kind, heal = self.active.pop(self.rng.randrange(len(self.active)))
                self.log(f"heal {kind}")
                heal()
                return
            kinds = list(self.kinds)
            if "member" in kinds and self.active and self.rng.random() < 0.5:
                kind = "member"  # membership changes while faults are active
            else:
                kind = self.rng.choice(kinds)
            if kind == "member":
                self._member_step()
            elif len(self.active) < 2:
                heal = getattr(self, "_" + kind.replace("-", "_"))()
                if heal is not None:
                    self.counts[kind] += 1
                    self.active.append((kind, heal))

    def heal_all(self):
        with self.lock:
            self.stop.set()
            while self.active:
                kind, heal = self.active.pop()
                self.log(f"heal {kind}")
                heal()
            self.cluster.net.heal()
            for m in self.cluster.all():
                if self._forget_if_removed(m):
                    continue
                self.cluster.resume(m)
                self.cluster.restart(m)

    def _forget_if_removed(self, m):
        """A member that exited by itself with status 0 and that the cluster no longer lists
        was removed: its MemberRemove answered an error (a timeout on one voter, then "no
        leader" from the next) and committed after all. It is forgotten, not restarted."""
        if m.proc is None or m.killed or m.proc.poll() != 0:
            return False
        if not self.cluster.removed_meanwhile(m):
            return False
        self.log(f"{m} exited by itself (status 0): the cluster removed it (a remove that "
                 "answered an error committed after all)")
        self.counts["member-remove"] += 1
        self.cluster.forget(m)
        return True

    def _restart_exited(self):
        """Like an operator, restart members that stopped on their own (e.g. a new member
        that asked a peer which had not applied its MemberAdd yet, and gave up)."""
        for m in self.cluster.all():
            if m.proc is not None and not m.killed and m.proc.poll() is not None:
                if self._forget_if_removed(m):
                    continue
                self.log(f"{m} exited by itself (status {m.proc.returncode}): restart")
                self.counts["restart-exited"] += 1
                self.cluster.restart(m)

    # ---- process faults ----

    def _up(self):
        return [m for m in self.cluster.all() if m.running and not m.paused]

    def _pick(self, leader):
        if leader:
            m = self.cluster.leader()
            return m if m is not None and m.running and not m.paused else None
        up = self._up()
        return self.rng.choice(up) if up else None

    def _kill(self, members):
        for m in members:
            self.cluster.kill(m)
        self.log(f"kill {members}")

        def heal():
            for m in members:
                self.cluster.restart(m)
        return heal

    def _kill_one(self):
        m = self._pick(False)
        return self._kill([m]) if m else None

    def _kill_leader(self):
        m = self._pick(True)
        return self._kill([m]) if m else None

    def _kill_all(self):
        up = [m for m in self.cluster.all() if m.running]
        return self._kill(up) if up else None

    def _pause(self, m):
        self.cluster.pause(m)
        self.log(f"pause {m}")
        return lambda: self.cluster.resume(m)

    def _pause_one(self):
        m = self._pick(False)
        return self._pause(m) if m else None

    def _pause_leader(self):
        m = self._pick(True)
        return self._pause(m) if m else None

    # ---- network faults ----

    def _partition(self, groups):
        net = self.cluster.net
        pairs = net.partition([[m.slot for m in g] for g in groups])
        self.log(f"partition {groups}")
        return lambda: net.uncut(pairs)

    def _partition_leader(self):
        if not self.cluster.net.can_partition:
            return None
        leader = self._pick(True)
        if leader is None:
            return None
        rest = [m for m in self.cluster.all() if m is not leader]
        return self._partition([[leader], rest])

    def _partition_halves(self):
        if not self.cluster.net.can_partition:
            return None
        members = self.cluster.all()
        self.rng.shuffle(members)
        cut = self.rng.randint(1, (len(members) - 1) // 2) if len(members) > 2 else 1
        return self._partition([members[:cut], members[cut:]])

    # ---- membership ----

    def _member_step(self):
        c = self.cluster
        learners = [m for m in c.all() if m.is_learner]
        try:
            if learners:
                c.promote(learners[0])
                self.counts["member-promote"] += 1
                self.log(f"promoted {learners[0]}")
            elif len(c.voters()) > c.size:
                victim = self.rng.choice(c.voters())
                c.remove(victim)
                self.counts["member-remove"] += 1
                self.log(f"removed {victim}")
            else:
                m = c.add_learner()
                self.counts["member-add-learner"] += 1
                self.log(f"added learner {m}")
        except Exception as e:  # refused (learner not caught up, no quorum...): try later
            self.errors["member-refused"] += 1
            detail = e.details() if hasattr(e, "details") else str(e)
            self.log(f"membership step refused: {detail}")
